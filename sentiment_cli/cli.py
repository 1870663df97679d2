"""The command line: parse options, call one library function, report.

This is the only module that imports click and the only one that turns errors into exit codes:
1 for bad input or a damaged run, 2 for bad options. TensorFlow loads lazily, so --help is fast.
"""

from __future__ import annotations

import json
import os
import sys

import click

from sentiment_cli import __version__
from sentiment_cli.config import (
    BOW_MODES, CELLS, MERGE_MODES, MODELS, NORMALIZATIONS, POOLINGS, PREDICT_BATCH, PREDICT_TOKENS, PRETRAININGS,
    JUDGES, LIMITS, LR_SCHEDULES, PSEUDO_LABELS, SELECTIONS, TRUNCATING, WORD2VEC, SemiConfig, TrainConfig,
)
from sentiment_cli.data import BAD_LINES, FORMATS, Columns
from sentiment_cli.distribute import STRATEGIES
from sentiment_cli.errors import ConfigError, RunError, SentimentError, disk_full, no_room

DEFAULTS = TrainConfig()


def _load_tensorflow() -> None:
    """Import TensorFlow, with sentiment-cli's thread settings, without the native log lines it
    prints on machines without CUDA.

    They come from C++ before any Python logging can filter them, so fd 2 points at
    /dev/null for the import. SENTIMENT_CLI_DEBUG=1 keeps them.
    """
    from sentiment_cli.threads import configure_gpus, configure_threads

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("SENTIMENT_CLI_DEBUG") or "tensorflow" in sys.modules:
        configure_threads()
        configure_gpus()
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401

        configure_threads()
        configure_gpus()  # CUDA's probe logs here, once
        _spend_onednn_bool_notice()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _spend_onednn_bool_notice() -> None:
    """Have oneDNN print, now that stderr is muted, the line it prints once per process when its
    graph rewrite first meets a boolean tensor on a CPU without AVX-512.

    Keras' recurrent loop transposes the Embedding's boolean padding mask to time-major
    (keras/src/backend/tensorflow/rnn.py), and where TensorFlow turns oneDNN on by default (CPUs
    with AVX-VNNI but not AVX-512) that Transpose makes every command that runs an RNN print
    "E0000 ... util.cc] oneDNN supports DT_BOOL only on platforms with AVX-512. Falling back to the
    default Eigen-based implementation", which reads like an error and is none: the transpose
    runs on the Eigen kernel either way, so nothing changes in the numbers. The mask cannot be
    avoided without changing what the model computes, so the same op runs here once in a
    throwaway graph and session. That session is apart from TensorFlow's eager runtime (whose
    threads and distribution strategy are set later) and has no GPU.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port

        if not _pywrap_util_port.IsMklEnabled():
            return
    except (ImportError, AttributeError):  # private API: without it, the line just shows
        return
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default(), graph.device("/CPU:0"):
        mask = tf.compat.v1.placeholder(tf.bool, [1, 2])
        transposed = tf.transpose(mask)
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0}, inter_op_parallelism_threads=1,
                                      intra_op_parallelism_threads=1)
    with tf.compat.v1.Session(graph=graph, config=config) as session:
        session.run(transposed, {mask: [[True, False]]})


class Group(click.Group):
    def main(self, args=None, *rest, **kwargs):
        from sentiment_cli import runs

        # recorded in the runs this command makes (the library alone records none)
        runs.invocation = ["sentiment-cli", *(sys.argv[1:] if args is None else args)]
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.UsageError(str(exc), ctx) from None
        except SentimentError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:  # a full disk where no writer of the library says more (train, semi,
            if not no_room(exc):  # test and export do)
                raise
            filename = getattr(exc, "filename", None)
            folder = (os.path.dirname(filename) or ".") if isinstance(filename, str) else "the folder written to"
            raise click.ClickException(str(disk_full(exc, folder, intact=False))) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sentiment-cli")
@click.option("--gpu-memory-limit", type=click.IntRange(1), metavar="MB",
              help="Most memory TensorFlow takes on each GPU (default: as it needs it). No GPU is needed.")
def cli(gpu_memory_limit):
    """Train, apply and improve neural sentiment classifiers.

    \b
    Example:
        sentiment-cli train demo
        sentiment-cli info demo
    """
    from sentiment_cli import threads

    threads.gpu_memory_limit = gpu_memory_limit


def models_dir_option(f):
    return click.option("--models-dir", default="models", show_default=True,
                        type=click.Path(file_okay=False), help="Directory that holds the runs.")(f)


def data_options(f=None, *, labels: bool = True):
    """--format and the column options, shared by every command that reads a file (``test``
    reads no labels, so it does not offer --label-column)."""
    if f is None:
        return lambda g: data_options(g, labels=labels)
    for option in reversed([
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
                     help="Input format; auto decides by extension (.csv .tsv .jsonl, .gz too) and header."),
        click.option("--text-column", default="text", show_default=True, help="Text column (CSV/TSV/JSONL)."),
        *([click.option("--label-column", default="label", show_default=True,
                        help="Label column (CSV/TSV/JSONL).")] if labels else []),
        click.option("--id-column", default="id", show_default=True, help="Id column (CSV/TSV/JSONL), if any."),
    ]):
        f = option(f)
    return f


def _columns(kwargs) -> Columns:
    return Columns(kwargs.pop("text_column"), kwargs.pop("label_column"), kwargs.pop("id_column"))


def _run_columns(kwargs, run) -> Columns:
    """The column options given, else the ones the run was trained with (a run remembers how its
    data was read, so 'test reviews --input more.csv' finds the same text column)."""
    ctx = click.get_current_context()
    stored = run.record.get("data", {}).get("columns") or {}
    given = Columns()
    for role in ("text", "label", "id"):
        name = f"{role}_column"
        if name not in kwargs:
            continue
        value = kwargs.pop(name)
        if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT and stored.get(role):
            value = stored[role]
        setattr(given, role, value)
    return given


def _limited(name: str, minimum: int) -> click.IntRange:
    """An integer option checked at the door against config.LIMITS, which TrainConfig checks too
    (after TensorFlow's import, and with the top-level usage line)."""
    return click.IntRange(minimum, LIMITS.get(name))


def hyperparameter_options(f):
    d = DEFAULTS
    for option in reversed([
        click.option("--model", type=click.Choice(MODELS), default=d.model, show_default=True,
                     help="hybrid: rnn and ngram side by side, their logits added; rnn: Embedding -> "
                     "recurrent layers -> Dense; ngram: linear model over naive-Bayes-scaled word n-grams; "
                     "bow: dense network on a bag of words."),
        click.option("--cell", type=click.Choice(CELLS), default=d.cell, show_default=True, help="Recurrent cell."),
        click.option("--bidirectional/--unidirectional", default=d.bidirectional, show_default=True,
                     help="Read texts in both directions (BiLSTM / BiGRU)."),
        click.option("--merge-mode", type=click.Choice(MERGE_MODES), default=d.merge_mode, show_default=True,
                     help="How a bidirectional layer combines its two directions."),
        click.option("--layers", type=_limited("layers", 1), default=d.layers, show_default=True,
                     help="Stacked recurrent layers."),
        click.option("--pooling", type=click.Choice(POOLINGS), default=d.pooling, show_default=True,
                     help="Summary of the last recurrent layer: final state, or mean over its steps."),
        click.option("--embedding-dim", type=_limited("embedding_dim", 1), default=d.embedding_dim, show_default=True,
                     help="Size of the word vectors."),
        click.option("--hidden-size", type=_limited("hidden_size", 1), default=d.hidden_size, show_default=True,
                     help="Units per recurrent direction (the Dense head gets half)."),
        click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=d.dropout,
                     show_default=True, help="Dropout on embeddings and before the output."),
        click.option("--recurrent-dropout", type=click.FloatRange(0, 1, max_open=True),
                     default=d.recurrent_dropout, show_default=True,
                     help="Dropout inside the recurrent cell (> 0 disables cuDNN on a GPU)."),
        click.option("--ngram", type=_limited("ngram", 1), default=d.ngram, show_default=True,
                     help="Longest word n-gram of the ngram and hybrid models."),
        click.option("--ngram-buckets", type=_limited("ngram_buckets", 1), default=d.ngram_buckets, show_default=True,
                     help="Most hash rows for the 2..N-grams (more: fewer collisions, a bigger model); small "
                          "data gets fewer, four times its count of n-grams rounded up to a power of two."),
        click.option("--ngram-min-count", type=_limited("ngram_min_count", 1), default=d.ngram_min_count,
                     show_default=True,
                     help="N-grams found in fewer training texts than this weigh nothing (1 keeps them all; "
                          "a hashed n-gram counts by its row)."),
        click.option("--char-ngrams", type=_limited("char_ngrams", 0), default=d.char_ngrams, show_default=True,
                     help="Longest character n-gram of each token in the n-gram half (its 2..N-grams inside "
                          "the token's boundaries, so an unseen word shares the evidence of words spelled "
                          "like it); 0: none. Hybrid and ngram models."),
        click.option("--char-buckets", type=_limited("char_buckets", 1), default=d.char_buckets, show_default=True,
                     help="Hash rows of the character n-grams."),
        click.option("--char-weight", type=click.FloatRange(0, 100, min_open=True), default=d.char_weight,
                     show_default=True,
                     help="Scale of the character n-grams' features against the words' (below 1 the "
                          "regularised fit leans on the words first)."),
        click.option("--subword-vectors/--no-subword-vectors", default=d.subword_vectors, show_default=True,
                     help="The network gives a word outside the vocabulary a vector made from its character "
                          "n-grams (fitted to the word vectors, then trained), not the one unknown-word "
                          "vector. Hybrid and rnn models."),
        click.option("--subword-buckets", type=_limited("subword_buckets", 1), default=d.subword_buckets,
                     show_default=True, help="Hash rows of the subword vectors' character n-grams."),
        click.option("--bow-mode", type=click.Choice(BOW_MODES), default=d.bow_mode, show_default=True,
                     help="Features of --model bow."),
        click.option("--vocab-size", type=_limited("vocab_size", 3), default=d.vocab_size, show_default=True,
                     help="Most frequent tokens kept (padding and unknown included)."),
        click.option("--max-length", type=_limited("max_length", 1), default=d.max_length, show_default=True,
                     help="Tokens the network reads per text; batches pad to their own longest text."),
        click.option("--ngram-max-length", type=_limited("ngram_max_length", 1), default=d.ngram_max_length,
                     show_default=True,
                     help="Tokens the n-gram model reads per text (hybrid and ngram models)."),
        click.option("--truncating", type=click.Choice(TRUNCATING), default=d.truncating, show_default=True,
                     help="pre keeps the end of a long text, post its beginning."),
        click.option("--normalize", type=click.Choice(NORMALIZATIONS), default=d.normalize, show_default=True,
                     help="tweets: URLs and @users become one token each, #hashtags their word, emoticons one "
                          "token by what they show, HTML entities decoded. Saved in the run; test applies it."),
        click.option("--word2vec", type=click.Choice(WORD2VEC), default=d.word2vec, show_default=True,
                     help="The architecture of --pretrain-embeddings' Word2Vec: skip-gram, or CBOW (faster)."),
        click.option("--pretrain", type=click.Choice(PRETRAININGS), default=d.pretrain, show_default=True,
                     help="lm: before it sees a label, the network's embedding and first recurrent layer "
                          "learn to predict each next (and, backwards, previous) token of the training "
                          "and --unlabeled texts (never the validation ones)."),
        click.option("--pretrain-epochs", type=click.FloatRange(0, LIMITS["epochs"], min_open=True),
                     default=d.pretrain_epochs, show_default=True,
                     help="Passes of --pretrain lm over its texts (a fraction stops part-way)."),
        click.option("--pretrain-minutes", type=click.FloatRange(0), default=d.pretrain_minutes, show_default=True,
                     help="Time budget of --pretrain lm: it stops after the step that passes it (0: none). "
                          "A run it cut short records so."),
        click.option("--lr", type=click.FloatRange(0, min_open=True), default=d.lr, show_default=True,
                     help="Adam learning rate."),
        click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default=d.lr_schedule, show_default=True,
                     help="cosine: the learning rate falls from --lr to 0 over --epochs epochs."),
        click.option("--batch-size", type=_limited("batch_size", 1), default=d.batch_size, show_default=True,
                     help="Examples per training step: the global batch, which --strategy splits among its "
                          "replicas."),
        click.option("--epochs", type=_limited("epochs", 1), default=d.epochs, show_default=True,
                     help="Most epochs to train."),
        click.option("--patience", type=_limited("patience", 0), default=d.patience, show_default=True,
                     help="Epochs without better validation accuracy before stopping."),
        click.option("--val-ratio", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     default=d.val_ratio, show_default=True, help="Share of the labeled data held out."),
        click.option("--seed", type=int, default=d.seed, show_default=True, help="Fixes every random source."),
    ]):
        f = option(f)
    return f


