import subprocess
import sys

import pytest
from helpers import TINY, invoke, write_labeled

# Runs the CLI in a fresh interpreter and reports whether TensorFlow (or Keras) got imported.
PROBE = """
import sys
from sentiment_cli.cli import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
finally:
    print("IMPORTED" if {"tensorflow", "keras"} & set(sys.modules) else "NOT IMPORTED", file=sys.stderr)
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("startup")
    result = invoke("train", "run", "--train", write_labeled(root / "train.txt"), "--models-dir", root / "models",
                    *TINY)
    assert result.exit_code == 0, result.output
    return root / "models"


@pytest.mark.parametrize("args", [["--help"], ["test", "--help"], ["fetch", "--help"], ["info", "run", "--json"]])
def test_help_and_info_json_do_not_import_tensorflow(models, args):
    done = subprocess.run([sys.executable, "-c", PROBE, *args, *(["--models-dir", str(models)] if "info" in args
                                                                  else [])],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "NOT IMPORTED" in done.stderr
    if "--json" in args:
        assert '"metrics"' in done.stdout


def test_the_probe_sees_tensorflow_when_it_is_needed(models):
    done = subprocess.run([sys.executable, "-c", PROBE, "info", "run", "--models-dir", str(models)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "NOT IMPORTED" not in done.stderr and "IMPORTED" in done.stderr


def test_logs_into_a_file_have_no_carriage_returns_or_colour_codes(models, tmp_path):
    """stderr redirected (a pipe here): one plain line per epoch, no bars, no summary."""
    labeled = write_labeled(tmp_path / "train.txt")
    train = subprocess.run([sys.executable, "-m", "sentiment_cli", "train", "logged", "--train", str(labeled),
                            "--models-dir", str(models), *[a for a in TINY if a != "-q"]],
                           capture_output=True, text=True)
    assert train.returncode == 0, train.stderr
    assert "Epoch 1/2" in train.stderr and "val_accuracy" in train.stderr
    assert "Total params" not in train.stderr  # the summary only with --verbose
    # the steps before the first epoch say what they did, one plain line each (the vocabulary and
    # the tokenizing line: the 36 training rows; the 4 validation rows are tokenized silently)
    for step in (f"reading {labeled}: 40 rows in ", "counting the vocabulary: 36 texts in ", "tokenizing: 36 texts in ",
                 "word vectors (Word2Vec): 5 epochs in "):
        assert step in train.stderr, step
    test = subprocess.run([sys.executable, "-m", "sentiment_cli", "test", "logged", "--input", str(labeled),
                           "--output", str(tmp_path / "o.csv"), "--models-dir", str(models)],
                          capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    for log in (train.stderr, test.stderr):
        assert "\r" not in log and "\x1b[" not in log
        assert "WARNING" not in log and "retracing" not in log  # no TensorFlow warning leaks


def test_scoring_a_predictions_file_does_not_import_tensorflow(tmp_path):
    gold, predictions = tmp_path / "gold.csv", tmp_path / "p.csv"
    gold.write_text("id,label\n0,1\n1,0\n")
    predictions.write_text("id,label\n0,1\n1,1\n")
    done = subprocess.run([sys.executable, "-c", PROBE, "evaluate", "--predictions", str(predictions), "--gold",
                           str(gold), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "NOT IMPORTED" in done.stderr and '"accuracy": 0.5' in done.stdout


def test_no_onednn_notice_about_boolean_tensors(models, tmp_path):
    """The RNN's boolean mask made oneDNN print 'E0000 ... oneDNN supports DT_BOOL only on platforms
    with AVX-512' at run time, which reads like an error. oneDNN is forced on here, as TensorFlow
    turns it on by default on CPUs with AVX-VNNI; on a CPU with AVX-512 there is no line to miss."""
    import os

    src = tmp_path / "in.txt"
    src.write_text("great fun\nawful\n")
    done = subprocess.run([sys.executable, "-m", "sentiment_cli", "test", "run", "--input", str(src),
                           "--output", str(tmp_path / "o.csv"), "--models-dir", str(models), "-q"],
                          capture_output=True, text=True, env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1"})
    assert done.returncode == 0, done.stderr
    assert "oneDNN" not in done.stderr and "E0000" not in done.stderr, done.stderr
