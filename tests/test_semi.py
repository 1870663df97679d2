import csv
import json
import shutil

import numpy as np
import pytest
from helpers import NEGATIVE, POSITIVE, TINY, invoke, write_labeled

from sentiment_cli import runs, semi


@pytest.fixture(scope="module")
def base_models(tmp_path_factory):
    """A confident base run (higher rate, more epochs), so that pseudo-labels pass the threshold."""
    root = tmp_path_factory.mktemp("semi")
    labeled = write_labeled(root / "train.txt")
    unlabeled = root / "nolabel.txt"
    unlabeled.write_text("\n".join(POSITIVE + NEGATIVE) + "\n")
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
    real = semi._train_round
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(semi, "_train_round", interrupted)
    return real


@pytest.fixture
def always_accept(monkeypatch):
    """Rounds are kept whatever validation says, so that several rounds run on tiny data."""
    monkeypatch.setattr(semi, "worse_beyond_noise", lambda *args: False)


def read_rounds(path):
    return list(csv.DictReader(open(path)))


def test_rounds_run_and_are_reported(setup, always_accept):
    models, common = setup
    result = invoke("semi", "base", "--select", "rank", "--rounds", "2", *common)
    assert result.exit_code == 0, result.output
    run = models / "base-semi"
    rows = read_rounds(run / runs.ROUNDS_FILE)
    assert [r["round"] for r in rows] == ["0", "1", "2"]
    for row in rows[1:]:
        assert int(row["pseudo_labels"]) == int(row["pseudo_0"]) + int(row["pseudo_1"])
        assert int(row["pseudo_labels"]) > 0
    assert rows[2]["agreement"] != ""
    assert all(float(row["val_log_loss"]) > 0 for row in rows)  # what the acceptance rule compared
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    assert len(metrics["rounds"]) == 3
    assert metrics["best_val_accuracy"] >= metrics["start_val_accuracy"]
    # the base run is intact and the new run loads on its own
    assert runs.load_run(models, "base").path.name == "base"
    assert runs.load_run(models, "base-semi").config.labels == ["0", "1"]
    assert not (models / ".base-semi.inprogress").exists()


def test_cotrain_gives_each_half_the_other_s_pseudo_labels(setup, monkeypatch, always_accept):
    models, common = setup
    real, seen = semi._train_round, []

    def spy(config, labeled, run_dir, dm, model, extra, verbose, half_extra=None):
        seen.append((extra, half_extra))
        return real(config, labeled, run_dir, dm, model, extra, verbose, half_extra)

    monkeypatch.setattr(semi, "_train_round", spy)
    result = invoke("semi", "base", "--share", "0.5", "--rounds", "1", *common)  # cotrain is the default
    assert result.exit_code == 0, result.output
    [(extra, half_extra)] = seen
    assert extra is None and set(half_extra) == {"ngrams", "rnn_logits"}
    for data in half_extra.values():  # 0.5 of the 20 unlabeled texts, the same number per class
        assert len(data.texts) == 10 and data.labels.count("0") == data.labels.count("1")
    rows = read_rounds(models / "base-semi" / runs.ROUNDS_FILE)
    assert int(rows[1]["pseudo_labels"]) > 0
    assert json.loads((models / "base-semi" / runs.CONFIG_FILE).read_text())["semi"]["select"] == "cotrain"
    # a run with one half has nothing to co-train: asked for, refused; by default, rank, said
    refused = invoke("semi", "quick", "--select", "cotrain", *common)
    assert refused.exit_code == 1 and "needs a run with two halves" in refused.output
    assert not list(models.glob(".quick-semi*"))  # and left no work behind
    fallback = invoke("semi", "quick", "--rounds", "1", *common)
    assert fallback.exit_code == 0 and "co-training needs two" in fallback.output
    assert json.loads((models / "quick-semi" / runs.CONFIG_FILE).read_text())["semi"]["select"] == "rank"