_HYPERPARAMETERS = [name for name in TrainConfig.__dataclass_fields__ if name != "labels"]
# Where each option of a run's recorded options (TrainJob.options, SemiJob.options) comes from on
# the command line: a resume compares those given again with the recorded ones.
_DATA_PARAMETERS = {"path": "train_path", "format": "fmt", "on_bad_lines": "on_bad_lines",
                    "columns": {"text": "text_column", "label": "label_column", "id": "id_column"}}
_TRAIN_PARAMETERS = {**{name: name for name in _HYPERPARAMETERS}, "labels": "labels", "train": _DATA_PARAMETERS,
                     "unlabeled": {"path": "unlabeled_path"}, "split_from": "split_from", "folds": "folds"}


def _given(ctx, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)


def _asked(ctx, options: dict, parameters: dict) -> dict:
    """The part of ``options`` whose command-line parameters were given (nested dicts likewise)."""
    asked = {}
    for key, param in parameters.items():
        value = options.get(key) if isinstance(options, dict) else None
        if isinstance(param, dict):
            part = _asked(ctx, value if isinstance(value, dict) else {}, param)
            if part:
                asked[key] = part
        elif _given(ctx, param):
            asked[key] = value
    return asked


@cli.command()
@click.argument("run")
@click.option("--train", "train_path", default="data/training_label.txt", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True), help="Labeled data ('-' reads stdin).")
@data_options
@click.option("--labels", help="Comma-separated label set; any other label is an error.")
@click.option("--embeddings", type=click.Path(exists=True, dir_okay=False),
              help="GloVe / word2vec text file (.gz too) that initialises the embedding layer.")
@click.option("--pretrain-embeddings/--no-pretrain-embeddings", default=DEFAULTS.pretrain_embeddings,
              show_default=True,
              help="Initialise the embedding layer with Word2Vec trained on the labeled (and --unlabeled) "
                   "text; off when --embeddings names a file.")
@click.option("--unlabeled", "unlabeled_path", type=click.Path(exists=True, dir_okay=False),
              help="More text, one per line, for the vocabulary and --pretrain-embeddings (with few labels, "
                   "words that only it has still get an id and a vector).")
@click.option("--freeze-embeddings", is_flag=True, help="Keep the initial word vectors fixed.")
@click.option("--split-from", metavar="RUN",
              help="Validate on the rows whose texts validated RUN (its split.json); every other row trains. "
                   "After suggest: the chosen (hard) texts train, and the new run is judged as RUN was.")
@click.option("--on-bad-lines", type=click.Choice(BAD_LINES), default="error", show_default=True,
              help="An example with an empty text or a NUL byte: stop with its line (error), or leave it out "
                   "with a warning (warn) or silently (skip); the count is saved in the run.")
@hyperparameter_options
@click.option("--folds", default="auto", show_default=True, callback=lambda ctx, param, value: _folds(value),
              help="K (2 or more): K trainings, each validated on its own fold of distinct texts (stratified), "
                   "then the final model on every row with the epochs, C and mix the folds chose; metrics.json "
                   "gets their cross_validation figures. auto: 5 folds when --val-ratio would validate fewer "
                   "than 500 rows (fewer folds for a class with fewer distinct texts). off: one validation split.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run of this name.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted training of RUN after its last committed epoch, with the options and "
                   "data it started with (an option given again must have the same value).")
@models_dir_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or model summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's path and metrics as one JSON object.")
@click.option("--verbose", "show_summary", is_flag=True, help="Print the model's summary first (info RUN shows it too).")
@click.option("--tensorboard", is_flag=True,
              help="Write TensorBoard logs of the network's epochs into RUN/logs/ (needs the tensorboard package: "
                   "pip install 'sentiment-cli[tensorboard]').")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="default", show_default=True,
              help="How the network trains (tf.distribute): default, one device; mirrored, one replica on each "
                   "local GPU; multi-worker, on every machine TF_CONFIG lists (run the same command on each, with "
                   "its own TF_CONFIG; only the chief, worker 0, writes the run). Each step splits one "
                   "--batch-size batch among the replicas.")
