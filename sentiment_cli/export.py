"""``export``: a run as a TensorFlow SavedModel that maps raw strings to class probabilities.

The SavedModel holds the whole graph, the tokenizer included, so it is served by TensorFlow
Serving or loaded with ``tf.saved_model.load`` in a process that has never heard of
sentiment-cli. Its ``serving_default`` signature takes ``text`` (a batch of strings) and returns
``probabilities`` (one column per label, in the order of ``labels``) and ``label`` (the decided
label, with the run's threshold for a binary run). ``assets.extra/sentiment-cli.json`` names the
labels, the threshold and the run it came from: ``assets.extra`` is the SavedModel's own folder for
files that its users add (TensorFlow's ``EXTRA_ASSETS_DIRECTORY``; TensorFlow Serving reads only its
``tf_serving_warmup_requests`` there), so the version folder holds a SavedModel and nothing else,
and each version carries its own labels. (sentiment-cli 0.6.1 wrote the file at the folder's top.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from sentiment_cli import __version__
from sentiment_cli import runs as runs_module
from sentiment_cli.errors import RunError, disk_full, no_room
from sentiment_cli.runs import Run

SIGNATURE = "serving_default"
EXTRA_DIR = "assets.extra"
INFO_FILE = "sentiment-cli.json"


def export_run(run: Run, directory, overwrite: bool = False) -> Path:
    """Write ``run`` as a SavedModel into ``directory``, which appears only when complete."""
    import keras
    import tensorflow as tf

    directory = Path(directory)
    if directory.exists():
        if not overwrite:
            raise RunError(f"{directory} already exists: pass --overwrite to replace it, or choose another directory")
        ours = (directory / EXTRA_DIR / INFO_FILE).is_file() or (directory / INFO_FILE).is_file()  # or 0.6.1's
        if not directory.is_dir() or (any(directory.iterdir()) and not ours):
            raise RunError(f"{directory} is not an export of sentiment-cli: --overwrite replaces only those. "
                           "Choose another directory")
    if directory.parent.exists() and not directory.parent.is_dir():
        raise RunError(f"{directory.parent} is a file: export into a directory")
    directory.parent.mkdir(parents=True, exist_ok=True)  # exported/demo/1: TF Serving's base path and version
    labels = list(run.config.labels)
    binary = len(labels) == 2
    threshold = run.threshold if binary else None
    model = run.text_model
    names = tf.constant(labels)

    def serve(text):
        outputs = model(text, training=False)
        if binary:
            probabilities = tf.concat([1.0 - outputs, outputs], axis=1)
            decided = tf.cast(outputs[:, 0] >= threshold, tf.int32)
        else:
            probabilities = outputs
            decided = tf.argmax(outputs, axis=1, output_type=tf.int32)
        return {"probabilities": probabilities, "label": tf.gather(names, decided)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    runs_module.clean_leftovers(directory.parent, f".{directory.name}.", ".partial")
    tmp = directory.parent / f".{directory.name}.{os.getpid()}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive.write_out(str(tmp), verbose=False)
        (tmp / EXTRA_DIR).mkdir(exist_ok=True)
        runs_module.write_json(tmp / EXTRA_DIR / INFO_FILE, {
            "labels": labels, "threshold": threshold, "signature": SIGNATURE, "input": "text",
            "outputs": {"probabilities": f"float32 (batch, {len(labels)}), columns in the order of labels",
                        "label": "string (batch,)"},
            "run": run.path.name, "tokenizer_sha256": run.tokenizer.fingerprint, "sentiment_cli": __version__,
        })
        old = tmp.with_name(tmp.name + ".old.partial")
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        if no_room(exc):
            raise disk_full(exc, Path(os.path.abspath(directory)).parent, target=directory) from None
        raise
    return directory
