"""train(): named steps over the fits of fit/; train_run(): the `train` command's run, in its workspace.

Data flows one way: read (data.py) -> encode and split (encoding.py) -> fit the halves and the
mix (fit/) -> save (runs.py). A run in progress lives in a ``Workspace``; the network half's
epochs are committed there, so an interrupted training resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from sentiment_cli import checks, crossval, runs
from sentiment_cli.calibration import expected_calibration_error, fit_mix
from sentiment_cli.calibration import probabilities as mix_probabilities
from sentiment_cli.config import TrainConfig
from sentiment_cli.data import DataSpec, LabeledData, read_labeled, read_unlabeled, sort_labels
from sentiment_cli.distribute import Distribution, lost_worker_errors
from sentiment_cli.embeddings import load_vectors, pretrain_word2vec, subword_table
from sentiment_cli.encoding import (
    Encoder, Rows, Split, check_split, draw_split, split_by_hashes, text_hash, text_hashes,
)
from sentiment_cli.errors import ConfigError, DataError, RunError
from sentiment_cli.fit import FitOptions
from sentiment_cli.fit.mix import fit_mix_on_validation
from sentiment_cli.fit.network import fit_network_half, reseed_dropout
from sentiment_cli.fit.ngram import fit_ngram_half, ngram_buckets_for
from sentiment_cli.fit.pretrain import PretrainOptions, pretrain
from sentiment_cli.model import build_model, fitting_form, halves, halves_logits, predict_proba, stored_form
from sentiment_cli.workspace import Workspace, file_sha256, models_dir_option

INPUTS_VERSION = 1


@dataclass
class TrainData:
    """What one training sees: the labeled rows split in two (labels as class ids), and more text."""

    train_texts: list
    train_y: np.ndarray
    val_texts: list
    val_y: np.ndarray
    # by a half's layer name: (texts, class ids) that join that half's training side only (semi)
    extra: dict = field(default_factory=dict)
    unlabeled: list = field(default_factory=list)  # more text for the vocabulary and the word vectors


@dataclass
class TrainResult:
    model: keras.Model  # as a run stores it (model.stored_form), which the metrics describe
    encoder: Encoder
    metrics: dict
    fitted: keras.Model | None = None  # as fitted: the full n-gram table, float32 word vectors


class Stopwatch:
    """Seconds by stage, in order: ``lap(name)`` books the time since the previous lap."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last, 2)
        self._last = now


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and TensorFlow's generators; our own shuffles take seeded Generators."""
    keras.utils.set_random_seed(seed)


def train(config: TrainConfig, data: TrainData, out_dir: Path, encoder: Encoder,
          model: keras.Model | None = None, options: FitOptions | None = None,
          mix: np.ndarray | None = None) -> TrainResult:
    """Train a new model (or continue ``model``) on ``data``; out_dir gets history.csv and
    validation.json (the caller saves the rest). ``encoder`` without a tokenizer gets one fitted
    on the training side and the unlabeled text (validation texts stay unseen).

    Without validation rows (cross-validation's final model, ``cross_validate``) the choices are
    made already: the network trains ``config.epochs`` epochs, the n-gram half takes
    ``config.ngram_c``, and ``mix`` (scales, then biases) is the mix; no validation.json."""
    options = options or FitOptions()
    started = time.perf_counter()
    clock = Stopwatch()
    seed_everything(config.seed)
    if encoder.tokenizer is None:
        encoder.fit(data.train_texts + data.unlabeled, config.vocab_size, progress=options.progress)
    train_rows = encoder.rows(data.train_texts, data.train_y, progress=options.progress)
    validated = bool(len(data.val_texts))
    val_rows = encoder.rows(data.val_texts, data.val_y) if validated else Rows([], np.zeros(0, np.int32))
    clock.lap("vocabulary and encoding")
    metrics = {}
    if model is None:
        model = new_model(config, encoder, data, train_rows, metrics, options)
    else:
        model = fitting_form(model)  # a loaded model's n-gram half is stored compact
        reseed_dropout(model, config.seed)
    clock.lap("word vectors, model and pretraining" if config.pretrain != "none" else "word vectors and model")
    if options.summary and options.progress:
        print_summary(model)
    fit_start = time.perf_counter()
    for name in halves(model):
        rows = with_extra(train_rows, data.extra.get(name), encoder)
        if name == "ngrams":
            metrics.update(fit_ngram_half(model, config, rows, val_rows, options.progress, options.held_out))
            clock.lap("n-gram half")
        else:
            found, history = fit_network_half(model, name, config, rows, val_rows, options)
            fit_subword_vectors(model, encoder.tokenizer.vocabulary, config)  # to the vectors it learned
            metrics.update(found)
            if history:
                runs.write_csv(out_dir / runs.HISTORY_FILE, history)
            clock.lap("network half")
    fit_seconds = time.perf_counter() - fit_start
    if options.held_out is not None:  # a fold of cross_validate: the pooled logits make its mix; no stored form
        metrics.update({"train_seconds": round(time.perf_counter() - started, 2), "seconds_by_stage": clock.laps})
        return TrainResult(model, encoder, metrics, model)
    if mix is None:
        metrics.update(fit_mix_on_validation(model, encoder, val_rows, config.seed))
    else:
        set_mix(model, mix)
    clock.lap("mix")
    fitted, model = model, stored_form(model)  # the figures are those of the model a run stores
    if validated:
        probs = predict_proba(model, val_rows.seqs, encoder.features)
        save_validation(out_dir / runs.VALIDATION_FILE, encoder.labels, val_rows.y, probs)
        clock.lap("stored form scored")
    metrics.update({
        "best_val_accuracy": float(np.mean(probs.argmax(axis=1) == val_rows.y)) if validated else None,
        "train_seconds": round(time.perf_counter() - started, 2),  # everything: vocabulary, word vectors, fit
        "fit_seconds": round(fit_seconds, 2),
        "seconds_by_stage": clock.laps,  # where train_seconds went
        "train_examples": len(train_rows.seqs),
        "val_examples": len(val_rows.seqs),
    })
    if config.num_classes == 2:
        # The mix calibrates the probabilities, so 0.5 is the threshold that minimises expected
        # errors. A threshold tuned on the validation rows chases their noise: on IMDB it moved
        # to 0.6 for +0.4 points on validation and cost 0.5 points on the test reviews.
        metrics["threshold"] = 0.5
    return TrainResult(model, encoder, metrics, fitted)


