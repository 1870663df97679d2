import json
import shutil

import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import runs


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    models = root / "models"
    result = invoke("train", "demo", "--train", write_labeled(root / "train.txt"), "--models-dir", models, *TINY)
    assert result.exit_code == 0, result.output
    assert "repeat an earlier text" not in result.stderr  # every text distinct
    assert "seconds by stage: read " in result.stdout
    assert f"sentiment-cli plot {models / 'demo'} writes them into" in result.stderr
    return models


@pytest.fixture
def trained(trained_once, tmp_path):
    """A copy of one trained run per test, so that a test may change it."""
    shutil.copytree(trained_once, tmp_path / "models")
    return tmp_path / "models"


def test_train_writes_a_complete_run(trained):
    run = trained / "demo"
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [runs.CONFIG_FILE, runs.TOKENIZER_FILE, runs.MODEL_FILE, runs.HISTORY_FILE, runs.METRICS_FILE,
         runs.TEXTS_FILE, runs.VALIDATION_FILE, runs.SPLIT_FILE])
    assert len(json.loads((run / runs.TEXTS_FILE).read_text())["hashes"]) == 40
    assert len(json.loads((run / runs.SPLIT_FILE).read_text())["validation"]) == 4  # val-ratio 0.1 of 40
    config = json.loads((run / runs.CONFIG_FILE).read_text())
    assert config["hyperparameters"]["labels"] == ["0", "1"]
    assert config["hyperparameters"]["max_length"] == 8
    assert {"tensorflow", "keras", "numpy", "python"} <= set(config["versions"])
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    assert metrics["epochs_run"] == 2  # --epochs 2: patience 2 cannot stop it before
    assert metrics["val_examples"] == 4 and metrics["train_examples"] == 36
    assert metrics["threshold"] == 0.5  # calibrated probabilities: no threshold tuned on validation
    history = (run / runs.HISTORY_FILE).read_text().splitlines()
    assert history[0].startswith("epoch") and len(history) == metrics["epochs_run"] + 1
    stages = metrics["seconds_by_stage"]  # where train's seconds went, in the order they were spent
    assert list(stages) == ["read", "vocabulary and encoding", "word vectors and model", "n-gram half",
                            "network half", "mix", "stored form scored"]
    assert all(v >= 0 for v in stages.values())
    assert sum(stages.values()) - stages["read"] <= metrics["train_seconds"] + 0.1
    # nothing temporary is left beside the run
    assert [p.name for p in trained.iterdir()] == ["demo"]


def test_run_directory_alone_rebuilds_model_and_tokenizer(trained):
    run = runs.load_run(trained, "demo")
    assert run.model.get_layer("embedding").input_dim == len(run.tokenizer)
    assert run.config.labels == ["0", "1"]


def test_seed_makes_training_repeatable(tmp_path, labeled_file, tiny_args):
    models = tmp_path / "m"
    for name in ("a", "b"):
        result = invoke("train", name, "--train", labeled_file, "--models-dir", models, *tiny_args, "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)  # --json: one JSON object, nothing else on stdout
        assert summary["run"] == str(models / name)
        assert summary["metrics"] == json.loads((models / name / runs.METRICS_FILE).read_text())
    a, b = (runs.load_run(models, n) for n in ("a", "b"))
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        assert (wa == wb).all()


def test_info_prints_config_metrics_and_summary(trained):
    result = invoke("info", "demo", "--models-dir", trained)
    assert result.exit_code == 0
    assert "best_val_accuracy" in result.output
    assert "Total params" in result.output
    assert "vocab_size" in result.output


def test_existing_run_is_not_overwritten(trained, labeled_file, tiny_args):
    before = (trained / "demo" / runs.CONFIG_FILE).read_text()
    result = invoke("train", "demo", "--train", labeled_file, "--models-dir", trained, *tiny_args)
    assert result.exit_code == 1
    assert "run 'demo' already exists" in result.output and "--overwrite" in result.output
    assert (trained / "demo" / runs.CONFIG_FILE).read_text() == before
    result = invoke("train", "demo", "--train", labeled_file, "--models-dir", trained, "--overwrite", *tiny_args)
    assert result.exit_code == 0
    assert (trained / "demo" / runs.CONFIG_FILE).read_text() != before


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", ""])
def test_run_name_cannot_escape(tmp_path, labeled_file, tiny_args, name):
    result = invoke("train", name, "--train", labeled_file, "--models-dir", tmp_path / "m", *tiny_args)
    assert result.exit_code == 1
    assert "invalid run name" in result.output
    assert not (tmp_path / "evil").exists()


def test_bad_input_exits_1_with_file_and_line_and_no_run(tmp_path, tiny_args):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 +++$+++ fine\nno separator here\n")
    result = invoke("train", "x", "--train", bad, "--models-dir", tmp_path / "m", *tiny_args)
    assert result.exit_code == 1
    assert f"Error: {bad}, line 2: no '+++$+++' separator" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "m" / "x").exists()