def train(run, train_path, fmt, labels, embeddings, pretrain_embeddings, unlabeled_path, freeze_embeddings,
          split_from, on_bad_lines, folds, overwrite, resume, models_dir, quiet, as_json, show_summary, tensorboard, strategy, **kwargs):
    """Train a classifier on labeled text and save it as models/RUN.

    The run directory gets config.json, tokenizer.json, best.keras, history.csv and
    metrics.json; an existing run is replaced only with --overwrite, and only once the new
    one is complete.

    \b
    Example:
        sentiment-cli train demo
        sentiment-cli train reviews --train reviews.csv --text-column body --label-column stars
        sentiment-cli train reviews --train reviews.csv --strategy mirrored --batch-size 256
    """
    if tensorboard:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise click.ClickException("--tensorboard needs the tensorboard package, which is not installed: "
                                       "pip install 'sentiment-cli[tensorboard]' (or pip install tensorboard)")
    _load_tensorflow()
    from sentiment_cli.data import DataSpec
    from sentiment_cli.distribute import make_distribution
    from sentiment_cli.training import RunOptions, TrainJob, resume_run, train_run

    distribution = make_distribution(strategy)  # before anything runs on a device
    ctx = click.get_current_context()
    if embeddings and not _given(ctx, "pretrain_embeddings"):
        pretrain_embeddings = False  # a file of vectors replaces the default Word2Vec
    config = TrainConfig(**{name: kwargs[name] for name in _HYPERPARAMETERS if name in kwargs},
                         embeddings=embeddings, pretrain_embeddings=pretrain_embeddings,
                         freeze_embeddings=freeze_embeddings)
    job = TrainJob(models_dir, run, config, DataSpec(train_path, fmt, _columns(kwargs), on_bad_lines),
                   DataSpec(unlabeled_path) if unlabeled_path else None,
                   [label.strip() for label in labels.split(",")] if labels else None, split_from, folds)
    options = RunOptions(overwrite, not quiet, show_summary, tensorboard, distribution)
    if resume:
        path, metrics = resume_run(models_dir, run, _asked(ctx, job.options(), _TRAIN_PARAMETERS), options)
    else:
        path, metrics = train_run(job, options)
    if as_json:
        click.echo(json.dumps({"run": str(path) if path else None, "metrics": metrics}))
        return
    if path is None:
        click.echo(f"worker {distribution.worker} of {distribution.workers} done: the chief (worker 0) saves the run")
        return
    click.echo(f"run saved to {path}")
    cv = metrics.get("cross_validation")
    if cv:
        chosen = cv.get("choices", {}).get("epochs")
        epochs = f"; final model: {chosen} epoch{'s' if chosen != 1 else ''}" if chosen else ""
        click.echo(f"cross-validated accuracy {cv['accuracy_mean']:.4f} +- {cv['accuracy_sd']:.4f}, macro F1 "
                   f"{cv['macro_f1_mean']:.4f} +- {cv['macro_f1_sd']:.4f} ({cv['folds']} folds{epochs}), "
                   f"{metrics['train_seconds']:.1f} s")
    else:
        epochs = f" (network: best epoch {metrics['best_epoch']} of {metrics['epochs_run']})" if "best_epoch" in metrics else ""
        click.echo(f"validation accuracy {metrics['best_val_accuracy']:.4f}{epochs}, {metrics['train_seconds']:.1f} s")
    if metrics.get("seconds_by_stage"):
        click.echo("seconds by stage: " + ", ".join(f"{k} {v:.1f}" for k, v in metrics["seconds_by_stage"].items()))
    click.echo(_calibration_summary(metrics))
    _pictures_hint(path)


def _calibration_summary(metrics: dict) -> str:
    """The calibration error before and after the mix, worded so that a rise reads as worse."""
    before, after = round(metrics["ece_before"], 3), round(metrics["ece_after"], 3)
    rows = "every row, cross-validated" if metrics.get("cross_validation") else "the validation rows"
    line = (f"calibration error (lower is better) {before:.3f} before the mix, {after:.3f} after "
            f"(out-of-fold on {rows})")
    if after > before:
        line += f": worse after the mix, by {after - before:.3f}"
    return line


def _folds(value):
    from sentiment_cli.crossval import parse_folds

    try:
        return parse_folds(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def _pictures_hint(path) -> None:
    from sentiment_cli.plots import PLOTS_DIR

    click.echo(f"pictures (learning curves, confusion matrix, calibration, ...): sentiment-cli plot {path} "
               f"writes them into {os.path.join(path, PLOTS_DIR)}", err=True)


@cli.command()
@click.argument("run")
@models_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print config and metrics as JSON.")
def info(run, models_dir, as_json):
    """Show a run's configuration, metrics and model summary.

    \b
    Example:
        sentiment-cli info demo
    """
    from sentiment_cli.runs import figure, load_run

    if as_json:  # JSON files only: no TensorFlow to import
        loaded = load_run(models_dir, run, with_model=False)
        click.echo(json.dumps({"config": loaded.record, "metrics": loaded.metrics}, indent=2))
        return
    _load_tensorflow()
    from sentiment_cli.training import print_summary

    loaded = load_run(models_dir, run)
    rec = loaded.record
    click.echo(f"run         {loaded.path}")
    click.echo(f"created     {rec.get('created')}")
    click.echo(f"labels      {', '.join(loaded.config.labels)}")
    click.echo(f"trained on  {rec.get('data', {}).get('train')} ({rec.get('data', {}).get('examples')} examples)")
    click.echo(f"vocabulary  {rec.get('vocabulary_size')} ids")
    click.echo(f"accuracy    {figure(loaded.metrics) or '-'}")
    click.echo("hyperparameters")
    for name, value in loaded.config.to_dict().items():
        if name != "labels":
            click.echo(f"  {name:<18} {value}")
    click.echo("metrics")
    for name, value in loaded.metrics.items():
        click.echo(f"  {name:<26} {value}")
    click.echo("versions    " + ", ".join(f"{k} {v}" for k, v in rec.get("versions", {}).items()))
    print_summary(loaded.model, file=sys.stdout)


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@models_dir_option
def list_command(as_json, models_dir):
    """List the runs in the models directory: labels, model, validation accuracy, created, size.

    Reads JSON files only (no TensorFlow). A run directory whose files are damaged is listed
    with its problem instead of its figures.

    \b
    Example:
        sentiment-cli list
        sentiment-cli list --models-dir bench/out/models --json
    """
    from sentiment_cli.runs import run_summaries
    from sentiment_cli.workspace import unfinished

    rows = run_summaries(models_dir)
    # runs in the making (.NAME.work), each marked with its state and the command that resumes it
    work = [{**w, "unfinished": True} for w in unfinished(models_dir)]
    if as_json:
        click.echo(json.dumps(rows + work, indent=2))
        return
    if not rows and not work:
        click.echo(f"no runs in {models_dir}")
        return
    click.echo(f"{'run':<24} {'labels':<20} {'model':<8} {'accuracy':<22}  {'created':<25} {'MB':>8}")
    for row in rows:
        if "problem" in row:
            click.echo(f"{row['run']:<24} {row['problem']}")
            continue
        labels = ",".join(row["labels"] or [])
        labels = labels if len(labels) <= 20 else labels[:19] + "…"  # cut, and said so
        accuracy = row.get("figure") or "-"  # says which: "cv 5-fold 0.81 +- 0.04" or "val 0.85"
        click.echo(f"{row['run']:<24} {labels:<20} {str(row['model']):<8} {accuracy:<22}  "
                   f"{str(row['created']):<25} {row['size_mb']:>8.2f}")
    for w in work:
        state = {"working": "being made now", "not started": "interrupted before its first commit: start it again",
                 "interrupted": f"interrupted: resume it with `{w['command']}`"}[w["state"]]
        click.echo(f"{w['run']:<24} ({w['kind'] or 'run'}) {state}")


ENGINES = ("auto", "numpy", "tensorflow")


def _load_runs(models_dir, names, engine: str = "tensorflow") -> tuple[list, object]:
    """The runs, their models loaded by ``engine`` (``predict.load_runs``), TensorFlow imported
    with our settings when it is needed."""
    from sentiment_cli.predict import load_runs

    if not names:
        raise click.UsageError("name at least one run (RUN or --run RUN)")
    return load_runs(models_dir, names, engine, _load_tensorflow)


def prediction_options(f):
    for option in reversed([
        click.option("--run", "extra_runs", multiple=True,
                     help="Another run to average with (repeatable); same as more RUN arguments."),
        click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     help="Binary runs: predict the positive label when its probability is at least this; default: "
                          "the run's own (0.5 of calibrated probabilities). The positive label is the second of the "
                          "run's two labels in sorted order ('1' of 0/1, 'pos' of neg/pos): `info RUN` names it."),
        click.option("--chunk-size", type=click.IntRange(1), default=8192, show_default=True,
                     help="Rows read and predicted at a time (bounds memory)."),
        click.option("--batch-size", type=click.IntRange(1), default=PREDICT_BATCH, show_default=True,
                     help="Most rows per model call."),
        click.option("--max-batch-tokens", type=click.IntRange(1), default=PREDICT_TOKENS, show_default=True,
                     help="Most rows x padded length per model call: long texts come in smaller batches."),
        click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True,
                     help="What computes the model: numpy starts in a fraction of a second, without TensorFlow; "
                          "tensorflow takes about 6 s to start and is faster per row. auto: numpy for inputs under 2 "
                          "million tokens (about 8,000 reviews or 120,000 tweets) when it computes every run's "
                          "model (all that train makes), else tensorflow. Both give the same labels "
                          "(probabilities within 1e-5)."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]):
        f = option(f)
    return f