def set_mix(model: keras.Model, params: np.ndarray) -> None:
    """Set the model's mix to ``params`` (scales, then biases; ``calibration.fit_mix``'s)."""
    halves_count = len(halves(model))
    model.get_layer("mix").set_weights([np.asarray(params[:halves_count], np.float32),
                                        np.asarray(params[halves_count:], np.float32)])


def new_model(config: TrainConfig, encoder: Encoder, data: TrainData, train_rows: Rows, metrics: dict,
              options: FitOptions) -> keras.Model:
    """The untrained model, its embeddings initialised as config asks (their coverage into metrics)."""
    embeddings = None
    if config.model in ("rnn", "hybrid") and (config.embeddings or config.pretrain_embeddings):
        embeddings, coverage = initial_embeddings(config, encoder.tokenizer, data.train_texts + data.unlabeled,
                                                  progress=options.progress)
        metrics["embeddings_coverage"] = round(coverage, 4)
        if options.progress:
            print(f"word vectors found for {coverage:.1%} of the vocabulary", file=sys.stderr)
    buckets = ngram_buckets_for(train_rows.seqs, config) if config.model in ("ngram", "hybrid") else None
    with (options.strategy or tf.distribute.get_strategy()).scope():  # variables mirrored on every replica
        model = build_model(config, len(encoder.tokenizer), embeddings=embeddings, idf=encoder.tokenizer.idf,
                            ngram_buckets=buckets)
    fit_subword_vectors(model, encoder.tokenizer.vocabulary, config)  # unknown words start near their spelling
    if config.pretrain == "lm":
        validation = {text_hash(t) for t in data.val_texts}  # never a validation text, also one --unlabeled holds
        texts = train_rows.seqs + encoder.sequences([t for t in data.unlabeled if text_hash(t) not in validation])
        metrics.update(pretrain(model, config, texts, len(encoder.tokenizer),
                                PretrainOptions(config.pretrain_epochs, config.pretrain_minutes),
                                options.workspace, options.progress))
    return model


def fit_subword_vectors(model: keras.Model, vocabulary: list[str], config: TrainConfig) -> None:
    """With ``config.subword_vectors``: the unknown words' spelling table fitted to the model's
    word vectors as they are (``embeddings.subword_table``). Called on the new model (its initial
    vectors) and again after the network half's fit, so that an unknown word at prediction lands
    where the trained network reads the words spelled like it (as MIMICK fits to final vectors)."""
    if not config.subword_vectors:
        return
    vectors = model.get_layer("embedding").get_weights()[0]
    model.get_layer("subword_vectors").set_weights(list(subword_table(
        vocabulary, vectors, config.subword_ngrams, config.subword_buckets, config.subword_dim)))


