"""train(): data -> vocabulary -> length-bucketed batches -> fit with early stopping -> run files."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from sentiment_cli import checks, runs
from sentiment_cli.config import TrainConfig
from sentiment_cli.distribute import Distribution, lost_worker_errors
from sentiment_cli.data import Columns, DataManager, LabeledData, keep_tokens, length_batches
from sentiment_cli.embeddings import load_vectors, pretrain_word2vec
from sentiment_cli.errors import ConfigError, RunError, SentimentError
from sentiment_cli.calibration import expected_calibration_error, fit_mix, out_of_fold
from sentiment_cli.calibration import probabilities as mix_probabilities
from sentiment_cli.model import (
    build_model, compile_model, half_model, halves, halves_logits, ngram_buckets_for, ngram_matrix, predict_proba,
)


@dataclass
class TrainResult:
    model: keras.Model
    data_manager: DataManager
    metrics: dict


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and TensorFlow's generators; our own shuffles take seeded Generators."""
    keras.utils.set_random_seed(seed)


def reseed_dropout(model: keras.Model, seed: int) -> None:
    """Set the dropout seeds of a model that was loaded (or built) before ``seed`` took effect.

    Keras draws each dropout layer's seed from Python's generator when the layer is made, and a
    ``.keras`` file does not keep it, so a model loaded in a fresh process drops other units than
    the same model loaded in another: `semi`'s rounds, which train the loaded base run further,
    ended 0.15 points apart on IMDB test from one seed. The seeds follow from ``seed`` and the
    layers' order, so every training of the same model with the same seed drops the same units.
    """
    rng = np.random.default_rng(seed)
    states = [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]
    for state in states:
        state.assign(np.array([rng.integers(1, 2**30), 0], dtype=state.dtype))


def make_dataset(seqs, y, batch_size: int, rng: np.random.Generator | None):
    """A tf.data pipeline of (padded ids, labels) batches, each padded to its own longest text.

    The ids live in one RaggedTensor; tf.data gathers and pads each batch in parallel with
    training. Only the batches' row numbers come from Python: ``length_batches`` draws them,
    with rng a new order each epoch (so a seed fixes them all, and a resumed training draws
    the orders an uninterrupted one would).

    Each element is a global batch: under a tf.distribute strategy, Keras' fit splits it among
    the replicas, and across workers the DATA auto-shard policy gives each worker its replicas'
    part of every batch (set, since a generator has no files to shard: AUTO would look for them).
    """
    n_batches = math.ceil(len(seqs) / batch_size)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    ids = tf.RaggedTensor.from_row_lengths(np.concatenate(seqs) if seqs else np.zeros(0, np.int32), lengths)
    labels = tf.constant(y)

    def batches():
        yield from length_batches(seqs, batch_size, rng)

    @tf.autograph.experimental.do_not_convert  # plain TensorFlow ops: nothing for AutoGraph to convert
    def gather(idx):
        return tf.gather(ids, idx).to_tensor(0), tf.gather(labels, idx)

    ds = tf.data.Dataset.from_generator(batches, output_signature=tf.TensorSpec((None,), tf.int64))
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)


