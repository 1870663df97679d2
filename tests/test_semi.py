import csv
import json
import shutil

import numpy as np
import pytest
from helpers import NEGATIVE, POSITIVE, TINY, invoke, write_labeled

from sentiment_cli import runs, workspace
from sentiment_cli.semi import acceptance, rounds, selection


@pytest.fixture(scope="module")
def base_models(tmp_path_factory):
    """A confident base run (higher rate, more epochs), so that pseudo-labels pass the threshold."""
    root = tmp_path_factory.mktemp("semi")
    labeled = write_labeled(root / "train.txt")
    unlabeled = root / "nolabel.txt"
    unlabeled.write_text("\n".join(POSITIVE + NEGATIVE) + "\n")  # some equal validation texts: left out
    result = invoke("train", "base", "--train", labeled, "--models-dir", root / "models", *TINY,
                    "--lr", "0.03", "--epochs", "5", "--patience", "5")
    assert result.exit_code == 0, result.output
    # The n-gram half alone: its rounds are convex fits, with no Keras graph to trace, so the
    # tests of resuming, refusing and reporting that do not need the network run in seconds.
    result = invoke("train", "quick", "--train", labeled, "--models-dir", root / "models", *TINY, "--model", "ngram")
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def setup(base_models, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(base_models / "models", models)
    common = ["--unlabeled", base_models / "nolabel.txt", "--models-dir", models, "-q", "--epochs-per-round", "1"]
    return models, common


def interrupt_in_round(monkeypatch, n):
    """Ctrl-C during round n's training; rounds before it train for real."""
    real = rounds._train_round
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(rounds, "_train_round", interrupted)
    return real


@pytest.fixture
def always_accept(monkeypatch):
    """Rounds are kept whatever validation says, so that several rounds run on tiny data."""
    monkeypatch.setattr(rounds, "worse_beyond_noise", lambda *args: False)


def read_rounds(path):
    return list(csv.DictReader(open(path)))


def not_stopped(base_models, folder, run):
    """semi RUN --select rank --rounds 2, every round kept (always_accept), not stopped, in a copy
    of the base runs in ``folder``: its output is RUN-semi there."""
    models = shutil.copytree(base_models / "models", folder / "models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rounds, "worse_beyond_noise", lambda *args: False)
        result = invoke("semi", run, "--select", "rank", "--rounds", "2", "--unlabeled",
                        base_models / "nolabel.txt", "--models-dir", models, "-q", "--epochs-per-round", "1")
    assert result.exit_code == 0, result.output
    return models


@pytest.fixture(scope="module")
def two_rounds(base_models, tmp_path_factory):
    """The hybrid base run's two rounds: what test_rounds_run_and_are_reported reads, and what a
    stopped and resumed one must equal (test_a_hybrid_semi_run_resumes_from_its_kept_round):
    trained once for both."""
    return not_stopped(base_models, tmp_path_factory.mktemp("semi-two-rounds"), "base")


@pytest.fixture(scope="module")
def quick_two_rounds(base_models, tmp_path_factory):
    """The n-gram run's two rounds, what both cases of
    test_semi_stopped_at_a_commit_point_resumes_to_the_same_result must equal: trained once for both."""
    return not_stopped(base_models, tmp_path_factory.mktemp("semi-quick-two-rounds"), "quick")


def test_rounds_run_and_are_reported(two_rounds):
    models = two_rounds
    run = models / "base-semi"
    rows = read_rounds(run / runs.ROUNDS_FILE)
    assert [r["round"] for r in rows] == ["0", "1", "2"]
    for row in rows[1:]:
        assert int(row["pseudo_labels"]) == int(row["pseudo_0"]) + int(row["pseudo_1"])
        assert int(row["pseudo_labels"]) > 0
    assert rows[2]["agreement"] != ""
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    assert len(metrics["rounds"]) == 3 and metrics["kept_round"] == 2  # every round kept (forced)
    assert metrics["best_val_accuracy"] == pytest.approx(float(rows[2]["val_accuracy"]))
    # the base run is intact and the new run loads on its own
    assert runs.load_run(models, "base").path.name == "base"
    assert runs.load_run(models, "base-semi").config.labels == ["0", "1"]
    assert not (models / ".base-semi.work").exists()


def test_a_hybrid_semi_run_resumes_from_its_kept_round(setup, two_rounds, monkeypatch, always_accept, tmp_path):
    """Ctrl-C right after round 1 of 2 is committed, then --resume, on a run with a network half:
    the probabilities of a semi run that was not stopped (two_rounds, the same options). A network
    continues from the weights it starts a round with, so a resume that started round 2 from the
    base model, not the kept round 1, would differ here; the n-gram half alone refits from scratch
    and cannot show it."""
    from sentiment_cli.workspace import Workspace

    models, common = setup
    args = ["base", "--rounds", "2", "--select", "rank", *common]
    real = interrupt_at_commit(monkeypatch, 2)  # the 1st commit is round 0's, the 2nd round 1's
    assert invoke("semi", *args, "--output-run", "cut").exit_code == 1
    monkeypatch.setattr(Workspace, "commit", real)
    assert json.loads((models / ".cut.work" / workspace.STATE_FILE).read_text())["kept_round"] == 1
    result = invoke("semi", "base", "--output-run", "cut", "--resume", *common)
    assert result.exit_code == 0, result.output
    probe = tmp_path / "probe.txt"
    probe.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(POSITIVE + NEGATIVE + ["great day",
                                                                                                    "sad song"])))

    def probabilities(run, models):
        out = tmp_path / f"{run}.csv"
        assert invoke("test", run, "--input", probe, "--output", out, "--probabilities", "--models-dir", models,
                      "-q").exit_code == 0
        return np.array([[float(v) for k, v in row.items() if k.startswith("p_")] for row in csv.DictReader(open(out))])

    whole, cut = probabilities("base-semi", two_rounds), probabilities("cut", models)
    assert whole.shape == (22, 2)
    np.testing.assert_allclose(cut, whole, atol=2e-6)