def initial_embeddings(config: TrainConfig, tokenizer, texts: list[str], progress: bool = False):
    """The embedding matrix and vocabulary coverage asked for by config (file or Word2Vec)."""
    if config.embeddings:
        matrix, coverage = load_vectors(config.embeddings, tokenizer, config.seed)
        config.embedding_dim = matrix.shape[1]  # the file decides the vectors' size
    else:
        matrix, coverage = pretrain_word2vec(texts, tokenizer, config.embedding_dim, config.seed, progress=progress,
                                             sg=int(config.word2vec == "skipgram"))
    return matrix, coverage


def with_extra(rows: Rows, extra: tuple | None, encoder: Encoder) -> Rows:
    """rows, and the extra (texts, class ids) after them."""
    if extra is None or not len(extra[0]):
        return rows
    texts, y = extra
    return Rows(rows.seqs + encoder.sequences(texts), np.concatenate([rows.y, np.asarray(y, dtype=rows.y.dtype)]))


def save_validation(path: Path, labels, y: np.ndarray, probs: np.ndarray) -> None:
    """The validation rows' true class index and the probabilities the saved model gives them
    (after the fitted mix), in validation order: what `plot` draws its validation pictures from."""
    runs.write_json(path, {"labels": list(labels), "y": [int(v) for v in y],
                           "probabilities": np.round(probs.astype(np.float64), 6).tolist()})


def print_summary(model: keras.Model, file=None) -> None:
    file = file or sys.stderr
    model.summary(print_fn=lambda line, *args, **kwargs: print(line, file=file))


# ---- cross-validation (train --folds) ----
@dataclass
class CrossValidated:
    """What ``cross_validate`` made: the final model, trained on every row, and the folds' record."""

    result: TrainResult  # the final model; its metrics hold "cross_validation"
    config: TrainConfig  # the final model's: the epochs and C that the folds chose
    oof: dict  # runs.OOF_FILE's content
    probabilities: np.ndarray  # (rows, classes) out of fold, in the rows' order
    # with teach=True: each fold model's halves' logits on the unlabeled text, (folds, texts,
    # halves, classes), to be mixed by the oof's "mix"; fold k's model never saw fold k's labels
    teachers: np.ndarray | None = None