@cli.command()
@click.argument("run")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace DIRECTORY if it holds an earlier export.")
@models_dir_option
def export(run, directory, overwrite, models_dir):
    """Write RUN as a TensorFlow SavedModel into DIRECTORY: raw strings in, probabilities out.

    The signature serving_default takes 'text' (strings) and returns 'probabilities' (one
    column per label) and 'label'. It needs only TensorFlow: serve it with TensorFlow Serving
    or load it with tf.saved_model.load. DIRECTORY/assets.extra/sentiment-cli.json lists the
    labels (assets.extra: the SavedModel's folder for its users' files, which serving ignores).

    \b
    Example:
        sentiment-cli export demo exported/demo/1
    """
    _load_tensorflow()
    from sentiment_cli.export import export_run
    from sentiment_cli.runs import load_run

    from sentiment_cli.export import EXTRA_DIR, INFO_FILE

    path = export_run(load_run(models_dir, run), directory, overwrite)
    click.echo(f"SavedModel written to {path}")
    click.echo(f"labels and threshold: {os.path.join(path, EXTRA_DIR, INFO_FILE)}")


class BeamArgsCommand(click.Command):
    """`test`: with --beam, the arguments after `--` are Beam's PipelineOptions, kept apart (in
    ctx.meta["beam_args"]) instead of becoming run names."""

    def parse_args(self, ctx, args):
        if "--" in args and "--beam" in args[:args.index("--")]:
            at = args.index("--")
            args, ctx.meta["beam_args"] = args[:at], args[at + 1:]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx):
        return [*super().collect_usage_pieces(ctx), "[-- BEAM_OPTIONS]"]


@cli.command(cls=BeamArgsCommand)
@click.argument("runs", nargs=-1)
@click.option("--input", "input_path", default="data/testing_data.txt", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True),
              help="Texts to label ('-' reads stdin); with --beam, a file or a glob (gs://, s3:// too).")
@click.option("--output", "output_path", default="result.csv", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True),
              help="CSV to write ('-' writes stdout); with --beam, the prefix of the sharded files.")
@click.option("--probabilities", is_flag=True, help="Add a p_LABEL column per class.")
@click.option("--top-k", type=click.IntRange(2), metavar="K",
              help="Runs of more than two classes: add the K likeliest labels with their probabilities "
                   "(columns label_1, p_1, ... label_K, p_K).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout (needs --output FILE).")
@click.option("--on-bad-lines", type=click.Choice(BAD_LINES),
              help="A row with an empty text or a NUL byte: stop (error), or leave it out with a warning (warn) or "
                   "silently (skip) [default: label every row].")
@click.option("--beam", is_flag=True,
              help="Run as an Apache Beam pipeline (pip install 'sentiment-cli[beam]', Python 3.11+): options after "
                   "`--` go to Beam; with no --runner there, the local runner in this process.")
@click.option("--output-format", type=click.Choice(["csv", "jsonl", "parquet"]), default="csv", show_default=True,
              help="--beam: the sharded files' format.")
@click.option("--overwrite", is_flag=True, help="--beam: replace earlier output under the prefix.")
@data_options(labels=False)
@prediction_options
@models_dir_option
def test(runs, input_path, output_path, probabilities, top_k, as_json, on_bad_lines, beam, output_format, overwrite,
         fmt, extra_runs, threshold, chunk_size, batch_size, max_batch_tokens, engine, quiet, models_dir, **kwargs):
    """Label every row of a file and write id,label to a CSV, in input order.

    Input: 'id,text' files (TEXT is everything after the first comma), CSV/TSV/JSONL with
    column options, plain lines (ids are line numbers), or train's LABEL +++$+++ TEXT lines
    (ids are line numbers; the labels are ignored: evaluate scores them); .gz too. Several
    runs average their class probabilities. The CSV appears only once every row is written.

    With --beam, an Apache Beam pipeline labels every file the --input glob matches (Parquet
    too) into Beam's shards PREFIX-00000-of-0000N.csv (or .jsonl, .parquet), joined by id: a
    file without ids gives FILE:LINE ids.

    \b
    Example:
        sentiment-cli test demo
        sentiment-cli test demo --input tweets.txt.gz --output - --probabilities
        sentiment-cli test lstm gru --output ensemble.csv
        sentiment-cli test demo --beam --input 'texts/*.csv' --output out/labels \\
            -- --direct_num_workers=2 --direct_running_mode=multi_processing
    """
    if beam:
        return _test_beam([*runs, *extra_runs], input_path, output_path, probabilities, top_k, as_json, on_bad_lines,
                          output_format, overwrite, fmt, threshold, chunk_size, batch_size, max_batch_tokens, engine,
                          models_dir, kwargs)
    ctx = click.get_current_context()
    for name in ("output_format", "overwrite"):
        if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT:
            raise click.UsageError(f"--{name.replace('_', '-')} is for --beam")
    if as_json and output_path == "-":
        raise click.UsageError("--json prints on stdout, where --output - writes the CSV: give --output FILE")
    from sentiment_cli.data import DataSpec
    from sentiment_cli.predict import PredictOptions, predict_file

    loaded, larger_input = _load_runs(models_dir, [*runs, *extra_runs], engine)
    if top_k and len(loaded[0].config.labels) <= 2:
        raise click.UsageError(f"--top-k is for runs of more than two classes; {loaded[0].path.name} has two "
                               "(--probabilities gives both)")
    options = PredictOptions(chunk_size, batch_size, max_batch_tokens, threshold, not quiet, larger_input)
    stats = predict_file(loaded, DataSpec(input_path, fmt, _run_columns(kwargs, loaded[0])), output_path, options,
                         probabilities, top_k, on_bad_lines)
    if stats["empty"]["rows"]:
        empty = stats["empty"]
        click.echo(f"warning: {empty['rows']} row{'s' if empty['rows'] > 1 else ''} of {input_path} "
                   f"{'have' if empty['rows'] > 1 else 'has'} no text (the first on line {empty['first_line']}), "
                   f"labeled {empty['label']!r}: the label the model gives a text without words, not a "
                   "prediction", err=True)
    if as_json:
        click.echo(json.dumps({"output": str(output_path), "input": str(input_path),
                               "runs": [run.path.name for run in loaded], **stats}))
    elif output_path != "-":
        click.echo(f"{stats['rows']} predictions written to {output_path} ({stats['rows_per_second']:.0f} rows/s)")


def _test_beam(names, input_path, prefix, probabilities, top_k, as_json, on_bad_lines, output_format, overwrite, fmt,
               threshold, chunk_size, batch_size, max_batch_tokens, engine, models_dir, kwargs):
    """`test --beam`: sentiment_cli.beam, imported only here (Apache Beam is an optional extra)."""
    ctx = click.get_current_context()
    if not names:
        raise click.UsageError("name at least one run (RUN or --run RUN)")
    for name, given, what in (("input", input_path, "PATTERN (a file or a glob)"),
                              ("output", prefix, "PREFIX (the prefix of the sharded output files)")):
        if ctx.get_parameter_source(f"{name}_path") == click.core.ParameterSource.DEFAULT or given == "-":
            raise click.UsageError(f"--beam needs --{name} {what}")
    try:
        from sentiment_cli import beam
    except ImportError as exc:
        raise click.ClickException(f"--beam needs Apache Beam (Python 3.11 or newer), which cannot be imported "
                                   f"({exc}): pip install 'sentiment-cli[beam]'") from None
    job = beam.BeamJob(models_dir, names, input_path, prefix, fmt, on_bad_lines=on_bad_lines,
                       output_format=output_format, probabilities=probabilities, top_k=top_k, threshold=threshold,
                       engine=engine, batch_size=batch_size, max_tokens=max_batch_tokens, chunk_size=chunk_size,
                       overwrite=overwrite, beam_args=list(ctx.meta.get("beam_args", [])))
    summary = beam.run_job(job, _load_tensorflow, lambda run: _run_columns(dict(kwargs), run))
    if as_json:
        click.echo(json.dumps(summary))
    else:
        files = len(summary["output"])
        click.echo(f"{summary['rows']} predictions written to {files} file{'s' if files != 1 else ''} {prefix}-*-of-*")


@cli.command()
@click.argument("runs", nargs=-1)
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Labeled data, in any format train reads; with --gold, ids and texts (a test file).")
@click.option("--gold", "gold_path", type=click.Path(dir_okay=False),
              help="CSV 'id,label' with the labels of --input's ids (the classic testing_label.csv), or of "
                   "--predictions' ids.")