def test_cotrain_gives_each_half_the_other_s_pseudo_labels(setup, monkeypatch, always_accept):
    models, common = setup
    real, seen = rounds._train_round, []

    def spy(config, state, model, extra):
        seen.append((extra, len(state.unlabeled)))
        return real(config, state, model, extra)

    monkeypatch.setattr(rounds, "_train_round", spy)
    result = invoke("semi", "base", "--share", "0.5", "--rounds", "1", *common)  # cotrain is the default
    assert result.exit_code == 0, result.output
    [(extra, unlabeled)] = seen
    assert set(extra) == {"ngrams", "rnn_logits"} and extra["ngrams"][0] != extra["rnn_logits"][0]
    for texts, labels in extra.values():  # half of the unlabeled texts, the same number per class
        assert len(texts) == 2 * (int(0.5 * unlabeled) // 2) and list(labels).count(0) == list(labels).count(1)
    rows = read_rounds(models / "base-semi" / runs.ROUNDS_FILE)
    assert int(rows[1]["pseudo_labels"]) > 0
    assert json.loads((models / "base-semi" / runs.CONFIG_FILE).read_text())["semi"]["select"] == "cotrain"
    # a run with one half has nothing to co-train: asked for, refused; by default, rank, said
    refused = invoke("semi", "quick", "--select", "cotrain", *common)
    assert refused.exit_code == 2 and "needs a run with two halves" in refused.output
    assert not list(models.glob(".quick-semi*"))  # and left no work behind
    assert not (models / "quick-semi").exists()
    fallback = invoke("semi", "quick", "--rounds", "1", *common)
    assert fallback.exit_code == 0 and "co-training needs two" in fallback.output
    assert json.loads((models / "quick-semi" / runs.CONFIG_FILE).read_text())["semi"]["select"] == "rank"


def test_a_bad_round_is_rolled_back(setup, monkeypatch):
    models, common = setup
    real = rounds._train_round

    def sabotaged(*args):
        result = real(*args)
        # Make the (hybrid) model predict one class for everything: validation accuracy drops to 0.5.
        ngrams, rnn = result.model.get_layer("ngrams"), result.model.get_layer("rnn_logits")
        ngrams.values.assign(np.zeros(ngrams.values.shape, dtype="float16"))  # stored compact
        kernel, bias = rnn.get_weights()
        rnn.set_weights([np.zeros_like(kernel), np.full_like(bias, 50.0)])
        return result

    monkeypatch.setattr(rounds, "_train_round", sabotaged)
    base_weights = runs.load_run(models, "base").model.get_weights()
    assert invoke("semi", "base", "--rounds", "1", *common).exit_code == 0
    rows = read_rounds(models / "base-semi" / runs.ROUNDS_FILE)
    assert rows[1]["accepted"] == "False"
    assert float(rows[1]["val_accuracy"]) < float(rows[0]["val_accuracy"])
    final = runs.load_run(models, "base-semi").model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(base_weights, final))
    # the validation probabilities `plot` draws are the kept model's, not the rolled-back round's
    kept, start = (json.loads((models / name / runs.VALIDATION_FILE).read_text()) for name in ("base-semi", "base"))
    assert kept["y"] == start["y"]
    assert np.allclose(kept["probabilities"], start["probabilities"], atol=1e-5)