def cross_validate(config: TrainConfig, texts: list, y: np.ndarray, folds: int, labels: list,
                   unlabeled: list, options: FitOptions, out_dir: Path, fold: np.ndarray | None = None,
                   extra: dict | None = None, encoder: Encoder | None = None, fold_extra: list | None = None,
                   teach: bool = False, announce: bool = True, final_model: bool = True) -> CrossValidated:
    """K trainings, each validated (early stopping, C) on its own held-out fold, then the final
    model on every row with the choices the pooled out-of-fold rows made: the network's epochs
    (the median of the folds' best), the n-gram half's C (the best pooled accuracy), and the mix
    (fitted on every row's out-of-fold logits, which calibrates it). Nothing is committed: a fold
    run resumes only once finished (interrupted, it starts again).

    For `semi`'s rounds on a cross-validated run: ``fold``, each row's fold (the base run's, so
    that rounds are compared on the same folds; drawn from the seed when None); ``extra``, by a
    half's layer name, (texts, class ids) that join that half's training side in every fold and
    in the final model, less any text equal to one of the fold's held-out texts; ``encoder``, the
    final model's (a fitted tokenizer kept; None: one fitted on every row); ``fold_extra``, one
    such dict per fold, that fold's own instead of ``extra`` (which then trains the final model
    only); ``teach``, also return each fold model's logits on ``unlabeled`` (``teachers``), the
    pseudo-labels of that fold's next round; ``announce``, print the cost and the --model ngram
    note, which only `train` can act on; ``final_model`` False: the folds only (no ``result``, and
    the oof holds only the pooled "mix"), for the teachers of semi's first round."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # each fold's new model traces its functions anew: expected, not a warning
    try:
        return _cross_validate(config, texts, y, folds, labels, unlabeled, options, out_dir, fold, extra or {},
                               encoder, fold_extra, teach, announce, final_model)
    finally:
        logger.setLevel(level)


def _fold_extra(extra: dict, held_hashes: set) -> dict:
    """``extra`` less the texts equal to a held-out text: no held-out row trains its own fold."""
    kept = {}
    for name, (more_texts, more_y) in extra.items():
        keep = [i for i, t in enumerate(more_texts) if text_hash(t) not in held_hashes]
        kept[name] = ([more_texts[i] for i in keep], np.asarray(more_y)[keep])
    return kept


def _cross_validate(config: TrainConfig, texts: list, y: np.ndarray, folds: int, labels: list,
                    unlabeled: list, options: FitOptions, out_dir: Path, fold: np.ndarray | None, more: dict,
                    final_encoder: Encoder | None, fold_extra: list | None = None, teach: bool = False,
                    announce: bool = True, final_model: bool = True) -> CrossValidated:
    started = time.perf_counter()
    hashes = np.array([text_hash(t) for t in texts])
    if fold is None:
        fold = crossval.draw_folds(y, hashes, folds, config.seed)
    n, progress = len(y), options.progress
    sizes = np.bincount(fold, minlength=folds)
    # the cost, said before it is spent (also with -q: a note, not progress)
    if announce:
        print(f"cross-validation: {folds} folds of {sizes.min()}-{sizes.max()} rows (stratified; copies of a text share "
              f"a fold), then the final model on all {n} rows: {folds + 1} trainings of {n - sizes.max()}-{n} rows, "
              f"about {folds + 1} times the cost of one on a split of {n - round(n * config.val_ratio)} (--folds off)",
              file=sys.stderr)
    inner = FitOptions(False, False, None, options.strategy, None, options.callbacks)
    network = config.model != "ngram"
    has_ngram = config.model in ("ngram", "hybrid")
    logits, by_c, best_epochs, extra, stages, names, teachers = None, [], [], [], {}, [], []
    for k in range(folds):
        fold_start = time.perf_counter()
        train_idx, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        encoder = Encoder.from_config(config)
        encoder.labels = list(labels)
        held_out = {}
        inner.held_out = held_out
        data = TrainData([texts[i] for i in train_idx], y[train_idx], [texts[i] for i in held], y[held],
                         extra=_fold_extra(fold_extra[k] if fold_extra is not None else more,
                                           set(hashes[held].tolist())), unlabeled=unlabeled)
        with tempfile.TemporaryDirectory(prefix="sentiment-cli-fold-") as scratch:
            result = train(config, data, Path(scratch), encoder, options=inner)
        names = halves(result.fitted)
        fold_logits = halves_logits(result.fitted, encoder.sequences(data.val_texts), encoder.features)
        if logits is None:
            logits = np.zeros((n,) + fold_logits.shape[1:])
        logits[held] = fold_logits
        if teach:  # the fold model is in memory now only: its view of the unlabeled text
            teachers.append(halves_logits(result.fitted, encoder.sequences(list(unlabeled)), encoder.features))
        by_c.append(held_out)
        if network:
            best_epochs.append(int(result.metrics["best_epoch"]))
        extra.append({"best_epoch": best_epochs[-1]} if network else {})
        for stage, seconds in result.metrics["seconds_by_stage"].items():
            stages[stage] = stages.get(stage, 0.0) + seconds
        if progress:
            took = time.perf_counter() - fold_start
            left = (time.perf_counter() - started) / (k + 1) * (folds - k)
            print(f"fold {k + 1} of {folds}: {len(held)} held-out rows"
                  + (f", best epoch {best_epochs[-1]}" if network else "")
                  + f", {took:.1f} s; about {left:.0f} s to go", file=sys.stderr)
    choices = {}
    final = config
    if has_ngram:
        column = names.index("ngrams")
        accuracy_by_c = [{c: float(np.mean(_predicted(z) == y[fold == k])) for c, z in held_out.items()}
                         for k, held_out in enumerate(by_c)]
        c = crossval.choose_c(accuracy_by_c, [int(v) for v in sizes])
        for k, held_out in enumerate(by_c):
            logits[fold == k, column] = held_out[c]
        choices["ngram_c"] = c
        final = replace(final, ngram_c=c)
    if network:
        # epochs_asked: the folds' maximum, which semi's fold trainings take again (epochs is the median they chose)
        choices.update(epochs=crossval.final_epochs(best_epochs), best_epochs=best_epochs, epochs_asked=config.epochs)
        final = replace(final, epochs=choices["epochs"])
    mix = fit_mix(logits, y)
    probs = crossval.cross_fitted(logits, y, fold)
    figures = crossval.summary(probs, y, fold, list(labels), extra)
    figures["choices"] = choices
    if not final_model:
        return CrossValidated(None, final, {"mix": [float(v) for v in mix]}, probs, np.stack(teachers) if teach else None)
    if progress:
        epochs = choices.get("epochs")
        print(f"training the final model on all {n} rows"
              + (f", {epochs} epoch{'s' if epochs != 1 else ''}" if network else "")
              + (f", C={choices['ngram_c']:g}" if has_ngram else ""), file=sys.stderr)
    encoder = final_encoder or Encoder.from_config(final)
    encoder.labels = list(labels)
    inner.held_out = None
    result = train(final, TrainData(list(texts), y, [], np.zeros(0, np.int32), extra=more, unlabeled=unlabeled),
                   out_dir, encoder, options=inner, mix=mix)
    for stage, seconds in result.metrics["seconds_by_stage"].items():
        stages[stage] = round(stages.get(stage, 0.0) + seconds, 2)
    unit = np.concatenate([np.ones(logits.shape[1]), np.zeros(logits.shape[2])])
    total = time.perf_counter() - started
    if config.model == "hybrid":
        network_index = 1 - names.index("ngrams")
        figures["network_share"] = round(crossval.network_share(logits, mix, network_index), 4)
        alone = crossval.cross_fitted(logits[:, [names.index("ngrams")]], y, fold)
        figures["ngram_alone_accuracy_pooled"] = round(float(np.mean(alone.argmax(axis=1) == y)), 6)
        if announce and figures["network_share"] < crossval.NOTHING_SHARE:
            # what the network costs: its word vectors and its epochs, in every training
            ngram_seconds = total - stages.get("network half", 0.0) - stages.get("word vectors and model", 0.0)
            print(f"note: the mix gives the network half {figures['network_share']:.0%} of the weight on the folds; "
                  f"out of fold the hybrid scores {figures['accuracy_pooled']:.3f} and the n-gram half alone "
                  f"{figures['ngram_alone_accuracy_pooled']:.3f} "
                  f"({figures['accuracy_pooled'] - figures['ngram_alone_accuracy_pooled']:+.3f}): --model ngram "
                  f"would take about {ngram_seconds:.0f} s instead of {total:.0f} s", file=sys.stderr)
    result.metrics.update({
        "best_val_accuracy": figures["accuracy_pooled"],  # out of fold, every row once
        "val_accuracy_out_of_fold": figures["accuracy_pooled"],
        "val_examples": 0,
        "mix_scales": [round(float(v), 6) for v in mix[:logits.shape[1]]],
        "mix_bias": [round(float(v), 6) for v in mix[logits.shape[1]:]],
        "ece_before": round(expected_calibration_error(mix_probabilities(logits, unit), y), 6),
        "ece_after": figures["ece"],
        "train_seconds": round(total, 2),
        "seconds_by_stage": stages,
        "cross_validation": figures,
    })
    save_validation(out_dir / runs.VALIDATION_FILE, labels, y, probs)
    oof = {"version": 1, "what": "out-of-fold predictions of train --folds: each row's from the fold model that "
           "did not train on it, mixed by a mix fitted on the other folds", "labels": list(labels), "folds": folds,
           "seed": config.seed, "digest": "blake2b-64 of encoding.normalize(text)", "halves": names,
           "mix": [float(v) for v in mix], "hash": hashes.tolist(), "fold": fold.astype(int).tolist(),
           "y": [int(v) for v in y], "probabilities": np.round(probs, 6).tolist(),
           "logits": np.round(logits, 6).tolist()}
    return CrossValidated(result, final, oof, probs, np.stack(teachers) if teach else None)


def _predicted(logits: np.ndarray) -> np.ndarray:
    return (logits[:, 0] > 0).astype(int) if logits.shape[1] == 1 else logits.argmax(axis=1)


# ---- the `train` command's run ----
@dataclass
class TrainJob:
    """What `train` makes: a run's place and name, its hyperparameters and its data."""

    models_dir: str
    name: str
    config: TrainConfig
    data: DataSpec
    unlabeled: DataSpec | None = None  # more text for the vocabulary and --pretrain-embeddings
    labels: list | None = None  # the declared label set (--labels): any other label is an error
    split_from: str | None = None  # a run whose validation texts validate this one (--split-from)
    # "off": one validation split; K: K-fold cross-validation, then the final model on every row
    # (cross_validate); "auto": K = 5 where one split would validate fewer than 500 rows. The
    # command's default is "auto"; the library's "off", as in 0.6.1 (tune's trials, benchmarks)
    folds: str | int = "off"

    def options(self) -> dict:
        """Everything asked of the run, as its workspace records it and a resume compares it."""
        hyper = {k: v for k, v in self.config.to_dict().items() if k != "labels"}
        return {**hyper, "labels": self.labels, "train": self.data.to_dict(),
                "unlabeled": self.unlabeled.to_dict() if self.unlabeled else None, "split_from": self.split_from,
                "folds": self.folds}

    @classmethod
    def from_options(cls, models_dir, name: str, options: dict) -> "TrainJob":
        options = dict(options)
        data, unlabeled = DataSpec.from_dict(options.pop("train")), options.pop("unlabeled")
        labels, split_from = options.pop("labels"), options.pop("split_from", None)
        folds = options.pop("folds", "off")
        return cls(models_dir, name, TrainConfig.from_dict(options), data,
                   DataSpec.from_dict(unlabeled) if unlabeled else None, labels, split_from, folds)


