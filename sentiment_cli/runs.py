"""Run directory layout: file names, save and load, never overwrite silently.

A run is written into a hidden temporary directory beside its final place and renamed into
place only when complete, so a crash, a kill or bad input never leaves a half-written run,
and an existing run replaced with --overwrite survives until its successor is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sentiment_cli.config import TrainConfig
from sentiment_cli.errors import ConfigError, RunError
from sentiment_cli.tokenizer import Tokenizer

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILE = "best.keras"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"

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
    import click
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
        "click": click.__version__,
    }


def write_json(path, data) -> None:
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


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


def read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing. Train the run again") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: damaged ({exc}). Train the run again") from None


@contextlib.contextmanager
def new_run(models_dir, name: str, overwrite: bool = False):
    """Yield a temporary directory to fill; on success it becomes models_dir/name.

    On any exception (KeyboardInterrupt included) the temporary directory is removed and an
    existing run stays as it was.
    """
    final = run_path(models_dir, name)
    if final.exists() and not overwrite:
        raise RunError(f"run {name!r} already exists in {final.parent}: pass --overwrite to replace it, or choose another name")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a run is an ordinary directory
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    install_run(tmp, final)


def install_run(src: Path, final: Path) -> None:
    """Rename a complete run directory to ``final``, replacing (then deleting) any run there."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(src, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def make_config_record(config: TrainConfig, tokenizer: Tokenizer, data: dict, extra: dict | None = None) -> dict:
    return {
        "hyperparameters": config.to_dict(),
        "data": data,
        "tokenizer_sha256": tokenizer.fingerprint,
        "vocabulary_size": len(tokenizer),
        **(extra or {}),
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
    }


@dataclass
class Run:
    path: Path
    config: TrainConfig
    record: dict  # all of config.json
    tokenizer: Tokenizer
    model: object = None
    metrics: dict = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.record.get("threshold", 0.5))


def load_run(models_dir, name: str, with_model: bool = True) -> Run:
    """Load a run's config, tokenizer and (safely) model, and check they belong together."""
    path = run_path(models_dir, name)
    if not path.is_dir():
        raise RunError(f"no run {name!r} in {path.parent}: train it first (sentiment-cli train {name})")
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
    if with_model:
        run.model = load_model(path / MODEL_FILE)
        check_model(run)
    return run


def load_model(path):
    import keras

    import sentiment_cli.ngrams  # noqa: F401  (registers NGramLogits for loading)

    if not Path(path).is_file():
        raise RunError(f"{path}: no model here. Train the run again")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, TypeError) as exc:
        raise RunError(f"{path}: cannot be loaded as a Keras model ({str(exc)[:200]}). Train the run again") from None


def check_model(run: Run) -> None:
    """Refuse a model whose input or output does not fit the run's tokenizer and labels."""
    model = run.model
    if run.config.model == "bow":
        width = model.inputs[0].shape[-1]
    else:
        names = [layer.name for layer in model.layers]
        if "embedding" in names:
            width = model.get_layer("embedding").input_dim
        else:
            width = model.get_layer("ngrams").vocab_size if "ngrams" in names else None
    classes = model.outputs[0].shape[-1]
    expected_classes = 1 if run.config.num_classes == 2 else run.config.num_classes
    if width != len(run.tokenizer) or classes != expected_classes:
        raise RunError(
            f"{run.path / MODEL_FILE} does not belong to {run.path / TOKENIZER_FILE} and {run.path / CONFIG_FILE} "
            f"(model: {width} token ids, {classes} outputs; run: {len(run.tokenizer)} ids, "
            f"{run.config.num_classes} classes): restore the run's own files or train again"
        )
