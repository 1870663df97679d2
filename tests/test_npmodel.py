"""The NumPy engine (npmodel) computes what Keras computes, for every kind of model train makes."""

import csv
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import npmodel, runs
from sentiment_cli.config import TrainConfig
from sentiment_cli.errors import RunError
from sentiment_cli.tokenizer import Tokenizer

VOCAB = 40
WORDS = [f"w{i}" for i in range(VOCAB - 2)]

KINDS = {
    "hybrid bilstm mean": {},
    "hybrid bilstm mean, network reads the end": {"ngram_max_length": 30, "max_length": 9},
    "hybrid bilstm, network reads the start": {"ngram_max_length": 30, "max_length": 9, "truncating": "post"},
    "rnn lstm last": {"model": "rnn", "bidirectional": False, "pooling": "last"},
    "rnn lstm mean, 2 layers": {"model": "rnn", "bidirectional": False, "layers": 2},
    "rnn gru last": {"model": "rnn", "cell": "gru", "bidirectional": False, "pooling": "last"},
    "rnn bigru mean, 2 layers": {"model": "rnn", "cell": "gru", "layers": 2},
    "rnn bilstm last sum": {"model": "rnn", "pooling": "last", "merge_mode": "sum"},
    "rnn bilstm mean mul": {"model": "rnn", "merge_mode": "mul"},
    "rnn bilstm mean ave, 3 classes": {"model": "rnn", "merge_mode": "ave", "labels": ["a", "b", "c"]},
    "hybrid, 3 classes": {"labels": ["a", "b", "c"]},
    "ngram": {"model": "ngram"},
    "ngram, 4 classes": {"model": "ngram", "labels": ["a", "b", "c", "d"]},
    "bow tfidf": {"model": "bow"},
    "bow counts, 3 classes": {"model": "bow", "bow_mode": "counts", "labels": ["a", "b", "c"]},
}


def saved_model(tmp_path, **options):
    """A model of train's kind with random weights (every n-gram row and mix weighing), saved as a
    run saves it; returns the file and the Keras model as loaded back."""
    from sentiment_cli.model import build_model

    options = {"labels": ["0", "1"], "max_length": 20, "ngram_max_length": 20, **options}
    config = TrainConfig(vocab_size=VOCAB, embedding_dim=6, hidden_size=8, ngram_buckets=128, **options)
    rng = np.random.default_rng(3)
    idf = rng.uniform(1, 3, VOCAB).tolist() if config.model == "bow" else None
    tokenizer = Tokenizer(["", "[UNK]", *WORDS], idf)
    model = build_model(config, VOCAB, idf=idf, ngram_buckets=128)
    for layer in model.layers:  # weights far from their initial values, so that the outputs spread
        if layer.name != "bag_of_words" and layer.weights:
            layer.set_weights([rng.normal(0, 0.8, size=w.shape).astype(w.dtype) for w in layer.get_weights()])
        if layer.name == "ngrams":  # the empty row (padding, repeats) weighs nothing, as fitted
            layer.ratio.assign(np.concatenate([layer.ratio.numpy()[:-1], np.zeros((1, layer.outputs), "float32")]))
    path = tmp_path / "best.keras"
    runs.save_model(path, model, tokenizer, config)
    return path, runs.load_model(path)