@dataclass
class RunOptions:
    """How a command's run goes, not what it makes."""

    overwrite: bool = False  # replace a finished run of the name, or discard interrupted work
    progress: bool = True
    summary: bool = False
    tensorboard: bool = False  # TensorBoard logs of the network's epochs in RUN/logs
    distribution: Distribution | None = None  # see distribute.make_distribution
    callbacks: tuple = ()  # more Keras callbacks for the network half's epochs (FitOptions.callbacks)
    # On an error, keep committed work and print `train --resume` (Workspace.guard); False for tune's
    # trials, whose leftovers tune removes and whose resume is tune's own.
    resume_hint: bool = True
    # The data warnings already printed, shared by the runs of one command (tune's trials read the
    # same file and split: each warning is said once, not once per trial); None: print every one.
    said: set | None = None

    def warn(self, warning: str) -> None:
        if self.said is not None:
            if warning in self.said:
                return
            self.said.add(warning)
        print(f"warning: {warning}", file=sys.stderr)


def train_run(job: TrainJob, options: RunOptions | None = None) -> tuple[Path | None, dict]:
    """Read the job's data, train, and install models_dir/NAME; returns its path and metrics.

    Of several workers (--strategy multi-worker), each trains the same model in step and only the
    chief writes the run (Keras' convention): the others work in a private models directory,
    which they remove, and return no path.
    """
    options = options or RunOptions()
    if job.split_from:  # before any work: a name that is no run fails at once
        runs.existing_run(job.models_dir, job.split_from)
    with _distributed(job, options) as models_dir:
        workspace = Workspace.start(models_dir, job.name, "train", options.overwrite)
        path, metrics = _train_in(workspace, job, options, resumed=False)
    return path if _chief(options) else None, metrics