def test_interrupted_run_resumes_at_the_right_round(setup, monkeypatch, always_accept):
    models, common = setup
    real = interrupt_in_round(monkeypatch, 2)
    result = invoke("semi", "quick", "--rounds", "3", *common)
    assert result.exit_code == 1 and "Aborted" in result.output  # click's answer to Ctrl-C
    # the command that continues it, with the options it needs
    assert f"Continue it with: sentiment-cli semi quick --output-run quick-semi --resume --models-dir {models}" \
        in result.output
    work = models / ".quick-semi.work"
    assert json.loads((work / workspace.STATE_FILE).read_text())["completed_rounds"] == 1
    assert not (models / "quick-semi").exists()
    # without --resume the interrupted work is not silently discarded
    result = invoke("semi", "quick", "--rounds", "3", *common)
    assert result.exit_code == 1 and "--resume" in result.output

    seen = []
    monkeypatch.setattr(rounds, "_train_round", lambda *a: seen.append(1) or real(*a))
    assert invoke("semi", "quick", "--resume", *common).exit_code == 0  # the stored --rounds 3
    assert len(seen) == 2  # rounds 2 and 3 only
    rows = read_rounds(models / "quick-semi" / runs.ROUNDS_FILE)
    assert [r["round"] for r in rows] == ["0", "1", "2", "3"]
    metrics = json.loads((models / "quick-semi" / runs.METRICS_FILE).read_text())
    assert [r["round"] for r in metrics["rounds"]] == [0, 1, 2, 3]  # typed, resumed rows too
    assert all(isinstance(r["accepted"], bool) for r in metrics["rounds"])


def test_semi_refuses_to_overwrite(setup):
    models, common = setup
    result = invoke("semi", "quick", "--rounds", "1", "--json", *common)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # --json: one JSON object on stdout
    assert summary["run"] == str(models / "quick-semi") and len(summary["metrics"]["rounds"]) == 2
    result = invoke("semi", "quick", "--rounds", "1", *common)
    assert result.exit_code == 1 and "already exists" in result.output


def test_pretrain_embeddings_retrains_the_start_on_all_text(setup, monkeypatch):
    models, common = setup
    seen = {}
    real = rounds.train

    def spy(config, data, out_dir, encoder, model=None, options=None):
        if model is None:  # round 0: a fresh model with Word2Vec on all the text
            seen["pretrain"] = config.pretrain_embeddings
            seen["unlabeled"] = len(data.unlabeled)
        return real(config, data, out_dir, encoder, model, options)

    monkeypatch.setattr(rounds, "train", spy)
    result = invoke("semi", "base", "--rounds", "1", "--pretrain-embeddings", *common)
    assert result.exit_code == 0, result.output
    validation = set(json.loads((models / "base" / runs.SPLIT_FILE).read_text())["validation"])
    from sentiment_cli.encoding import text_hash

    outside = [t for t in POSITIVE + NEGATIVE if text_hash(t) not in validation]
    assert seen == {"pretrain": True, "unlabeled": len(outside)} and len(outside) < len(POSITIVE + NEGATIVE)
    metrics = json.loads((models / "base-semi" / runs.METRICS_FILE).read_text())
    assert metrics["pretrained_val_accuracy"] is not None
    rows = read_rounds(models / "base-semi" / runs.ROUNDS_FILE)
    # round 0 starts from whichever model validates better
    assert float(rows[0]["val_accuracy"]) == pytest.approx(
        max(metrics["start_val_accuracy"], metrics["pretrained_val_accuracy"]), abs=1e-6)


def test_resume_of_work_without_a_saved_round_is_refused(setup):
    models, common = setup
    (models / ".quick-semi.work").mkdir()
    result = invoke("semi", "quick", "--resume", *common)
    assert result.exit_code != 0
    assert "nothing to resume" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output


def test_rank_selection_by_hand():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55], [0.3, 0.7], [0.99, 0.01]])
    # share 0.5 of 6 texts, 2 classes: the 1 + 1 ... here 1.5 -> 1 per class: the surest of each
    idx, labels = selection.rank_pseudo_labels(probs, 0.5)
    assert idx.tolist() == [2, 5] and labels.tolist() == [1, 0]
    idx, labels = selection.rank_pseudo_labels(probs, 1.0)  # 3 per class
    assert idx.tolist() == [0, 1, 2, 3, 4, 5]
    # an unsure model (every p within 0.4-0.6) still gets its surest examples
    unsure = np.array([[0.55, 0.45], [0.41, 0.59], [0.52, 0.48], [0.49, 0.51]])
    idx, labels = selection.rank_pseudo_labels(unsure, 0.5)
    assert idx.tolist() == [0, 1] and labels.tolist() == [0, 1]
    # balanced: a class the model never predicts leaves nothing to pair with
    assert len(selection.rank_pseudo_labels(np.array([[0.9, 0.1], [0.8, 0.2]]), 1.0)[0]) == 0
    # max_per_round caps the total, split over the classes
    assert len(selection.rank_pseudo_labels(probs, 1.0, max_count=4)[0]) == 4


