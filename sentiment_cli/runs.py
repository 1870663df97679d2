"""Run directory layout: file names, save and load, never overwrite silently.

A run is written into a hidden temporary directory beside its final place and renamed into
place only when complete, so a crash, a kill or bad input never leaves a half-written run,
and an existing run replaced with --overwrite survives until its successor is complete.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import platform
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sentiment_cli.config import TrainConfig
from sentiment_cli.errors import ConfigError, RunError
from sentiment_cli.safety import check_model_file
from sentiment_cli.tokenizer import Tokenizer

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILE = "best.keras"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
ROUNDS_FILE = "rounds.csv"  # semi: one row per round
LOGS_DIR = "logs"  # train --tensorboard
# A hash of each training text (not the text), so that evaluate can warn about overlap.
TEXTS_FILE = "training_texts.json"
# The validation split as the hashes of its texts (encoding.Split): later steps rebuild it from them.
SPLIT_FILE = "split.json"
# The validation rows' true class and final (calibrated) probabilities, for the pictures of `plot`.
VALIDATION_FILE = "validation.json"
# train --folds: each row's out-of-fold probabilities and halves' logits, by its text's hash
OOF_FILE = "oof.json"
# tune: one row per trial of the search, and its result (best and defaults trials, budget); the
# picture of the trials (plots.TUNE_PICTURE) lies beside them.
TRIALS_FILE = "trials.csv"
TUNE_FILE = "tune.json"

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def run_path(models_dir, name: str) -> Path:
    """models_dir/name, refusing any name that would leave models_dir."""
    if not _RUN_NAME.match(name or "") or ".." in name:
        raise RunError(
            f"invalid run name {name!r}: use letters, digits, '.', '_' and '-', starting with a "
            "letter or digit (no '/' or '..'); --models-dir puts runs elsewhere"
        )
    base = Path(models_dir).resolve()
    path = (base / name).resolve()
    if path.parent != base:  # a symlink pointing outside, for instance
        raise RunError(f"run {name!r} would leave the models directory {base}")
    return path


def library_versions() -> dict:
    from importlib.metadata import version

    import keras
    import numpy
    import tensorflow

    from sentiment_cli import __version__

    return {
        "sentiment_cli": __version__,
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "click": version("click"),  # by its distribution: the library does not import click
    }


# The command line that made a run, set by the CLI; None when the library is called directly.
invocation: list[str] | None = None


def _finite(value):
    """NaN and infinities as null: JSON has no such numbers, and strict readers refuse them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path, data) -> None:
    text = json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def write_json_atomic(path, data) -> None:
    """Write beside, then rename: a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write_json(tmp, data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_csv(path, rows: list[dict]) -> None:
    """rows (dicts with the same keys) as a CSV file, written beside and renamed into place."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        tmp.write_text(out.getvalue(), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing. Train the run again") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunError(f"{path}: damaged or truncated (not valid JSON). Restore it from a copy of the run, "
                       "or train the run again") from None


def file_mode(directory: bool = False) -> int:
    """The mode a plain open() or mkdir() would give under the current umask (mkstemp and
    mkdtemp make private files; a result or a run is an ordinary file or directory)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def process_alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _owner_alive(rest: str) -> bool:
    """Whether the process whose id starts ``rest`` (a leftover's name after its prefix) runs."""
    match = re.match(r"(\d+)[.-]", rest)
    return process_alive(int(match.group(1))) if match else True  # no id: not ours to judge


def clean_leftovers(directory, prefix: str, suffix: str = "") -> list[str]:
    """Remove ``prefix*suffix`` entries of ``directory`` left by killed processes; their names.

    Temporary runs and outputs carry their process id, so work in progress is never touched.
    """
    removed = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if entry.name.startswith(prefix) and entry.name.endswith(suffix) and not _owner_alive(entry.name[len(prefix):]):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    if removed:
        print(f"removed {len(removed)} leftover(s) of killed work in {directory}: {', '.join(sorted(removed))}",
              file=sys.stderr)
    return removed


def make_config_record(config: TrainConfig, tokenizer: Tokenizer, data: dict, extra: dict | None = None) -> dict:
    return {
        "hyperparameters": config.to_dict(),
        "data": data,
        "tokenizer_sha256": tokenizer.fingerprint,
        "vocabulary_size": len(tokenizer),
        **(extra or {}),
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": invocation,
    }


@dataclass
class Run:
    path: Path
    config: TrainConfig
    record: dict  # all of config.json
    tokenizer: Tokenizer
    model: object = None  # the classifier: padded token ids -> probabilities
    metrics: dict = field(default_factory=dict)
    text_model: object = None  # best.keras itself: raw strings -> the classifier's probabilities
    # what computes ``model``: "tensorflow" (Keras) or "numpy" (npmodel.NumpyModel, no text_model)
    engine: str = "tensorflow"

    @property
    def threshold(self) -> float:
        return float(self.record.get("threshold", 0.5))


def existing_run(models_dir, name: str) -> Path:
    """The directory of an existing run: a name in models_dir, or a path to a run directory
    (one with a config.json; ``models/demo``, ``./old/run``)."""
    given = Path(name)
    if ("/" in name or name in (".", "..")) and (given / CONFIG_FILE).is_file():
        return given.resolve()
    if "/" in name:
        raise RunError(f"{name}: not a run directory (no {CONFIG_FILE} in it)")
    path = run_path(models_dir, name)
    if not path.is_dir():
        from sentiment_cli.workspace import unfinished_message  # same layer; workspace imports runs

        message = unfinished_message(models_dir, name)
        if message:
            raise RunError(message)
        names = list_runs(models_dir)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = (f"did you mean {', '.join(close)}? " if close else "") + (
            f"runs there: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}" if names else "it holds no runs")
        raise RunError(f"no run {name!r} in {path.parent} ({hint}). Train it first (sentiment-cli train {name}), "
                       "or give --models-dir or a path to the run")
    return path


def list_runs(models_dir) -> list[str]:
    """Names of the run directories in models_dir (those with a config.json), sorted."""
    base = Path(models_dir)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / CONFIG_FILE).is_file())


