"""train --lr-schedule cosine: the learning rate falls from --lr to 0 over --epochs epochs."""

import json

import numpy as np
import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli.config import TrainConfig
from sentiment_cli.errors import ConfigError


def test_the_cosine_schedule_falls_from_lr_to_zero_over_the_epochs():
    import keras

    from sentiment_cli.model import compile_model

    config = TrainConfig(lr=0.01, epochs=4, lr_schedule="cosine", labels=["0", "1"])
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    optimizer = compile_model(model, config, steps_per_epoch=5).optimizer
    optimizer.build(model.trainable_variables)
    rates = []
    for step in (0, 10, 20):  # the start, half-way (2 of 4 epochs of 5 steps), the end
        optimizer.iterations.assign(step)
        rates.append(float(np.asarray(optimizer.learning_rate)))
    assert rates == pytest.approx([0.01, 0.005, 0.0], abs=1e-7)
    # the constant rate, and without the steps of an epoch, is a number
    constant = compile_model(keras.models.clone_model(model), TrainConfig(lr=0.01, labels=["0", "1"]), 5)
    assert float(np.asarray(constant.optimizer.learning_rate)) == pytest.approx(0.01)


def test_train_records_the_schedule_and_refuses_an_unknown_one(tmp_path):
    labeled = write_labeled(tmp_path / "train.txt", copies=3)
    result = invoke("train", "cos", "--train", labeled, "--models-dir", tmp_path, "--lr-schedule", "cosine", *TINY)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "cos" / "config.json").read_text())
    assert record["hyperparameters"]["lr_schedule"] == "cosine"
    with pytest.raises(ConfigError, match="lr_schedule"):
        TrainConfig(lr_schedule="linear")