def test_rounds_are_rolled_back_on_harm_beyond_noise_only():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=100)

    def probs_of(p_true):  # probabilities that give each row's true class p_true
        p_true = np.clip(p_true, 0.01, 0.99)
        out = np.empty((len(y), 2))
        out[np.arange(len(y)), y] = p_true
        out[np.arange(len(y)), 1 - y] = 1 - p_true
        return out

    old_p = rng.uniform(0.2, 0.95, size=100)
    old = probs_of(old_p)
    assert not acceptance.worse_beyond_noise(old, old, y)
    # a couple of rows flipped, nothing else moving: noise, kept
    flipped = old_p.copy()
    right = np.flatnonzero(old_p > 0.5)
    flipped[right[:2]] = 0.45
    assert not acceptance.worse_beyond_noise(probs_of(flipped), old, y)
    # surer where right and less wrong where wrong: kept
    better_p = np.where(old_p > 0.5, old_p + 0.5 * (1 - old_p), old_p + 0.3 * (0.5 - old_p))
    assert not acceptance.worse_beyond_noise(probs_of(better_p), old, y)
    # less sure where right, surer where wrong, the decisions unchanged: worse log-loss beyond noise
    unsure_p = np.where(old_p > 0.5, 0.5 + 0.3 * (old_p - 0.5), 0.5 * old_p)
    assert (probs_of(unsure_p).argmax(axis=1) == old.argmax(axis=1)).all()
    assert acceptance.worse_beyond_noise(probs_of(unsure_p), old, y)
    # ten rows wrong that were right, none the other way: fewer right beyond noise
    wrong_p = old_p.copy()
    wrong_p[right[:10]] = 1 - old_p[right[:10]]
    assert acceptance.worse_beyond_noise(probs_of(wrong_p), old, y)


def test_cotrain_selection_by_hand():
    # two halves' logits on 6 texts: the n-gram half (0) is surest of texts 0 (positive) and
    # 1 (negative), the network (1) of texts 2 (positive) and 3 (negative)
    logits = np.array([[4.0, 0.1], [-4.0, -0.1], [0.5, 3.0], [-0.5, -3.0], [0.2, 0.2], [-0.2, -0.2]])[:, :, None]
    picks = selection.cotrain_pseudo_labels(logits, ["ngrams", "rnn_logits"], share=2 / 6)  # 1 per class
    idx, labels = picks["rnn_logits"]  # what the n-gram half teaches the network
    assert idx.tolist() == [0, 1] and labels.tolist() == [1, 0]
    idx, labels = picks["ngrams"]
    assert idx.tolist() == [2, 3] and labels.tolist() == [1, 0]
    # a text the halves label differently is left out of the union
    idx, labels = selection.union([(np.array([0, 4]), np.array([1, 1])), (np.array([4, 5]), np.array([0, 0]))], 6)
    assert idx.tolist() == [0, 5] and labels.tolist() == [1, 0]


def test_a_rolled_back_round_stops_the_rounds(setup, monkeypatch):
    models, common = setup
    monkeypatch.setattr(rounds, "worse_beyond_noise", lambda *args: True)
    result = invoke("semi", "quick", "--rounds", "3", *common)
    assert result.exit_code == 0, result.output
    rows = read_rounds(models / "quick-semi" / runs.ROUNDS_FILE)
    assert [r["accepted"] for r in rows] == ["True", "False"]
    assert "stopped: round 1 was rolled back" in result.output


def test_no_pseudo_label_says_why(setup):
    models, common = setup
    result = invoke("semi", "quick", "--select", "threshold", "--confidence", "0.0001", *common)
    assert result.exit_code == 0, result.output
    assert "kept no pseudo-label: no prediction is surer than 0.9999" in result.output
    assert "--threshold" not in invoke("semi", "--help").output  # the old name is a hidden alias
    both = invoke("semi", "quick", "--confidence", "0.1", "--threshold", "0.1", *common)
    assert both.exit_code == 2 and "old name" in both.output
    assert "--select rank" in result.output
    rows = read_rounds(models / "quick-semi" / runs.ROUNDS_FILE)
    assert len(rows) == 1


def test_resume_does_not_repeat_a_round(setup, monkeypatch, always_accept):
    """rounds.csv is derived from state.json, the one commit point: a stale copy cannot add rows."""
    models, common = setup
    real = interrupt_in_round(monkeypatch, 2)
    assert invoke("semi", "quick", "--rounds", "3", *common).exit_code == 1
    work = models / ".quick-semi.work"
    rounds_csv = work / runs.ROUNDS_FILE
    lines = rounds_csv.read_text().splitlines()
    rounds_csv.write_text("\n".join(lines + lines[-1:]) + "\n")  # as if a kill came between two writes
    monkeypatch.setattr(rounds, "_train_round", real)
    assert invoke("semi", "quick", "--rounds", "3", "--resume", *common).exit_code == 0
    rows = read_rounds(models / "quick-semi" / runs.ROUNDS_FILE)
    assert [r["round"] for r in rows] == ["0", "1", "2", "3"]


def test_a_taken_output_name_leaves_the_work_resumable(setup, monkeypatch):
    models, common = setup
    real = rounds._train_round

    def another_run_takes_the_name(*args):
        (models / "quick-semi").mkdir(exist_ok=True)
        return real(*args)

    monkeypatch.setattr(rounds, "_train_round", another_run_takes_the_name)
    result = invoke("semi", "quick", "--rounds", "1", *common)
    assert result.exit_code == 1 and "appeared in" in result.output and "while this one worked" in result.output
    work = models / ".quick-semi.work"
    assert json.loads((work / workspace.STATE_FILE).read_text())["completed_rounds"] == 1  # kept, committed
    monkeypatch.setattr(rounds, "_train_round", real)
    result = invoke("semi", "quick", "--rounds", "1", "--resume", "--overwrite", *common)
    assert result.exit_code == 0, result.output
    assert runs.load_run(models, "quick-semi").model is not None
    assert not work.exists()