def random_ids(rows=70, longest=25, seed=0):
    """Right-padded ids of many lengths (1 to longest), a few long enough to be cut; 64 rows or more
    run the recurrent layers in two threads (npmodel.THREADED_ROWS)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((rows, longest), dtype=np.int32)
    for i, n in enumerate(rng.integers(1, longest + 1, rows)):
        ids[i, :n] = rng.integers(1, VOCAB, n)
    return ids


@pytest.mark.parametrize("kind", list(KINDS))
def test_numpy_computes_what_keras_computes(tmp_path, kind):
    import keras

    path, keras_model = saved_model(tmp_path, **KINDS[kind])
    model = npmodel.load(path)
    ids = random_ids()
    # the logits (the mix layer's output): the probabilities of random weights are mostly 0 or 1
    expected = np.asarray(keras.Model(keras_model.input, keras_model.get_layer("mix").output)(ids, training=False))
    got = model(ids, output="mix")
    assert got.shape == expected.shape
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5), np.abs(got - expected).max()
    # and so do the recurrent layers and the pooling, whose values spread more than the logits
    for layer in keras_model.layers:
        if layer.__class__.__name__ in ("LSTM", "GRU", "Bidirectional", "GlobalAveragePooling1D"):
            inner, mine = np.asarray(keras.Model(keras_model.input, layer.output)(ids, training=False)), \
                model(ids, output=layer.name)
            if inner.ndim == 3:  # a sequence: what padded steps output is read by no later layer
                names = [layer.name for layer in keras_model.layers]
                real = (model(ids, output="network_tokens") if "network_tokens" in names else ids) > 0
                inner, mine = inner[real], mine[real]
            assert np.allclose(mine, inner, rtol=1e-5, atol=1e-5), layer.name
            assert np.ptp(inner) > 0.1 and len(set(inner.ravel())) > inner.size // 2
    assert len(set(expected.ravel())) > len(ids) // 3  # the rows differ, by far more than 1e-5
    assert np.allclose(model(ids), np.asarray(keras_model(ids, training=False)), rtol=1e-5, atol=1e-6)
    # a row's output does not depend on the rows beside it or on how far its batch pads it
    alone = np.concatenate([model(ids[i:i + 1, :int((ids[i] > 0).sum())], output="mix") for i in range(len(ids))])
    assert np.allclose(alone, got, rtol=1e-5, atol=1e-5)


def test_a_model_option_numpy_does_not_compute_is_said(tmp_path):
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(VOCAB, 4, mask_zero=True, name="embedding")(inputs)
    x = keras.layers.GRU(3, reset_after=False, name="gru_1")(x)
    output = keras.layers.Activation("sigmoid", name="output")(keras.layers.Dense(1, name="rnn_logits")(x))
    from sentiment_cli.model import text_model

    config = TrainConfig(vocab_size=VOCAB, labels=["0", "1"], model="rnn", cell="gru")
    path = tmp_path / "best.keras"
    text_model(keras.Model(inputs, output), Tokenizer(["", "[UNK]", *WORDS]), config).save(path)
    with pytest.raises(npmodel.Unsupported, match="GRU options"):
        npmodel.load(path)


def test_a_damaged_or_missing_file_is_a_run_error(tmp_path):
    with pytest.raises(RunError, match="no model here"):
        npmodel.load(tmp_path / "best.keras")
    (tmp_path / "best.keras").write_bytes(b"not a zip")
    with pytest.raises(RunError, match="damaged"):
        npmodel.load(tmp_path / "best.keras")


def test_a_model_file_with_foreign_objects_is_refused_before_reading(tmp_path):
    path, _ = saved_model(tmp_path, model="ngram")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["module"] = "os"  # the TextToIds layer, from another module
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(RunError, match="never writes"):
        npmodel.load(path)


def test_ngram_rows_equal_the_graphs():
    from sentiment_cli import rules
    from sentiment_cli.ngrams import ngram_rows

    ids = random_ids(rows=20, longest=30, seed=5)
    for ngram in (1, 2, 3):
        expected = np.sort(np.asarray(ngram_rows(ids, VOCAB, ngram, 97)), axis=1)
        got = np.sort(rules.ngram_rows(ids, VOCAB, ngram, 97), axis=1)  # what npmodel computes
        assert np.array_equal(got, expected)


# ---- the engine in `test` and `evaluate` ----

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny hybrid run, trained once for the module."""
    root = tmp_path_factory.mktemp("engine")
    labeled = write_labeled(root / "train.txt", copies=3)
    result = invoke("train", "demo", "--train", labeled, "--models-dir", root / "models", *TINY)
    assert result.exit_code == 0, result.output
    return root / "models", labeled


def probabilities(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [row[1] for row in rows], np.array([[float(v) for v in row[2:]] for row in rows])


def test_both_engines_label_alike(run, tmp_path):
    models, labeled = run
    texts = tmp_path / "texts.csv"
    texts.write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(
        ["great fun", "i hate it", "AWFUL!!! sooooo boring :(", "Wonderful &amp; happy :)", "nothing known here",
         "love love love, great great", "<br />bad <i>bad</i> day", "n'importe quoi", "日本語 のテキスト", "don't"])))
    out = {}
    for engine in ("numpy", "tensorflow"):
        result = invoke("test", "demo", "--models-dir", models, "--input", texts, "--output", tmp_path / f"{engine}.csv",
                        "--probabilities", "--engine", engine, "-q")
        assert result.exit_code == 0, result.output
        out[engine] = probabilities(tmp_path / f"{engine}.csv")
    assert out["numpy"][0] == out["tensorflow"][0]
    assert np.allclose(out["numpy"][1], out["tensorflow"][1], atol=1e-5)
    assert np.ptp(out["numpy"][1][:, 1]) > 0.2  # the texts get different probabilities
    # evaluate, by either engine, scores alike
    reports = [json.loads(invoke("evaluate", "demo", "--models-dir", models, "--input", labeled, "--json", "-q",
                                 "--engine", engine).stdout) for engine in ("numpy", "tensorflow")]
    assert reports[0]["accuracy"] == reports[1]["accuracy"]
    assert reports[0]["confusion_matrix"] == reports[1]["confusion_matrix"]