class EpochCommit(keras.callbacks.Callback):
    """Early stopping on validation accuracy whose state survives a kill.

    After every epoch it commits, in one atomic step, everything an uninterrupted run would
    still know: all the model's variables (dropout's seed state included), the optimizer's,
    the best epoch's weights, the early-stopping counters and the history. ``train --resume``
    restores it and goes on with the next epoch, to the same result. Without a directory it
    keeps the same state in memory only (semi's rounds). At the end the best epoch's weights
    are restored, as EarlyStopping(restore_best_weights=True) does.
    """

    STATE = "state.json"

    def __init__(self, patience: int, directory: Path | None = None, state: dict | None = None):
        super().__init__()
        self.patience, self.directory = patience, directory
        self.state = state or {"epochs": 0, "best": None, "best_epoch": 0, "wait": 0, "history": [],
                               "stopped": False}
        self.best_weights = None

    @classmethod
    def load(cls, patience: int, directory: Path) -> "EpochCommit":
        state = runs.read_json(directory / cls.STATE) if (directory / cls.STATE).exists() else None
        return cls(patience, directory, state)

    def restore(self, model: keras.Model) -> None:
        """Put the committed variables back (before fit, the optimizer built)."""
        if not self.state["epochs"]:
            return
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        with np.load(self.directory / self.state["file"], allow_pickle=False) as saved:
            for i, v in enumerate(model.variables):
                v.assign(saved[f"model_{i}"])
            for i, v in enumerate(model.optimizer.variables):
                v.assign(saved[f"optimizer_{i}"])
            self.best_weights = [saved[f"best_{i}"] for i in range(len(model.get_weights()))]

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        state = self.state
        state["history"].append({"epoch": epoch + 1, **logs})
        accuracy = logs.get("val_accuracy", float("nan"))
        if state["best"] is None or accuracy > state["best"]:
            state.update(best=accuracy, best_epoch=epoch + 1, wait=0)
            self.best_weights = self.model.get_weights()
        else:
            state["wait"] += 1
        state["epochs"] = epoch + 1
        if state["wait"] >= self.patience:
            state["stopped"] = True
            self.model.stop_training = True
        if self.directory is not None:
            self._commit()

    def _commit(self) -> None:
        name = f"epoch-{self.state['epochs']}.npz"
        arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(self.model.variables)}
        arrays.update({f"optimizer_{i}": np.asarray(v) for i, v in enumerate(self.model.optimizer.variables)})
        arrays.update({f"best_{i}": w for i, w in enumerate(self.best_weights)})
        tmp = self.directory / f".{name}.partial.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self.directory / name)
        previous = self.state.get("file")
        self.state["file"] = name
        runs.write_json_atomic(self.directory / self.STATE, self.state)  # the epoch is committed here
        if previous and previous != name:
            (self.directory / previous).unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def write_history(self, path: Path) -> None:
        rows = self.state["history"]
        if rows:
            runs.write_csv(path, rows)


def initial_embeddings(config: TrainConfig, tokenizer, texts: list[str], progress: bool = False):
    """The embedding matrix and vocabulary coverage asked for by config (file or Word2Vec)."""
    if config.embeddings:
        matrix, coverage = load_vectors(config.embeddings, tokenizer, config.seed)
        config.embedding_dim = matrix.shape[1]  # the file decides the vectors' size
    else:
        matrix, coverage = pretrain_word2vec(texts, tokenizer, config.embedding_dim, config.seed, progress=progress)
    return matrix, coverage


