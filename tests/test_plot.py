import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import plots, runs
from sentiment_cli.errors import RunError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VALIDATION_PICTURES = [plots.CONFUSION, plots.RELIABILITY, plots.ROC, plots.PRECISION_RECALL]


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A binary hybrid run (evaluated once), a binary and a three-class n-gram run, and a semi
    run on top of the binary n-gram one (n-gram runs train and self-train in seconds)."""
    root = tmp_path_factory.mktemp("plot")
    labeled = write_labeled(root / "train.txt")
    three = root / "three.csv"
    # distinct texts: a text repeated is on one side of the validation split only
    three.write_text("label,text\n" + "".join(f"{l},{l} words {i // 3}\n"
                                                for i, l in enumerate(["negative", "neutral", "positive"] * 6)))
    unlabeled = root / "nolabel.txt"
    unlabeled.write_text("great fun day\nawful boring song\ni love it\ni hate it\n" * 3)
    models = root / "models"
    for args in [("train", "bin", "--train", labeled, *TINY, "--epochs", "3", "--patience", "3"),
                 ("evaluate", "bin", "--input", labeled, "-q"),
                 ("train", "quick", "--train", labeled, *TINY, "--model", "ngram"),
                 ("train", "three", "--train", three, *TINY, "--model", "ngram"),
                 ("semi", "quick", "--unlabeled", unlabeled, "--rounds", "1", "-q")]:
        result = invoke(*args, "--models-dir", models)
        assert result.exit_code == 0, result.output
    return models


@pytest.fixture
def models(trained_once, tmp_path):
    """A copy of the runs per test, so that a test may change them."""
    shutil.copytree(trained_once, tmp_path / "models")
    return tmp_path / "models"


def assert_png(path):
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000, path
    height, width = imread(path).shape[:2]
    assert 300 <= width <= 3000 and 300 <= height <= 3000, (path, width, height)


def plot(models, run):
    result = invoke("plot", run, "--models-dir", models)
    written = [line for line in result.stdout.splitlines() if line]
    return result, written


def test_train_writes_the_validation_rows(trained_once):
    for run, labels in [("bin", ["0", "1"]), ("three", ["negative", "neutral", "positive"])]:
        data = json.loads((trained_once / run / runs.VALIDATION_FILE).read_text())
        metrics = json.loads((trained_once / run / runs.METRICS_FILE).read_text())
        probs, y = np.array(data["probabilities"]), np.array(data["y"])
        assert data["labels"] == labels
        assert len(y) == len(probs) == metrics["val_examples"] > 0
        assert probs.shape[1] == len(labels) and set(y) <= set(range(len(labels)))
        assert np.allclose(probs.sum(axis=1), 1, atol=1e-5) and (probs >= 0).all()
        # the probabilities of the saved model, after the fitted mix: they give its validation accuracy
        assert np.mean(probs.argmax(axis=1) == y) == pytest.approx(metrics["best_val_accuracy"])


def test_a_binary_hybrid_run_gets_every_picture(models):
    result, written = plot(models, "bin")
    assert result.exit_code == 0, result.output
    expected = [plots.LEARNING_CURVES, *VALIDATION_PICTURES, plots.EVALUATION_CONFUSION]
    directory = models / "bin" / plots.PLOTS_DIR
    assert written == [str(directory / name) for name in expected]
    for name in expected:
        assert_png(directory / name)
    assert result.stderr == ""
    again, _ = plot(models, "bin")  # replaced in place, nothing temporary left
    assert again.exit_code == 0
    assert sorted(p.name for p in directory.iterdir()) == sorted(expected)


def test_a_three_class_run_has_no_roc_and_names_what_is_missing(models):
    result, written = plot(models, "three")
    assert result.exit_code == 0, result.output
    directory = models / "three" / plots.PLOTS_DIR
    assert written == [str(directory / plots.CONFUSION), str(directory / plots.RELIABILITY)]
    for path in written:
        assert_png(Path(path))
    assert f"skipped {plots.ROC}: binary runs only (this run has 3 classes)" in result.stderr
    assert f"skipped {plots.LEARNING_CURVES}: the ngram model trains no epochs" in result.stderr
    assert f"skipped {plots.EVALUATION_CONFUSION}: no evaluation.json yet: run sentiment-cli evaluate three" \
        in result.stderr


def test_evaluate_adds_its_confusion_matrix(models, tmp_path):
    labeled = tmp_path / "three.csv"
    labeled.write_text("label,text\nnegative,negative words\nneutral,neutral words\npositive,neutral words\n")
    assert invoke("evaluate", "three", "--input", labeled, "--models-dir", models, "-q").exit_code == 0
    result, written = plot(models, "three")
    assert result.exit_code == 0, result.output
    assert str(models / "three" / plots.PLOTS_DIR / plots.EVALUATION_CONFUSION) in written
    assert_png(models / "three" / plots.PLOTS_DIR / plots.EVALUATION_CONFUSION)


def test_a_semi_run_gets_its_rounds(models):
    result, written = plot(models, "quick-semi")
    assert result.exit_code == 0, result.output
    directory = models / "quick-semi" / plots.PLOTS_DIR
    # the base run is an n-gram model: no learning curve; the kept model's validation pictures
    assert written == [str(directory / name) for name in (plots.CONFUSION, plots.RELIABILITY, plots.ROC,
                                                          plots.PRECISION_RECALL, plots.SEMI_ROUNDS)]
    for path in written:
        assert_png(Path(path))


def test_a_run_without_validation_rows_skips_those_pictures(models):
    """Runs made before validation.json existed still plot what they can."""
    (models / "bin" / runs.VALIDATION_FILE).unlink()
    result, written = plot(models, "bin")
    assert result.exit_code == 0, result.output
    directory = models / "bin" / plots.PLOTS_DIR
    assert written == [str(directory / plots.LEARNING_CURVES), str(directory / plots.EVALUATION_CONFUSION)]
    assert (f"skipped {', '.join(VALIDATION_PICTURES)}: no validation.json in the run (made by an older "
            "sentiment-cli): train it again") in result.stderr
    assert not (directory / plots.CONFUSION).exists()


def test_damaged_data_skips_its_pictures_only(models):
    (models / "bin" / runs.VALIDATION_FILE).write_text('{"labels": ["0", "1"], "y": [0, 1], "probabilities": [[1]]}')
    (models / "bin" / runs.HISTORY_FILE).write_text("epoch,loss\n1,0.5\n")
    (models / "bin" / runs.EVALUATION_FILE).write_text("{not json")
    result, written = plot(models, "bin")
    assert result.exit_code == 0, result.output
    assert written == []
    assert "validation.json is damaged" in result.stderr
    assert "history.csv has no numeric column 'val_loss'" in result.stderr
    assert "evaluation.json is damaged" in result.stderr
    assert "no pictures written" in result.stderr


def test_a_plots_directory_that_cannot_be_written_is_an_error(models):
    (models / "bin" / plots.PLOTS_DIR).write_text("in the way")
    result, _ = plot(models, "bin")
    assert result.exit_code == 1
    assert f"Error: {models / 'bin' / plots.PLOTS_DIR}: exists and is not a directory" in result.stderr
    assert "Move it away and plot again" in result.stderr


def test_write_plots_takes_a_run_directory_and_reports_skips(models):
    skipped = []
    written = plots.write_plots(models / "three", on_skip=lambda names, reason: skipped.append(names))
    assert [p.name for p in written] == [plots.CONFUSION, plots.RELIABILITY]
    assert skipped == [plots.LEARNING_CURVES, plots.ROC, plots.PRECISION_RECALL, plots.EVALUATION_CONFUSION]
    with pytest.raises(RunError, match="not a run directory"):
        plots.write_plots(models)


def test_roc_and_average_precision_by_hand():
    score, positive = np.array([0.9, 0.8, 0.7, 0.6]), np.array([True, False, True, False])
    fpr, tpr, _, _ = plots.roc_curve(score, positive)
    assert plots.auc(fpr, tpr) == pytest.approx(0.75)  # 3 of the 4 (positive, negative) pairs in order
    precision, recall = plots.precision_recall_curve(score, positive)
    assert plots.average_precision(precision, recall) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    fpr, tpr, _, _ = plots.roc_curve(np.array([0.5, 0.5]), np.array([True, False]))
    assert plots.auc(fpr, tpr) == pytest.approx(0.5)  # a tie counts half


def test_roc_and_average_precision_agree_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    positive = rng.random(300) < 0.4
    score = np.round(np.clip(positive * 0.3 + rng.random(300) * 0.7, 0, 1), 2)  # ties included
    fpr, tpr, _, _ = plots.roc_curve(score, positive)
    assert plots.auc(fpr, tpr) == pytest.approx(metrics.roc_auc_score(positive, score))
    precision, recall = plots.precision_recall_curve(score, positive)
    assert plots.average_precision(precision, recall) == pytest.approx(
        metrics.average_precision_score(positive, score))


PROBE = """
import sys
from sentiment_cli.cli import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
finally:
    print("LOADED", sorted({"tensorflow", "keras", "matplotlib"} & set(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args, loaded", [(["--help"], []), (["plot", "--help"], []),
                                          (["plot", "quick"], ["matplotlib"])])
def test_plot_needs_no_tensorflow_and_help_no_matplotlib(trained_once, tmp_path, args, loaded):
    if args[-1] == "quick":
        shutil.copytree(trained_once, tmp_path / "models")
        args = [*args, "--models-dir", str(tmp_path / "models")]
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"LOADED {loaded}" in done.stderr


def test_the_rounds_line_is_the_kept_model_not_a_best_so_far(tmp_path):
    """A kept round may score lower than the one before it (kept unless worse beyond noise): the
    line is the kept model's accuracy and says so, not a 'best so far' that goes down."""
    run = tmp_path / "r-semi"
    run.mkdir()
    (run / runs.ROUNDS_FILE).write_text(
        "round,pseudo_labels,pseudo_0,pseudo_1,val_accuracy,accepted,best_val_accuracy\n"
        "0,0,0,0,0.80,True,0.80\n1,10,5,5,0.84,True,0.84\n2,10,5,5,0.83,True,0.83\n3,10,5,5,0.70,False,0.83\n")
    name, fig = plots.semi_rounds(run, ["0", "1"])
    bottom = fig.axes[1]
    labels = [line.get_label() for line in bottom.get_lines()]
    assert not any("best" in label for label in labels)
    line = next(line for line in bottom.get_lines() if line.get_label().startswith("kept model"))
    assert list(line.get_ydata()) == [0.80, 0.84, 0.83, 0.83]