@click.option("--predictions", "predictions_path", type=click.Path(dir_okay=False),
              help="Score this predictions CSV ('id,label', as test writes it) against --gold, without a model; "
                   "every problem in it is listed.")
@click.option("--errors", type=click.IntRange(0), default=0, show_default=True,
              help="List the N most confidently wrong examples.")
@click.option("--out-of-fold", is_flag=True,
              help="A run trained with --folds, on its training file: score each row it trained on by its "
                   "out-of-fold prediction (oof.json), not by the final model, which saw it; with --errors, its "
                   "out-of-fold errors.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
@click.option("--on-bad-lines", type=click.Choice(BAD_LINES),
              help="A row with an empty text or a NUL byte: stop (error), or leave it out with a warning (warn) or "
                   "silently (skip) [default: what the (first) run was trained with].")
@data_options
@prediction_options
@models_dir_option
def evaluate(runs, input_path, gold_path, predictions_path, errors, out_of_fold, as_json, on_bad_lines, fmt, extra_runs,
             threshold, chunk_size, batch_size, max_batch_tokens, engine, quiet, models_dir, **kwargs):
    """Accuracy, per-class precision / recall / F1, macro F1 and the confusion matrix.

    Of a run on labeled data, of a run on a test file whose labels are in a separate gold file
    (joined by id), or of a predictions file against a gold file, without a model. A single
    run's report is also saved as evaluation.json in its run directory.

    \b
    Examples:
        sentiment-cli evaluate demo --input data/training_label.txt --errors 5
        sentiment-cli evaluate demo --input data/training_label.txt --out-of-fold --errors 10
        sentiment-cli evaluate demo --input testing_data.txt --gold testing_label.csv
        sentiment-cli evaluate --predictions result.csv --gold testing_label.csv
    """
    from sentiment_cli.scoring import format_report, read_gold

    if predictions_path is not None:
        if runs or extra_runs or input_path:
            raise click.UsageError("--predictions scores a file without a model: give no RUN and no --input")
        if gold_path is None:
            raise click.UsageError("--predictions needs --gold, the file with the right labels")
        from sentiment_cli.scoring import score_predictions

        report = score_predictions(predictions_path, read_gold(gold_path))
        click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else format_report(report), nl=as_json)
        return
    if input_path is None:
        raise click.UsageError("Missing option '--input' (or score a file with --predictions FILE --gold FILE)")
    gold = read_gold(gold_path) if gold_path is not None else None
    from sentiment_cli.data import DataSpec
    from sentiment_cli.predict import PredictOptions, evaluate_file, save_report

    loaded, larger_input = _load_runs(models_dir, [*runs, *extra_runs], engine)
    policy = on_bad_lines or loaded[0].record.get("data", {}).get("on_bad_lines") or "error"
    data = DataSpec(input_path, fmt, _run_columns(kwargs, loaded[0]), policy)
    options = PredictOptions(chunk_size, batch_size, max_batch_tokens, threshold, not quiet, larger_input)
    report = evaluate_file(loaded, data, options, errors, gold, out_of_fold)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(format_report(report), nl=False)
    if report.get("rows_in_training_data"):
        click.echo(f"warning: {report['rows_in_training_data']} of {report['examples']} rows of {input_path} are "
                   f"also in the training data of {', '.join(report['runs'])} (same text after normalization): "
                   "the figures overstate accuracy on unseen text", err=True)
    if out_of_fold:
        click.echo(f"{report['rows_out_of_fold']} of {report['examples']} rows scored out of fold (by the fold model "
                   "that did not train on them); the others by the final model", err=True)
    if report.get("gold_ids_not_in_input"):
        click.echo(f"warning: {report['gold_ids_not_in_input']} ids of {gold_path} are not in {input_path}; "
                   "the figures cover the input's rows only", err=True)
    if len(loaded) == 1:  # after the report: a run directory that cannot be written costs only the copy
        try:
            saved = save_report(loaded[0], report)
        except OSError as exc:
            click.echo(f"warning: the report was not saved in {loaded[0].path} ({exc.strerror or exc})", err=True)
        else:
            click.echo(f"saved to {saved}", err=True)
            _pictures_hint(loaded[0].path)


@cli.command()
@click.option("--train", "train_path", default="data/training_label.txt", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True), help="Labeled data, in any format train reads.")
@click.option("--test", "test_path", type=click.Path(dir_okay=False),
              help="Data you will test or evaluate on (labeled or not): its overlap with --train is counted.")
@data_options
@click.option("--test-format", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Format of --test.")
@click.option("--vocab-size", type=_limited("vocab_size", 3), default=DEFAULTS.vocab_size, show_default=True,
              help="Vocabulary size train would use: tokens outside it count as unknown.")
@click.option("--max-length", type=_limited("max_length", 1), default=DEFAULTS.max_length, show_default=True,
              help="Token limit train would use: the share of longer texts is reported.")
@click.option("--normalize", type=click.Choice(NORMALIZATIONS), default=DEFAULTS.normalize, show_default=True,
              help="Normalization train would use (tweets: see train --help).")
@click.option("--strict", is_flag=True, help="Exit with 1 when there is a finding (for scripts and CI).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--label-issues", is_flag=True,
              help="Also find rows whose label the data contradicts: the n-gram model fitted out of fold, then "
                   "confident learning; the least self-confident first.")
@click.option("--folds", type=click.IntRange(2), metavar="K",
              help="Folds of --label-issues [default: 5, fewer when a class has fewer rows].")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True, help="Seed of the folds of --label-issues.")
@click.option("--on-bad-lines", type=click.Choice(BAD_LINES), default="error", show_default=True,
              help="--label-issues: a row with an empty text or a NUL byte stops it (error), or is left out "
                   "with a warning (warn) or silently (skip), as train does.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, writable=True),
              help="With --label-issues: write all the rows found to this CSV (line, given and suggested label, "
                   "probabilities, text).")
@click.option("--run", "run_name", metavar="RUN",
              help="With --label-issues: take each row's out-of-fold probabilities from RUN's oof.json (a run trained "
                   "with --folds: its own model, out of fold) instead of fitting n-gram folds; --train defaults to "
                   "the file RUN was trained on.")
@models_dir_option
def check(train_path, test_path, fmt, test_format, vocab_size, max_length, normalize, strict, as_json, label_issues,
          folds, seed, on_bad_lines, output_path, run_name, models_dir, **kwargs):
    """Check data before training: duplicates, conflicting labels, overlap with test data,
    class balance, text lengths and the share of unknown tokens.

    Near-duplicates are texts equal after Unicode normalization, case folding and dropping
    everything but letters and digits.

    \b
    Examples:
        sentiment-cli check
        sentiment-cli check --train reviews.csv --test holdout.csv --strict
        sentiment-cli check --train reviews.csv --label-issues --output issues.csv
        sentiment-cli check --label-issues --run reviews
    """
    ctx = click.get_current_context()
    if not label_issues and (folds or output_path):
        raise click.UsageError("--folds and --output go with --label-issues")
    if not label_issues and run_name:
        raise click.UsageError("--run goes with --label-issues (the run's out-of-fold predictions are what it reads)")
    if run_name and (folds or _given(ctx, "seed")):
        raise click.UsageError("--folds and --seed draw check's own folds; with --run the run's out-of-fold "
                               "predictions are read: leave them out")
    if label_issues and train_path == "-":  # a run's own file is never "-" (_run_training_file)
        raise click.UsageError("--label-issues reads --train a second time: give a file, not -")
    _load_tensorflow()  # the tokenizer's rules are TensorFlow ops
    from sentiment_cli.checks import check_files, format_check

    from sentiment_cli.data import DataSpec

    loaded = None
    if run_name:
        from sentiment_cli.runs import load_run

        loaded = load_run(models_dir, run_name, with_model=False)
        if not _given(ctx, "train_path"):
            train_path, fmt, columns, recorded_policy = _run_training_file(loaded)
            on_bad_lines = on_bad_lines if _given(ctx, "on_bad_lines") else recorded_policy
        else:
            columns = _run_columns(kwargs, loaded)
    else:
        columns = _columns(kwargs)
    config = TrainConfig(vocab_size=vocab_size, max_length=max_length, normalize=normalize)
    test = DataSpec(test_path, test_format, columns) if test_path else None
    report = check_files(DataSpec(train_path, fmt, columns), test, config)
    text = None
    if label_issues:
        from sentiment_cli.label_issues import LISTED, format_issues, label_issue_report

        found = label_issue_report(DataSpec(train_path, fmt, columns, on_bad_lines), config, folds, seed, output_path,
                                   run=loaded)
        report["label_issues"] = {**found.to_dict(), "output": output_path}
        if found.issues and not found.weak:  # a weak model's list is to look at, not a finding
            report["findings"].append(f"{len(found.issues)} training row{'s have' if len(found.issues) > 1 else ' has'} "
                                      "a label that the data contradicts (see label issues)")
        text = format_issues(found, LISTED, output_path)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(format_check(report) + (text or ""), nl=False)
    if strict and report["findings"]:
        sys.exit(1)