def resume_run(models_dir, name: str, asked: dict, options: RunOptions | None = None) -> tuple[Path, dict]:
    """Continue the interrupted training of ``name`` with the options it started with.

    asked: options given again (TrainJob.options' keys, nested ones as dicts); one whose value
    differs from the recorded one is refused, naming both.
    """
    options = options or RunOptions()
    if options.distribution is not None and options.distribution.name == "multi-worker":
        raise ConfigError("--resume continues from epochs that one process committed; the workers of --strategy "
                          "multi-worker commit none. Start again with --overwrite, or train with --strategy default "
                          "or mirrored")
    workspace = Workspace.reopen(models_dir, name, "train", options.overwrite)
    stored = workspace.inputs()
    if stored.get("version") != INPUTS_VERSION:
        raise DataError(workspace.path, "was started by another version of sentiment-cli",
                        fix="Start again with --overwrite")
    workspace.check_inputs({"options": asked}, hint="Leave them out (the recorded ones are used)")
    job = TrainJob.from_options(models_dir, name, stored["options"])
    return _train_in(workspace, job, options, resumed=True)


def _train_in(workspace: Workspace, job: TrainJob, options: RunOptions, resumed: bool) -> tuple[Path, dict]:
    """Read, record or check the inputs, train with epochs committed, save the run, install it."""
    with workspace.guard(_resume_command(job)) if options.resume_hint else contextlib.nullcontext():
        if resumed and workspace.finished():
            metrics = runs.read_json(workspace.run_dir / runs.METRICS_FILE)
            return workspace.install(), metrics
        read_start = time.perf_counter()
        data = read_labeled(job.data.path, job.data.format, job.data.columns, job.labels, job.data.on_bad_lines,
                            progress=options.progress)
        for warning in checks.duplicate_warnings(data.texts, data.labels, data.lines, job.data.path):
            options.warn(warning)
        unlabeled = read_unlabeled(job.unlabeled.path, job.unlabeled.format, job.unlabeled.columns,
                                   progress=options.progress) if job.unlabeled else []
        read_seconds = round(time.perf_counter() - read_start, 2)
        encoder, y = _labels(job, data, options.progress)
        inputs = {"version": INPUTS_VERSION, "kind": "train", "options": job.options(),
                  "files": {"train": describe(job.data, data.texts, data.labels),
                            "unlabeled": describe(job.unlabeled, unlabeled) if job.unlabeled else None},
                  "labels": encoder.labels}
        folds = 0
        if _multi_worker(options) and job.folds == "auto":
            pass  # the workers train one model in step: one split (an explicit K is refused below)
        elif not resumed and not job.split_from:
            folds = crossval.fold_count(job.folds, y, np.array([text_hash(t) for t in data.texts]),
                                        job.config.val_ratio, job.data.path)
        elif job.split_from and crossval.parse_folds(job.folds) not in ("auto", "off"):
            raise ConfigError("--split-from validates on that run's split: leave out --folds (or give --folds off)")
        if folds:
            return _cross_validated_in(workspace, job, options, data, encoder, y, unlabeled, inputs, folds,
                                       read_seconds)
        if resumed and workspace.inputs()["split"].get("cross_validation"):
            raise RunError(f"{workspace.path} holds an unfinished cross-validated run, which commits nothing before "
                           "it is finished: start again with --overwrite")
        if resumed:
            workspace.check_inputs({k: inputs[k] for k in ("files", "labels")}, hint="Restore them")
            split = split_by_hashes(data.texts, workspace.inputs()["split"]["validation"])
        elif job.split_from:
            split = _split_from(job, data.texts)
        else:
            split = draw_split(data.texts, y, job.config.val_ratio, job.config.seed, job.data.path, encoder.labels)
        for warning in check_split(split, y, encoder.labels, job.data.path):
            options.warn(warning)
        if not resumed:
            workspace.record_inputs({**inputs, "split": split.record()})
        texts = data.texts
        train_data = TrainData([texts[i] for i in split.train], y[split.train], [texts[i] for i in split.val],
                               y[split.val], unlabeled=unlabeled)
        fit = FitOptions(options.progress, options.summary,
                         workspace.file(runs.LOGS_DIR) if options.tensorboard else None,
                         options.distribution.strategy if options.distribution else None,
                         None if _multi_worker(options) else workspace, tuple(options.callbacks))
        result = train(job.config, train_data, workspace.run_dir, encoder, options=fit)
        result.metrics["seconds_by_stage"] = {"read": read_seconds, **result.metrics["seconds_by_stage"]}
        data_info = {**inputs["files"]["train"], "train": job.data.path, "examples": len(texts),
                     "skipped_lines": data.skipped, "unlabeled": job.unlabeled.path if job.unlabeled else None,
                     "labels": job.labels}
        save_run(workspace.run_dir, job.config, result, data_info, options.distribution)
        runs.write_json(workspace.run_dir / runs.TEXTS_FILE, text_hashes(texts))
        runs.write_json(workspace.run_dir / runs.SPLIT_FILE, split.record())
        if options.tensorboard and workspace.file(runs.LOGS_DIR).exists():
            shutil.copytree(workspace.file(runs.LOGS_DIR), workspace.run_dir / runs.LOGS_DIR)
        return workspace.install(), result.metrics