def train(config: TrainConfig, data: LabeledData, run_dir: Path, *, verbose: int = 1,
          data_manager: DataManager | None = None, initial_model: keras.Model | None = None,
          extra_data: LabeledData | None = None, half_extra: dict[str, LabeledData] | None = None,
          unlabeled_texts: list[str] | None = None,
          summary: bool = False, checkpoint: Path | None = None, tensorboard: Path | None = None,
          strategy: tf.distribute.Strategy | None = None) -> TrainResult:
    """Train on ``data``; writes history.csv and validation.json into ``run_dir`` (the caller saves
    the rest).

    Read top to bottom: encode and split; build (or continue ``initial_model``); fit the
    n-gram half (convex, C chosen on validation); fit the network half (Keras, early stopping
    on validation accuracy); fit the mix of the halves on validation logits (calibration);
    score. data_manager: reuse a fitted tokenizer and label set (for retraining). extra_data
    joins the training side only (pseudo-labels never reach validation); half_extra, by a half's
    layer name, joins that half's training side only (co-training). unlabeled_texts join
    the labeled ones for the vocabulary and --pretrain-embeddings: with few labels, words that
    only the unlabeled text has still get an id and a vector. checkpoint: a directory where
    the network's epochs are committed, and resumed from (see EpochCommit). tensorboard: a directory for
    TensorBoard logs of the network's epochs. strategy: the tf.distribute strategy whose scope
    builds the model and fits the network half (default: the one in scope); the n-gram half
    and the mix are fitted outside Keras, in each process alike.
    """
    strategy = strategy or tf.distribute.get_strategy()
    started = time.perf_counter()
    seed_everything(config.seed)
    dm = data_manager or DataManager.from_config(config)
    new_vocabulary = dm.tokenizer is None
    if new_vocabulary:
        dm.fit_labels(data)
        missing = sorted(set(dm.labels) - set(data.labels))
        if missing and verbose:
            print(f"warning: no examples of {', '.join(missing)} (declared with --labels); the model will "
                  "rarely predict it", file=sys.stderr)
    config.labels = list(dm.labels)
    y = dm.encode_labels(data.labels, data.path, data.lines)
    train_idx, val_idx = dm.split(y, config.val_ratio, config.seed)
    train_texts = [data.texts[i] for i in train_idx]
    if new_vocabulary:  # from the training side and the unlabeled text: validation texts stay unseen
        dm.fit(train_texts + list(unlabeled_texts or []), config.vocab_size, progress=bool(verbose))
    seqs = dm.sequences(data.texts, progress=bool(verbose))
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
            embeddings, coverage = initial_embeddings(config, dm.tokenizer, train_texts + list(unlabeled_texts or []),
                                                      progress=bool(verbose))
            metrics["embeddings_coverage"] = round(coverage, 4)
            if verbose:
                print(f"word vectors found for {coverage:.1%} of the vocabulary", file=sys.stderr)
        buckets = ngram_buckets_for(train_seqs, config) if config.model in ("ngram", "hybrid") else None
        with strategy.scope():  # the network's variables mirrored on every replica
            model = build_model(config, len(dm.tokenizer), embeddings=embeddings, idf=dm.tokenizer.idf,
                                ngram_buckets=buckets)
    else:
        model = initial_model
        reseed_dropout(model, config.seed)
    if summary and verbose:
        print_summary(model)
    names = halves(model)

    def training_side(name):
        more = (half_extra or {}).get(name)
        if more is None or not more.texts:
            return train_seqs, train_y
        return train_seqs + dm.sequences(more.texts), np.concatenate([train_y, dm.encode_labels(more.labels, more.path)])

    fit_start = time.perf_counter()
    if "ngrams" in names:
        metrics.update(fit_ngram_half(model, config, *training_side("ngrams"), val_seqs, val_y, verbose))
    network = next((name for name in names if name != "ngrams"), None)
    if network:
        metrics.update(fit_network_half(model, network, config, dm, *training_side(network), val_seqs, val_y,
                                        run_dir, verbose, checkpoint, tensorboard, strategy))
    fit_seconds = time.perf_counter() - fit_start
    metrics.update(fit_mix_on_validation(model, dm, val_seqs, val_y, config.seed))

    probs = predict_proba(model, val_seqs, dm.features)
    save_validation(run_dir / runs.VALIDATION_FILE, dm.labels, val_y, probs)
    metrics.update({
        "best_val_accuracy": float(np.mean(probs.argmax(axis=1) == val_y)),
        "train_seconds": round(time.perf_counter() - started, 2),  # everything: vocabulary, word vectors, fit
        "fit_seconds": round(fit_seconds, 2),
        "train_examples": len(train_seqs),
        "val_examples": len(val_seqs),
    })
    if config.num_classes == 2:
        # The mix calibrates the probabilities, so 0.5 is the threshold that minimises expected
        # errors. A threshold tuned on the validation rows chases their noise: on IMDB it moved
        # to 0.6 for +0.4 points on validation and cost 0.5 points on the test reviews.
        metrics["threshold"] = 0.5
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
    ratios = layer.set_ratios(x_train, train_y, min_count=config.ngram_min_count)
    weighed = int(np.count_nonzero(ratios.any(axis=1)))
    if not weighed:
        print(f"warning: no n-gram is found in {config.ngram_min_count} or more training texts, so the n-gram "
              "model weighs none and predicts one class for every text; lower --ngram-min-count", file=sys.stderr)
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
            "ngram_features": int(x_train.shape[1]), "ngram_buckets": layer.buckets,
            "ngram_rows_weighed": weighed}