def _run_training_file(run) -> tuple:
    """(path, format, columns, bad-line policy) of the file ``run`` was trained on, as it read it."""
    from sentiment_cli.runs import training_file

    own = training_file(run)
    if own is None or str(own.path) == "-":
        raise RunError(f"run {run.path.name!r} does not record a training file it can read again"
                       f"{' (it read stdin)' if own is not None else ''}: name the file with --train")
    return own.path, own.format, own.columns, own.on_bad_lines


def _band(ctx, param, value):
    if value is None:
        return None
    try:
        low, high = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected LOW,HIGH, for example 0.05,0.95") from None
    return (low, high)


@cli.command()
@click.argument("run")
@click.option("--unlabeled", "unlabeled_path", default="data/training_nolabel.txt", show_default=True,
              type=click.Path(dir_okay=False), help="Unlabeled text, one per line (or a table with --text-column).")
@click.option("--unlabeled-format", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Format of the unlabeled file.")
@click.option("--train", "train_path", type=click.Path(dir_okay=False),
              help="The labeled data [default: the file RUN was trained on, whose validation split stays held out].")
@click.option("--allow-other-train", is_flag=True,
              help="Accept a --train file other than RUN's own (it is split anew: its validation rows may be "
                   "ones RUN trained on).")
@data_options
@click.option("--output-run", help="Name of the new run (default: RUN-semi); RUN stays intact.")
@click.option("--rounds", type=click.IntRange(1), default=SemiConfig.rounds, show_default=True,
              help="Most relabeling rounds (the original system ran 10); they stop at the first rolled back.")
@click.option("--select", type=click.Choice(SELECTIONS),
              help="[default: cotrain for a hybrid run, rank for a run of one half, threshold with --band] "
                   "cotrain: each half's "
                   "surest --share, the same number per class, trains the other half; rank: the mix's surest "
                   "--share, likewise; threshold: the original rule, --confidence or --band.")
@click.option("--share", type=click.FloatRange(0, 1, min_open=True), default=SemiConfig.share, show_default=True,
              help="rank and cotrain: pseudo-labels per round (per half with cotrain) as a share of the "
                   "unlabeled texts.")
@click.option("--confidence", type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
              default=SemiConfig.threshold, show_default=True,
              help="--select threshold: keep p > 1-t and p < t (multi-class: top probability >= 1-t).")
@click.option("--threshold", "old_threshold", type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
              hidden=True, help="The old name of --confidence.")
@click.option("--band", callback=_band, metavar="LOW,HIGH",
              help="threshold, binary runs: keep p <= LOW and p >= HIGH instead of --confidence.")
@click.option("--epochs-per-round", type=_limited("epochs", 1), default=SemiConfig.epochs_per_round,
              show_default=True,
              help="Epochs per round, all of them run (no early stopping inside a round); the best by validation "
                   "accuracy is kept (original: 2).")
@click.option("--max-per-round", type=click.IntRange(1), help="Most pseudo-labels per round, most confident first.")
@click.option("--balance", is_flag=True, help="threshold: the same number of pseudo-labels for every class.")
@click.option("--pretrain-embeddings", is_flag=True,
              help="Round 0: retrain RUN's configuration with Word2Vec vectors learned from the labeled and "
                   "unlabeled text; it becomes the start if validation accuracy says so.")
@click.option("--judge", type=click.Choice(JUDGES), default=SemiConfig.judge, show_default=True,
              help="What rolls a round back. validation: the validation rows show it worse beyond noise. cv: they "
                   "do, or the labeled training rows do, predicted out of fold by the n-gram half fitted with the "
                   "round's pseudo-labels against the kept round's (runs with an n-gram half). Measured on the "
                   "tweets, cv judged good rounds worse and bad ones better: see docs/semi.md.")
@click.option("--pseudo-labels", type=click.Choice(PSEUDO_LABELS),
              help="[default: replace] replace: each round learns from its own picks alone; accumulate: a "
                   "round's pseudo-labels join the earlier rounds' and a text keeps its first class unless every "
                   "half's picks later agree on another (measured on the tweets: not better, see docs/semi.md).")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted semi run after its last completed round, with its own inputs and options.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run (or interrupted work) of that name.")
@models_dir_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the new run's path and metrics as one JSON object.")
def semi(run, unlabeled_path, unlabeled_format, train_path, allow_other_train, fmt, output_run, rounds, select,
         share, confidence, old_threshold, band, epochs_per_round, max_per_round, balance, pretrain_embeddings, judge,
         pseudo_labels, resume, overwrite, models_dir, quiet, as_json, **kwargs):
    """Improve RUN with its own surest predictions on unlabeled text.

    Each round, the best model so far labels the unlabeled text, each class's surest
    predictions join the training data (never the validation data), and the model trains
    again. A round is rolled back, and the rounds stop, only if validation shows it worse than
    the model before it beyond noise; otherwise it is kept. Every round is reported in
    rounds.csv; an interrupted run continues with --resume.

    \b
    Example:
        sentiment-cli semi demo --rounds 3
        sentiment-cli semi demo --resume
    """
    _load_tensorflow()
    from sentiment_cli.data import DataSpec
    from sentiment_cli.semi.rounds import SemiJob, resume_semi, semi_run

    ctx = click.get_current_context()
    if old_threshold is not None:
        if _given(ctx, "confidence"):
            raise click.UsageError("--threshold is the old name of --confidence: give one of them")
        confidence = old_threshold
    columns = _columns(kwargs)
    config = SemiConfig(rounds=rounds, select=select, share=share, threshold=confidence, band=band,
                        epochs_per_round=epochs_per_round, max_per_round=max_per_round, balance=balance,
                        pretrain_embeddings=pretrain_embeddings, judge=judge, pseudo_labels=pseudo_labels)
    name = output_run or f"{os.path.basename(os.path.normpath(run))}-semi"
    job = SemiJob(models_dir, run, name, config, DataSpec(unlabeled_path, unlabeled_format, columns),
                  DataSpec(train_path, fmt, columns) if train_path else None, allow_other_train)
    if resume:
        parameters = {"semi": {**{f: f for f in config.to_dict()}, "threshold": "confidence"},
                      "unlabeled": {"path": "unlabeled_path", "format": "unlabeled_format",
                                    "columns": _DATA_PARAMETERS["columns"]},
                      "train": _DATA_PARAMETERS, "allow_other_train": "allow_other_train"}
        asked = _asked(ctx, job.options(), parameters)
        if old_threshold is not None:
            asked.setdefault("semi", {})["threshold"] = confidence
        path, metrics = resume_semi(models_dir, run, name, asked, overwrite, not quiet)
    else:
        path, metrics = semi_run(job, overwrite, not quiet)
    if as_json:
        click.echo(json.dumps({"run": str(path), "metrics": metrics}))
        return
    click.echo(f"run saved to {path}")
    kept = metrics["kept_round"]
    judged = "out-of-fold" if metrics.get("judged_on") == "out-of-fold" else "validation"
    evidence = "out-of-fold accuracy" if judged == "out-of-fold" else "validation"
    why = "the start" if kept == 0 else f"the last round that {evidence} did not show worse beyond noise"
    click.echo(f"{judged} accuracy {metrics['start_val_accuracy']:.4f} -> {metrics['best_val_accuracy']:.4f} "
               f"(kept the model of round {kept} of {len(metrics['rounds']) - 1}, {why})")
    if metrics.get("stopped"):
        click.echo(f"stopped: {metrics['stopped']}")
    _pictures_hint(path)


@cli.command()
@click.argument("run")
@click.option("--unlabeled", "unlabeled_path", default="data/training_nolabel.txt", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True),
              help="Texts to choose from, one per line (or a table with --text-column).")
@data_options(labels=False)
@click.option("-n", "--count", type=click.IntRange(1), default=200, show_default=True, help="How many texts to suggest.")
@click.option("--output", "output_path", default="to_label.csv", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True), help="CSV to write ('-' writes stdout).")
@click.option("--similarity", type=click.FloatRange(0, 1), default=0.7, show_default=True,
              help="Leave out a text whose words and word pairs overlap more than this (Jaccard) with one "
                   "already suggested; 1 keeps near-duplicates.")
@click.option("--by", type=click.Choice(["both", "uncertainty", "disagreement"]), default="both", show_default=True,
              help="Rank by the sum of RUN's uncertainty and its halves' disagreement, or by one of them.")
@click.option("--overwrite", is_flag=True,
              help="Replace --output if it exists (it may hold labels you filled in: refused without this).")