def _test_in_a_process(models, lines: str, *options, lookahead: int | None = None):
    """stdout of `test demo` over stdin in its own process, and whether it imported TensorFlow and
    Keras; lookahead: predict.LOOKAHEAD_TOKENS for it."""
    code = ("import sys; import sentiment_cli.predict as p; from sentiment_cli.cli import cli\n"
            + (f"p.LOOKAHEAD_TOKENS = {lookahead}\n" if lookahead else "")
            + "try:\n    cli(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, "test", "demo", "--models-dir", str(models), "--input", "-",
                           "--output", "-", "-q", *options], input=lines, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), done.stderr.strip().splitlines()[-1]


def test_one_line_from_stdin_without_tensorflow_and_a_larger_input_with_it(run):
    models, _ = run
    assert _test_in_a_process(models, "i love it\n") == (["id,label", "1,1"], "False False")
    # auto: an input of LOOKAHEAD_TOKENS tokens or more is worth TensorFlow's start; the same labels
    lines = "i love it\nawful boring movie\ngreat fun\nsad\n"  # 9 tokens
    small, engines = _test_in_a_process(models, lines, "--chunk-size", "1")
    assert engines == "False False"
    assert _test_in_a_process(models, lines, "--chunk-size", "1", lookahead=10) == (small, "False False")
    assert _test_in_a_process(models, lines, "--chunk-size", "1", lookahead=9) == (small, "True True")
    assert _test_in_a_process(models, lines, "--chunk-size", "2", lookahead=5) == (small, "True True")
    assert _test_in_a_process(models, lines, "--engine", "numpy", lookahead=5) == (small, "False False")


def test_a_model_numpy_does_not_compute_falls_back_or_is_refused(run, tmp_path):
    import shutil

    import keras

    from sentiment_cli.model import text_model

    models, _ = run
    shutil.copytree(models / "demo", tmp_path / "gru")
    loaded = runs.load_run(tmp_path, "gru", engine="tensorflow")
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(len(loaded.tokenizer), 4, mask_zero=True, name="embedding")(inputs)
    x = keras.layers.GRU(3, reset_after=False, name="gru_1")(x)
    output = keras.layers.Activation("sigmoid", name="output")(keras.layers.Dense(1, name="rnn_logits")(x))
    text_model(keras.Model(inputs, output), loaded.tokenizer, loaded.config).save(tmp_path / "gru" / "best.keras")
    texts = tmp_path / "texts.txt"
    texts.write_text("great fun\nawful\n")
    result = invoke("test", "gru", "--models-dir", tmp_path, "--input", texts, "--output", tmp_path / "auto.csv", "-q")
    assert result.exit_code == 0, result.output  # auto: TensorFlow computes it
    assert len(probabilities(tmp_path / "auto.csv")[0]) == 2
    result = invoke("test", "gru", "--models-dir", tmp_path, "--input", texts, "--output", tmp_path / "np.csv",
                    "--engine", "numpy", "-q")
    assert result.exit_code != 0
    assert "numpy engine does not compute this model (GRU options)" in result.output
    assert "--engine tensorflow" in result.output
    assert not (tmp_path / "np.csv").exists()


def test_the_numpy_engine_refuses_a_foreign_tokenizer(run, tmp_path):
    import shutil

    models, _ = run
    shutil.copytree(models / "demo", tmp_path / "demo")
    path = tmp_path / "demo" / "tokenizer.json"
    data = json.loads(path.read_text())
    data["vocabulary"][2], data["vocabulary"][3] = data["vocabulary"][3], data["vocabulary"][2]
    path.write_text(json.dumps(data))
    record = json.loads((tmp_path / "demo" / "config.json").read_text())
    record["tokenizer_sha256"] = Tokenizer.load(path).fingerprint  # only the model can tell now
    (tmp_path / "demo" / "config.json").write_text(json.dumps(record))
    with pytest.raises(RunError, match="vocabulary differs"):
        runs.load_run(tmp_path, "demo", engine="numpy")
