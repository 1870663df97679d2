"""`check --label-issues --run RUN` and `suggest RUN` read a cross-validated run's out-of-fold
predictions (oof.json): the same flagging rule as check's own n-gram folds, on the run's evidence.

The runs are n-gram runs (a second each): what is tested is how oof.json is read and used, which
does not depend on the halves that made it (tests/test_oof_decisions.py trains a hybrid one).
"""

import csv
import json
import shutil

import numpy as np
import pytest
from helpers import TINY, invoke

from sentiment_cli import runs
from sentiment_cli.encoding import text_hash
from test_folds import FOLDED, labeled

NO_OOF = ("Error: run 'split' has no out-of-fold predictions (oof.json): it was trained on one validation split. "
          "Train it with --folds K (or auto, on small data), or leave out {option}\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run cross-validated on 3 folds (oof.json) and one trained on a validation split, on 40 rows."""
    root = tmp_path_factory.mktemp("oofuse")
    path, rows = labeled(root / "train.txt", copies=2)
    for name, how in [("cv", [*FOLDED, "--folds", "3"]), ("split", TINY)]:
        result = invoke("train", name, "--train", path, "--models-dir", root / "models", *how, "--model", "ngram")
        assert result.exit_code == 0, result.output
    pool = root / "pool.txt"
    pool.write_text("love love happy fun\nawful hate sad bad\nthe place today\nfun and sad\n", encoding="utf-8")
    return root, path, rows, pool


@pytest.fixture
def models(trained, tmp_path):
    shutil.copytree(trained[0] / "models", tmp_path / "models")
    return tmp_path / "models"


def set_oof(models, text, probabilities):
    """Give the row of ``text`` these out-of-fold probabilities in run cv's oof.json."""
    path = models / "cv" / runs.OOF_FILE
    oof = json.loads(path.read_text())
    oof["probabilities"][oof["hash"].index(text_hash(text))] = probabilities
    path.write_text(json.dumps(oof))


def flagged(result):
    assert result.exit_code == 0, result.output
    return [(issue["line"], issue["given_label"], issue["suggested_label"])
            for issue in json.loads(result.stdout)["label_issues"]["issues"]]


def test_check_flags_the_rows_that_the_runs_out_of_fold_predictions_contradict(trained, models, tmp_path):
    _, path, rows, _ = trained
    line = 3
    label, text = rows[line - 1]
    assert label == "1"
    # no --train: the file the run was trained on (check's own default, data/training_label.txt, is not there)
    check = ("check", "--label-issues", "--run", "cv", "--models-dir", models)
    set_oof(models, text, [0.99, 0.01])  # out of fold, the run is sure the positive row is negative
    assert flagged(invoke(*check, "--json"))[0] == (line, "1", "0")
    out = tmp_path / "issues.csv"
    result = invoke(*check, "--output", out)
    assert result.exit_code == 0, result.output
    assert ("has a label that run 'cv' contradicts out of fold (oof.json: its n-gram model, 3 folds, seed 7)"
            in result.stdout)
    assert f"1. line {line}: 1 -> 0 (p 0.99, given 0.01) '{text}'" in result.stdout
    assert "(0.7.0; bench/RESULTS.md; measured with check's own n-gram folds, not a run's predictions)" in result.stdout
    with open(out, newline="", encoding="utf-8") as f:
        first = next(csv.DictReader(f))
    assert (first["line"], first["given_label"], first["suggested_label"]) == (str(line), "1", "0")

    set_oof(models, text, [0.01, 0.99])  # the same row, now agreeing with its label
    assert (line, "1", "0") not in flagged(invoke(*check, "--json"))


def test_rows_the_run_did_not_train_on_are_counted_not_checked(trained, models, tmp_path):
    _, path, rows, _ = trained
    edited = tmp_path / "edited.txt"
    edited.write_text(path.read_text() + "0 +++$+++ a brand new text\n1 +++$+++ another new one\n", encoding="utf-8")
    check = ("check", "--label-issues", "--run", "cv", "--models-dir", models, "--train")
    result = invoke(*check, edited)
    assert result.exit_code == 0, result.output
    assert "2 more rows of the file are not in run 'cv''s oof.json (edited or added since it trained): not checked" \
        in result.stdout
    report = json.loads(invoke(*check, edited, "--json").stdout)["label_issues"]
    assert report["rows"] == len(rows) and report["rows_not_in_run"] == 2

    other = tmp_path / "other.txt"
    other.write_text("0 +++$+++ a brand new text\n1 +++$+++ another new one\n", encoding="utf-8")
    result = invoke(*check, other)
    assert result.exit_code == 1
    assert result.output == (f"Error: {other}: none of its 2 rows is a text run 'cv' was cross-validated on. "
                             "Give the file the run was trained on, or leave out --run\n")


def test_check_run_without_oof_and_misplaced_options_are_one_line(trained, models):
    result = invoke("check", "--label-issues", "--run", "split", "--models-dir", models)
    assert result.exit_code == 1 and result.output == NO_OOF.format(option="--run")
    result = invoke("check", "--run", "cv", "--models-dir", models)
    assert result.exit_code == 2 and "Error: --run goes with --label-issues (the run's out-of-fold predictions are what it reads)" \
        in result.output
    result = invoke("check", "--label-issues", "--run", "cv", "--models-dir", models, "--folds", "3")
    assert result.exit_code == 2
    assert ("Error: --folds and --seed draw check's own folds; with --run the run's out-of-fold predictions are read: "
            "leave them out") in result.output
    assert "Traceback" not in result.output


def test_suggest_lists_the_labeled_rows_to_relabel_from_the_out_of_fold_predictions(trained, models, tmp_path):
    _, _, rows, pool = trained
    line = 3
    text = rows[line - 1][1]
    out = tmp_path / "to_label.csv"
    suggest = ("suggest", "cv", "--unlabeled", pool, "--models-dir", models, "--output", out, "--overwrite", "-q")
    set_oof(models, text, [0.99, 0.01])
    result = invoke(*suggest)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("4 of 4 texts suggested in")
    assert ("to relabel: 1 of 40 rows has a label that run 'cv' contradicts out of fold (oof.json: its n-gram "
            "model, 3 folds, seed 7)\n" f"  1. line {line}: 1 -> 0 (p 0.99, given 0.01) '{text}'\n") in result.stdout
    summary = json.loads(invoke(*suggest, "--json").stdout)
    assert [(i["line"], i["suggested_label"]) for i in summary["relabel"]["issues"]] == [(line, "0")]
    # the CSV on stdout stays a CSV: the rows to relabel go to stderr
    result = invoke(*suggest[:-4], "--output", "-", "-q")
    assert f"line {line}: 1 -> 0" in result.stderr and "to relabel" not in result.stdout
    assert "to relabel" not in invoke(*suggest, "--relabel", "0").stdout

    set_oof(models, text, [0.01, 0.99])
    result = invoke(*suggest)
    assert result.exit_code == 0, result.output
    assert f"line {line}:" not in result.stdout and "to relabel: 0 of 40 rows" in result.stdout


def test_suggest_relabel_needs_out_of_fold_predictions_and_the_training_file(trained, models, tmp_path):
    _, _, _, pool = trained
    suggest = ("suggest", "--unlabeled", pool, "--models-dir", models, "--output", tmp_path / "s.csv", "-q")
    result = invoke(*suggest, "split", "--relabel", "5")
    assert result.exit_code == 1 and result.output == NO_OOF.format(option="--relabel")
    result = invoke(*suggest, "split")  # not asked: a run without oof.json suggests as before
    assert result.exit_code == 0 and "to relabel" not in result.output

    config = models / "cv" / runs.CONFIG_FILE
    record = json.loads(config.read_text())
    record["data"]["train"] = str(tmp_path / "moved.txt")
    config.write_text(json.dumps(record))
    result = invoke(*suggest, "cv", "--overwrite")
    assert result.exit_code == 0, result.output
    gone = f"{tmp_path / 'moved.txt'}, which run 'cv' was trained on, is gone"
    assert f"note: no labeled rows to relabel: {gone}\n" in result.stderr
    result = invoke(*suggest, "cv", "--overwrite", "--relabel", "5")
    assert result.exit_code == 1
    assert result.output == (f"Error: --relabel reads the labeled rows RUN was trained on, and {gone}: put it back, "
                             "or leave out --relabel\n")


def test_the_runs_rows_are_ranked_by_confident_learnings_rule(trained, models):
    # check --run lists exactly confident_issues' rows of the run's pooled out-of-fold probabilities,
    # least self-confident first, each at its line of the file (the file's order is not oof.json's)
    from sentiment_cli.label_issues import confident_issues

    _, _, rows, _ = trained
    for line, p in [(3, [0.9, 0.1]), (25, [0.2, 0.8]), (7, [0.97, 0.03])]:  # 25 is negative, 3 and 7 positive
        set_oof(models, rows[line - 1][1], p)
    oof = json.loads((models / "cv" / runs.OOF_FILE).read_text())
    ranked, suggested, _ = confident_issues(np.array(oof["probabilities"]), np.array(oof["y"]))
    line_of = {text_hash(t): n for n, (_, t) in enumerate(rows, 1)}
    expected = [(line_of[oof["hash"][i]], str(oof["y"][i]), str(suggested[i])) for i in ranked]
    found = flagged(invoke("check", "--label-issues", "--run", "cv", "--models-dir", models, "--json"))
    assert found == expected and found[:3] == [(7, "1", "0"), (3, "1", "0"), (25, "0", "1")]
