"""The network half's fit: Keras epochs over length-bucketed batches, early stopping on
validation accuracy, and each epoch committed so that an interrupted training resumes."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from sentiment_cli.config import TrainConfig
from sentiment_cli.encoding import Rows, length_batches, network_seqs
from sentiment_cli.errors import RunError
from sentiment_cli.fit import FitOptions
from sentiment_cli.model import compile_model, half_model


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
    restores it and goes on with the next epoch, to the same result. The commits go to a
    ``Workspace``; without one it keeps the same state in memory only (semi's rounds). At the
    end the best epoch's weights are restored, as EarlyStopping(restore_best_weights=True) does.

    Stopping follows Keras' EarlyStopping: after ``patience`` epochs in a row that did not beat
    the best (0, like 1: at the first), never after an epoch that did.
    """

    def __init__(self, patience: int, workspace=None):
        super().__init__()
        self.patience, self.workspace = patience, workspace
        # a workspace's state may hold a pretraining's (fit/pretrain.py) and no epoch yet
        self.state = {"epochs": 0, "best": None, "best_epoch": 0, "wait": 0, "history": [], "stopped": False,
                      **((workspace.state() if workspace is not None else None) or {})}
        self.best_weights = None

    def restore(self, model: keras.Model) -> None:
        """Put the committed variables back (before fit, the optimizer built)."""
        if not self.state["epochs"]:
            return
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        with np.load(self.workspace.file(self.state["file"]), allow_pickle=False) as saved:
            for i, v in enumerate(model.variables):
                v.assign(saved[f"model_{i}"])
            for i, v in enumerate(model.optimizer.variables):
                v.assign(saved[f"optimizer_{i}"])
            self.best_weights = [saved[f"best_{i}"] for i in range(len(model.get_weights()))]

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        state = self.state
        state["history"].append({"epoch": epoch + 1, **logs})
        accuracy = logs.get("val_accuracy")
        if accuracy is None:  # no validation rows (cross-validation's final model): the last epoch is kept
            state.update(best=None, best_epoch=epoch + 1, wait=0)
            self.best_weights = self.model.get_weights()
        elif state["best"] is None or accuracy > state["best"]:
            state.update(best=accuracy, best_epoch=epoch + 1, wait=0)
            self.best_weights = self.model.get_weights()
        else:
            state["wait"] += 1
            if state["wait"] >= self.patience:
                state["stopped"] = True
                self.model.stop_training = True
        state["epochs"] = epoch + 1
        if self.workspace is not None:
            self._commit()

    def _commit(self) -> None:
        name = f"epoch-{self.state['epochs']}.npz"
        arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(self.model.variables)}
        arrays.update({f"optimizer_{i}": np.asarray(v) for i, v in enumerate(self.model.optimizer.variables)})
        arrays.update({f"best_{i}": w for i, w in enumerate(self.best_weights)})
        tmp = self.workspace.file(f".{name}.partial.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, self.workspace.file(name))
        previous = self.state.get("file")
        self.state["file"] = name
        self.workspace.commit(self.state)  # the epoch is committed here
        if previous and previous != name:
            self.workspace.file(previous).unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)



def fit_network_half(model, name: str, config: TrainConfig, train: Rows, val: Rows,
                     options: FitOptions) -> tuple[dict, list[dict]]:
    """Keras fit of one network half on its own loss, early stopping on its validation accuracy;
    returns its figures and the history of its epochs.

    Every epoch is committed to ``options.workspace`` when there is one (see EpochCommit), and
    what it already holds is resumed. Under ``options.strategy`` each step splits one batch of
    ``config.batch_size`` examples among the replicas (``model`` was built in its scope).
    """
    strategy = options.strategy or tf.distribute.get_strategy()
    # the network's own share of each text: its batches as short as the tokens it reads
    train, val = Rows(network_seqs(train.seqs, config), train.y), Rows(network_seqs(val.seqs, config), val.y)
    commit = EpochCommit(config.patience, options.workspace)
    done = commit.state["epochs"]
    half = compiled_half(model, name, config, strategy, steps_per_epoch=math.ceil(len(train.seqs) / config.batch_size))
    with strategy.scope():
        commit.restore(half)
    if done and options.progress:
        print(f"resuming after epoch {done} (best so far: epoch {commit.state['best_epoch']}, validation "
              f"accuracy {commit.state['best']:.4f})", file=sys.stderr)
    fit_start = time.perf_counter()
    if not commit.state["stopped"] and done < config.epochs:
        _fit(half, config, (train, val), commit, options)
    elif commit.best_weights is not None:
        half.set_weights(commit.best_weights)
    seconds = time.perf_counter() - fit_start
    history = commit.state["history"]
    if not all(np.all(np.isfinite(w)) for w in half.get_weights()) or commit.best_weights is None:
        raise RunError("training diverged (the loss became NaN) before any epoch finished: lower --lr")
    best = commit.state["best_epoch"]
    validated = commit.state["best"] is not None  # else: no validation rows, a fixed count of epochs
    return {
        f"{name.split('_')[0]}_val_accuracy": float(commit.state["best"]) if validated else None,
        "best_epoch": best,
        "best_epoch_val_loss": float(history[best - 1]["val_loss"]) if validated else None,
        "epochs_run": len(history),
        "stopped_on_nan": any(not math.isfinite(row.get("loss", float("nan"))) for row in history),
        "examples_per_second": round(len(train.seqs) * (len(history) - done) / seconds, 1)
        if seconds and len(history) > done else None,
    }, history


def _fit(half: keras.Model, config: TrainConfig, rows: tuple[Rows, Rows], commit: EpochCommit,
         options: FitOptions) -> None:
    """Keras' fit from the epoch after the committed ones, drawing the batch orders an
    uninterrupted training would have drawn."""
    train, val = rows
    y_dtype = np.float32 if config.num_classes == 2 else np.int32
    rng = np.random.default_rng(config.seed)
    for _ in range(commit.state["epochs"]):  # the batch orders the finished epochs drew
        length_batches(train.seqs, config.batch_size, rng)
    train_ds = make_dataset(train.seqs, train.y.astype(y_dtype), config.batch_size, rng)
    val_ds = make_dataset(val.seqs, val.y.astype(y_dtype), max(config.batch_size, 256), None) if len(val.seqs) \
        else None  # cross-validation's final model: config.epochs epochs, the last kept
    callbacks = [commit, keras.callbacks.TerminateOnNaN(), *options.callbacks]
    if options.tensorboard is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(options.tensorboard), write_graph=False))
    # Keras writes its progress bar to stdout; stdout is for results, so send it to stderr.
    with contextlib.redirect_stdout(sys.stderr), (options.strategy or tf.distribute.get_strategy()).scope():
        half.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=commit.state["epochs"],
                 callbacks=callbacks, verbose=_keras_verbosity(options.progress), shuffle=False)


def compiled_half(model, name: str, config: TrainConfig, strategy: tf.distribute.Strategy,
                  steps_per_epoch: int | None = None) -> keras.Model:
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
        compile_model(half, config, steps_per_epoch)
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


def _keras_verbosity(progress: bool) -> int:
    """Keras' progress bar on a terminal; into a file or a pipe, one plain line per epoch (the
    bar would write carriage returns and colour codes into the log)."""
    if not progress:
        return 0
    return 1 if sys.stderr.isatty() else 2