def test_a_bad_round_is_rolled_back(setup, monkeypatch):
    models, common = setup
    real = semi._train_round

    def sabotaged(config, labeled, run_dir, dm, model, extra, verbose, half_extra=None):
        result = real(config, labeled, run_dir, dm, model, extra, verbose, half_extra)
        # Make the (hybrid) model predict one class for everything: validation accuracy drops to 0.5.
        ngrams, rnn = result.model.get_layer("ngrams"), result.model.get_layer("rnn_logits")
        ngrams.weight.assign(np.zeros(ngrams.weight.shape, dtype="float32"))
        kernel, bias = rnn.get_weights()
        rnn.set_weights([np.zeros_like(kernel), np.full_like(bias, 50.0)])
        return result

    monkeypatch.setattr(semi, "_train_round", sabotaged)
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
    work = models / ".quick-semi.inprogress"
    assert json.loads((work / semi.STATE_FILE).read_text())["completed_rounds"] == 1
    assert not (models / "quick-semi").exists()
    # without --resume the interrupted work is not silently discarded
    result = invoke("semi", "quick", "--rounds", "3", *common)
    assert result.exit_code == 1 and "--resume" in result.output

    monkeypatch.setattr(semi, "_train_round", real)
    seen = []
    monkeypatch.setattr(semi, "_train_round", lambda *a: seen.append(1) or real(*a))
    assert invoke("semi", "quick", "--rounds", "3", "--resume", *common).exit_code == 0
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
    real = semi.train

    def spy(config, labeled, run_dir, **kwargs):
        if kwargs.get("initial_model") is None:  # round 0: a fresh model with Word2Vec on all the text
            seen["pretrain"] = config.pretrain_embeddings
            seen["unlabeled"] = len(kwargs["unlabeled_texts"])
        return real(config, labeled, run_dir, **kwargs)

    monkeypatch.setattr(semi, "train", spy)
    result = invoke("semi", "base", "--rounds", "1", "--pretrain-embeddings", *common)
    assert result.exit_code == 0, result.output
    assert seen == {"pretrain": True, "unlabeled": len(POSITIVE + NEGATIVE)}
    metrics = json.loads((models / "base-semi" / runs.METRICS_FILE).read_text())
    assert 0.0 <= metrics["pretrained_val_accuracy"] <= 1.0
    rows = read_rounds(models / "base-semi" / runs.ROUNDS_FILE)
    assert float(rows[0]["seconds"]) > 0
    # round 0 starts from whichever model validates better
    assert float(rows[0]["val_accuracy"]) == pytest.approx(
        max(metrics["start_val_accuracy"], metrics["pretrained_val_accuracy"]), abs=1e-6)


def test_resume_of_work_without_a_saved_round_is_refused(setup):
    models, common = setup
    (models / ".quick-semi.inprogress").mkdir()
    result = invoke("semi", "quick", "--resume", *common)
    assert result.exit_code != 0
    assert "nothing to resume" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output


def test_rank_selection_by_hand():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55], [0.3, 0.7], [0.99, 0.01]])
    # share 0.5 of 6 texts, 2 classes: the 1 + 1 ... here 1.5 -> 1 per class: the surest of each
    idx, labels = semi.rank_pseudo_labels(probs, 0.5)
    assert idx.tolist() == [2, 5] and labels.tolist() == [1, 0]
    idx, labels = semi.rank_pseudo_labels(probs, 1.0)  # 3 per class
    assert idx.tolist() == [0, 1, 2, 3, 4, 5]
    # an unsure model (every p within 0.4-0.6) still gets its surest examples
    unsure = np.array([[0.55, 0.45], [0.41, 0.59], [0.52, 0.48], [0.49, 0.51]])
    idx, labels = semi.rank_pseudo_labels(unsure, 0.5)
    assert idx.tolist() == [0, 1] and labels.tolist() == [0, 1]
    # balanced: a class the model never predicts leaves nothing to pair with
    assert len(semi.rank_pseudo_labels(np.array([[0.9, 0.1], [0.8, 0.2]]), 1.0)[0]) == 0
    # max_per_round caps the total, split over the classes
    assert len(semi.rank_pseudo_labels(probs, 1.0, max_count=4)[0]) == 4


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
    assert not semi.worse_beyond_noise(old, old, y)
    # a couple of rows flipped, nothing else moving: noise, kept
    flipped = old_p.copy()
    right = np.flatnonzero(old_p > 0.5)
    flipped[right[:2]] = 0.45
    assert not semi.worse_beyond_noise(probs_of(flipped), old, y)
    # surer where right and less wrong where wrong: kept
    better_p = np.where(old_p > 0.5, old_p + 0.5 * (1 - old_p), old_p + 0.3 * (0.5 - old_p))
    assert not semi.worse_beyond_noise(probs_of(better_p), old, y)
    # less sure where right, surer where wrong, the decisions unchanged: worse log-loss beyond noise
    unsure_p = np.where(old_p > 0.5, 0.5 + 0.3 * (old_p - 0.5), 0.5 * old_p)
    assert (probs_of(unsure_p).argmax(axis=1) == old.argmax(axis=1)).all()
    assert semi.worse_beyond_noise(probs_of(unsure_p), old, y)
    # ten rows wrong that were right, none the other way: fewer right beyond noise
    wrong_p = old_p.copy()
    wrong_p[right[:10]] = 1 - old_p[right[:10]]
    assert semi.worse_beyond_noise(probs_of(wrong_p), old, y)