def test_bad_option_exits_2(labeled_file):
    result = invoke("train", "x", "--train", labeled_file, "--cell", "rnn")
    assert result.exit_code == 2


def test_failure_during_training_leaves_no_partial_run(tmp_path, labeled_file, tiny_args, monkeypatch):
    from sentiment_cli import training
    from sentiment_cli.data import DataSpec

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training.keras.Model, "fit", boom)
    job = training.TrainJob(tmp_path / "m", "x", training.TrainConfig(epochs=1), DataSpec(labeled_file))
    with pytest.raises(KeyboardInterrupt):
        training.train_run(job, training.RunOptions(progress=False))
    assert list((tmp_path / "m").iterdir()) == []  # nothing was committed: no workspace kept either


def test_foreign_tokenizer_is_refused(trained, tmp_path, labeled_file, tiny_args):
    other = tmp_path / "other.txt"
    other.write_text("".join(f"1 +++$+++ completely different words {i}\n0 +++$+++ nothing shared here {i}\n"
                             for i in range(5)))
    assert invoke("train", "other", "--train", other, "--models-dir", trained, *tiny_args).exit_code == 0
    (trained / "demo" / runs.TOKENIZER_FILE).write_text((trained / "other" / runs.TOKENIZER_FILE).read_text())
    result = invoke("info", "demo", "--models-dir", trained)
    assert result.exit_code == 1
    assert "tokenizer.json does not belong to the model" in result.output


def test_multiclass_string_labels(tmp_path, tiny_args):
    path = tmp_path / "three.csv"
    rows = ["label,text"] + [f"{lab},{lab} words here {i}" for i in range(8)
                             for lab in ["negative", "neutral", "positive"]]
    path.write_text("\n".join(rows) + "\n")
    result = invoke("train", "three", "--train", path, "--models-dir", tmp_path / "m", *tiny_args)
    assert result.exit_code == 0, result.output
    run = runs.load_run(tmp_path / "m", "three")
    assert run.config.labels == ["negative", "neutral", "positive"]
    assert run.model.outputs[0].shape[-1] == 3


def test_bow_model_trains(tmp_path, labeled_file, tiny_args):
    result = invoke("train", "bow", "--model", "bow", "--train", labeled_file, "--models-dir", tmp_path / "m", *tiny_args)
    assert result.exit_code == 0, result.output
    run = runs.load_run(tmp_path / "m", "bow")
    assert run.tokenizer.idf is not None and len(run.tokenizer.idf) == len(run.tokenizer)


@pytest.mark.parametrize("model_type", ["rnn", "ngram"])
def test_either_half_of_the_hybrid_trains_alone(tmp_path, labeled_file, tiny_args, model_type):
    result = invoke("train", "one", "--model", model_type, "--train", labeled_file, "--models-dir", tmp_path / "m",
                    *tiny_args)
    assert result.exit_code == 0, result.output
    run = runs.load_run(tmp_path / "m", "one")
    names = {layer.name for layer in run.model.layers}
    assert ("ngrams" in names) == (model_type == "ngram")
    assert ("embedding" in names) == (model_type == "rnn")


def test_hybrid_default_has_both_halves_and_naive_bayes_ratios(trained):
    run = runs.load_run(trained, "demo")
    assert run.config.model == "hybrid"
    layer = run.model.get_layer("ngrams")  # stored compact: weight x ratio of the rows that weigh
    assert layer.rows == len(run.tokenizer) + 256 + 1
    # the labeled sample has words of only one class: their weights point that way
    vocabulary, keys = run.tokenizer.vocabulary, list(layer.keys.numpy())
    love, hate = (float(layer.values.numpy()[keys.index(vocabulary.index(w)), 0]) for w in ("love", "hate"))
    assert love > 0 > hate