def fit_network_half(model, name, config, dm, train_seqs, train_y, val_seqs, val_y, run_dir, verbose,
                     checkpoint: Path | None = None, tensorboard: Path | None = None,
                     strategy: tf.distribute.Strategy | None = None) -> dict:
    """Keras fit of one network half on its own loss, early stopping on its validation accuracy.

    checkpoint: a directory where every epoch is committed (see EpochCommit); what it already
    holds is resumed. tensorboard: where Keras' TensorBoard callback writes its logs. strategy:
    fit runs in its scope (``model`` was built in it), and each step splits one batch of
    ``config.batch_size`` examples among its replicas.
    """
    strategy = strategy or tf.distribute.get_strategy()
    binary = config.num_classes == 2
    y_dtype = np.float32 if binary else np.int32
    if config.read_length > config.max_length:
        # the texts were read whole for the n-gram half; the network's KeepTokens layer would cut
        # them anyway, cutting them here keeps its batches as short as the tokens it reads
        train_seqs = keep_tokens(train_seqs, config.max_length, config.truncating)
        val_seqs = keep_tokens(val_seqs, config.max_length, config.truncating)
    rng = np.random.default_rng(config.seed)
    commit = EpochCommit.load(config.patience, checkpoint) if checkpoint else EpochCommit(config.patience)
    done = commit.state["epochs"]
    for _ in range(done):  # the batch orders the finished epochs drew
        length_batches(train_seqs, config.batch_size, rng)
    train_ds = make_dataset(train_seqs, train_y.astype(y_dtype), config.batch_size, rng)
    val_ds = make_dataset(val_seqs, val_y.astype(y_dtype), max(config.batch_size, 256), None)
    half = compiled_half(model, name, config, strategy)
    with strategy.scope():
        commit.restore(half)
    if done and verbose:
        print(f"resuming after epoch {done} (best so far: epoch {commit.state['best_epoch']}, validation "
              f"accuracy {commit.state['best']:.4f})", file=sys.stderr)
    fit_start = time.perf_counter()
    if not commit.state["stopped"] and done < config.epochs:
        # Keras writes its progress bar to stdout; stdout is for results, so send it to stderr.
        with contextlib.redirect_stdout(sys.stderr), strategy.scope():
            callbacks = [commit, keras.callbacks.TerminateOnNaN()]
            if tensorboard is not None:
                callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard), write_graph=False))
            half.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=done,
                     callbacks=callbacks, verbose=_keras_verbosity(verbose), shuffle=False)
    elif commit.best_weights is not None:
        half.set_weights(commit.best_weights)
    seconds = time.perf_counter() - fit_start
    commit.write_history(run_dir / runs.HISTORY_FILE)
    history = commit.state["history"]
    losses = [row.get("loss", float("nan")) for row in history]
    finite = all(np.all(np.isfinite(w)) for w in half.get_weights())
    if not finite or commit.best_weights is None:
        raise RunError("training diverged (the loss became NaN) before any epoch finished: lower --lr")
    best = commit.state["best_epoch"]
    return {
        f"{name.split('_')[0]}_val_accuracy": float(commit.state["best"]),
        "best_epoch": best,
        "best_epoch_val_loss": float(history[best - 1]["val_loss"]),
        "epochs_run": len(history),
        "stopped_on_nan": any(not math.isfinite(v) for v in losses),
        "examples_per_second": round(len(train_seqs) * (len(history) - done) / seconds, 1)
        if seconds and len(history) > done else None,
    }


def compiled_half(model, name: str, config: TrainConfig, strategy: tf.distribute.Strategy) -> keras.Model:
    """``model``'s network half, compiled, with all its training state made in ``strategy``'s scope.

    Keras 3 makes what a model lacks for training on the first step of fit, which goes wrong under
    tf.distribute (keras-team/keras#20585): a model made inside the scope makes fit reduce a
    first distributed batch across workers to build it, which fails under
    MultiWorkerMirroredStrategy (and draws one batch order too many from make_dataset's
    generator); a model made outside it makes its metrics' variables inside the replicas' step,
    which fails under MirroredStrategy. So the half is made outside the scope and takes the
    strategy of the scope that fit runs in, and its optimizer's, loss's and metrics' variables
    are made here, in the scope, on one example (then the metrics are reset).
    """
    half = half_model(model, name)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        half = StepFiguresAsVectors(half.input, half.output)
    with strategy.scope():
        compile_model(half, config)
        half.optimizer.build(half.trainable_variables)
        x = np.ones((1, 1), np.int32)
        y = np.zeros((1,), np.float32 if config.num_classes == 2 else np.int32)
        y_pred = half(x)
        half.compute_metrics(x, y, y_pred, None)
        half.compute_loss(x, y, y_pred)
        half.reset_metrics()
    return half


class StepFiguresAsVectors(keras.Model):
    """A model whose training and test steps report their figures as vectors of one value.

    Under MultiWorkerMirroredStrategy, Keras 3's fit averages each step's figures across the
    workers along axis 0, which scalars lack (keras-team/keras#20585); vectors of one value
    average. They reach only the progress bar: the epoch's figures, which early stopping reads,
    come from the metrics themselves, summed over all replicas.
    """

    def train_step(self, data):
        return {k: keras.ops.reshape(v, (1,)) for k, v in super().train_step(data).items()}

    def test_step(self, data):
        return {k: keras.ops.reshape(v, (1,)) for k, v in super().test_step(data).items()}


def _keras_verbosity(verbose: int) -> int:
    """Keras' progress bar on a terminal; into a file or a pipe, one plain line per epoch (the
    bar would write carriage returns and colour codes into the log)."""
    return 2 if verbose == 1 and not sys.stderr.isatty() else verbose


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


