"""train(): data -> vocabulary -> length-bucketed batches -> fit with early stopping -> run files."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from sentiment_cli import runs
from sentiment_cli.config import TrainConfig
from sentiment_cli.data import Columns, DataManager, LabeledData, length_batches
from sentiment_cli.embeddings import load_vectors, pretrain_word2vec
from sentiment_cli.errors import RunError
from sentiment_cli.calibration import expected_calibration_error, fit_mix, out_of_fold
from sentiment_cli.calibration import probabilities as mix_probabilities
from sentiment_cli.model import (
    build_model, compile_model, half_model, halves, halves_logits, ngram_matrix, predict_proba,
)


@dataclass
class TrainResult:
    model: keras.Model
    data_manager: DataManager
    metrics: dict


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and TensorFlow's generators; our own shuffles take seeded Generators."""
    keras.utils.set_random_seed(seed)


def make_dataset(seqs, y, batch_size: int, featurize, rng: np.random.Generator | None):
    """A tf.data pipeline of (features, labels) batches padded to their own longest text.

    With rng, every epoch draws a new order from it (so a seed fixes them all).
    """
    n_batches = math.ceil(len(seqs) / batch_size)
    first = featurize(seqs[:1])
    x_spec = tf.TensorSpec((None,) * first.ndim, tf.as_dtype(first.dtype))
    y_spec = tf.TensorSpec((None,), tf.as_dtype(y.dtype))

    def batches():
        for idx in length_batches(seqs, batch_size, rng):
            yield featurize([seqs[i] for i in idx]), y[idx]

    ds = tf.data.Dataset.from_generator(batches, output_signature=(x_spec, y_spec))
    return ds.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)


def initial_embeddings(config: TrainConfig, tokenizer, texts: list[str]):
    """The embedding matrix and vocabulary coverage asked for by config (file or Word2Vec)."""
    if config.embeddings:
        matrix, coverage = load_vectors(config.embeddings, tokenizer, config.seed)
        config.embedding_dim = matrix.shape[1]  # the file decides the vectors' size
    else:
        matrix, coverage = pretrain_word2vec(texts, tokenizer, config.embedding_dim, config.seed)
    return matrix, coverage


