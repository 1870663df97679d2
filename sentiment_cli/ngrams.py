"""A linear model over a text's hashed word n-grams, scaled by naive Bayes ratios (NBSVM-style).

Wang & Manning (2012) showed that logistic regression or an SVM over binarized word 1-2 grams,
each scaled by its naive Bayes log-count ratio, is a strong sentiment classifier (91.2% on IMDB).
``NGramLogits`` is that model as a Keras layer over the same token ids the recurrent network
reads: the n-grams are hashed from the ids inside the graph, so a saved model needs nothing but
its tokenizer, and ``test`` feeds it exactly what it feeds the recurrent network.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from sentiment_cli.rules import all_ngrams, empty_row, table_rows


@keras.saving.register_keras_serializable(package="sentiment_cli")
class NGramLogits(layers.Layer):
    """Logits from the binarized 1..``ngram``-grams of right-padded token ids (0 pads).

    Unigram u has row u; longer n-grams are hashed into ``buckets`` rows after the vocabulary;
    the last row stands for padding and repeats and weighs nothing (the rule: ``rules``' n-gram
    hashing, in the graph by ``ngram_rows``). Each row has a trainable
    weight per output and a fixed naive Bayes ratio per output (set by ``set_ratios``); a
    text's logit is the sum over its distinct n-grams of weight x ratio, plus a bias.
    """

    def __init__(self, vocab_size: int, outputs: int = 1, ngram: int = 3, buckets: int = 2**21,
                 char_buckets: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.outputs, self.ngram = int(vocab_size), int(outputs), int(ngram)
        self.buckets, self.char_buckets = int(buckets), int(char_buckets)
        self.rows = table_rows(self.vocab_size, self.ngram, self.buckets, self.char_buckets)
        self.char_weight = 1.0  # set_ratios' scale of the character rows (a fitting choice: not in the config)

    def build(self, input_shape):
        self.weight = self.add_weight(name="weight", shape=(self.rows, self.outputs), initializer="zeros")
        self.ratio = self.add_weight(name="ratio", shape=(self.rows, self.outputs), initializer="zeros",
                                     trainable=False)
        self.bias = self.add_weight(name="bias", shape=(self.outputs,), initializer="zeros")

    def ngram_ids(self, ids):
        """(batch, k) row numbers of each text's distinct n-grams; the rest are the empty row."""
        return ngram_rows(ids, self.vocab_size, self.ngram, self.buckets, self.char_buckets)

    def call(self, ids):
        rows = self.ngram_ids(ids)
        present = tf.cast(rows < self.rows - 1, self.weight.dtype)[:, :, None]
        contributions = tf.gather(self.weight, rows) * tf.gather(self.ratio, rows) * present
        # Summed in float64 so that a text's logit does not depend on how long its batch pads
        # it. (The layers around it can still round a row's last bit by its place in a batch.)
        logits = tf.reduce_sum(tf.cast(contributions, tf.float64), axis=1)
        return tf.cast(logits, self.weight.dtype) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.outputs)

    def matrix(self, batches):
        """Binary scipy CSR matrix (texts x rows) of each text's distinct n-grams, from batches of padded ids."""
        from scipy import sparse

        indices, counts = [], []
        for ids in batches:
            rows = self.ngram_ids(ids).numpy()
            present = rows < self.rows - 1
            indices.append(rows[present])  # row-major: each text's n-grams stay together
            counts.append(present.sum(axis=1))
        counts = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        indices = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
        data = np.ones(len(indices), dtype=np.float32)
        return sparse.csr_matrix((data, indices.astype(np.int32), indptr), shape=(len(counts), self.rows))

    def set_ratios(self, x, y, alpha: float = 1.0, min_count: int = 1) -> np.ndarray:
        """Naive Bayes log-count ratios from the training texts' n-gram matrix x and classes y.

        Binary (one output): log of P(n-gram | class 1) / P(n-gram | class 0) over binarized
        counts with add-``alpha`` smoothing; K outputs: each class against the rest. A row found
        in fewer than ``min_count`` texts gets ratio 0, so it weighs nothing. The character
        n-grams' rows have their ratios scaled by the layer's ``char_weight`` (its fit's choice, set
        by whoever fits it from the run's config): under the fit's L2 penalty, a
        feature scaled by w costs 1/w^2 as much to use, so below 1 the words' evidence leads and
        the characters' fills in where the words have none.
        """
        y = np.asarray(y)
        counts = np.stack([np.asarray(x[y == k].sum(axis=0)).ravel() for k in range(max(self.outputs, 2))])
        counts = counts.astype(np.float64)
        counts[:, -1] = 0.0
        total = counts.sum(axis=0)
        ratios = np.zeros((self.rows, self.outputs), dtype=np.float32)
        for k in range(self.outputs):
            positive = counts[1 if self.outputs == 1 else k] + alpha
            negative = total - counts[1 if self.outputs == 1 else k] + alpha
            ratios[:, k] = np.log((positive / positive.sum()) / (negative / negative.sum()))
        ratios[total < min_count] = 0.0
        if self.char_buckets:
            start = self.rows - 1 - self.char_buckets
            ratios[start:self.rows - 1] *= np.float32(self.char_weight)
        ratios[-1] = 0.0
        self.ratio.assign(ratios)
        return ratios

    def fit_weights(self, x, y, c: float, start: np.ndarray | None = None, max_iter: int = 500) -> np.ndarray:
        """Weights and bias of L2-regularised logistic regression on the NB-scaled n-grams.

        Minimises C * sum of log losses + |w|^2 / 2, scikit-learn's LogisticRegression
        objective (softmax for K outputs), with L-BFGS over the whole training set: the problem
        is convex, so no learning rate, epochs or early stopping are involved, and the answer
        does not depend on the batch order. Returns the flat parameters (a warm start for
        another C).

        Only the rows with a ratio are optimised: a row whose ratio is 0 (never seen in training,
        or rarer than set_ratios' min_count) adds nothing to a logit, so its weight's gradient is
        the weight itself and its optimum 0. On IMDB that leaves 1.35 million of 8.4 million rows.
        """
        from scipy.optimize import minimize

        y = np.asarray(y)
        full_ratio = self.ratio.numpy().astype(np.float64)
        k = full_ratio.shape[1]
        active = np.flatnonzero(full_ratio.any(axis=1))
        columns = x.tocsc()[:, active]
        ratio, x, xt = full_ratio[active], columns.tocsr(), columns.T  # xt: the transpose as CSR, no copy
        rows = len(active)
        if start is not None:
            start = np.concatenate([start[:-k].reshape(-1, k)[active].ravel(), start[-k:]])
        n = x.shape[0]
        if k == 1:
            target = y.reshape(-1, 1).astype(np.float64)
        else:
            target = np.zeros((n, k))
            target[np.arange(n), y] = 1.0

        def loss_and_grad(params):
            w, b = params[:rows * k].reshape(rows, k), params[rows * k:]
            z = x @ (w * ratio) + b
            if k == 1:
                loss = np.sum(np.logaddexp(0.0, z) - target * z)
                residual = 1.0 / (1.0 + np.exp(-z)) - target
            else:
                z = z - z.max(axis=1, keepdims=True)
                log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
                loss = -np.sum(target * log_p)
                residual = np.exp(log_p) - target
            grad_w = c * np.asarray(xt @ residual) * ratio + w
            grad = np.concatenate([grad_w.ravel(), c * residual.sum(axis=0)])
            return c * loss + 0.5 * np.sum(w * w), grad

        params = np.zeros(rows * k + k) if start is None else start
        result = minimize(loss_and_grad, params, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
        weights = np.zeros_like(full_ratio)
        weights[active] = result.x[:-k].reshape(rows, k)
        params = np.concatenate([weights.ravel(), result.x[-k:]])
        self.set_params(params)
        return params

    def set_params(self, params: np.ndarray) -> None:
        """Weights and bias from ``fit_weights``' flat parameters."""
        rows, k = self.rows, self.outputs
        self.weight.assign(params[:rows * k].reshape(rows, k).astype(np.float32))
        self.bias.assign(params[rows * k:].astype(np.float32))

    def get_config(self):
        return _with_chars({**super().get_config(), "vocab_size": self.vocab_size, "outputs": self.outputs,
                            "ngram": self.ngram, "buckets": self.buckets}, self.char_buckets)


@keras.saving.register_keras_serializable(package="sentiment_cli")
class CompactNGramLogits(layers.Layer):
    """``NGramLogits`` as a run stores it: only the rows that weigh something, each with its
    weight x ratio in float16, looked up by binary search over their sorted row numbers.

    The full layer holds two float32 values for every hash row (2 x 8.4 million on IMDB's
    defaults, 67 MB), of which the rows that a training text has, and min_count keeps, carry the
    weight (1.35 million on IMDB). This layer gives the same logits up to float16 rounding of each
    row's product; ``compact`` makes it from a fitted ``NGramLogits``, ``expand`` gives back a full
    layer to fit again (semi's rounds refit ratios and weights from scratch anyway).
    """

    def __init__(self, vocab_size: int, outputs: int = 1, ngram: int = 3, buckets: int = 2**21, kept: int = 1,
                 char_buckets: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.outputs, self.ngram = int(vocab_size), int(outputs), int(ngram)
        self.buckets, self.kept, self.char_buckets = int(buckets), max(int(kept), 1), int(char_buckets)
        self.rows = table_rows(self.vocab_size, self.ngram, self.buckets, self.char_buckets)

    def build(self, input_shape):
        self.keys = self.add_weight(name="keys", shape=(self.kept,), dtype="int32", initializer="zeros",
                                    trainable=False)
        self.values = self.add_weight(name="values", shape=(self.kept, self.outputs), dtype="float16",
                                      initializer="zeros", trainable=False)
        self.bias = self.add_weight(name="bias", shape=(self.outputs,), initializer="zeros", trainable=False)

    def call(self, ids):
        rows = ngram_rows(ids, self.vocab_size, self.ngram, self.buckets, self.char_buckets)
        flat = tf.cast(tf.reshape(rows, [1, -1]), tf.int32)
        keys = tf.convert_to_tensor(self.keys)
        at = tf.minimum(tf.searchsorted(keys[None, :], flat)[0], self.kept - 1)
        found = tf.gather(keys, at) == flat[0]
        values = tf.where(found[:, None], tf.cast(tf.gather(self.values, at), tf.float64), tf.constant(0.0, tf.float64))
        shape = tf.concat([tf.shape(rows), [self.outputs]], axis=0)
        logits = tf.reduce_sum(tf.reshape(values, shape), axis=1)  # in float64, as NGramLogits sums
        return tf.cast(logits, self.bias.dtype) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.outputs)

    def get_config(self):
        return _with_chars({**super().get_config(), "vocab_size": self.vocab_size, "outputs": self.outputs,
                            "ngram": self.ngram, "buckets": self.buckets, "kept": self.kept}, self.char_buckets)


def _with_chars(config: dict, char_buckets: int) -> dict:
    """A layer's config, naming its character rows only when it has them (older runs load as before)."""
    return {**config, "char_buckets": char_buckets} if char_buckets else config


def ngram_rows(ids, vocab_size: int, ngram: int, buckets: int, char_buckets: int = 0):
    """``rules.ngram_rows`` in TensorFlow (the rows themselves from ``rules.all_ngrams``, called
    as it is): (batch, k) rows of each text's distinct n-grams, the rest the empty row."""
    _, grams, masks = zip(*all_ngrams(tf.cast(ids, tf.int64), vocab_size, ngram, buckets, char_buckets))
    return distinct_rows(grams, masks, tf.constant(empty_row(vocab_size, ngram, buckets, char_buckets), tf.int64))


def distinct_rows(grams, masks, empty):
    """``rules.distinct_rows`` in TensorFlow, line for line."""
    rows = tf.where(tf.concat(masks, axis=1), tf.concat(grams, axis=1), empty)
    rows = tf.sort(rows, axis=1)  # repeats become neighbours
    repeat = tf.concat([tf.zeros_like(rows[:, :1], tf.bool), rows[:, 1:] == rows[:, :-1]], axis=1)
    return tf.where(repeat, empty, rows)


def compact(layer: NGramLogits) -> CompactNGramLogits:
    """The stored form of a fitted layer: the rows whose weight x ratio is not 0, in float16."""
    product = layer.weight.numpy() * layer.ratio.numpy()
    keys = np.flatnonzero(product.any(axis=1)).astype(np.int32)
    if not len(keys):  # nothing weighs: one row that no text has (the empty row), worth 0
        keys = np.array([layer.rows - 1], dtype=np.int32)
    out = CompactNGramLogits(layer.vocab_size, layer.outputs, layer.ngram, layer.buckets, len(keys),
                             layer.char_buckets, name=layer.name)
    out.build(None)
    out.keys.assign(keys)
    out.values.assign(product[keys].astype(np.float16))
    out.bias.assign(layer.bias.numpy())
    return out


def expand(layer: CompactNGramLogits) -> NGramLogits:
    """A full layer with the same logits (ratio 1 on the stored rows), to be fitted again."""
    out = NGramLogits(layer.vocab_size, layer.outputs, layer.ngram, layer.buckets, layer.char_buckets,
                      name=layer.name)
    out.build(None)
    weight = np.zeros((out.rows, out.outputs), dtype=np.float32)
    ratio = np.zeros_like(weight)
    keys = layer.keys.numpy()
    weight[keys] = layer.values.numpy().astype(np.float32)
    ratio[keys] = 1.0
    out.weight.assign(weight)
    out.ratio.assign(ratio)
    out.bias.assign(layer.bias.numpy())
    return out
