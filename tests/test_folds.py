"""train --folds: K trainings on folds of distinct texts, then the final model on every row."""

import json
import random

import numpy as np
import pytest
from helpers import TINY, invoke, texts

from sentiment_cli import crossval, runs, training
from sentiment_cli.encoding import text_hash
from sentiment_cli.errors import ConfigError, DataError

# TINY without its "--folds off"
FOLDED = [a for i, a in enumerate(TINY) if a != "--folds" and (i == 0 or TINY[i - 1] != "--folds")]


def labeled(path, copies=3, shuffle_seed=None, repeats=()):
    """copies x 20 distinct texts, plus ``repeats``: copies of some of them (other case and
    punctuation, the same text to encoding.text_hash); labels shuffled with shuffle_seed."""
    positive, negative = texts(copies)
    rows = [("1", t) for t in positive] + [("0", t) for t in negative]
    rows += [(label, t.upper() + " !") for label, t in (rows[i] for i in repeats)]
    if shuffle_seed is not None:
        labels = [label for label, _ in rows]
        random.Random(shuffle_seed).shuffle(labels)
        rows = [(label, t) for label, (_, t) in zip(labels, rows)]
    path.write_text("".join(f"{label} +++$+++ {t}\n" for label, t in rows), encoding="utf-8")
    return path, rows


def test_folds_never_split_copies_of_a_text_and_keep_each_class_in_each_fold():
    rng = np.random.default_rng(0)
    base = [f"text number {i}" for i in range(40)]
    y_base = np.array([i % 2 for i in range(40)])
    picks = rng.integers(0, 40, size=60)  # many texts twice or more, in other spellings
    all_texts = base + [base[i].upper() + "!!" for i in picks]
    y = np.concatenate([y_base, y_base[picks]])
    hashes = np.array([text_hash(t) for t in all_texts])
    fold = crossval.draw_folds(y, hashes, 5, seed=3)
    for h in set(hashes):
        assert len(set(fold[hashes == h])) == 1  # every copy in one fold
    for k in range(5):
        assert set(y[fold == k]) == {0, 1}


def test_auto_takes_five_folds_below_the_threshold_and_one_split_above():
    y = np.array([0, 1] * 100)
    hashes = np.array([str(i) for i in range(200)])
    assert crossval.fold_count("auto", y, hashes, 0.1, "f") == 5
    assert crossval.fold_count("off", y, hashes, 0.1, "f") == 0
    big = np.array([0, 1] * 2500)
    assert crossval.fold_count("auto", big, np.arange(5000).astype(str), 0.1, "f") == 0  # 500 would validate
    few = np.array([0, 0, 0, 1, 1, 1, 1, 1])  # class 0: 3 distinct texts
    assert crossval.fold_count("auto", few, np.arange(8).astype(str), 0.1, "f") == 3
    with pytest.raises(DataError, match="4 folds need 4 distinct texts of each class, and one class has 3"):
        crossval.fold_count(4, few, np.arange(8).astype(str), 0.1, "f")
    with pytest.raises(ConfigError, match="not 'one'"):
        crossval.parse_folds("one")


def test_the_folds_choose_c_on_the_pooled_rows_and_the_median_epoch():
    # fold 1 (10 rows) prefers 0.1, fold 2 (30 rows) 1.0: pooled, 1.0 (0.2 + 27 against 9 + 0.3 rows)
    assert crossval.choose_c([{0.1: 0.9, 1.0: 0.02}, {0.1: 0.01, 1.0: 0.9}], [10, 30]) == 1.0
    assert crossval.choose_c([{0.03: 0.5, 0.1: 0.5}], [10]) == 0.03  # a tie: the most regularised
    assert crossval.final_epochs([3, 9, 6, 7, 5]) == 6 and crossval.final_epochs([2, 3]) == 3
    logits = np.array([[[2.0], [0.1]], [[-2.0], [-0.1]]])  # (rows, halves, outputs)
    assert crossval.network_share(logits, np.array([1.0, 1.0, 0.0]), 1) == pytest.approx(0.1 / 2.1)


def test_folds_option_refuses_a_bad_value_at_the_door(tmp_path):
    result = invoke("train", "x", "--train", tmp_path / "none.txt", "--folds", "1", "--models-dir", tmp_path)
    assert result.exit_code == 2
    assert "--folds takes auto, off or a number of folds (2 or more), not '1'" in result.output


