"""The n-gram half as a run stores it: only the rows that weigh, in float16 (ngrams.compact)."""

import numpy as np
import pytest
from helpers import write_labeled

from sentiment_cli import runs
from sentiment_cli.config import TrainConfig
from sentiment_cli.ngrams import NGramLogits, compact, expand

VOCAB = 30


def fitted_layer(outputs=1, seed=0):
    """A full layer whose weight x ratio is not 0 on a fifth of its rows only."""
    rng = np.random.default_rng(seed)
    layer = NGramLogits(VOCAB, outputs=outputs, ngram=3, buckets=512)
    layer.build((None, None))
    ratio = rng.normal(size=(layer.rows, outputs)).astype("float32")
    ratio[rng.random(layer.rows) > 0.2] = 0.0
    ratio[-1] = 0.0
    layer.ratio.assign(ratio)
    layer.weight.assign(rng.normal(size=(layer.rows, outputs)).astype("float32"))
    layer.bias.assign(rng.normal(size=(outputs,)).astype("float32"))
    return layer


@pytest.mark.parametrize("outputs", [1, 3])
def test_the_compact_layer_gives_the_full_layers_logits(outputs):
    layer = fitted_layer(outputs)
    small = compact(layer)
    product = layer.weight.numpy() * layer.ratio.numpy()
    assert small.keys.numpy().tolist() == np.flatnonzero(product.any(axis=1)).tolist()
    assert small.kept < layer.rows / 3
    ids = np.random.default_rng(1).integers(0, VOCAB, size=(64, 40)).astype("int32")
    ids[:, 30:] = 0  # padding
    full, stored = np.asarray(layer(ids)), np.asarray(small(ids))
    assert np.allclose(stored, full, rtol=1e-3, atol=5e-3)
    # expanded again, a full layer with the stored logits exactly (ratio 1 on the stored rows)
    assert np.array_equal(np.asarray(expand(small)(ids)), stored)


def test_nothing_weighs_gives_the_bias():
    layer = NGramLogits(VOCAB, ngram=2, buckets=64)
    layer.build((None, None))
    layer.bias.assign([0.25])
    small = compact(layer)
    assert float(small(np.array([[2, 3, 4]], dtype="int32"))[0, 0]) == pytest.approx(0.25)


def test_a_saved_run_labels_as_the_trained_model_did_and_is_small(tmp_path):
    from sentiment_cli.encoding import Encoder, draw_split
    from sentiment_cli.fit import FitOptions
    from sentiment_cli.data import read_labeled
    from sentiment_cli.training import TrainData, train

    data = read_labeled(write_labeled(tmp_path / "train.txt", copies=4))
    config = TrainConfig(model="hybrid", vocab_size=60, max_length=8, embedding_dim=4, hidden_size=4, epochs=2,
                         batch_size=8, ngram_buckets=2**16, ngram_min_count=1, labels=["0", "1"])
    encoder = Encoder.from_config(config)
    encoder.labels = config.labels
    y = encoder.encode_labels(data.labels)
    split = draw_split(data.texts, y, 0.25, 1)
    texts = data.texts
    result = train(config, TrainData([texts[i] for i in split.train], y[split.train],
                                     [texts[i] for i in split.val], y[split.val]), tmp_path, encoder,
                   options=FitOptions(progress=False))
    path = tmp_path / "m.keras"
    runs.save_model(path, result.model, encoder.tokenizer, config)
    loaded = runs.load_model(path)
    probe = ["great fun", "awful sad", "i love this", "worst day", "so so", "happy awful", "bad great day"]
    seqs = encoder.sequences(probe + texts)
    x = encoder.features(seqs)
    assert np.allclose(np.asarray(result.model.predict_on_batch(x)), np.asarray(loaded.predict_on_batch(x)), atol=1e-6)
    before, after = np.asarray(result.fitted.predict_on_batch(x)), np.asarray(loaded.predict_on_batch(x))
    assert np.array_equal(before > 0.5, after > 0.5)  # the same labels
    assert np.allclose(before, after, atol=2e-3)
    # the word vectors are stored in float16, the layers after them compute in float32
    vectors = loaded.get_layer("embedding")
    assert vectors.variable_dtype == "float16" and loaded.outputs[0].dtype == "float32"
    assert np.allclose(vectors.get_weights()[0], result.fitted.get_layer("embedding").get_weights()[0], atol=1e-3)
    # made fit to train again: a full n-gram half and float32 vectors, with the stored decisions
    from sentiment_cli.model import fitting_form

    again = fitting_form(loaded)
    assert again.get_layer("embedding").variable_dtype == "float32"
    assert type(again.get_layer("ngrams")).__name__ == "NGramLogits"
    assert np.allclose(np.asarray(again.predict_on_batch(x)), after, atol=1e-5)
    # smaller than the full form by at least the weight and ratio (float32) of each row left out
    from sentiment_cli.model import text_model

    full = tmp_path / "full.keras"
    text_model(result.fitted, encoder.tokenizer, config).save(full)
    rows, kept = result.fitted.get_layer("ngrams").rows, loaded.get_layer("ngrams").kept
    assert kept < rows / 2
    assert full.stat().st_size - path.stat().st_size >= (rows - kept) * 2 * 4
