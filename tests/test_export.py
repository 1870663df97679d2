import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import TINY, invoke, write_labeled

# Runs in a fresh interpreter that must never import sentiment_cli: only TensorFlow serves.
SERVE = """
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
texts = [line.split(",", 1)[1] for line in open(sys.argv[2], encoding="utf-8").read().splitlines()[1:]]
out = model.signatures["serving_default"](text=tf.constant(texts))
assert "sentiment_cli" not in sys.modules
print(json.dumps({"probabilities": out["probabilities"].numpy().tolist(),
                  "label": [v.decode() for v in out["label"].numpy()]}))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    three = root / "three.csv"
    # distinct texts: a text repeated is on one side of the validation split only
    three.write_text("label,text\n" + "".join(f"{l},{l} words and more {i // 3}\n"
                                                for i, l in enumerate(["neg", "neu", "pos"] * 6)))
    two = write_labeled(root / "train.txt")
    for name, path, more in [("two", two, []), ("three", three, []),
                             ("chars", two, ["--char-ngrams", "5", "--char-buckets", "4096", "--subword-vectors",
                                        "--subword-buckets", "512"])]:
        result = invoke("train", name, "--train", path, "--models-dir", root / "models", *more, *TINY)
        assert result.exit_code == 0, result.output
    texts = root / "texts.csv"
    texts.write_text("id,text\n1,i love it\n2,awful boring movie\n3,\n4,Ünïcödé and <br /> tags!!! sooo\n"
                     "5," + "great " * 30 + "\n", encoding="utf-8")
    return root, texts


@pytest.mark.parametrize("name", ["two", "three", "chars"])
def test_export_serves_what_test_predicts_without_sentiment_cli(trained, name, tmp_path):
    root, texts = trained
    out = tmp_path / "export" / name / "1"  # parents are made: TF Serving's base path, then the version
    result = invoke("export", name, out, "--models-dir", root / "models")
    assert result.exit_code == 0, result.output
    info = json.loads((out / "assets.extra" / "sentiment-cli.json").read_text())
    result = invoke("test", name, "--input", texts, "--output", tmp_path / "p.csv", "--probabilities",
                    "--models-dir", root / "models", "-q")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][2:] == [f"p_{label}" for label in info["labels"]]
    served = subprocess.run([sys.executable, "-c", SERVE, str(out), str(texts)], capture_output=True, text=True,
                            check=True)
    got = json.loads(served.stdout)
    expected = np.array([[float(v) for v in row[2:]] for row in rows[1:]])
    assert np.abs(np.array(got["probabilities"]) - expected).max() < 1e-5
    assert got["label"] == [row[1] for row in rows[1:]]


def test_export_refuses_to_replace_what_is_not_an_export(trained, tmp_path):
    root, _ = trained
    (tmp_path / "keep.txt").write_text("mine")
    result = invoke("export", "two", tmp_path, "--models-dir", root / "models", "--overwrite")
    assert result.exit_code != 0 and "not an export" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"
    out = tmp_path / "e"
    assert invoke("export", "two", out, "--models-dir", root / "models").exit_code == 0
    again = invoke("export", "two", out, "--models-dir", root / "models")
    assert again.exit_code != 0 and "--overwrite" in again.output
    assert invoke("export", "two", out, "--models-dir", root / "models", "--overwrite").exit_code == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_keras_file_loads_safely_once_our_layers_are_imported(trained):
    import keras

    import sentiment_cli.layers  # noqa: F401

    root, _ = trained
    model = keras.saving.load_model(root / "models" / "two" / "best.keras", safe_mode=True, compile=False)
    probs = model(np.array(["i love it", "i hate it"], dtype=object)).numpy()
    assert probs.shape == (2, 1) and probs[0, 0] > probs[1, 0]
    assert getattr(model, "optimizer", None) is None
    import zipfile

    import h5py

    with zipfile.ZipFile(root / "models" / "two" / "best.keras") as z, z.open("model.weights.h5") as f:
        with h5py.File(f) as weights:
            assert "optimizer" not in weights  # no Adam state in the file
            assert "layers" in weights  # (what the file does hold)