def _cross_validated_in(workspace: Workspace, job: TrainJob, options: RunOptions, data: LabeledData,
                        encoder: Encoder, y: np.ndarray, unlabeled: list, inputs: dict, folds: int,
                        read_seconds: float) -> tuple[Path, dict]:
    """_train_in's cross-validated path: K fold trainings and the final model on every row; the
    run records no validation split (split.json's "validation" is empty) and gets runs.OOF_FILE."""
    if _multi_worker(options):
        raise ConfigError("--folds trains K+1 models one after another: give --folds off with --strategy "
                          "multi-worker")
    split = {"digest": "blake2b-64 of encoding.normalize(text)", "validation": [], "cross_validation": folds}
    workspace.record_inputs({**inputs, "split": split})
    fit = FitOptions(options.progress, options.summary, None,
                     options.distribution.strategy if options.distribution else None, None, tuple(options.callbacks))
    made = cross_validate(job.config, data.texts, y, folds, encoder.labels, unlabeled, fit, workspace.run_dir)
    result = made.result
    result.metrics["seconds_by_stage"] = {"read": read_seconds, **result.metrics["seconds_by_stage"]}
    data_info = {**inputs["files"]["train"], "train": job.data.path, "examples": len(data.texts),
                 "skipped_lines": data.skipped, "unlabeled": job.unlabeled.path if job.unlabeled else None,
                 "labels": job.labels}
    save_run(workspace.run_dir, made.config, result, data_info, options.distribution)
    runs.write_json(workspace.run_dir / runs.TEXTS_FILE, text_hashes(data.texts))
    runs.write_json(workspace.run_dir / runs.SPLIT_FILE, split)
    runs.write_json(workspace.run_dir / runs.OOF_FILE, made.oof)
    return workspace.install(), result.metrics


