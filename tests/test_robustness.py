"""Issue 10: nothing lost, nothing repeated, nothing silent."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import runs
from sentiment_cli.config import TrainConfig
from sentiment_cli.errors import ConfigError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    labeled = write_labeled(root / "train.txt")
    result = invoke("train", "demo", "--train", labeled, "--models-dir", root / "models", *TINY)
    assert result.exit_code == 0, result.output
    return root


def test_test_output_gets_the_umask_mode_and_writes_through_links(trained, tmp_path):
    models = trained / "models"
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    old = os.umask(0o022)
    try:
        result = invoke("test", "demo", "--input", "-", "--output", link, "--models-dir", models, "-q",
                        input="great fun\nawful\n")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text().splitlines()[0] == "id,label" and len(target.read_text().splitlines()) == 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_evaluate_reports_even_when_the_run_cannot_be_written(trained, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    models = tmp_path / "models"
    import shutil

    shutil.copytree(trained / "models", models)
    run = models / "demo"
    run.chmod(0o555)
    try:
        result = invoke("evaluate", "demo", "--input", trained / "train.txt", "--models-dir", models, "-q")
    finally:
        run.chmod(0o755)
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "warning: the report was not saved" in result.output


def test_evaluate_prints_before_saving(trained, tmp_path, monkeypatch):
    """A save that fails (here: forced) is a warning after the report, never a traceback."""
    from sentiment_cli import predict

    def fail(run, report):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(predict, "save_report", fail)
    result = invoke("evaluate", "demo", "--input", trained / "train.txt", "--models-dir", trained / "models", "-q")
    assert result.exit_code == 0, result.output
    assert result.output.index("accuracy") < result.output.index("warning: the report was not saved")


@pytest.mark.parametrize("model", ["hybrid", "ngram"])  # an n-gram model commits no epoch on its way
def test_a_run_created_meanwhile_is_not_overwritten(tmp_path, monkeypatch, model):
    from sentiment_cli import training

    labeled = write_labeled(tmp_path / "train.txt")
    models = tmp_path / "models"
    real = training.train

    def another_process_finishes_first(*args, **kwargs):
        result = real(*args, **kwargs)
        (models / "demo").mkdir()
        (models / "demo" / "marker").write_text("the other run")
        return result

    monkeypatch.setattr(training, "train", another_process_finishes_first)
    result = invoke("train", "demo", "--train", labeled, "--models-dir", models, *TINY, "--model", model)
    assert result.exit_code == 1 and "appeared in" in result.output and "--resume --overwrite" in result.output
    assert (models / "demo" / "marker").read_text() == "the other run"
    # the committed work is kept, and finishes in the other run's place when asked to
    assert sorted(p.name for p in models.iterdir()) == [".demo.work", "demo"]
    monkeypatch.setattr(training, "train", real)
    result = invoke("train", "demo", "--models-dir", models, "--resume", "--overwrite", "-q")
    assert result.exit_code == 0, result.output
    assert not (models / "demo" / "marker").exists() and runs.load_run(models, "demo").model is not None
    assert [p.name for p in models.iterdir()] == ["demo"]


def test_leftovers_of_killed_work_are_cleaned(trained, tmp_path):
    models = tmp_path / "models"
    import shutil

    shutil.copytree(trained / "models", models)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (models / ".demo2.work").mkdir()  # a killed training's workspace, nothing committed
    (models / ".demo2.work" / "owner.json").write_text(json.dumps({"pid": int(dead), "kind": "train"}))
    (models / ".demo3.work").mkdir()  # a live process's work stays
    (models / ".demo3.work" / "owner.json").write_text(json.dumps({"pid": os.getppid(), "kind": "train"}))
    (tmp_path / f".out.csv.{dead}.xyz.partial").write_text("half")
    result = invoke("test", "demo", "--input", "-", "--output", tmp_path / "out.csv", "--models-dir", models,
                    "-q", input="great\n")
    assert result.exit_code == 0
    assert not (tmp_path / f".out.csv.{dead}.xyz.partial").exists()
    assert "removed 1 leftover" in result.output
    result = invoke("train", "demo2", "--train", trained / "train.txt", "--models-dir", models, *TINY)
    assert result.exit_code == 0, result.output
    assert not (models / ".demo2.work").exists()
    result = invoke("train", "demo3", "--train", trained / "train.txt", "--models-dir", models, *TINY)
    assert result.exit_code == 1 and f"being worked on by process {os.getppid()}" in result.output
    assert (models / ".demo3.work").exists()


def test_metrics_never_hold_nan(tmp_path):
    path = tmp_path / "m.json"
    runs.write_json(path, {"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": 2.5}})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.0, None], "c": {"d": 2.5}}


def test_config_records_the_command_only_from_the_cli(trained, tmp_path):
    from sentiment_cli.data import DataSpec
    from sentiment_cli.training import RunOptions, TrainJob, train_run

    record = json.loads((trained / "models" / "demo" / runs.CONFIG_FILE).read_text())
    assert record["command"] and "train" in record["command"]
    runs.invocation = None
    config = TrainConfig(vocab_size=60, max_length=8, ngram_buckets=256, embedding_dim=4, hidden_size=4, epochs=1,
                         batch_size=8, model="ngram")
    train_run(TrainJob(tmp_path, "lib", config, DataSpec(str(trained / "train.txt"))), RunOptions(progress=False))
    assert json.loads((tmp_path / "lib" / runs.CONFIG_FILE).read_text())["command"] is None


def test_history_counts_epochs_from_one_and_best_loss_is_the_best_epochs(trained):
    run = trained / "models" / "demo"
    history = (run / runs.HISTORY_FILE).read_text().splitlines()
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    epochs = [int(line.split(",")[0]) for line in history[1:]]
    assert epochs == list(range(1, metrics["epochs_run"] + 1))
    header = history[0].split(",")
    best = [line.split(",") for line in history[1:]][metrics["best_epoch"] - 1]
    assert float(best[header.index("val_loss")]) == pytest.approx(metrics["best_epoch_val_loss"], rel=1e-5)


def test_declared_labels_without_examples_are_kept(tmp_path):
    labeled = write_labeled(tmp_path / "train.txt")
    result = invoke("train", "three", "--train", labeled, "--labels", "0,1,2", "--models-dir", tmp_path / "m",
                    *TINY[:-1])
    assert result.exit_code == 0, result.output
    assert "no examples of 2" in result.output
    assert runs.load_run(tmp_path / "m", "three").config.labels == ["0", "1", "2"]


def test_vocabulary_is_fitted_on_the_training_side_only(tmp_path):
    from sentiment_cli.data import DataSpec
    from sentiment_cli.training import RunOptions, TrainJob, train_run

    texts = [f"good pos{i}" for i in range(20)] + [f"bad neg{i}" for i in range(20)]
    labeled = tmp_path / "train.txt"
    labeled.write_text("".join(f"{1 if i < 20 else 0} +++$+++ {t}\n" for i, t in enumerate(texts)))
    config = TrainConfig(model="ngram", ngram=1, vocab_size=1000, val_ratio=0.25, seed=3)
    train_run(TrainJob(tmp_path, "v", config, DataSpec(str(labeled))), RunOptions(progress=False))
    run = runs.load_run(tmp_path, "v", with_model=False)
    vocabulary = set(run.tokenizer.vocabulary)
    from sentiment_cli.encoding import text_hash

    validation = set(json.loads((tmp_path / "v" / runs.SPLIT_FILE).read_text())["validation"])
    assert len(validation) == 10
    assert all((t.split()[1] in vocabulary) == (text_hash(t) not in validation) for t in texts)


def test_damaged_run_files_say_so(trained, tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(trained / "models", models)
    tokenizer = models / "demo" / runs.TOKENIZER_FILE
    tokenizer.write_text(tokenizer.read_text()[:50])
    result = invoke("test", "demo", "--input", "-", "--output", "-", "--models-dir", models, input="x\n")
    assert result.exit_code == 1 and "damaged or truncated" in result.output and "Traceback" not in result.output
    shutil.copyfile(trained / "models" / "demo" / runs.TOKENIZER_FILE, tokenizer)
    config = models / "demo" / runs.CONFIG_FILE
    record = json.loads(config.read_text())
    record["hyperparameters"]["max_length"] = 10**12
    config.write_text(json.dumps(record))
    result = invoke("test", "demo", "--input", "-", "--output", "-", "--models-dir", models, input="x\n")
    assert result.exit_code == 1 and "max_length must be at most" in result.output


def test_hyperparameters_are_bounded_above():
    with pytest.raises(ConfigError, match="max_length must be at most 100000"):
        TrainConfig(max_length=10**12)


def test_a_model_with_code_is_refused_plainly(tmp_path):
    script = textwrap.dedent(f"""
        import keras
        inputs = keras.Input((2,))
        model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
        model.save({str(tmp_path / 'evil.keras')!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    from sentiment_cli.errors import RunError

    with pytest.raises(RunError) as info:
        runs.load_model(tmp_path / "evil.keras")
    assert "contains Python code" in str(info.value) and "tampered with" in str(info.value)


def _stop_at_commit(monkeypatch, n, before=False):
    """Ctrl-C at the workspace's n-th commit point: right after it (or right before it)."""
    from sentiment_cli.workspace import Workspace

    real, calls = Workspace.commit, []

    def stop(self, state):
        calls.append(1)
        if before and len(calls) == n:
            raise KeyboardInterrupt
        real(self, state)
        if not before and len(calls) == n:
            raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "commit", stop)
    return real


@pytest.fixture(scope="module")
def not_stopped(tmp_path_factory):
    """The training that test_train_resumes_to_the_same_result stops and resumes, trained without a
    stop once for both of its cases (models in a/, run whole); returns the folder and its arguments."""
    root = tmp_path_factory.mktemp("not-stopped")
    labeled = write_labeled(root / "train.txt")
    args = ["--train", labeled, *TINY, "--epochs", "4", "--patience", "4", "--lr", "0.01", "--models-dir"]
    assert invoke("train", "whole", *args, root / "a").exit_code == 0
    return root, args


@pytest.mark.parametrize("before", [False, True])
def test_train_resumes_to_the_same_result(not_stopped, tmp_path, monkeypatch, before):
    """Ctrl-C at the commit of epoch 2 of 4 (after it, or before it), then --resume with no other option:
    the weights and history of the training that was not stopped."""
    import numpy as np

    from sentiment_cli.workspace import Workspace

    root, args = not_stopped
    real = _stop_at_commit(monkeypatch, 2, before)
    result = invoke("train", "whole", *args, tmp_path / "b")
    assert result.exit_code == 1 and f"Continue it with: sentiment-cli train whole --resume --models-dir {tmp_path / 'b'}" \
        in result.output
    assert not (tmp_path / "b" / "whole").exists() and (tmp_path / "b" / ".whole.work").is_dir()
    # started again without --resume: refused, the work is kept
    result = invoke("train", "whole", *args, tmp_path / "b")
    assert result.exit_code == 1 and "--resume" in result.output
    # resumed with another option: refused, naming it with both values
    result = invoke("train", "whole", "--models-dir", tmp_path / "b", "--resume", "--lr", "0.5")
    assert result.exit_code == 1 and "options.lr: 0.01 -> 0.5" in result.output
    monkeypatch.setattr(Workspace, "commit", real)
    result = invoke("train", "whole", "--models-dir", tmp_path / "b", "--resume", "-q")  # the stored options
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "b" / ".whole.work").exists()

    a, b = runs.load_run(root / "a", "whole"), runs.load_run(tmp_path / "b", "whole")
    for x, y in zip(a.model.get_weights(), b.model.get_weights()):
        assert np.allclose(x, y, atol=1e-6)
    history = [(folder / "whole" / runs.HISTORY_FILE).read_text() for folder in (root / "a", tmp_path / "b")]
    assert [line.split(",")[0] for line in history[1].splitlines()] == ["epoch", "1", "2", "3", "4"]
    assert history[0] == history[1]