def test_semi_refuses_another_training_file(setup, tmp_path):
    models, common = setup
    other = write_labeled(tmp_path / "other.txt", copies=3)
    result = invoke("semi", "quick", "--train", other, *common)
    assert result.exit_code == 1
    assert "was trained on" in result.output and "--allow-other-train" in result.output
    assert invoke("semi", "quick", "--train", other, "--allow-other-train", "--rounds", "1",
                  *common).exit_code == 0


def test_resume_uses_the_stored_inputs_and_refuses_conflicts(setup, monkeypatch, tmp_path):
    models, common = setup
    real = rounds._train_round

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(rounds, "_train_round", interrupt)
    assert invoke("semi", "quick", "--rounds", "2", "--share", "0.4", *common).exit_code == 1
    monkeypatch.setattr(rounds, "_train_round", real)
    result = invoke("semi", "quick", "--resume", "--share", "0.8", *common)
    assert result.exit_code == 1 and "options.semi.share: 0.4 -> 0.8" in result.output
    # the stored --rounds win; another one given is refused like any option
    result = invoke("semi", "quick", "--resume", "--rounds", "5", *common)
    assert result.exit_code == 1 and "options.semi.rounds: 2 -> 5" in result.output
    other = tmp_path / "other_nolabel.txt"
    other.write_text("great\nawful\n")
    result = invoke("semi", "quick", "--resume", "--unlabeled", other, "--models-dir", models, "-q")
    assert result.exit_code == 1 and "options.unlabeled.path" in result.output
    # without the options, the stored ones (share 0.4, the original unlabeled file) are used
    result = invoke("semi", "quick", "--resume", "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    config = json.loads((models / "quick-semi" / runs.CONFIG_FILE).read_text())
    assert config["semi"]["share"] == 0.4
    assert len(json.loads((models / "quick-semi" / runs.METRICS_FILE).read_text())["rounds"]) == 3
    assert config["data"]["unlabeled"].endswith("nolabel.txt") and "other" not in config["data"]["unlabeled"]


def test_a_round_trains_alike_from_the_same_seed(setup, always_accept):
    # Keras draws a loaded model's dropout seeds from Python's generator; a round must not depend
    # on where that generator happened to be when the base run was loaded
    import random

    models, common = setup
    weights = []
    for state, name in ((1, "first"), (2, "second")):
        random.seed(state)
        result = invoke("semi", "base", "--rounds", "1", "--output-run", name, *common)
        assert result.exit_code == 0, result.output
        weights.append(runs.load_run(models, name).model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def _validation_texts_seen(monkeypatch):
    """Spy on the rounds: the validation texts each one is judged on, and the texts it trains on."""
    real, seen = rounds._train_round, []

    def spy(config, state, model, extra):
        seen.append((set(state.data.val_texts), set(state.data.train_texts)))
        return real(config, state, model, extra)

    monkeypatch.setattr(rounds, "_train_round", spy)
    return seen


def test_the_split_follows_the_texts_when_the_file_is_edited(base_models, tmp_path, monkeypatch, always_accept):
    """semi validates on the base run's validation texts, also after the training file was reordered
    and rows were removed in place: none of its validation rows was a training row of the base run."""
    from sentiment_cli.encoding import text_hash

    labeled = write_labeled(tmp_path / "train.txt", copies=3)
    models = tmp_path / "models"
    assert invoke("train", "quick", "--train", labeled, "--models-dir", models, *TINY, "--model", "ngram",
                  "--val-ratio", "0.25").exit_code == 0
    hashes = set(json.loads((models / "quick" / runs.SPLIT_FILE).read_text())["validation"])
    lines = labeled.read_text().splitlines()
    base_validation = {line.split(" +++$+++ ")[1] for line in lines if text_hash(line.split(" +++$+++ ")[1]) in hashes}
    base_training = {line.split(" +++$+++ ")[1] for line in lines} - base_validation
    edited = lines[::-1][3:]  # reversed, and three rows gone
    labeled.write_text("\n".join(edited) + "\n")
    seen = _validation_texts_seen(monkeypatch)
    unlabeled = tmp_path / "nolabel.txt"
    unlabeled.write_text("great fun day\nawful sad day\nlove love it\nhate hate it\n")
    result = invoke("semi", "quick", "--unlabeled", unlabeled, "--models-dir", models, "--rounds", "1",
                    "--select", "rank", "-q")
    assert result.exit_code == 0, result.output
    [(validation, training)] = seen
    remaining = {line.split(" +++$+++ ")[1] for line in edited}
    assert validation == base_validation & remaining and not validation & base_training
    assert training == base_training & remaining


def test_unlabeled_texts_that_are_validation_texts_are_left_out(setup, monkeypatch, always_accept):
    from sentiment_cli.encoding import text_hash

    models, common = setup
    real, seen = rounds._train_round, []
    monkeypatch.setattr(rounds, "_train_round", lambda config, state, *a: seen.append(state.unlabeled) or
                        real(config, state, *a))
    result = invoke("semi", "quick", "--rounds", "1", "--select", "rank", *[c for c in common if c != "-q"])
    assert result.exit_code == 0, result.output
    validation = set(json.loads((models / "quick" / runs.SPLIT_FILE).read_text())["validation"])
    inside = [t for t in POSITIVE + NEGATIVE if text_hash(t) in validation]
    assert inside and f"{len(inside)} unlabeled text(s) equal validation texts and are left out" in result.output
    assert sorted(seen[0]) == sorted(t for t in POSITIVE + NEGATIVE if t not in inside)
    # the progress line counts the texts it tokenized (it said 0 before)
    assert f"tokenizing the unlabeled text: {len(seen[0]):,} texts" in result.output


def test_a_run_given_as_a_path(setup):
    models, common = setup
    path = str(models / "quick")
    # its own name as the output: refused before any work, the base run untouched
    result = invoke("semi", path, "--output-run", "quick", "--overwrite", *common)
    assert result.exit_code == 1 and "needs a name of its own" in result.output
    assert runs.load_run(models, "quick").model is not None and not list(models.glob(".quick*"))
    # resumed by the same path
    import sentiment_cli.semi.rounds as module

    real = module._train_round
    module._train_round = lambda *a: (_ for _ in ()).throw(KeyboardInterrupt)
    try:
        assert invoke("semi", path, "--rounds", "2", *common).exit_code == 1
    finally:
        module._train_round = real
    result = invoke("semi", path, "--resume", *common)
    assert result.exit_code == 0, result.output
    assert runs.load_run(models, "quick-semi").model is not None


def test_a_run_trained_with_bad_lines_skipped(tmp_path):
    labeled = write_labeled(tmp_path / "train.txt")
    labeled.write_text(labeled.read_text() + "1 +++$+++ \n")  # an empty text
    models = tmp_path / "models"
    assert invoke("train", "q", "--train", labeled, "--models-dir", models, *TINY, "--model", "ngram").exit_code == 1
    assert invoke("train", "q", "--train", labeled, "--models-dir", models, *TINY, "--model", "ngram",
                  "--on-bad-lines", "skip").exit_code == 0
    unlabeled = tmp_path / "nolabel.txt"
    unlabeled.write_text("great fun day\nawful sad day\n")
    result = invoke("semi", "q", "--unlabeled", unlabeled, "--models-dir", models, "--rounds", "1", "-q")
    assert result.exit_code == 0, result.output  # semi reads the file as the run did
    result = invoke("evaluate", "q", "--input", labeled, "--models-dir", models, "-q")
    assert result.exit_code == 0 and "accuracy" in result.output, result.output
    result = invoke("evaluate", "q", "--input", labeled, "--models-dir", models, "-q", "--on-bad-lines", "error")
    assert result.exit_code == 1 and "an empty text" in result.output


def test_selection_options_that_cannot_work_are_refused(setup, tmp_path):
    models, common = setup
    result = invoke("semi", "quick", "--max-per-round", "1", *common)
    assert result.exit_code == 2 and "less than one pseudo-label per class" in result.output
    assert not list(models.glob(".quick-semi*"))
    result = invoke("semi", "quick", "--select", "rank", "--band", "0.1,0.9", *common)
    assert result.exit_code == 2 and "--select threshold" in result.output
    three = tmp_path / "three.txt"
    three.write_text("".join(f"{c} +++$+++ {w} {c} {i}\n" for c, w in (("a", "good"), ("b", "bad"), ("c", "meh"))
                             for i in range(8)))
    assert invoke("train", "tri", "--train", three, "--models-dir", models, *TINY, "--model", "ngram").exit_code == 0
    result = invoke("semi", "tri", "--band", "0.1,0.9", *common)
    assert result.exit_code == 2 and "--band is for runs of two classes" in result.output


def test_semi_learns_from_its_pseudo_labels(tmp_path):
    """Words that only the unlabeled text has ('superb', 'dreadful') stand beside words the labels
    teach ('good', 'bad'): the base run cannot tell texts of the new words apart, the semi run
    can, through its pseudo-labels. With the pseudo-labels inverted, this fails."""
    good = [f"good {w}" for w in ("film", "plot", "cast", "song", "end", "day", "show", "book", "art", "play")]
    bad = [f"bad {w}" for w in ("film", "plot", "cast", "song", "end", "day", "show", "book", "art", "play")]
    labeled = tmp_path / "train.txt"
    labeled.write_text("".join(f"1 +++$+++ {t}\n" for t in good) + "".join(f"0 +++$+++ {t}\n" for t in bad))
    unlabeled = tmp_path / "nolabel.txt"
    nouns = ["film", "plot", "cast", "song", "end", "day", "show", "book", "art", "play", "tale", "act"]
    unlabeled.write_text("".join(f"good superb {n} {k}\nbad dreadful {n} {k}\n" for n in nouns for k in range(3)))
    probe = tmp_path / "probe.txt"
    probe.write_text("id,text\n" + "".join(f"{i},{w} {n}\n" for i, (w, n) in
                                           enumerate((w, n) for n in nouns for w in ("superb", "dreadful"))))
    models = tmp_path / "models"
    args = ["--models-dir", models, "-q"]
    assert invoke("train", "few", "--train", labeled, "--unlabeled", unlabeled, "--model", "ngram", "--ngram", "1",
                  "--ngram-min-count", "1", "--val-ratio", "0.3", "--folds", "off", *args).exit_code == 0
    result = invoke("semi", "few", "--unlabeled", unlabeled, "--rounds", "1", "--share", "1.0", *args)
    assert result.exit_code == 0, result.output

    def accuracy(run):
        out = tmp_path / f"{run}.csv"
        assert invoke("test", run, "--input", probe, "--output", out, *args).exit_code == 0
        labels = [row["label"] for row in csv.DictReader(open(out))]
        return sum(label == ("1" if i % 2 == 0 else "0") for i, label in enumerate(labels)) / len(labels)

    assert accuracy("few") <= 0.6  # the base run has no weight for the new words
    assert accuracy("few-semi") >= 0.95


@pytest.mark.parametrize("before", [False, True])
def test_semi_stopped_at_a_commit_point_resumes_to_the_same_result(setup, quick_two_rounds, monkeypatch,
                                                                   always_accept, before):
    """Ctrl-C at the commit of round 1 of 2 (right after it, or right before it), then --resume: the
    model and rounds of a semi run that was not stopped (quick_two_rounds, the same options)."""
    from sentiment_cli.workspace import Workspace

    models, common = setup
    real, calls = Workspace.commit, []

    def stop(self, state):
        calls.append(1)
        if before and len(calls) == 2:
            raise KeyboardInterrupt
        real(self, state)
        if not before and len(calls) == 2:  # the 1st commit is round 0's, the 2nd round 1's
            raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "commit", stop)
    assert invoke("semi", "quick", "--rounds", "2", "--select", "rank", "--output-run", "cut", *common).exit_code == 1
    monkeypatch.setattr(Workspace, "commit", real)
    result = invoke("semi", "quick", "--output-run", "cut", "--resume", *common)
    assert result.exit_code == 0, result.output
    whole, cut = runs.load_run(quick_two_rounds, "quick-semi"), runs.load_run(models, "cut")
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(whole.model.get_weights(), cut.model.get_weights()))
    drop = ("seconds",)
    rows = [[{k: v for k, v in r.items() if k not in drop} for r in read_rounds(run.path / runs.ROUNDS_FILE)]
            for run in (whole, cut)]
    assert rows[0] == rows[1] and len(rows[0]) == 3