def save_validation(path: Path, labels, y: np.ndarray, probs: np.ndarray) -> None:
    """The validation rows' true class index and the probabilities the saved model gives them
    (after the fitted mix), in validation order: what `plot` draws its validation pictures from."""
    runs.write_json(path, {"labels": list(labels), "y": [int(v) for v in y],
                           "probabilities": np.round(probs.astype(np.float64), 6).tolist()})


def print_summary(model: keras.Model, file=None) -> None:
    file = file or sys.stderr
    model.summary(print_fn=lambda line, *args, **kwargs: print(line, file=file))


def train_run(models_dir, name: str, config: TrainConfig, train_path, *, fmt: str = "auto",
              columns: Columns | None = None, allowed_labels=None, overwrite: bool = False, resume: bool = False,
              unlabeled_path=None, on_bad_lines: str = "error", verbose: int = 1,
              summary: bool = False, tensorboard: bool = False,
              distribution: Distribution | None = None) -> tuple[Path | None, dict]:
    """Read ``train_path``, train, and write models_dir/name; returns its path and metrics.

    unlabeled_path: more text (one per line) for the vocabulary and --pretrain-embeddings.
    summary: print the model's summary on stderr first. tensorboard: TensorBoard logs in
    RUN/logs (written into the resume directory while training, so that a resumed training
    adds to the same logs and TensorBoard can follow them live). distribution: the strategy
    to train with (see distribute.make_distribution). Of several workers, each trains the same
    model in step, and only the chief writes the run (Keras' convention): the others train in a
    private models directory, which they remove, and return no path.
    """
    multi_worker = distribution is not None and distribution.name == "multi-worker"
    if multi_worker and resume:
        raise ConfigError("--resume continues from epochs that one process committed; the workers of "
                          "--strategy multi-worker commit none. Start again with --overwrite, or train with "
                          "--strategy default or mirrored")
    chief = distribution is None or distribution.is_chief
    columns = columns or Columns()
    data_info = {"train": str(train_path), "format": fmt, "columns": vars(columns),
                 "unlabeled": str(unlabeled_path) if unlabeled_path else None,
                 "on_bad_lines": on_bad_lines, "labels": list(allowed_labels) if allowed_labels else None}
    with (lost_worker_errors(distribution),
          worker_models_dir(models_dir, distribution) as models_dir,
          interrupted_training(models_dir, name, config, data_info, overwrite, resume, verbose) as checkpoint):
        data = DataManager.read_labeled(train_path, fmt, columns, allowed_labels, on_bad_lines, progress=bool(verbose))
        for warning in checks.duplicate_warnings(data.texts, data.labels, data.lines, train_path):
            print(f"warning: {warning}", file=sys.stderr)
        unlabeled = DataManager.read_unlabeled(unlabeled_path, progress=bool(verbose)) if unlabeled_path else None
        path, metrics = train_and_save(models_dir, name, config, data, {**data_info, "skipped_lines": data.skipped},
                                       overwrite=overwrite, unlabeled_texts=unlabeled, verbose=verbose,
                                       summary=summary, checkpoint=None if multi_worker else checkpoint,
                                       tensorboard=tensorboard, distribution=distribution)
    return path if chief else None, metrics


@contextlib.contextmanager
def worker_models_dir(models_dir, distribution: Distribution | None):
    """models_dir for the chief (or a single process); for the other workers a private temporary
    one that is removed afterwards, so that the chief's run, its resume directory and its lock
    stay the chief's alone, also when the workers share a file system."""
    if distribution is None or distribution.is_chief:
        yield models_dir
        return
    with tempfile.TemporaryDirectory(prefix=f"sentiment-cli-worker-{distribution.worker}-") as private:
        yield private


def changed_inputs(stored: dict, snapshot: dict) -> list[str]:
    """The "section.key" entries of snapshot that the interrupted training's stored inputs lack
    or hold otherwise. Stored hyperparameters are read as a saved config.json is, so that a
    training interrupted before a hyperparameter existed compares with that hyperparameter's
    old meaning (see TrainConfig.from_dict), not with nothing."""
    stored = dict(stored)
    try:
        stored["hyperparameters"] = TrainConfig.from_dict(stored["hyperparameters"]).to_dict()
    except (KeyError, TypeError, ValueError, ConfigError):
        pass  # missing or damaged: compared as it is, so every key differs
    return [f"{section}.{key}" for section in snapshot for key in snapshot[section]
            if stored.get(section, {}).get(key) != snapshot[section][key]]