def test_runs_as_paths_list_and_closest_names(trained, tmp_path):
    result = invoke("info", trained / "demo", "--json")  # a path to the run, no --models-dir
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["hyperparameters"]["labels"] == ["0", "1"]
    result = invoke("info", "dmeo", "--models-dir", trained)
    assert result.exit_code == 1 and "did you mean demo?" in result.output
    result = invoke("info", tmp_path / "nowhere", "--json")
    assert result.exit_code == 1 and "not a run directory" in result.output
    (trained / "broken").mkdir()
    (trained / "broken" / runs.CONFIG_FILE).write_text("{cut")
    shutil.copytree(trained / "demo", trained / "old")
    tokenizer = json.loads((trained / "old" / runs.TOKENIZER_FILE).read_text())
    (trained / "old" / runs.TOKENIZER_FILE).write_text(json.dumps({**tokenizer, "version": 2}))
    result = invoke("list", "--models-dir", trained, "--json")
    assert result.exit_code == 0, result.output
    listed = {row["run"]: row for row in json.loads(result.stdout)}
    assert listed["demo"]["labels"] == ["0", "1"] and listed["demo"]["model"] == "hybrid"
    metrics = json.loads((trained / "demo" / runs.METRICS_FILE).read_text())
    assert listed["demo"]["val_accuracy"] == metrics["best_val_accuracy"]
    size = sum(f.stat().st_size for f in (trained / "demo").rglob("*") if f.is_file())
    assert listed["demo"]["size_mb"] == round(size / 2**20, 2)
    assert "damaged" in listed["broken"]["problem"]
    assert "train the run again" in listed["old"]["problem"] and "problem" not in listed["demo"]
    table = invoke("list", "--models-dir", trained).output
    assert table.splitlines()[0].split()[:3] == ["run", "labels", "model"] and "demo" in table


def test_tensorboard_logs_land_in_the_run(tmp_path, labeled_file, tiny_args):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    models = tmp_path / "m"
    result = invoke("train", "tb", "--train", labeled_file, "--models-dir", models, *tiny_args, "--tensorboard")
    assert result.exit_code == 0, result.output
    for side in ("train", "validation"):
        events = EventAccumulator(str(models / "tb" / runs.LOGS_DIR / side))
        events.Reload()
        losses = events.Tensors("epoch_loss")
        assert len(losses) == json.loads((models / "tb" / runs.METRICS_FILE).read_text())["epochs_run"]
    assert [p.name for p in models.iterdir()] == ["tb"]  # the resume directory that held them is gone