def test_why_none_of_cotrain_tells_each_half_s_own_predictions(monkeypatch):
    """Co-training ranks by each half's own logits: the reason it picked nothing is told with
    those, not with the mix's probabilities (which here predict both classes, 2 and 2)."""
    from types import SimpleNamespace

    from sentiment_cli.config import SemiConfig

    # the n-gram half says positive for all four texts, the network negative; mixed, two and two
    logits = np.array([[3.0, -1.0], [1.0, -3.0], [2.0, -0.5], [0.5, -2.0]])[:, :, None]
    monkeypatch.setattr(rounds, "halves_logits", lambda *a, **k: logits)
    monkeypatch.setattr(rounds, "mix_params", lambda model: np.array([1.0, 1.0, 0.0]))
    state = {}
    job = SimpleNamespace(semi=SemiConfig(select="cotrain", share=1.0))
    fake = SimpleNamespace(job=job, unlabeled_seqs=[[1]] * 4, unlabeled=["t"] * 4, progress=False,
                           encoder=SimpleNamespace(features=None), names=["ngrams", "rnn_logits"])
    assert rounds._pick(fake, 1, None, state) is None
    assert "the n-gram half 0, 4; the network 4, 0" in state["stopped"], state["stopped"]
    assert "2, 2" not in state["stopped"]