def test_resume_refuses_a_changed_training_file(tmp_path, monkeypatch):
    """Every label flipped between the interruption and the resume: refused, the file's hash named."""
    labeled = write_labeled(tmp_path / "train.txt")
    _stop_at_commit(monkeypatch, 1)
    args = ["--train", labeled, *TINY, "--epochs", "3", "--models-dir", tmp_path / "m"]
    assert invoke("train", "flip", *args).exit_code == 1
    monkeypatch.undo()
    flipped = ["".join(("0" if line[0] == "1" else "1", line[1:])) for line in labeled.read_text().splitlines()]
    labeled.write_text("\n".join(flipped) + "\n")
    result = invoke("train", "flip", "--models-dir", tmp_path / "m", "--resume")
    assert result.exit_code == 1 and "files.train.sha256" in result.output and "Restore them" in result.output
    assert (tmp_path / "m" / ".flip.work" / "state.json").exists()  # the committed work is kept


def test_resume_without_interrupted_work_is_refused(tmp_path):
    labeled = write_labeled(tmp_path / "train.txt")
    result = invoke("train", "none", "--train", labeled, *TINY, "--resume", "--models-dir", tmp_path / "m")
    assert result.exit_code == 1 and "nothing to resume" in result.output


def test_test_and_evaluate_read_the_columns_the_run_was_trained_with(tmp_path):
    train = tmp_path / "reviews.csv"
    rows = [f"{i % 2},{'great fun' if i % 2 else 'awful dull'} {i}" for i in range(40)]
    train.write_text("stars,body\n" + "\n".join(rows) + "\n")
    models = tmp_path / "m"
    result = invoke("train", "rev", "--train", train, "--text-column", "body", "--label-column", "stars",
                    "--models-dir", models, *TINY)
    assert result.exit_code == 0, result.output
    more = tmp_path / "more.csv"
    more.write_text("body\ngreat fun\nawful dull\n")
    result = invoke("test", "rev", "--input", more, "--output", "-", "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "id,label" and len(result.output.splitlines()) == 3
    result = invoke("evaluate", "rev", "--input", train, "--models-dir", models, "-q")
    assert result.exit_code == 0 and "accuracy" in result.output


def test_nothing_reaches_stdout_before_the_input_is_readable(trained, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("body\nx\n")
    result = invoke("test", "demo", "--input", bad, "--output", "-", "--models-dir", trained / "models", "-q")
    assert result.exit_code == 1 and "no column 'text'" in result.output
    assert "id,label" not in result.output


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "sentiment_cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_two_concurrent_trainings_of_one_name(tmp_path):
    labeled = write_labeled(tmp_path / "train.txt")
    models = tmp_path / "models"
    procs = [_cli("train", "same", "--train", labeled, "--models-dir", models, *TINY[:-1], "--seed", str(seed))
             for seed in (1, 2)]
    outcomes = [(p.wait(timeout=300), p.stdout.read() + p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(text for code, text in outcomes if code == 1)
    assert "same" in loser and "Traceback" not in loser
    # the winner's run is whole: its files belong together, whichever seed won
    run = runs.load_run(models, "same")
    assert run.model is not None
    assert sorted(p.name for p in models.iterdir()) == ["same"]


def test_two_concurrent_tests_to_one_output(trained, tmp_path):
    texts = tmp_path / "in.txt"
    texts.write_text("id,text\n" + "".join(f"{i},great fun {i}\n" for i in range(500)))
    out = tmp_path / "out.csv"
    procs = [_cli("test", "demo", "--input", texts, "--output", out, "--models-dir", trained / "models", "-q")
             for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    lines = out.read_text().splitlines()
    assert lines[0] == "id,label" and [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(500)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.csv")] == []


def test_output_to_a_closed_pipe_ends_quietly(trained, tmp_path):
    texts = tmp_path / "in.txt"
    texts.write_text("id,text\n" + "".join(f"{i},great fun {i}\n" for i in range(20000)))
    command = (f"{sys.executable} -m sentiment_cli test demo --input {texts} --output - -q "
               f"--models-dir {trained / 'models'} | head -2")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.stdout.splitlines()[0] == "id,label" and len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "Error" not in done.stderr


def test_train_resumes_a_pretraining_to_the_same_result(tmp_path, monkeypatch):
    """Ctrl-C after the third committed step of --pretrain lm, then --resume: the run of a training
    that was not stopped, pretraining figures included."""
    import numpy as np

    from sentiment_cli.fit import pretrain
    from sentiment_cli.workspace import Workspace

    monkeypatch.setattr(pretrain, "COMMIT_SECONDS", 0.0)  # commit after every step
    labeled = write_labeled(tmp_path / "train.txt")
    args = ["--train", labeled, *TINY, "--pretrain", "lm", "--pretrain-epochs", "2", "--models-dir"]
    assert invoke("train", "lm", *args, tmp_path / "a").exit_code == 0

    real = _stop_at_commit(monkeypatch, 3)
    result = invoke("train", "lm", *args, tmp_path / "b")
    assert result.exit_code == 1 and "Continue it with: sentiment-cli train lm --resume" in result.output
    state = json.loads((tmp_path / "b" / ".lm.work" / "state.json").read_text())
    assert state["pretrain"]["steps"] == 3 and not state["pretrain"]["done"]
    monkeypatch.setattr(Workspace, "commit", real)
    result = invoke("train", "lm", "--models-dir", tmp_path / "b", "--resume")
    assert result.exit_code == 0, result.output
    assert "resuming the pretraining after step 3" in result.output  # not started again

    a, b = (runs.load_run(tmp_path / d, "lm") for d in ("a", "b"))
    for x, y in zip(a.model.get_weights(), b.model.get_weights()):
        assert np.allclose(x, y, atol=1e-5)
    assert a.metrics["pretrained"]["steps"] == b.metrics["pretrained"]["steps"] == 2 * 5  # 36 texts, batches of 8
