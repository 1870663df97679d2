"""The n-gram half's fit: naive Bayes ratios, then L2-regularised logistic regression (convex)."""

from __future__ import annotations

import math
import sys

import numpy as np

from sentiment_cli.config import PREDICT_BATCH, TrainConfig
from sentiment_cli.encoding import Rows, pad
from sentiment_cli.rules import words

NGRAM_C_GRID = (0.03, 0.1, 0.3, 1.0)


def fit_ngram_half(model, config: TrainConfig, train: Rows, val: Rows, progress: bool,
                   held_out: dict | None = None) -> dict:
    """Naive Bayes ratios, then L2-regularised logistic regression weights (NBSVM-style).

    With ``config.ngram_c`` unset, C is chosen on validation accuracy from NGRAM_C_GRID (each
    fit starts from the previous, more regularised one). Ratios and weights are fitted anew,
    also when a semi round continues a model: its pseudo-labeled texts bring n-grams that the
    labeled ones lack. Without validation rows (the final model of cross-validation) config.ngram_c
    must be set. held_out: filled with each C's validation logits (see FitOptions.held_out).
    """
    layer = model.get_layer("ngrams")
    if not len(val.seqs) and not config.ngram_c:
        raise ValueError("fit_ngram_half without validation rows needs config.ngram_c")
    x_train = ngram_matrix(model, train.seqs)
    x_val = ngram_matrix(model, val.seqs) if len(val.seqs) else None
    layer.char_weight = config.char_weight
    ratios = layer.set_ratios(x_train, train.y, min_count=config.ngram_min_count)
    weighed = int(np.count_nonzero(ratios.any(axis=1)))
    if not weighed:
        print(f"warning: no n-gram is found in {config.ngram_min_count} or more training texts, so the n-gram "
              "model weighs none and predicts one class for every text; lower --ngram-min-count", file=sys.stderr)
    grid = (config.ngram_c,) if config.ngram_c else NGRAM_C_GRID
    scores, best, start = {}, None, None
    for c in grid:
        start = layer.fit_weights(x_train, train.y, c, start)
        if x_val is None:  # nothing to choose among: the one C given
            scores[c], best = None, (c, start.copy())
            continue
        logits = x_val @ (layer.weight.numpy() * layer.ratio.numpy()) + layer.bias.numpy()
        predicted = (logits[:, 0] > 0).astype(int) if logits.shape[1] == 1 else logits.argmax(axis=1)
        scores[c] = float(np.mean(predicted == val.y))
        if held_out is not None:
            held_out[c] = np.asarray(logits, dtype=np.float64)
        if best is None or scores[c] > scores[best[0]]:
            best = (c, start.copy())
        if progress:
            print(f"n-gram model, C={c:g}: validation accuracy {scores[c]:.4f}", file=sys.stderr)
    c, params = best
    layer.set_params(params)
    return {"ngram_c": c, "ngram_val_accuracy": scores[c], "ngram_val_accuracy_by_c": {str(k): v for k, v in scores.items()},
            "ngram_features": int(x_train.shape[1]), "ngram_buckets": layer.buckets,
            "ngram_rows_weighed": weighed}


def ngram_matrix(model, seqs: list[np.ndarray]):
    """Binary (texts x n-gram rows) matrix of the model's n-gram half, rows in input order."""
    return layer_matrix(model.get_layer("ngrams"), seqs)


def layer_matrix(layer, seqs: list[np.ndarray]):
    """``ngram_matrix`` of an ``NGramLogits`` layer used alone (no model around it)."""
    return layer.matrix(pad(seqs[i:i + PREDICT_BATCH]) for i in range(0, len(seqs), PREDICT_BATCH))


def ngram_buckets_for(seqs: list[np.ndarray], config: TrainConfig) -> int:
    """Hash rows for the 2..ngram-grams of the training texts: a power of two at least four
    times their count (so few of them share a row), at most ``config.ngram_buckets``. A run
    of 400 tweets gets 32,768 rows (its model file about 1 MB), IMDB the full 2**23."""
    lengths = [len(words(s)) for s in seqs]  # packed character buckets are not words
    occurrences = sum(max(length - n + 1, 0) for length in lengths for n in range(2, config.ngram + 1))
    return int(min(config.ngram_buckets, max(1024, 1 << int(math.ceil(math.log2(max(4 * occurrences, 1)))))))
