"""The mix of a model's halves, fitted on held-out data so that its probabilities are calibrated.

A model's halves (the n-gram model, the recurrent network) each produce logits; ``Mix`` adds
them with one scale per half and a bias per output. Trained apart, the halves are combined by
fitting those few numbers on validation logits (logistic regression on the halves' logits,
i.e. stacking); for a model with one half the same fit is Platt / temperature scaling. Either
way the result is a probability that means what it says: of the texts given p = 0.9, about
90% belong to the class.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

ECE_BINS = 15


@keras.saving.register_keras_serializable(package="sentiment_cli")
class Mix(layers.Layer):
    """sum_h scale_h * logits_h + bias: fixed during training, fitted afterwards by ``fit_mix``."""

    def __init__(self, halves: int = 1, outputs: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.halves, self.outputs = int(halves), int(outputs)

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(self.halves,), initializer="ones", trainable=False)
        self.bias = self.add_weight(name="bias", shape=(self.outputs,), initializer="zeros", trainable=False)

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        total = inputs[0] * self.scale[0]
        for h in range(1, self.halves):
            total = total + inputs[h] * self.scale[h]
        return total + self.bias

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)) \
            else input_shape
        return tuple(shape[:-1]) + (self.outputs,)

    def get_config(self):
        return {**super().get_config(), "halves": self.halves, "outputs": self.outputs}


def probabilities(logits: np.ndarray, params: np.ndarray) -> np.ndarray:
    """(n, K) class probabilities of halves' logits (n, H, outputs) mixed by params (scales, biases)."""
    halves = logits.shape[1]
    z = np.einsum("nho,h->no", logits, params[:halves]) + params[halves:]
    if z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -500, 500)))
        return np.stack([1.0 - p, p], axis=1)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_mix(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Scales and biases minimising the cross-entropy of ``logits`` (n, H, outputs) against y.

    A weak L2 penalty (that of scikit-learn's LogisticRegression with C=1) keeps the fit finite
    when the held-out data is separable, as it is for tiny data sets.
    """
    from scipy.optimize import minimize

    n, halves, outputs = logits.shape
    target = np.zeros((n, max(outputs, 2)))
    target[np.arange(n), y] = 1.0
    if outputs == 1:
        target = target[:, 1:]

    def loss_and_grad(params):
        p = probabilities(logits, params)
        if outputs == 1:
            p = p[:, 1:]
            loss = -np.mean(target * np.log(np.clip(p, 1e-12, 1)) + (1 - target) * np.log(np.clip(1 - p, 1e-12, 1)))
        else:
            loss = -np.mean(np.sum(target * np.log(np.clip(p, 1e-12, 1)), axis=1))
        residual = (p - target) / n  # d loss / d z
        grad = np.concatenate([np.einsum("no,nho->h", residual, logits), residual.sum(axis=0)])
        return loss + 0.5 * params @ params / n, grad + params / n

    start = np.concatenate([np.ones(halves), np.zeros(outputs)])
    result = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B")
    return result.x


def out_of_fold(logits: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Probabilities of each held-out row from a mix fitted on the other folds.

    The same rows chose the halves' best epochs; scoring the mix on rows it was not fitted on
    keeps its reported accuracy and calibration honest.
    """
    n = len(y)
    folds = max(2, min(folds, n))
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty((n, max(logits.shape[2], 2)))
    for k in range(folds):
        held = order[k::folds]
        rest = np.setdiff1d(order, held)
        out[held] = probabilities(logits[held], fit_mix(logits[rest], y[rest]))
    return out


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their size."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)