def _labels(job: TrainJob, data: LabeledData, progress: bool) -> tuple[Encoder, np.ndarray]:
    """The run's encoder with its label set (the data's and any declared), and the class ids."""
    encoder = Encoder.from_config(job.config)
    encoder.labels = sort_labels(set(data.labels) | set(job.labels or ()))
    missing = sorted(set(encoder.labels) - set(data.labels))
    if missing and progress:
        print(f"warning: no examples of {', '.join(missing)} (declared with --labels); the model will "
              "rarely predict it", file=sys.stderr)
    job.config.labels = list(encoder.labels)
    return encoder, encoder.encode_labels(data.labels, data.path, data.lines)


def _split_from(job: TrainJob, texts: list[str]) -> Split:
    """The rows whose texts validated the run ``job.split_from`` validate; every other row trains.

    For retraining after `suggest`: the texts it chose are hard ones, and in a freshly drawn
    validation share they would make validation harder than the texts the model will meet (and
    choose epochs, C and the mix for them); with the earlier run's validation rows the new run is
    judged as the earlier one was.
    """
    path = runs.existing_run(job.models_dir, job.split_from) / runs.SPLIT_FILE
    if not path.is_file():
        raise RunError(f"{path.parent} records no split ({runs.SPLIT_FILE}; runs made before sentiment-cli 0.3.0): "
                       "train without --split-from, or train that run again")
    hashes = runs.read_json(path).get("validation") or []
    split = split_by_hashes(texts, hashes)
    found = len({text_hash(texts[i]) for i in split.val})
    if found < len(hashes):
        print(f"warning: {len(hashes) - found} of the {len(hashes)} validation texts of {path.parent.name} are not in "
              f"{job.data.path}: {found} validate", file=sys.stderr)
    return split


def describe(spec: DataSpec, texts: list, labels: list | None = None) -> dict:
    """A data file as a run records it: how it is read, and its sha256 (of what was read, for stdin)."""
    if str(spec.path) == "-":
        import hashlib

        digest = hashlib.sha256("\n".join(f"{label}\t{text}" for text, label in
                                          zip(texts, labels or [""] * len(texts))).encode("utf-8")).hexdigest()
    else:
        digest = file_sha256(spec.path)
    return {**spec.to_dict(), "sha256": digest}


def save_run(run_dir: Path, config: TrainConfig, result: TrainResult, data_info: dict,
             distribution: Distribution | None) -> None:
    """The run's files beside history.csv and validation.json: model, tokenizer, config and metrics."""
    encoder = result.encoder
    distribution = distribution or Distribution("default", tf.distribute.get_strategy())
    runs.save_model(run_dir / runs.MODEL_FILE, result.model, encoder.tokenizer, config)
    encoder.tokenizer.save(run_dir / runs.TOKENIZER_FILE)
    extra = {"threshold": result.metrics.get("threshold", 0.5), "strategy": distribution.record()}
    runs.write_json(run_dir / runs.CONFIG_FILE, runs.make_config_record(config, encoder.tokenizer, data_info, extra))
    runs.write_json(run_dir / runs.METRICS_FILE, result.metrics)


def _resume_command(job: TrainJob) -> str:
    return f"sentiment-cli train {shlex.quote(job.name)} --resume{models_dir_option(job.models_dir)}"


def _multi_worker(options: RunOptions) -> bool:
    return options.distribution is not None and options.distribution.name == "multi-worker"


def _chief(options: RunOptions) -> bool:
    return options.distribution is None or options.distribution.is_chief


@contextlib.contextmanager
def _distributed(job: TrainJob, options: RunOptions):
    """models_dir for the chief (or a single process); for the other workers a private temporary
    one that is removed afterwards, so that the chief's run and its workspace stay the chief's
    alone, also when the workers share a file system. Errors of a lost worker are said as such."""
    with lost_worker_errors(options.distribution):
        if _chief(options):
            yield job.models_dir
            return
        with tempfile.TemporaryDirectory(prefix=f"sentiment-cli-worker-{options.distribution.worker}-") as private:
            yield private