@click.option("--relabel", type=click.IntRange(0), metavar="N",
              help="Also list the N rows of RUN's training file whose label RUN's out-of-fold predictions most "
                   "contradict (check --label-issues --run RUN's rule), to relabel [default: 10 for a run trained "
                   "with --folds, 0 for others].")
@models_dir_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout (needs --output FILE).")
def suggest(run, unlabeled_path, fmt, count, output_path, similarity, by, overwrite, relabel, models_dir, quiet,
            as_json, **kwargs):
    """Suggest which unlabeled texts to label next: those a label would teach RUN most.

    A text ranks high where RUN is least sure of it (its calibrated probabilities of the two
    likeliest labels are close) and where its two halves, the n-gram model and the network,
    disagree. Near-duplicates of a text already suggested, repeats, and texts RUN was trained
    on are left out. The CSV has an empty label column first: fill it in (delete the rows you
    do not label) and train on it with the rest of your data. For a run trained with --folds it
    also lists the labeled rows whose label its out-of-fold predictions contradict (--relabel).

    \b
    Example:
        sentiment-cli suggest demo --unlabeled data/training_nolabel.txt -n 200 --output to_label.csv
        # fill in the label column, then train on it alone or with your other rows added:
        sentiment-cli train more --train to_label.csv
    """
    if as_json and output_path == "-":
        raise click.UsageError("--json prints on stdout, where --output - writes the CSV: give --output FILE")
    if output_path != "-" and os.path.exists(output_path) and not overwrite:
        raise click.ClickException(f"{output_path} exists (it may hold labels filled in by hand): give another "
                                   "--output, or --overwrite to replace it")
    _load_tensorflow()
    from sentiment_cli.data import DataSpec
    from sentiment_cli.predict import _progress
    from sentiment_cli.suggest import relabel as relabel_rows, run_columns, suggest as suggest_texts, write_suggestions

    loaded = _load_runs(models_dir, [run])[0][0]
    issues, listed = relabel_rows(loaded, relabel)  # before the scoring: a refusal costs nothing
    with _progress("score", not quiet) as bar:
        found, counts = suggest_texts(loaded, DataSpec(unlabeled_path, fmt, _run_columns(kwargs, loaded)), count,
                                      similarity, bar.update, by)
    write_suggestions(output_path, found, run_columns(loaded))
    if as_json:
        click.echo(json.dumps({"output": str(output_path), "run": loaded.path.name, "suggested": len(found),
                               **counts, "relabel": issues.to_dict(listed) if issues is not None else None}))
    elif output_path != "-":
        left = [f"{counts[k]:,} {what}" for k, what in (("labeled_already", "the run was trained on"),
                                                        ("repeated", "repeated"), ("empty", "empty"),
                                                        ("near_duplicates_skipped", "near-duplicates skipped"))
                if counts[k]]
        click.echo(f"{len(found)} of {counts['candidates']:,} texts suggested in {output_path}"
                   + (f" (left out: {', '.join(left)})" if left else "")
                   + ": fill in its label column")
    if issues is not None and not as_json:
        from sentiment_cli.label_issues import format_issues

        where = f" --models-dir {models_dir}" if _given(click.get_current_context(), "models_dir") else ""
        every = f"sentiment-cli check --label-issues --run {run}{where}"
        # beside the CSV's summary on stdout; on stderr when the CSV itself is on stdout
        click.echo(format_issues(issues, listed, rest=f"all of them: {every} --output FILE", title="to relabel"),
                   nl=False, err=output_path == "-")