@contextlib.contextmanager
def interrupted_training(models_dir, name: str, config: TrainConfig, data_info: dict, overwrite: bool,
                         resume: bool, verbose: int):
    """The directory where ``train`` commits its epochs, models_dir/.NAME.resume.

    It is created exclusively (a second training of the same name refuses to start), kept when
    training is interrupted after an epoch (Ctrl-C says how to resume) and removed when the run
    is complete. Resuming with other options or data than the interrupted run's is refused.
    """
    final = runs.run_path(models_dir, name)
    if final.exists() and not overwrite:
        raise RunError(f"run {name!r} already exists in {final.parent}: pass --overwrite to replace it, "
                       "or choose another name")
    directory = final.with_name(f".{name}.resume")
    snapshot = {"hyperparameters": config.to_dict(), "data": data_info}
    if directory.exists():
        stored = runs.read_json(directory / "inputs.json") if (directory / "inputs.json").exists() else {}
        owner = stored.get("pid")
        if owner and owner != os.getpid() and runs.process_alive(owner):
            raise RunError(f"run {name!r} is being trained by process {owner} right now: wait for it, or "
                           "choose another name")
        if not resume:
            if not overwrite:
                raise RunError(f"an interrupted training of {name!r} is in {directory}: pass --resume to continue "
                               "it, or --overwrite to start again")
            shutil.rmtree(directory)
        else:
            changed = changed_inputs(stored, snapshot)
            if changed:
                raise RunError(f"{directory} is resumed with the options and data it started with; these differ: "
                               f"{', '.join(changed)}. Give the same ones, or start again with --overwrite")
    elif resume:
        raise RunError(f"nothing to resume: no interrupted training of {name!r} in {final.parent}. "
                       "Start without --resume")
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(exist_ok=resume)
    except FileExistsError:
        raise RunError(f"another training of {name!r} started at the same moment: wait for it, or choose "
                       "another name") from None
    runs.write_json_atomic(directory / "inputs.json", {**snapshot, "pid": os.getpid()})
    try:
        yield directory
    except BaseException as exc:
        # Kept for --resume after Ctrl-C or a crash once an epoch is committed (a kill runs no
        # handler at all); an error of ours (bad input, a refusal) would only repeat.
        if isinstance(exc, SentimentError) or not (directory / EpochCommit.STATE).exists():
            shutil.rmtree(directory, ignore_errors=True)
        else:
            epochs = runs.read_json(directory / EpochCommit.STATE)["epochs"]
            print(f"\ntraining of {name!r} stopped after epoch {epochs}; continue it with: "
                  f"sentiment-cli train {name} --resume (and the same options)", file=sys.stderr)
        raise
    shutil.rmtree(directory, ignore_errors=True)


def train_and_save(models_dir, name: str, config: TrainConfig, data: LabeledData, data_info: dict, *,
                   overwrite: bool = False, unlabeled_texts=None, verbose: int = 1,
                   checkpoint: Path | None = None, summary: bool = False,
                   tensorboard: bool = False, distribution: Distribution | None = None) -> tuple[Path, dict]:
    """train() into a new run directory, with its tokenizer, config and metrics.

    distribution: the strategy to train with (default: the one in scope), recorded in config.json.
    """
    distribution = distribution or Distribution("default", tf.distribute.get_strategy())
    with runs.new_run(models_dir, name, overwrite) as run_dir:
        logs = ((checkpoint or run_dir) / runs.LOGS_DIR) if tensorboard else None
        result = train(config, data, run_dir, verbose=verbose, summary=summary, unlabeled_texts=unlabeled_texts,
                       checkpoint=checkpoint, tensorboard=logs, strategy=distribution.strategy)
        if logs is not None and logs.exists() and checkpoint is not None:
            shutil.copytree(logs, run_dir / runs.LOGS_DIR)
        runs.save_model(run_dir / runs.MODEL_FILE, result.model, result.data_manager.tokenizer, config)
        result.data_manager.tokenizer.save(run_dir / runs.TOKENIZER_FILE)
        extra = {"threshold": result.metrics.get("threshold", 0.5), "strategy": distribution.record()}
        record = runs.make_config_record(config, result.data_manager.tokenizer,
                                         {**data_info, "examples": len(data.texts)}, extra)
        runs.write_json(run_dir / runs.CONFIG_FILE, record)
        runs.write_json(run_dir / runs.METRICS_FILE, result.metrics)
        runs.write_json(run_dir / runs.TEXTS_FILE, checks.text_hashes(data.texts))
    return runs.run_path(models_dir, name), result.metrics
