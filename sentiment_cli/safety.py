"""What a model file may hold: its ``config.json`` is checked before Keras reads any of it.

Keras' ``safe_mode`` has been bypassed by crafted ``.keras`` files more than once: a
``config.json`` that imports any module (CVE-2025-1550), that calls Keras functions turning
safe mode off (CVE-2025-8747, CVE-2025-9906), a ``TFSMLayer`` that loads an outside SavedModel
(CVE-2026-1462; a constructor path is still reported open, keras-team/keras#23654). So
``runs.load_model`` does not rest on it alone: ``check_model_file`` reads the archive's
``config.json`` and refuses, by name, every serialized object, function and activation that
models made by sentiment-cli do not contain, before ``keras.saving.load_model`` is called.

This module imports nothing of TensorFlow or Keras (the check must run before them).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from sentiment_cli.errors import RunError

CONFIG_MEMBER = "config.json"

# Every (module, class_name, registered_name) of a serialized object ({"module": ...,
# "class_name": ..., "config": ..., "registered_name": ...}) in the config.json of the models
# sentiment-cli makes. Collected by training tiny runs (tests/helpers.py TINY) of every kind
# with the CLI and walking their best.keras: --model hybrid|rnn|ngram|bow, --bow-mode
# counts|tfidf, --cell lstm|gru, --bidirectional/--unidirectional, --layers 1|2, --pooling
# last|mean, --merge-mode concat|sum|mul|ave, --normalize tweets, --embeddings FILE
# --freeze-embeddings, --pretrain-embeddings and not, --ngram-max-length (KeepTokens),
# three classes, --strategy mirrored; the same set with keras 3.12.1, 3.13.2 and 3.15.1.
# tests/test_safe_loading.py checks that the models the project builds still pass.
ALLOWED_OBJECTS = frozenset({
    # the graph: functional models (the text model around the classifier), their inputs,
    # the tensors between layers, and the mask Keras derives from the padded ids
    ("keras.src.models.functional", "Functional", "Functional"),
    ("keras.layers", "InputLayer", None),
    (None, "__keras_tensor__", None),
    ("keras.src.ops.numpy", "NotEqual", "NotEqual"),
    ("keras", "DTypePolicy", None),
    # Keras layers and initializers
    ("keras.layers", "Activation", None),
    ("keras.layers", "Bidirectional", None),
    ("keras.layers", "Dense", None),
    ("keras.layers", "Dropout", None),
    ("keras.layers", "Embedding", None),
    ("keras.layers", "GRU", None),
    ("keras.layers", "GlobalAveragePooling1D", None),
    ("keras.layers", "LSTM", None),
    ("keras.layers", "SpatialDropout1D", None),
    ("keras.initializers", "GlorotUniform", None),
    ("keras.initializers", "Orthogonal", None),
    ("keras.initializers", "RandomUniform", None),
    ("keras.initializers", "Zeros", None),
    # our own layers (registered with package="sentiment_cli")
    ("sentiment_cli.calibration", "Mix", "sentiment_cli>Mix"),
    ("sentiment_cli.model", "BagOfWords", "sentiment_cli>BagOfWords"),
    ("sentiment_cli.ngrams", "NGramLogits", "sentiment_cli>NGramLogits"),
    ("sentiment_cli.ngrams", "CompactNGramLogits", "sentiment_cli>CompactNGramLogits"),
    ("sentiment_cli.textops", "KeepTokens", "sentiment_cli>KeepTokens"),
    ("sentiment_cli.textops", "TextToIds", "sentiment_cli>TextToIds"),
})

# Function references ({"module": ..., "class_name": "function", "config": NAME,
# "registered_name": ...}) as (module, NAME, registered_name): the same collection found none
# (activations are saved as names, below), so every function reference is refused.
ALLOWED_FUNCTIONS: frozenset[tuple] = frozenset()

# Activations named by string (Keras looks them up by name): those the same collection found.
ACTIVATION_KEYS = ("activation", "recurrent_activation")
ALLOWED_ACTIVATIONS = frozenset({"linear", "relu", "sigmoid", "softmax", "tanh"})

# Keys that make a JSON object a serialized Keras object (or a function or lambda).
_OBJECT_KEYS = ("class_name", "module", "registered_name")

# config.json is read into memory: far more than the largest vocabulary a run may hold
# (config.LIMITS), far less than a decompression bomb.
CONFIG_LIMIT = 1 << 30


def _damaged(path, why: str) -> RunError:
    return RunError(f"{path}: damaged, truncated or not a Keras model ({why}). Restore it from a copy of the run, "
                    "or train the run again")


def read_model_config(path) -> object:
    """The parsed config.json of the .keras archive at ``path``; RunError when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo(CONFIG_MEMBER)
            except KeyError:
                raise _damaged(path, f"no {CONFIG_MEMBER} in the archive") from None
            if info.file_size > CONFIG_LIMIT:
                raise _damaged(path, f"its {CONFIG_MEMBER} is {info.file_size} bytes, more than a model holds")
            with archive.open(info) as member:
                text = member.read(CONFIG_LIMIT + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        raise _damaged(path, f"not a readable zip archive: {exc}") from None
    if len(text) > CONFIG_LIMIT:
        raise _damaged(path, f"its {CONFIG_MEMBER} is more than {CONFIG_LIMIT} bytes")
    try:
        return json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _damaged(path, f"its {CONFIG_MEMBER} is not valid JSON") from None


def _text(value) -> str:
    """``value`` for a one-line message: a short printable string as it is, anything else as
    (the start of) its JSON."""
    if isinstance(value, str) and value.isprintable() and len(value) <= 100:
        return value
    return json.dumps(value, ensure_ascii=True)[:100]


def _describe(node: dict) -> str | None:
    """What the serialized object ``node`` names, when it is not allowed; None when it is."""
    module, class_name, registered = node.get("module"), node.get("class_name"), node.get("registered_name")
    if class_name == "function":
        name = node.get("config")
        if isinstance(name, str) and (module, name, registered) in ALLOWED_FUNCTIONS:
            return None
        return f"function {_text(module)}.{_text(name)}" if module is not None else f"function {_text(name)}"
    if class_name == "__lambda__":
        return "a Python lambda (__lambda__)"
    if (module, class_name, registered) in ALLOWED_OBJECTS:
        return None
    text = f"class {_text(class_name)}"
    if module is not None:
        text += f" of module {_text(module)}"
    if registered is not None and registered != class_name:
        text += f" (registered as {_text(registered)})"
    return text


def disallowed(config) -> list[str]:
    """Everything in a parsed config.json outside the allow-lists, each named with the layer
    (or other named object) it sits in."""
    found, stack = [], [(config, None)]
    while stack:
        node, owner = stack.pop()
        if isinstance(node, dict):
            if any(key in node for key in _OBJECT_KEYS):
                inner = node.get("config")
                if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                    owner = inner["name"]
                what = _describe(node)
                if what is not None:
                    found.append(what + (f" in {_text(owner)!r}" if owner else ""))
            for key in ACTIVATION_KEYS:
                value = node.get(key)
                if isinstance(value, str) and value not in ALLOWED_ACTIVATIONS:
                    found.append(f"activation function {_text(value)!r}" + (f" in {_text(owner)!r}" if owner else ""))
            stack.extend((value, owner) for value in reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend((value, owner) for value in reversed(node))
    return found


def check_model_file(path) -> None:
    """Refuse (RunError) a model file whose config.json holds anything our models do not."""
    found = disallowed(read_model_config(path))
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise RunError(f"{Path(path)}: the model file contains Python code or objects that sentiment-cli never writes: "
                       f"{found[0]}{more}. It was not made by sentiment-cli and may have been tampered with: do not "
                       "load it; train the run again")