def _sha256(ctx, param, value):
    if value is None:
        return None
    from sentiment_cli.fetch import check_sha256

    try:
        return check_sha256(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("dataset", type=click.Choice(["imdb"]))
@click.option("--dest", default="data/imdb", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the files (made if missing).")
@click.option("--url", help="Download the archive from here instead: a mirror (give its --sha256 if it serves "
                            "another archive), or file:///path/aclImdb_v1.tar.gz for a copy on disk "
                            "[default: the Stanford AI Lab's aclImdb_v1.tar.gz].")
@click.option("--sha256", callback=_sha256, metavar="HEX",
              help="SHA-256 the archive must have [default: the published checksum of aclImdb_v1.tar.gz].")
@click.option("--overwrite", is_flag=True, help="Replace the files if DEST holds them already.")
@click.option("--keep-archive", is_flag=True,
              help="Keep the archive in DEST; a later fetch into DEST uses it instead of downloading.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=60, show_default=True,
              help="Seconds to wait for the server before giving up.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages on stderr.")
def fetch(dataset, dest, url, sha256, overwrite, keep_archive, timeout, quiet):
    """Download a public data set into the files sentiment-cli reads by default.

    imdb: the Large Movie Review Dataset (Maas et al., 2011; 84 MB) from Stanford, checked
    against its SHA-256 before it is read. DEST gets training_label.txt (25,000 labeled
    reviews, LABEL +++$+++ TEXT, 1 positive, 0 negative), training_nolabel.txt (50,000
    unlabeled reviews), testing_data.txt (25,000 id,text) and testing_label.csv (their
    id,label), each shuffled in a fixed order. The files appear only once all are complete,
    and the archive is deleted unless --keep-archive.

    \b
    Example:
        sentiment-cli fetch imdb
        sentiment-cli train imdb --train data/imdb/training_label.txt
    """
    import shlex
    from pathlib import Path

    from sentiment_cli.fetch import (
        IMDB_SHA256, IMDB_URL, TEST_DATA_FILE, TEST_LABEL_FILE, TRAIN_LABELED_FILE, TRAIN_UNLABELED_FILE, fetch_imdb,
    )

    result = fetch_imdb(dest, url or IMDB_URL, sha256 or IMDB_SHA256, overwrite=overwrite,
                        keep_archive=keep_archive, timeout=timeout, progress=not quiet)
    what = {TRAIN_LABELED_FILE: "labeled reviews", TRAIN_UNLABELED_FILE: "unlabeled reviews",
            TEST_DATA_FILE: "test reviews (id,text)", TEST_LABEL_FILE: "test labels (id,label)"}
    width = max(len(str(path)) for path in result.rows)
    for path, rows in result.rows.items():
        click.echo(f"wrote {str(path):<{width}}  {rows:>7,} {what[path.name]}")
    if result.empty:
        click.echo(f"left out {result.empty} empty review(s)")
    if result.archive is not None:
        click.echo(f"archive kept in {result.archive}")
    click.echo("next: sentiment-cli train imdb --train " + shlex.quote(str(Path(dest) / TRAIN_LABELED_FILE)))
    click.echo("      sentiment-cli test imdb --input " + shlex.quote(str(Path(dest) / TEST_DATA_FILE))
               + " --output imdb.csv")


@cli.command()
@click.argument("run")
@models_dir_option
def plot(run, models_dir):
    """Draw RUN's pictures as PNG files in RUN/plots/ and print their paths.

    Learning curves (loss and accuracy per epoch, the best epoch marked), and on the
    validation rows the confusion matrix, the reliability diagram and, for binary runs, ROC
    and precision-recall curves; the rounds of a semi run; the confusion matrix of the last
    evaluate. A picture the run has no data for is skipped, with the reason on stderr.

    \b
    Example:
        sentiment-cli plot demo
        sentiment-cli plot demo-semi
    """
    from sentiment_cli.plots import write_plots
    from sentiment_cli.runs import existing_run

    written = write_plots(existing_run(models_dir, run),
                          on_skip=lambda names, reason: click.echo(f"skipped {names}: {reason}", err=True))
    for path in written:
        click.echo(str(path))
    if not written:
        click.echo("no pictures written: the run has no data for any of them", err=True)


# ---- explain ----
def _explained_texts(texts, input_path, fmt, kwargs, run,
                     on_bad_lines: str = "error") -> tuple[list[str], list[str] | None]:
    """The texts given as arguments (no ids), or the rows of --input (any format `test` reads) and
    their ids, less its bad lines as --on-bad-lines says."""
    from sentiment_cli.data import keep_good, read_records
    from sentiment_cli.errors import DataError

    if texts and input_path:
        raise click.UsageError("give texts as arguments or --input FILE, not both")
    if not texts and not input_path:
        raise click.UsageError("give texts to explain as arguments, or --input FILE")
    if input_path:
        records = read_records(input_path, "test", fmt, _run_columns(kwargs, run))
        records = list(keep_good(input_path, records, on_bad_lines))
        if not records:
            raise DataError(input_path, "no text to explain: every row was left out as a bad line",
                            fix="Give a file with at least one text")
        return [record.text for record in records], [record.id for record in records]
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            raise DataError("arguments", f"text {number} is empty", fix="Give each text some words")
    return list(texts), None


def _echo_explanation(e, top: int) -> None:
    largest = max((abs(w.total) for w in e.words), default=0.0)
    strong = {id(w) for w in e.top_words(top)}

    def coloured(w):
        colour = "green" if w.total > 0 else "red"
        return click.style(w.token, fg=colour, bold=id(w) in strong) if largest and w.total else w.token

    head = ("" if e.id is None else f"id {e.id}: ") + f"{e.label} ({e.probability:.3f})"
    click.echo(click.style(head, bold=True) + "  " + " ".join(map(coloured, e.words)))
    against = "" if e.against is None else f" against the runner-up {e.against!r}"
    click.echo(f"  weights toward {e.toward!r}{against}: word, n-grams + network = total")
    for w in e.top_words(top):
        click.echo(f"  {w.token:<20} {w.ngram:+8.3f} {w.network:+8.3f} = "
                   + click.style(f"{w.total:+8.3f}", fg="green" if w.total > 0 else "red"))
    if e.ngrams:
        click.echo("  n-grams: " + ", ".join(f"{g['ngram']} {g['weight']:+.3f}" for g in e.ngrams[:top]))
    logit = "logit" if e.against is None else f"logit difference ({e.toward} - {e.against})"
    click.echo(f"  bias {e.bias:+.3f}, gap {e.gap:+.3f}, {logit} {e.logit:+.3f}")


@cli.command()
@click.argument("run")
@click.argument("texts", nargs=-1)
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Texts to explain, in any format `test` reads ('-' reads stdin), instead of TEXTS.")
@data_options(labels=False)
@click.option("--on-bad-lines", type=click.Choice(BAD_LINES), default="error", show_default=True,
              help="A row of --input with an empty text or a NUL byte: stop with its line (error), or leave it "
                   "out with a warning (warn) or silently (skip).")
@click.option("--top", type=click.IntRange(1), default=10, show_default=True,
              help="How many words and n-grams to list per text (--json keeps every word but only the top "
                   "n-grams; --html shades every word and lists the top ones).")
@click.option("--steps", type=click.IntRange(2, 1024), default=48, show_default=True,
              help="Integrated gradients' path points for the network half (more: a smaller gap).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object per text (id with --input, text, label, probability, toward, against "
                   "with three or more classes, words, ngrams, bias, gap).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write one self-contained HTML page with each text's words shaded by their weight.")
@models_dir_option
def explain(run, texts, input_path, fmt, on_bad_lines, top, steps, as_json, html_path, models_dir, **kwargs):
    """Show why RUN labels each text as it does: the words and n-grams that pushed it.

    For each text: the label, its probability, and each word's signed weight toward the
    positive label (binary runs: the second label, 1 of 0/1) or, with three or more classes,
    toward the predicted label against the runner-up (the difference of their logits): the
    n-gram half's exact share (each n-gram's weight spread over its words) and the network
    half's integrated gradients, side by side and summed. Rows of --input keep their ids.
    Bag-of-words runs are refused.

    \b
    Example:
        sentiment-cli explain demo "what a wonderful , happy film" "dull and sad"
        sentiment-cli explain demo --input data/testing_data.txt --html why.html
        sentiment-cli explain demo "i hate it" --json --top 5
    """
    _load_tensorflow()
    from sentiment_cli.explain import explain_texts, write_html
    from sentiment_cli.runs import load_run

    loaded = load_run(models_dir, run)
    explained, ids = _explained_texts(texts, input_path, fmt, kwargs, loaded, on_bad_lines)
    explanations = explain_texts(loaded, explained, steps, ids)
    if html_path:
        write_html(html_path, explanations, loaded.path.name, top)
    if as_json:
        for e in explanations:
            click.echo(json.dumps(e.to_dict(top), ensure_ascii=False))
    elif html_path:
        click.echo(f"{len(explanations)} explanation(s) written to {html_path}")
    else:
        for e in explanations:
            _echo_explanation(e, top)


# ---- tune ----
def _budget(ctx, param, value):
    from sentiment_cli.config import parse_duration

    try:
        return parse_duration(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


# Where each of tune's recorded options comes from on the command line (a resume compares them).
_TUNE_PARAMETERS = {**{name: name for name in _HYPERPARAMETERS}, "labels": "labels", "train": _DATA_PARAMETERS,
                    "folds": "folds"}


@cli.command()
@click.argument("run")
@click.option("--train", "train_path", default="data/training_label.txt", show_default=True,
              type=click.Path(dir_okay=False), help="Labeled data (a file: every trial reads it).")
@data_options
@click.option("--labels", help="Comma-separated label set; any other label is an error.")
@click.option("--on-bad-lines", type=click.Choice(BAD_LINES), default="error", show_default=True,
              help="An example with an empty text or a NUL byte: error, warn or skip (as train).")
@click.option("--budget", default="20m", show_default=True, callback=_budget, metavar="TIME",
              help="Time for the whole search, such as 90s, 20m, 1h or 1h30m; no trial starts when less is left "
                   "than a trial usually takes, and a trial stops at the first epoch end past it.")
@click.option("--trials", "max_trials", type=click.IntRange(1), metavar="N",
              help="Most trials that finish (complete or pruned) [default: as many as the budget allows].")
@click.option("--pretrain-embeddings/--no-pretrain-embeddings", default=DEFAULTS.pretrain_embeddings,
              show_default=True, help="Initialise each trial's embedding layer with Word2Vec (as train).")
@click.option("--folds", default="auto", show_default=True, callback=lambda ctx, param, value: _folds(value),
              help="Each trial's --folds, as train's: with K folds a trial is scored by its pooled out-of-fold "
                   "accuracy and costs K+1 small trainings; off: one validation split.")
@hyperparameter_options
@click.option("--overwrite", is_flag=True, help="Replace an existing run (or interrupted tune) of this name.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted tune: finished trials stay, an interrupted one is tried again. "
                   "--budget and --trials may be given anew; the other options must be as they were.")
@models_dir_option
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's path and the tune's result as one JSON object.")
def tune(run, train_path, fmt, labels, on_bad_lines, budget, max_trials, folds, overwrite, resume, models_dir, quiet,
         as_json, **kwargs):
    """Search RUN's settings on the validation split within a time budget; save the best as RUN.

    Trials train one after another (Optuna's TPE sampler), each on the same split (same
    --seed): the model (hybrid, ngram, rnn), cell, layers, embedding and hidden sizes, dropout,
    learning rate, epochs, max length, n-gram orders and minimum count. Trial 0 is always the
    defaults; a setting given as an option is kept as given and not searched. Trials whose
    network validates below the median of earlier ones at the same epoch are pruned. On small
    data each trial cross-validates as train does (--folds auto): it costs K+1 small trainings
    and is scored by its pooled out-of-fold accuracy (no pruning).

    RUN is a normal run (test, info, plot read it) with trials.csv, tune.json (the best and
    the defaults' validation accuracy) and tune.png beside its files.

    \b
    Example:
        sentiment-cli tune best --train data/training_label.txt --budget 20m
        sentiment-cli tune best --resume
        sentiment-cli tune small --train reviews.csv --budget 90s --trials 5 --model ngram
    """
    _load_tensorflow()
    from sentiment_cli.data import DataSpec
    from sentiment_cli.tune import TuneJob, TuneOptions, resume_tune, tune_run

    ctx = click.get_current_context()
    given = {name for name in _HYPERPARAMETERS if _given(ctx, name)}
    config = TrainConfig(**{name: kwargs[name] for name in _HYPERPARAMETERS if name in kwargs})
    job = TuneJob(models_dir, run, config, tuple(sorted(given)),
                  DataSpec(train_path, fmt, _columns(kwargs), on_bad_lines),
                  [label.strip() for label in labels.split(",")] if labels else None, budget, max_trials, folds)
    options = TuneOptions(overwrite, not quiet)
    if resume:
        path, summary = resume_tune(models_dir, run, _asked(ctx, job.options(), _TUNE_PARAMETERS),
                                    budget if _given(ctx, "budget") else None, max_trials, options)
    else:
        path, summary = tune_run(job, options)
    if as_json:
        click.echo(json.dumps({"run": str(path), **summary}))
        return
    click.echo(f"run saved to {path} (trial {summary['best_trial']} of {sum(summary['trials'].values())})")
    defaults = summary["defaults_val_accuracy"]
    folded = summary["objective"].startswith("pooled out-of-fold")
    click.echo(f"{'out-of-fold' if folded else 'validation'} accuracy {summary['best_val_accuracy']:.4f}, defaults "
               + (f"{defaults:.4f} ({summary['gain_over_defaults']:+.4f})" if defaults is not None else "did not finish")
               + (" (the best of many, biased upward" if folded else " (in-sample: the best of many on the same rows")
               + "; evaluate on held-out data to know)")
    click.echo("best settings: " + " ".join(f"{k}={v}" for k, v in summary["best_params"].items()))
    click.echo(f"trials: {os.path.join(path, 'trials.csv')}, {os.path.join(path, 'tune.png')}", err=True)