def best_threshold(p_positive: np.ndarray, y: np.ndarray) -> float:
    """The decision threshold on P(class 1) that maximises validation accuracy (ties: nearest 0.5)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    accuracy = np.array([np.mean((p_positive >= t) == (y == 1)) for t in grid])
    best = np.flatnonzero(accuracy == accuracy.max())
    return float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])


def train(config: TrainConfig, data: LabeledData, run_dir: Path, *, verbose: int = 1,
          data_manager: DataManager | None = None, initial_model: keras.Model | None = None,
          extra_data: LabeledData | None = None, unlabeled_texts: list[str] | None = None,
          summary: bool = False) -> TrainResult:
    """Train on ``data``; writes history.csv into ``run_dir`` (the caller saves the rest).

    Read top to bottom: encode and split; build (or continue ``initial_model``); fit the
    n-gram half (convex, C chosen on validation); fit the network half (Keras, early stopping
    on validation accuracy); fit the mix of the halves on validation logits (calibration);
    score. data_manager: reuse a fitted tokenizer and label set (for retraining). extra_data
    joins the training side only (pseudo-labels never reach validation). unlabeled_texts join
    the labeled ones for --pretrain-embeddings.
    """
    started = time.perf_counter()
    seed_everything(config.seed)
    dm = data_manager or DataManager.from_config(config)
    if dm.tokenizer is None:
        dm.fit(data, config.vocab_size)
    config.labels = list(dm.labels)
    y = dm.encode_labels(data.labels, data.path, data.lines)
    train_idx, val_idx = dm.split(y, config.val_ratio, config.seed)
    seqs = dm.sequences(data.texts)
    train_seqs = [seqs[i] for i in train_idx]
    train_y = y[train_idx]
    if extra_data is not None and extra_data.texts:
        train_seqs += dm.sequences(extra_data.texts)
        train_y = np.concatenate([train_y, dm.encode_labels(extra_data.labels, extra_data.path)])
    val_seqs, val_y = [seqs[i] for i in val_idx], y[val_idx]

    metrics = {}
    if initial_model is None:
        embeddings = None
        if config.model in ("rnn", "hybrid") and (config.embeddings or config.pretrain_embeddings):
            embeddings, coverage = initial_embeddings(config, dm.tokenizer, data.texts + list(unlabeled_texts or []))
            metrics["embeddings_coverage"] = round(coverage, 4)
            if verbose:
                print(f"word vectors found for {coverage:.1%} of the vocabulary", file=sys.stderr)
        model = build_model(config, len(dm.tokenizer), embeddings=embeddings)
    else:
        model = initial_model
    if summary and verbose:
        print_summary(model)
    names = halves(model)

    fit_start = time.perf_counter()
    if "ngrams" in names:
        metrics.update(fit_ngram_half(model, config, train_seqs, train_y, val_seqs, val_y, verbose))
    network = next((name for name in names if name != "ngrams"), None)
    if network:
        metrics.update(fit_network_half(model, network, config, dm, train_seqs, train_y, val_seqs, val_y,
                                        run_dir, verbose))
    fit_seconds = time.perf_counter() - fit_start
    metrics.update(fit_mix_on_validation(model, dm, val_seqs, val_y, config.seed))

    probs = predict_proba(model, val_seqs, dm.features)
    metrics.update({
        "best_val_accuracy": float(np.mean(probs.argmax(axis=1) == val_y)),
        "train_seconds": round(time.perf_counter() - started, 2),  # everything: vocabulary, word vectors, fit
        "fit_seconds": round(fit_seconds, 2),
        "train_examples": len(train_seqs),
        "val_examples": len(val_seqs),
    })
    if config.num_classes == 2:
        threshold = best_threshold(probs[:, 1], val_y)
        metrics["threshold"] = threshold
        metrics["val_accuracy_at_threshold"] = float(np.mean((probs[:, 1] >= threshold) == (val_y == 1)))
    return TrainResult(model, dm, metrics)


NGRAM_C_GRID = (0.03, 0.1, 0.3, 1.0)


def fit_ngram_half(model, config, train_seqs, train_y, val_seqs, val_y, verbose) -> dict:
    """Naive Bayes ratios, then L2-regularised logistic regression weights (NBSVM-style).

    With ``config.ngram_c`` unset, C is chosen on validation accuracy from NGRAM_C_GRID (each
    fit starts from the previous, more regularised one). Ratios and weights are fitted anew,
    also when a semi round continues a model: its pseudo-labeled texts bring n-grams that the
    labeled ones lack.
    """
    layer = model.get_layer("ngrams")
    x_train, x_val = ngram_matrix(model, train_seqs), ngram_matrix(model, val_seqs)
    layer.set_ratios(x_train, train_y)
    grid = (config.ngram_c,) if config.ngram_c else NGRAM_C_GRID
    scores, best, start = {}, None, None
    for c in grid:
        start = layer.fit_weights(x_train, train_y, c, start)
        logits = x_val @ (layer.weight.numpy() * layer.ratio.numpy()) + layer.bias.numpy()
        predicted = (logits[:, 0] > 0).astype(int) if logits.shape[1] == 1 else logits.argmax(axis=1)
        scores[c] = float(np.mean(predicted == val_y))
        if best is None or scores[c] > scores[best[0]]:
            best = (c, start.copy())
        if verbose:
            print(f"n-gram model, C={c:g}: validation accuracy {scores[c]:.4f}", file=sys.stderr)
    c, params = best
    layer.set_params(params)
    return {"ngram_c": c, "ngram_val_accuracy": scores[c], "ngram_val_accuracy_by_c": {str(k): v for k, v in scores.items()},
            "ngram_features": int(x_train.shape[1])}


def fit_network_half(model, name, config, dm, train_seqs, train_y, val_seqs, val_y, run_dir, verbose) -> dict:
    """Keras fit of one network half on its own loss, early stopping on its validation accuracy."""
    binary = config.num_classes == 2
    y_dtype = np.float32 if binary else np.int32
    rng = np.random.default_rng(config.seed)
    train_ds = make_dataset(train_seqs, train_y.astype(y_dtype), config.batch_size, dm.features, rng)
    val_ds = make_dataset(val_seqs, val_y.astype(y_dtype), max(config.batch_size, 256), dm.features, None)
    half = compile_model(half_model(model, name), config)
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience,
                                      restore_best_weights=True),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(run_dir / runs.HISTORY_FILE)),
    ]
    fit_start = time.perf_counter()
    # Keras writes its progress bar to stdout; stdout is for results, so send it to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        history = half.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                           callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - fit_start
    losses = history.history.get("loss", [])
    finite = all(np.all(np.isfinite(w)) for w in half.get_weights())
    if not finite or not history.history.get("val_accuracy"):
        raise RunError("training diverged (the loss became NaN) before any epoch finished: lower --lr")
    accuracy = history.history["val_accuracy"]
    best = int(np.argmax(accuracy))
    return {
        f"{name.split('_')[0]}_val_accuracy": float(accuracy[best]),
        "best_epoch": best + 1,
        "best_epoch_val_loss": float(history.history["val_loss"][best]),
        "epochs_run": len(losses),
        "stopped_on_nan": any(not math.isfinite(v) for v in losses),
        "examples_per_second": round(len(train_seqs) * len(losses) / seconds, 1) if seconds else None,
    }


def fit_mix_on_validation(model, dm, val_seqs, val_y, seed) -> dict:
    """Fit the mix of the halves on validation logits; report it and its calibration.

    The accuracy and calibration error after the fit are out-of-fold (each validation row
    scored by a mix fitted on the others), since the same rows chose the halves' best epochs.
    """
    logits = halves_logits(model, val_seqs, dm.features)
    unit = np.concatenate([np.ones(logits.shape[1]), np.zeros(logits.shape[2])])
    params = fit_mix(logits, val_y)
    layer = model.get_layer("mix")
    layer.set_weights([params[:logits.shape[1]].astype(np.float32), params[logits.shape[1]:].astype(np.float32)])
    before = mix_probabilities(logits, unit)
    oof = out_of_fold(logits, val_y, seed=seed)
    return {
        "mix_scales": [round(float(v), 6) for v in params[:logits.shape[1]]],
        "mix_bias": [round(float(v), 6) for v in params[logits.shape[1]:]],
        "val_accuracy_unit_sum": float(np.mean(before.argmax(axis=1) == val_y)),
        "val_accuracy_out_of_fold": float(np.mean(oof.argmax(axis=1) == val_y)),
        "ece_before": round(expected_calibration_error(before, val_y), 6),
        "ece_after": round(expected_calibration_error(oof, val_y), 6),
    }


def print_summary(model: keras.Model, file=None) -> None:
    file = file or sys.stderr
    model.summary(print_fn=lambda line, *args, **kwargs: print(line, file=file))


def train_run(models_dir, name: str, config: TrainConfig, train_path, *, fmt: str = "auto",
              columns: Columns | None = None, allowed_labels=None, overwrite: bool = False,
              unlabeled_path=None, verbose: int = 1) -> tuple[Path, dict]:
    """Read ``train_path``, train, and write models_dir/name; returns its path and metrics.

    unlabeled_path: more text (one per line) for --pretrain-embeddings to learn from.
    """
    columns = columns or Columns()
    data = DataManager.read_labeled(train_path, fmt, columns, allowed_labels)
    unlabeled = DataManager.read_unlabeled(unlabeled_path) if unlabeled_path else None
    data_info = {"train": str(train_path), "format": fmt, "columns": vars(columns),
                 "unlabeled": str(unlabeled_path) if unlabeled_path else None}
    return train_and_save(models_dir, name, config, data, data_info, overwrite=overwrite,
                          unlabeled_texts=unlabeled, verbose=verbose)


def train_and_save(models_dir, name: str, config: TrainConfig, data: LabeledData, data_info: dict, *,
                   overwrite: bool = False, unlabeled_texts=None, verbose: int = 1) -> tuple[Path, dict]:
    """train() into a new run directory, with its tokenizer, config and metrics."""
    with runs.new_run(models_dir, name, overwrite) as run_dir:
        result = train(config, data, run_dir, verbose=verbose, summary=True, unlabeled_texts=unlabeled_texts)
        result.model.save(run_dir / runs.MODEL_FILE)
        result.data_manager.tokenizer.save(run_dir / runs.TOKENIZER_FILE)
        extra = {"threshold": result.metrics.get("threshold", 0.5)}
        record = runs.make_config_record(config, result.data_manager.tokenizer,
                                         {**data_info, "examples": len(data.texts)}, extra)
        runs.write_json(run_dir / runs.CONFIG_FILE, record)
        runs.write_json(run_dir / runs.METRICS_FILE, result.metrics)
    return runs.run_path(models_dir, name), result.metrics