def test_accumulated_pseudo_labels_keep_their_first_class_by_hand():
    # by half (rows) and unlabeled text (columns): what each half learned so far, -1 for none
    learned = np.array([[1, 0, -1, -1, -1], [-1, -1, 1, 0, -1]], dtype=np.int8)
    picked = np.array([[-1, 1, -1, 0, 1], [-1, 1, 0, 1, -1]], dtype=np.int8)  # this round's picks
    merged = selection.accumulate(learned, picked)
    # text 0: kept; 1: every half's picks agree on another class, which replaces the first;
    # 2, 3: one half's new pick does not overrule the other's earlier one; 4: new
    assert merged.tolist() == [[1, 1, -1, 0, 1], [-1, 1, 1, 0, -1]]
    # by teacher too (a cross-validated run: the final model's, then each fold's)
    assert selection.accumulate(np.stack([learned] * 2), np.stack([picked] * 2)).tolist() == [merged.tolist()] * 2


# by round and learning half, the picks co-training is given: {unlabeled text's index: class}
GIVEN = [{"ngrams": {0: 1, 1: 0}, "rnn_logits": {2: 1, 3: 0}},
         {"ngrams": {1: 1, 4: 0}, "rnn_logits": {1: 1, 2: 0, 5: 1}}]


def give_and_spy(patch, picks, learned):
    """Rounds choose ``picks`` (one per round, in turn), and ``learned`` gets what each half learns."""
    queue = list(picks)

    def choose(state, logits, probs):
        picks = queue.pop(0)
        chosen = {name: (np.array(sorted(p)), np.array([p[i] for i in sorted(p)])) for name, p in picks.items()}
        return (*selection.union(chosen.values(), len(state.unlabeled)), chosen)

    real = rounds._train_round

    def spy(config, state, model, extra):
        assert len(state.unlabeled) >= 6
        learned.append({name: {state.unlabeled.index(t): int(c) for t, c in zip(texts, classes)}
                        for name, (texts, classes) in extra.items()})
        return real(config, state, model, extra)

    patch.setattr(rounds, "_choose", choose)
    patch.setattr(rounds, "_train_round", spy)