def test_cross_validated_run_learns_and_its_final_model_trains_on_every_row(tmp_path, monkeypatch):
    path, rows = labeled(tmp_path / "train.txt", repeats=(0, 1, 25))
    models = tmp_path / "m"
    finals = []
    real = training.train

    def spy(config, data, *args, **kwargs):
        if not data.val_texts:
            finals.append((list(data.train_texts), config))
        return real(config, data, *args, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    monkeypatch.setattr(crossval, "NOTHING_SHARE", 1.01)  # say it whatever the network's weight
    result = invoke("train", "cv", "--train", path, "--models-dir", models, *FOLDED, "--folds", "3")
    assert result.exit_code == 0, result.output
    assert "cross-validation: 3 folds of" in result.stderr and "4 trainings of" in result.stderr
    assert "--model ngram would take about" in result.stderr and "n-gram half alone" in result.stderr
    assert "cross-validated accuracy" in result.stdout

    # the final model: one training, on every row (copies included), with the folds' choices
    assert len(finals) == 1 and finals[0][0] == [t for _, t in rows]
    run = models / "cv"
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    cv = metrics["cross_validation"]
    assert metrics["train_examples"] == len(rows) and metrics["val_examples"] == 0
    assert finals[0][1].epochs == cv["choices"]["epochs"] == crossval.final_epochs(cv["choices"]["best_epochs"])
    assert finals[0][1].ngram_c == cv["choices"]["ngram_c"] == metrics["ngram_c"]
    assert json.loads((run / runs.CONFIG_FILE).read_text())["hyperparameters"]["ngram_c"] == cv["choices"]["ngram_c"]

    # the figures: sane, and the model learned (chance is 0.5)
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3 and sum(f["rows"] for f in cv["per_fold"]) == len(rows)
    for key in ("accuracy_mean", "accuracy_sd", "macro_f1_mean", "macro_f1_sd"):
        assert 0.0 <= cv[key] <= 1.0
    assert cv["accuracy_mean"] == pytest.approx(np.mean([f["accuracy"] for f in cv["per_fold"]]), abs=1e-6)
    assert cv["accuracy_mean"] >= 0.85, cv

    # the out-of-fold predictions, by text hash: every copy of a text in one fold
    oof = json.loads((run / runs.OOF_FILE).read_text())
    assert len(oof["hash"]) == len(rows) and np.allclose(np.sum(oof["probabilities"], axis=1), 1.0)
    by_hash = {}
    for h, k in zip(oof["hash"], oof["fold"]):
        by_hash.setdefault(h, set()).add(k)
    assert all(len(k) == 1 for k in by_hash.values()) and len(by_hash) == len(rows) - 3
    assert np.mean(np.argmax(oof["probabilities"], axis=1) == oof["y"]) == metrics["best_val_accuracy"]
    assert json.loads((run / runs.SPLIT_FILE).read_text())["validation"] == []
    assert len(json.loads((run / runs.TEXTS_FILE).read_text())["hashes"]) == len(rows) - 3

    listed = invoke("list", "--models-dir", models)
    assert f"cv 3-fold {cv['accuracy_mean']:.2f} +- {cv['accuracy_sd']:.2f}" in listed.output
    assert invoke("test", "cv", "--models-dir", models, "--input", path, "--output", tmp_path / "p.csv").exit_code == 0

    # evaluate --out-of-fold: the training file scored by the fold models that did not train on each row
    result = invoke("evaluate", "cv", "--models-dir", models, "--input", path, "--out-of-fold", "--errors", "3",
                    "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows_out_of_fold"] == len(rows) and "rows_in_training_data" not in report
    assert abs(report["accuracy"] - metrics["best_val_accuracy"]) <= 3 / len(rows)  # copies: the first's row


def test_shuffled_labels_cross_validate_near_chance(tmp_path):
    path, _ = labeled(tmp_path / "train.txt", copies=4, shuffle_seed=1)
    models = tmp_path / "m"
    result = invoke("train", "shuffled", "--train", path, "--models-dir", models, *FOLDED, "--model", "ngram",
                    "--folds", "4")
    assert result.exit_code == 0, result.output
    cv = json.loads((models / "shuffled" / runs.METRICS_FILE).read_text())["cross_validation"]
    assert cv["accuracy_mean"] < 0.7, cv


def test_folds_off_keeps_one_validation_split(tmp_path):
    path, rows = labeled(tmp_path / "train.txt", copies=2)
    models = tmp_path / "m"
    result = invoke("train", "one", "--train", path, "--models-dir", models, *TINY, "--model", "ngram")
    assert result.exit_code == 0, result.output
    run = models / "one"
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    assert "cross_validation" not in metrics and not (run / runs.OOF_FILE).exists()
    assert metrics["val_examples"] == 4 and metrics["train_examples"] == len(rows) - 4
    assert len(json.loads((run / runs.SPLIT_FILE).read_text())["validation"]) == 4
    assert "cross-validation" not in result.stderr
    assert f"val {metrics['best_val_accuracy']:.2f}" in invoke("list", "--models-dir", models).output
    result = invoke("evaluate", "one", "--models-dir", models, "--input", path, "--out-of-fold")
    assert result.exit_code == 1
    assert "one has none (oof.json): train it with --folds K (or auto), or leave out --out-of-fold" in result.output


def test_an_interrupted_fold_run_keeps_nothing(tmp_path, monkeypatch):
    path, _ = labeled(tmp_path / "train.txt")
    models = tmp_path / "m"
    args = ["--train", path, "--models-dir", models, *FOLDED, "--model", "ngram", "--folds", "3"]
    real, calls = training.train, []

    def stopped_in_the_second_fold(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(training, "train", stopped_in_the_second_fold)
    assert invoke("train", "cv", *args).exit_code == 1  # click: Aborted!
    assert not (models / ".cv.work").exists()  # a fold run commits nothing: no work to resume
    result = invoke("train", "cv", "--models-dir", models, "--resume")
    assert result.exit_code == 1 and "nothing to resume: no interrupted run 'cv'" in result.output



def test_list_says_which_figure_a_run_has():
    from sentiment_cli.runs import figure

    assert figure({"cross_validation": {"folds": 5, "accuracy_mean": 0.8123, "accuracy_sd": 0.041}}) == \
        "cv 5-fold 0.81 +- 0.04"
    assert figure({"best_val_accuracy": 0.851}) == "val 0.85"
    assert figure({"best_val_accuracy": 0.862, "judged_on": "out-of-fold"}) == "out-of-fold 0.86"
    assert figure({}) is None
