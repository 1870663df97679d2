import numpy as np
import pytest
from keras import layers

from sentiment_cli.config import TrainConfig
from sentiment_cli.errors import ConfigError
from sentiment_cli.model import build_model, class_probabilities

TINY = dict(embedding_dim=4, hidden_size=4, labels=["0", "1"])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("stack", [1, 2])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_builder_cells_directions_stacking(cell, bidirectional, stack, pooling):
    config = TrainConfig(cell=cell, bidirectional=bidirectional, layers=stack, pooling=pooling, **TINY)
    model = build_model(config, vocab_size=20)
    recurrent = [l for l in model.layers if isinstance(l, (layers.Bidirectional, layers.LSTM, layers.GRU))]
    assert len(recurrent) == stack
    expected = layers.LSTM if cell == "lstm" else layers.GRU
    for i, layer in enumerate(recurrent):
        inner = layer.forward_layer if bidirectional else layer
        assert isinstance(layer, layers.Bidirectional) == bidirectional
        assert isinstance(inner, expected)
        # all but the last, and the last too when it is pooled over its steps
        assert inner.return_sequences == (i < stack - 1 or pooling == "mean")
    assert model.get_layer("embedding").mask_zero
    # any padded length works: batches pad to their own longest text
    for length in (3, 11):
        out = model.predict_on_batch(np.ones((2, length), dtype="int32"))
        assert out.shape == (2, 1)


def test_merge_mode_and_pooling():
    model = build_model(TrainConfig(merge_mode="sum", pooling="mean", **TINY), vocab_size=20)
    assert model.get_layer("bilstm_1").merge_mode == "sum"
    assert model.get_layer("bilstm_1").forward_layer.return_sequences
    assert model.get_layer("mean_pool").output.shape[-1] == 4


def test_multiclass_softmax_and_probabilities():
    model = build_model(TrainConfig(embedding_dim=4, hidden_size=4, labels=["a", "b", "c"]), vocab_size=20)
    out = model.predict_on_batch(np.array([[3, 4, 0]], dtype="int32"))
    assert out.shape == (1, 3)
    assert np.allclose(out.sum(), 1.0, atol=1e-5)
    assert class_probabilities(np.array([[0.8]]))[0].tolist() == pytest.approx([0.2, 0.8])


def test_bow_model_makes_its_bag_of_words_from_ids():
    model = build_model(TrainConfig(model="bow", bow_mode="counts", **TINY), vocab_size=20)
    assert model.get_layer("bag_of_words").compute_output_shape((None, None)) == (None, 20)
    assert model.predict_on_batch(np.array([[2, 3, 0], [4, 0, 0]], dtype="int32")).shape == (2, 1)
    with pytest.raises(ValueError, match="idf"):
        build_model(TrainConfig(model="bow", **TINY), vocab_size=20)


def test_config_validation():
    with pytest.raises(ConfigError, match="cell must be one of lstm, gru"):
        TrainConfig(cell="rnn")
    with pytest.raises(ConfigError, match="dropout"):
        TrainConfig(dropout=1.5)
    with pytest.raises(ConfigError, match="unknown hyperparameters: colour"):
        TrainConfig.from_dict({"colour": "red"})


def test_inference_functions_do_not_keep_models_alive():
    import gc
    import weakref

    from sentiment_cli.model import inference_function

    model = build_model(TrainConfig(model="rnn", **TINY), vocab_size=20)
    inference_function(model, 2, np.int32)(np.ones((2, 3), dtype=np.int32))
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
