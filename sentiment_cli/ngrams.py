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

# Large odd multipliers for the n-gram hash (any fixed values do; changing them breaks saved runs).
_PRIMES = (1_000_003, 999_983)


@keras.saving.register_keras_serializable(package="sentiment_cli")
class NGramLogits(layers.Layer):
    """Logits from the binarized 1..``ngram``-grams of right-padded token ids (0 pads).

    Unigram u has row u; longer n-grams are hashed into ``buckets`` rows after the vocabulary;
    the last row stands for padding and repeats and weighs nothing. Each row has a trainable
    weight per output and a fixed naive Bayes ratio per output (set by ``set_ratios``); a
    text's logit is the sum over its distinct n-grams of weight x ratio, plus a bias.
    """

    def __init__(self, vocab_size: int, outputs: int = 1, ngram: int = 3, buckets: int = 2**21, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.outputs, self.ngram = int(vocab_size), int(outputs), int(ngram)
        self.buckets = int(buckets)
        self.rows = self.vocab_size + (self.buckets if self.ngram > 1 else 0) + 1

    def build(self, input_shape):
        self.weight = self.add_weight(name="weight", shape=(self.rows, self.outputs), initializer="zeros")
        self.ratio = self.add_weight(name="ratio", shape=(self.rows, self.outputs), initializer="zeros",
                                     trainable=False)
        self.bias = self.add_weight(name="bias", shape=(self.outputs,), initializer="zeros")

    def ngram_ids(self, ids):
        """(batch, k) row numbers of each text's distinct n-grams; the rest are the empty row."""
        ids = tf.cast(ids, tf.int64)
        empty = tf.constant(self.rows - 1, tf.int64)
        valid = ids > 0
        grams, masks = [ids], [valid]
        hashed = ids
        for n in range(2, self.ngram + 1):
            # the hash of an n-gram extends the hash of its first n - 1 tokens by the last one
            hashed = (hashed[:, :-1] * _PRIMES[n % 2] + ids[:, n - 1:] + n) % self.buckets
            valid = valid[:, :-1] & (ids[:, n - 1:] > 0)
            grams.append(hashed + self.vocab_size)
            masks.append(valid)
        rows = tf.where(tf.concat(masks, axis=1), tf.concat(grams, axis=1), empty)
        rows = tf.sort(rows, axis=1)  # repeats become neighbours: each n-gram counts once
        repeat = tf.concat([tf.zeros_like(rows[:, :1], tf.bool), rows[:, 1:] == rows[:, :-1]], axis=1)
        return tf.where(repeat, empty, rows)

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

    def set_ratios(self, batches, alpha: float = 1.0) -> np.ndarray:
        """Naive Bayes log-count ratios from (ids, class ids) batches of the training data.

        Binary (one output): log of P(n-gram | class 1) / P(n-gram | class 0) over binarized
        counts with add-``alpha`` smoothing; K outputs: each class against the rest.
        """
        classes = max(self.outputs, 2)
        counts = np.zeros((classes, self.rows), dtype=np.float64)
        for ids, y in batches:
            rows, y = self.ngram_ids(ids).numpy(), np.asarray(y)
            for k in range(classes):
                counts[k] += np.bincount(rows[y == k].ravel(), minlength=self.rows)
        counts[:, -1] = 0.0
        total = counts.sum(axis=0)
        ratios = np.zeros((self.rows, self.outputs), dtype=np.float32)
        for k in range(self.outputs):
            positive = counts[1 if self.outputs == 1 else k] + alpha
            negative = total - counts[1 if self.outputs == 1 else k] + alpha
            ratios[:, k] = np.log((positive / positive.sum()) / (negative / negative.sum()))
        ratios[-1] = 0.0
        self.ratio.assign(ratios)
        return ratios

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "outputs": self.outputs,
                "ngram": self.ngram, "buckets": self.buckets}