def test_tensorboard_missing_is_said_plainly(tmp_path, labeled_file, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    result = invoke("train", "tb", "--train", labeled_file, "--models-dir", tmp_path / "m", "--tensorboard")
    assert result.exit_code == 1
    assert "--tensorboard needs the tensorboard package" in result.output and "pip install" in result.output
    assert not (tmp_path / "m").exists()


def test_normalize_tweets_is_saved_and_applied_by_test(tmp_path, tiny_args):
    tweets = tmp_path / "tweets.csv"
    rows = [("1", "@fan{} loving it :) #happy http://t.co/{}"), ("0", "@hater{} so sad :( #fail http://t.co/{}")]
    tweets.write_text("label,text\n" + "".join(f"{label},{text.format(i, i)}\n" for i in range(12)
                                               for label, text in rows))
    models = tmp_path / "m"
    result = invoke("train", "tw", "--train", tweets, "--models-dir", models, *tiny_args, "--normalize", "tweets")
    assert result.exit_code == 0, result.output
    assert json.loads((models / "tw" / runs.CONFIG_FILE).read_text())["hyperparameters"]["normalize"] == "tweets"
    assert json.loads((models / "tw" / runs.TOKENIZER_FILE).read_text())["normalize"] == "tweets"
    # unseen users and links are the same token as the training ones, so these two read alike
    src = tmp_path / "in.txt"
    src.write_text("id,text\n1,@newcomer loving it :-) #happy https://example.com/a\n"
                   "2,@other loving it =) #happy www.b.org\n")
    out = tmp_path / "out.csv"
    result = invoke("test", "tw", "--input", src, "--output", out, "--probabilities", "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[1].split(",")[1:] == lines[2].split(",")[1:]


def test_repeated_rows_are_pointed_out(tmp_path, tiny_args):
    lines = write_labeled(tmp_path / "train.txt").read_text().splitlines()
    repeated = tmp_path / "repeated.txt"
    repeated.write_text("\n".join(lines + lines[:5]) + "\n")
    result = invoke("train", "rep", "--train", repeated, "--models-dir", tmp_path / "m", *tiny_args, "--model", "ngram")
    assert result.exit_code == 0, result.output
    assert "5 of 45 rows repeat an earlier text (line 41 repeats line 1" in result.stderr


def test_patience_zero_stops_at_the_first_epoch_that_does_not_improve():
    from sentiment_cli.fit.network import EpochCommit

    class Model:
        stop_training = False

        def get_weights(self):
            return []

    for patience, accuracies, epochs in ((0, [0.5, 0.6, 0.7, 0.7, 0.8], 4), (1, [0.5, 0.6, 0.6, 0.7], 3),
                                         (2, [0.5, 0.6, 0.5, 0.7, 0.6, 0.6, 0.9], 6)):
        commit = EpochCommit(patience)
        commit.set_model(Model())
        for epoch, accuracy in enumerate(accuracies):
            commit.on_epoch_end(epoch, {"val_accuracy": accuracy})
            if commit.model.stop_training:
                break
        assert commit.state["epochs"] == epochs, (patience, commit.state)


@pytest.mark.parametrize("model", ["hybrid", "ngram", "rnn-no-vectors"])
def test_too_little_data_is_refused_plainly(tmp_path, tiny_args, model):
    two = tmp_path / "two.txt"
    two.write_text("1 +++$+++ good\n0 +++$+++ bad\n")
    extra = ["--model", "rnn", "--no-pretrain-embeddings"] if model == "rnn-no-vectors" else ["--model", model]
    result = invoke("train", "tiny", "--train", two, "--models-dir", tmp_path / "m", *tiny_args, *extra)
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {two}: label '0' has only one distinct text, and the validation split needs two of each class, "
        "one to train and one to validate. Add other texts of that class (better: dozens), or leave its rows out")
    assert "Traceback" not in result.output and "--resume" not in result.output
    assert list((tmp_path / "m").iterdir()) == []  # no run, no workspace


def test_few_validation_rows_are_pointed_out(tmp_path, labeled_file, tiny_args):
    result = invoke("train", "few", "--train", labeled_file, "--models-dir", tmp_path / "m", *tiny_args,
                    "--model", "ngram")
    assert result.exit_code == 0
    assert "warning: validation holds only 4 rows" in result.stderr


def test_split_from_validates_on_the_rows_that_validated_another_run(trained, tmp_path, tiny_args):
    base = write_labeled(tmp_path / "base.txt")  # the rows run demo trained on (trained_once)
    models = trained
    first = runs.read_json(models / "demo" / runs.SPLIT_FILE)["validation"]
    more = tmp_path / "more.txt"  # the same rows, then 20 new ones (as after suggest)
    new = [f"{label} +++$+++ {text} indeed" for label, text in
           [(1, "lovely happy fun"), (0, "sad awful dull")] * 10]
    more.write_text(base.read_text() + "\n".join(f"{n} {i}" for i, n in enumerate(new)) + "\n")
    result = invoke("train", "second", "--train", more, "--models-dir", models, "--split-from", "demo", *tiny_args)
    assert result.exit_code == 0, result.output
    assert runs.read_json(models / "second" / runs.SPLIT_FILE)["validation"] == first
    # drawn anew, some of the new rows would validate
    drawn = invoke("train", "third", "--train", more, "--models-dir", models, *tiny_args)
    assert drawn.exit_code == 0 and runs.read_json(models / "third" / runs.SPLIT_FILE)["validation"] != first
    result = invoke("train", "fourth", "--train", more, "--models-dir", models, "--split-from", "nosuch", *tiny_args)
    assert result.exit_code == 1 and "nosuch" in result.output and not (models / "fourth").exists()