def test_cotrain_selection_by_hand():
    # two halves' logits on 6 texts: the n-gram half (0) is surest of texts 0 (positive) and
    # 1 (negative), the network (1) of texts 2 (positive) and 3 (negative)
    logits = np.array([[4.0, 0.1], [-4.0, -0.1], [0.5, 3.0], [-0.5, -3.0], [0.2, 0.2], [-0.2, -0.2]])[:, :, None]
    picks = semi.cotrain_pseudo_labels(logits, ["ngrams", "rnn_logits"], share=2 / 6)  # 1 per class
    idx, labels = picks["rnn_logits"]  # what the n-gram half teaches the network
    assert idx.tolist() == [0, 1] and labels.tolist() == [1, 0]
    idx, labels = picks["ngrams"]
    assert idx.tolist() == [2, 3] and labels.tolist() == [1, 0]
    # a text the halves label differently is left out of the union
    idx, labels = semi._union([(np.array([0, 4]), np.array([1, 1])), (np.array([4, 5]), np.array([0, 0]))], 6)
    assert idx.tolist() == [0, 5] and labels.tolist() == [1, 0]


def test_a_rolled_back_round_stops_the_rounds(setup, monkeypatch):
    models, common = setup
    monkeypatch.setattr(semi, "worse_beyond_noise", lambda *args: True)
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
    work = models / ".quick-semi.inprogress"
    rounds_csv = work / runs.ROUNDS_FILE
    lines = rounds_csv.read_text().splitlines()
    rounds_csv.write_text("\n".join(lines + lines[-1:]) + "\n")  # as if a kill came between two writes
    monkeypatch.setattr(semi, "_train_round", real)
    assert invoke("semi", "quick", "--rounds", "3", "--resume", *common).exit_code == 0
    rows = read_rounds(models / "quick-semi" / runs.ROUNDS_FILE)
    assert [r["round"] for r in rows] == ["0", "1", "2", "3"]


def test_a_taken_output_name_leaves_the_work_resumable(setup, monkeypatch):
    models, common = setup
    real = semi._train_round

    def another_run_takes_the_name(*args):
        (models / "quick-semi").mkdir(exist_ok=True)
        return real(*args)

    monkeypatch.setattr(semi, "_train_round", another_run_takes_the_name)
    result = invoke("semi", "quick", "--rounds", "1", *common)
    assert result.exit_code == 1 and "appeared while semi ran" in result.output
    work = models / ".quick-semi.inprogress"
    assert (work / semi.STATE_FILE).exists()  # nothing committed: it can still be finished
    monkeypatch.setattr(semi, "_train_round", real)
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
    real = semi._train_round

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(semi, "_train_round", interrupt)
    assert invoke("semi", "quick", "--rounds", "2", "--share", "0.4", *common).exit_code == 1
    monkeypatch.setattr(semi, "_train_round", real)
    result = invoke("semi", "quick", "--rounds", "2", "--resume", "--share", "0.8", *common)
    assert result.exit_code == 1 and "--share 0.8 (the run started with 0.4)" in result.output
    other = tmp_path / "other_nolabel.txt"
    other.write_text("great\nawful\n")
    result = invoke("semi", "quick", "--resume", "--unlabeled", other, "--models-dir", models, "-q")
    assert result.exit_code == 1 and "--unlabeled" in result.output
    # without the options, the stored ones (share 0.4, the original unlabeled file) are used
    result = invoke("semi", "quick", "--rounds", "2", "--resume", "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    config = json.loads((models / "quick-semi" / runs.CONFIG_FILE).read_text())
    assert config["semi"]["share"] == 0.4
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