def run_summaries(models_dir) -> list[dict]:
    """What `list` shows of each run in models_dir, from its JSON files only (no TensorFlow): a run
    whose files are damaged gets its problem instead of its figures."""
    rows = []
    for name in list_runs(models_dir):
        path = Path(models_dir) / name
        row = {"run": name, "path": str(path),
               "size_mb": round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 2)}
        try:
            record = read_json(path / CONFIG_FILE)
            metrics = read_json(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else {}
            hyper = record.get("hyperparameters", {})
            row.update(labels=hyper.get("labels"), model=hyper.get("model"),
                       val_accuracy=metrics.get("best_val_accuracy"), figure=figure(metrics),
                       created=record.get("created"))
            Tokenizer.load(path / TOKENIZER_FILE)  # refuses the versions this release cannot read
        except (RunError, ConfigError, AttributeError, TypeError) as exc:
            row["problem"] = str(exc) if isinstance(exc, (RunError, ConfigError)) else f"{path / CONFIG_FILE}: damaged"
        rows.append(row)
    return rows


def read_oof(run_path) -> dict | None:
    """A cross-validated run's out-of-fold probabilities by text hash ({hash: (classes,) array}), from
    OOF_FILE; None for a run without one (one validation split). Copies of a text share a fold,
    and the first copy's row stands for them."""
    import numpy as np

    path = Path(run_path) / OOF_FILE
    if not path.is_file():
        return None
    record = read_json(path)
    try:
        found = {}
        for h, p in zip(record["hash"], record["probabilities"]):
            found.setdefault(str(h), np.asarray(p, dtype=np.float64))
    except (KeyError, TypeError, ValueError):
        raise RunError(f"{path}: damaged (no hash and probabilities lists). Train the run again") from None
    return found


def training_file(run: Run):
    """The labeled file ``run`` was trained on and how it was read (config.json's "data"), as a
    ``data.DataSpec``; None for a run that does not record it. A relative path is as train was given it."""
    from sentiment_cli.data import Columns, DataSpec

    stored = run.record.get("data") or {}
    if stored.get("train") is None:
        return None
    return DataSpec(stored["train"], stored.get("format") or "auto", Columns(**(stored.get("columns") or {})),
                    stored.get("on_bad_lines") or "error")


def figure(metrics: dict) -> str | None:
    """A run's accuracy as `list` and `info` show it, saying which it is: "cv 5-fold 0.81 +- 0.04"
    (train --folds: the folds' mean and standard deviation), "val 0.85" (one validation split) or
    "out-of-fold 0.86" (semi on a cross-validated base: the kept round's pooled out-of-fold accuracy)."""
    if not isinstance(metrics, dict):
        return None
    cv = metrics.get("cross_validation")
    if isinstance(cv, dict) and isinstance(cv.get("accuracy_mean"), (int, float)):
        sd = cv.get("accuracy_sd") if isinstance(cv.get("accuracy_sd"), (int, float)) else 0.0
        return f"cv {cv.get('folds')}-fold {cv['accuracy_mean']:.2f} +- {sd:.2f}"
    value = metrics.get("best_val_accuracy")
    if not isinstance(value, (int, float)):
        return None
    # a semi run on a cross-validated base judges its rounds out of fold: its figure is pooled so
    return f"{'out-of-fold' if metrics.get('judged_on') == 'out-of-fold' else 'val'} {value:.2f}"


def load_run(models_dir, name: str, with_model: bool = True, engine: str = "tensorflow") -> Run:
    """Load a run's config, tokenizer and (safely) model, and check they belong together.
    name: a run of models_dir, or a path to a run directory. engine "numpy": the model read by
    ``npmodel`` (no TensorFlow), which raises ``npmodel.Unsupported`` for a model it does not compute."""
    path = existing_run(models_dir, name)
    record = read_json(path / CONFIG_FILE)
    try:
        config = TrainConfig.from_dict(record["hyperparameters"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise RunError(f"{path / CONFIG_FILE}: damaged hyperparameters ({exc}). Train the run again") from None
    tokenizer = Tokenizer.load(path / TOKENIZER_FILE)
    if tokenizer.fingerprint != record.get("tokenizer_sha256"):
        raise RunError(
            f"{path / TOKENIZER_FILE} does not belong to the model in {path} (its vocabulary differs "
            f"from the one the model was trained with): restore the run's own tokenizer.json or train again"
        )
    metrics = read_json(path / METRICS_FILE) if (path / METRICS_FILE).exists() else {}
    run = Run(path, config, record, tokenizer, metrics=metrics)
    if with_model and engine == "numpy":
        from sentiment_cli import npmodel

        run.model, run.engine = npmodel.load(path / MODEL_FILE), "numpy"
        model = run.model
        _check_fits(run, model.vocabulary, model.normalize, model.input_dim, model.outputs)
    elif with_model:
        run.text_model = load_model(path / MODEL_FILE, text=True)
        run.model = classifier_of(run.text_model, path / MODEL_FILE)
        check_model(run)
    return run


def save_model(path, model, tokenizer: Tokenizer, config: TrainConfig) -> None:
    """Save ``model`` (ids -> probabilities) behind its tokenizer: the file maps raw strings to
    probabilities. It holds no optimizer state: nothing resumes from it (see EpochCommit), and its
    n-gram half is in the compact form (``model.stored_form``)."""
    from sentiment_cli.model import stored_form, text_model

    text_model(stored_form(model), tokenizer, config).save(path)


def classifier_of(text_model, path):
    from sentiment_cli.model import classifier

    model = classifier(text_model)
    if model is None:
        raise RunError(f"{path}: made by an older version of sentiment-cli (the model takes token ids, not text). "
                       "Train the run again (sentiment-cli train NAME --overwrite, with the options it had)")
    return model


def load_model(path, text: bool = False):
    """A saved model, loaded safely: the classifier inside it, or with ``text`` the whole file's
    model (raw strings -> probabilities).

    safe_mode alone has been bypassed (see safety.py): the archive (members, config.json, every
    weight array's shape and dtype) passes ``safety.open_model`` first, and Keras never reads a
    file that fails."""
    if not Path(path).is_file():
        raise RunError(f"{path}: no model here. Train the run again")
    check_model_file(path)

    import keras

    import sentiment_cli.model  # noqa: F401  (registers our layers for loading)

    try:
        loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, TypeError) as exc:
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise RunError(f"{path}: the model file contains Python code (a lambda), which safe loading refuses to "
                           "run: it was not made by sentiment-cli and may have been tampered with. Do not load it; "
                           "train the run again") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if len(first) > 160:
            first = first[:157].rsplit(" ", 1)[0] + "..."
        raise RunError(f"{path}: damaged, truncated or not a Keras model ({first}). Restore it from a copy of "
                       "the run, or train the run again") from None
    return loaded if text else classifier_of(loaded, path)


def check_model(run: Run) -> None:
    """Refuse a model whose input or output does not fit the run's tokenizer and labels."""
    model = run.model
    layer = run.text_model.get_layer("text_to_ids") if run.text_model is not None else None
    if run.config.model == "bow":
        width = model.get_layer("bag_of_words").vocab_size
    else:
        names = [layer.name for layer in model.layers]
        if "embedding" in names:
            width = model.get_layer("embedding").input_dim
        else:
            width = model.get_layer("ngrams").vocab_size if "ngrams" in names else None
    _check_fits(run, layer.vocabulary if layer is not None else None, layer.normalize if layer is not None else None,
                width, model.outputs[0].shape[-1])


def _check_fits(run: Run, vocabulary, normalize, width, classes) -> None:
    """Refuse a model whose text layer (vocabulary, normalize: None when it has none), token
    ids (width) or outputs (classes) are not those of the run's tokenizer and labels."""
    if vocabulary is not None and (vocabulary, normalize) != (run.tokenizer.vocabulary, run.tokenizer.normalize):
        what = "vocabulary" if vocabulary != run.tokenizer.vocabulary else "normalization"
        raise RunError(
            f"{run.path / MODEL_FILE} does not belong to {run.path / TOKENIZER_FILE}: the model's {what} "
            "differs from the tokenizer's. Restore the run's own files or train again")
    expected_classes = 1 if run.config.num_classes == 2 else run.config.num_classes
    if width != len(run.tokenizer) or classes != expected_classes:
        raise RunError(
            f"{run.path / MODEL_FILE} does not belong to {run.path / TOKENIZER_FILE} and {run.path / CONFIG_FILE} "
            f"(model: {width} token ids, {classes} outputs; run: {len(run.tokenizer)} ids, "
            f"{run.config.num_classes} classes): restore the run's own files or train again"
        )
