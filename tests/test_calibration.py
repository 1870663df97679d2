import numpy as np
import pytest

from sentiment_cli import runs, training
from sentiment_cli.calibration import Mix, expected_calibration_error, fit_mix, out_of_fold, probabilities
from sentiment_cli.config import TrainConfig
from sentiment_cli.data import sort_labels
from sentiment_cli.encoding import Encoder, check_split, draw_split, split_by_hashes, stratified_split
from sentiment_cli.fit import FitOptions


def overconfident(n=4000, classes=2, seed=0):
    """Labels drawn from true logits z, and logits 4 z: right about as often, far too sure."""
    rng = np.random.default_rng(seed)
    outputs = 1 if classes == 2 else classes
    z = rng.normal(0, 1.5, (n, outputs))
    p = probabilities(z[:, None, :], np.concatenate([[1.0], np.zeros(outputs)]))
    y = np.array([rng.choice(p.shape[1], p=row) for row in p])
    return 4.0 * z[:, None, :], y


@pytest.mark.parametrize("classes", [2, 3])
def test_fitted_mix_removes_overconfidence(classes):
    logits, y = overconfident(classes=classes)
    unit = np.concatenate([[1.0], np.zeros(logits.shape[2])])
    before = expected_calibration_error(probabilities(logits, unit), y)
    params = fit_mix(logits, y)
    after = expected_calibration_error(probabilities(logits, params), y)
    assert before > 0.1
    assert after < 0.03
    assert params[0] == pytest.approx(0.25, abs=0.05)  # undoes the factor 4
    oof = out_of_fold(logits, y)
    assert expected_calibration_error(oof, y) < 0.04


def test_mix_weighs_the_informative_half():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    good = (2 * y - 1) * 2.0 + rng.normal(0, 1, 3000)
    noise = rng.normal(0, 3, 3000)
    params = fit_mix(np.stack([good, noise], axis=1)[:, :, None], y)
    assert params[0] > 1.0 and abs(params[1]) < 0.05 * params[0]


def test_expected_calibration_error_by_hand():
    # confidence 0.9 and 0.6 (two bins): accuracy 1/2 in the first, 1 in the second
    probs = np.array([[0.1, 0.9], [0.9, 0.1], [0.4, 0.6]])
    y = np.array([1, 1, 1])
    assert expected_calibration_error(probs, y) == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.4)


def test_mix_layer_saves_and_loads(tmp_path):
    import keras

    a, b = keras.Input((1,)), keras.Input((1,))
    mix = Mix(2, 1, name="mix")
    model = keras.Model([a, b], mix([a, b]))
    mix.set_weights([np.array([0.5, 2.0], "float32"), np.array([1.0], "float32")])
    model.save(tmp_path / "m.keras")
    loaded = runs.load_model(tmp_path / "m.keras", text=True)
    out = loaded.predict_on_batch([np.array([[2.0]]), np.array([[3.0]])])
    assert float(out[0, 0]) == pytest.approx(0.5 * 2 + 2 * 3 + 1)


def test_each_half_of_the_hybrid_is_trained(tmp_path, monkeypatch):
    """The n-gram weights leave zero, the network's weights move, and the mix weighs both."""
    from helpers import NEGATIVE, POSITIVE

    texts = (POSITIVE + NEGATIVE) * 3
    labels = (["1"] * 10 + ["0"] * 10) * 3
    config = TrainConfig(vocab_size=60, max_length=8, ngram_buckets=256, embedding_dim=4, hidden_size=4,
                         epochs=3, batch_size=8, lr=0.03, seed=3, pretrain_embeddings=False, val_ratio=0.25)
    encoder = Encoder.from_config(config)
    encoder.labels = sort_labels(labels)
    config.labels = list(encoder.labels)
    y = encoder.encode_labels(labels)
    split = draw_split(texts, y, config.val_ratio, config.seed)
    check_split(split, y, encoder.labels, "tiny")
    data = training.TrainData([texts[i] for i in split.train], y[split.train], [texts[i] for i in split.val],
                              y[split.val])
    initial = {}
    real = training.build_model

    def spy(*args, **kwargs):
        model = real(*args, **kwargs)
        initial["rnn"] = [w.copy() for w in model.get_layer("rnn_logits").get_weights()]
        return model

    monkeypatch.setattr(training, "build_model", spy)
    result = training.train(config, data, tmp_path, encoder, options=FitOptions(progress=False))
    model, metrics = result.fitted, result.metrics
    assert np.abs(model.get_layer("ngrams").weight.numpy()).sum() > 0
    moved = [not np.allclose(a, b) for a, b in zip(initial["rnn"], model.get_layer("rnn_logits").get_weights())]
    assert all(moved)
    assert len(metrics["mix_scales"]) == 2
    assert {"ngram_val_accuracy", "rnn_val_accuracy", "val_accuracy_out_of_fold", "ece_before",
            "ece_after"} <= set(metrics)
    # the saved mix is the fitted one
    assert np.allclose(model.get_layer("mix").get_weights()[0], metrics["mix_scales"], atol=1e-5)


def test_stratified_split_unchanged():
    """semi redraws the split of a run that records none (made before split.json) from the labels
    and seed: the same labels and seed give the same rows, the rows they gave before."""
    y = np.array([0, 1] * 50)
    a = stratified_split(y, 0.2, 5)
    b = stratified_split(y, 0.2, 5)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert a[1].tolist() == [1, 9, 12, 15, 18, 29, 34, 37, 39, 46, 49, 52, 58, 60, 64, 65, 69, 75, 78, 96]


def test_drawn_split_is_rebuilt_from_its_hashes():
    """semi relies on the base run's split as recorded: its hashes give the same rows, in any file order."""
    from helpers import NEGATIVE, POSITIVE

    texts = (POSITIVE + NEGATIVE) * 3
    y = np.array(([1] * 10 + [0] * 10) * 3)
    split = draw_split(texts, y, 0.25, 3)
    again = draw_split(texts, y, 0.25, 3)
    assert np.array_equal(split.train, again.train) and np.array_equal(split.val, again.val)
    rebuilt = split_by_hashes(texts, split.record()["validation"])
    assert np.array_equal(rebuilt.train, split.train) and np.array_equal(rebuilt.val, split.val)
    # no text on both sides
    assert not {texts[i] for i in split.train} & {texts[i] for i in split.val}
    reversed_texts = texts[::-1]
    flipped = split_by_hashes(reversed_texts, split.hashes)
    assert sorted(reversed_texts[i] for i in flipped.val) == sorted(texts[i] for i in split.val)


def test_train_words_a_worse_calibration_error_as_worse():
    from sentiment_cli.cli import _calibration_summary

    assert _calibration_summary({"ece_before": 0.0921, "ece_after": 0.1804}) == (
        "calibration error (lower is better) 0.092 before the mix, 0.180 after (out-of-fold on the validation rows)"
        ": worse after the mix, by 0.088")
    assert _calibration_summary({"ece_before": 0.091, "ece_after": 0.074}) == (
        "calibration error (lower is better) 0.091 before the mix, 0.074 after (out-of-fold on the validation rows)")