@pytest.fixture(scope="module")
def accumulating_stopped(base_models, tmp_path_factory):
    """semi base --rounds 2 --pseudo-labels accumulate, given GIVEN[0] in round 1 and stopped (Ctrl-C)
    right after round 1's commit: the work both cases of the test below resume, and what round 1
    learned. Made once for both cases: a network round."""
    models = shutil.copytree(base_models / "models", tmp_path_factory.mktemp("semi-accumulate") / "models")
    learned = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rounds, "worse_beyond_noise", lambda *args: False)  # always_accept
        give_and_spy(patch, GIVEN[:1], learned)
        interrupt_at_commit(patch, 2)  # the 1st commit is round 0's, the 2nd round 1's
        # cotrain is the default selection; accumulating is opt-in
        result = invoke("semi", "base", "--rounds", "2", "--pseudo-labels", "accumulate", "--unlabeled",
                        base_models / "nolabel.txt", "--models-dir", models, "-q", "--epochs-per-round", "1")
    assert result.exit_code == 1, result.output
    assert (models / ".base-semi.work").is_dir() and not (models / "base-semi").exists()
    # the work records the base run's path: each case resumes it in this folder, put back as it was
    return models, shutil.copytree(models, models.parent / "as-stopped"), learned


@pytest.mark.parametrize("recorded", [True, False])
def test_cotrain_rounds_learn_from_the_earlier_rounds_pseudo_labels(accumulating_stopped, base_models, monkeypatch,
                                                                     always_accept, recorded):
    """With --pseudo-labels accumulate, round 2 of co-training learns from round 1's picks too,
    each with the class first given, unless both halves now agree on another (replaced round by
    round, a half's picks come back to it two rounds later as the other half's). Across a resume
    (Ctrl-C after round 1's commit) too; a run whose options record no --pseudo-labels (0.7.0)
    goes on replacing them."""
    models, stopped, before = accumulating_stopped
    shutil.rmtree(models)
    shutil.copytree(stopped, models)  # the stopped work as it was, whatever the other case did with it
    common = ["--unlabeled", base_models / "nolabel.txt", "--models-dir", models, "-q", "--epochs-per-round", "1"]
    learned = []
    give_and_spy(monkeypatch, GIVEN[1:], learned)
    work = models / ".base-semi.work"
    if not recorded:
        inputs = json.loads((work / workspace.INPUTS_FILE).read_text())
        assert inputs["options"]["semi"].pop("pseudo_labels") == "accumulate"
        (work / workspace.INPUTS_FILE).write_text(json.dumps(inputs))
    result = invoke("semi", "base", "--resume", *common)
    assert result.exit_code == 0, result.output
    assert before == GIVEN[:1] and len(learned) == 1
    if recorded:
        # text 1 of the n-gram half: both halves now say 1; text 2 of the network: only the n-gram
        # half says 0, and the network keeps the 1 it was first given
        assert learned[0] == {"ngrams": {0: 1, 1: 1, 4: 0}, "rnn_logits": {1: 1, 2: 1, 3: 0, 5: 1}}
    else:
        assert learned[0] == GIVEN[1]
    semi = json.loads((models / "base-semi" / runs.CONFIG_FILE).read_text())["semi"]
    assert semi["pseudo_labels"] == ("accumulate" if recorded else "replace")
    assert not list(work.parent.glob(".base-semi.work"))


def interrupt_at_commit(monkeypatch, n: int):
    """Make the workspace's n-th commit stop the run as Ctrl-C would, right after it is written;
    returns the real commit, to put back."""
    from sentiment_cli.workspace import Workspace

    real, calls = Workspace.commit, []

    def stop(self, state):
        real(self, state)
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "commit", stop)
    return real
