"""What a model file may hold, checked before either engine reads any of it (``open_model``).

Keras' ``safe_mode`` has been bypassed by crafted ``.keras`` files more than once: a
``config.json`` that imports any module (CVE-2025-1550), that calls Keras functions turning
safe mode off (CVE-2025-8747, CVE-2025-9906), a ``TFSMLayer`` that loads an outside SavedModel
(CVE-2026-1462; a constructor path is still reported open, keras-team/keras#23654). So
``runs.load_model`` does not rest on it alone: ``check_model_file`` reads the archive's
``config.json`` and refuses, by name, every serialized object, function and activation that
models made by sentiment-cli do not contain, before ``keras.saving.load_model`` is called.

The same guard checks the archive itself (``open_model``): its members (names, count, sizes and
compression ratios, the limits below), then every array of ``model.weights.h5`` against what
the config implies (``expected_arrays``: each layer kind's arrays, shapes and dtypes), from the
HDF5 metadata alone, before any array is read. An array no layer uses is refused and never read.
The NumPy engine reads only the arrays that passed (``ModelFile.read``); Keras reads a file only
after it passed, so what is refused does not depend on the Keras version.

This module imports nothing of TensorFlow or Keras (the check must run before them).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import struct
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from sentiment_cli.errors import RunError
from sentiment_cli.rules import table_rows

CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.h5"
METADATA_MEMBER = "metadata.json"

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
    ("sentiment_cli.model", "UnknownWordVectors", "sentiment_cli>UnknownWordVectors"),
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

# ---- limits of the archive: the one place they are named ----
# config.json is read into memory and parsed, which takes up to about 15 bytes per byte of short
# strings (16 MiB of two-letter strings peak at 304 MB, refused, without TensorFlow). Measured on an
# IMDB run's config (the default --vocab-size 20000, 0.6.1): 231 KB; keeping every word of IMDB's
# 25,000 training reviews (81,372): 955 KB. The limit is 17 times the latter, about 1.4 million words
# at IMDB's 12 bytes a word (config.LIMITS allows a vocab_size of 10 million: a run that large would
# be refused here).
CONFIG_LIMIT = 16 << 20
# An empty list or object costs 20 to 30 times its 2 or 3 bytes once parsed: json.loads never sees a
# config.json with more of them (outside strings) than this. The IMDB runs above hold about 250 (the
# vocabulary is one list); the most layers (config.LIMITS) do not need 1,000.
CONFIG_CONTAINERS = 10_000
# model.weights.h5 is read into memory too: 40 times the IMDB demo's 53 MB (0.6.1); a vocabulary of
# 3 million words at 300 dimensions in float16 is 1.8 GB.
WEIGHTS_LIMIT = 2 << 30
# metadata.json holds the Keras version and a date (64 bytes); Keras reads it, we never do.
METADATA_LIMIT = 1 << 16
# The members Keras writes for our models (keras 3.12.1 to 3.15.1), each with its most bytes; every
# other name (a path, "../x", an "assets/" folder) is refused. config.json and the weights must be there.
MEMBER_LIMITS = {CONFIG_MEMBER: CONFIG_LIMIT, WEIGHTS_MEMBER: WEIGHTS_LIMIT, METADATA_MEMBER: METADATA_LIMIT}
REQUIRED_MEMBERS = (CONFIG_MEMBER, WEIGHTS_MEMBER)
# One entry per name: a zip may hold a name twice, and readers disagree on which copy is "the" member.
MAX_MEMBERS = len(MEMBER_LIMITS)
# Keras stores every member uncompressed (ratio 1). DEFLATE packs float weights under 2x and a JSON
# vocabulary about 4x, so 10x leaves room for a file zipped again by another tool, while a bomb
# (zeros pack about 1,000x) is far above it. Members under RATIO_FLOOR are too small to matter.
MAX_RATIO = 10
RATIO_FLOOR = 1 << 20
# An HDF5 dataset may declare a shape whose bytes it does not store (never written: read as the fill
# value), or store them chunked and compressed (a bomb inside the file). Keras writes every array
# whole, contiguous and uncompressed (keras 3.12.1 to 3.15.1; tests/test_safe_loading.py checks the
# runs the project makes), so each array must be contiguous and store exactly the bytes it declares,
# and all of them together no more bytes than the weights member holds (layouts could share bytes).


def _damaged(path, why: str) -> RunError:
    return RunError(f"{path}: damaged, truncated or not a Keras model ({why}). Restore it from a copy of the run, "
                    "or train the run again")


def _refused(path, why: str) -> RunError:
    return RunError(f"{path}: refused, {why}: sentiment-cli never writes such a model file. It may have been "
                    "tampered with: do not load it; restore the run's best.keras from a copy or train the run again")


_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, OSError)


def _members(path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name, once each has passed the limits above (names, count, sizes,
    ratios); nothing of them is read."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _refused(path, f"the archive has {len(infos)} members, more than the {MAX_MEMBERS} Keras writes")
    members = {}
    for info in infos:
        name = info.filename
        if name not in MEMBER_LIMITS:
            raise _refused(path, f"the archive holds a member named {_text(name)!r} (expected only "
                                 f"{', '.join(MEMBER_LIMITS)})")
        if name in members:
            raise _refused(path, f"the archive holds {name} twice")
        if info.file_size > MEMBER_LIMITS[name]:
            raise _refused(path, f"its {name} is {info.file_size} bytes, more than the {MEMBER_LIMITS[name]} a "
                                 "model holds")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * info.compress_size:
            raise _refused(path, f"its {name} inflates from {info.compress_size} to {info.file_size} bytes, more "
                                 f"than {MAX_RATIO} times (a decompression bomb)")
        if _data_end(archive, info) > archive.start_dir:
            raise _refused(path, f"its {name} claims {info.compress_size} compressed bytes, more than the archive "
                                 "holds before its directory (the directory lies about its ratio)")
        members[name] = info
    for name in REQUIRED_MEMBERS:
        if name not in members:
            raise _damaged(path, f"no {name} in the archive")
    return members


def _data_end(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """Where a member's compressed data ends by the directory's word: after its local header (whose
    name and extra field lengths only the header itself gives) and ``compress_size`` bytes."""
    archive.fp.seek(info.header_offset)
    header = archive.fp.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename} where the directory says")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length + info.compress_size


_CHUNK = 1 << 20


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, read in chunks and counted: never more than its limit, nor (above
    RATIO_FLOOR) more than MAX_RATIO times its compressed size, whatever the directory says."""
    limit = min(MEMBER_LIMITS[info.filename], max(RATIO_FLOOR, MAX_RATIO * info.compress_size))
    data, length = io.BytesIO(), 0
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            length += len(chunk)
            if length > limit:
                raise zipfile.BadZipFile(f"{info.filename} inflates past {limit} bytes, more than its size or ratio "
                                         "in the archive's directory allow")
            data.write(chunk)
    return data.getvalue()


# A JSON string, or (group 1) the start of a list or an object.
_JSON_STRING_OR_CONTAINER = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|([\[{])')


def _containers(text: bytes) -> int:
    """The lists and objects of a JSON text, counted without parsing it: every "[" and "{" when
    that is few enough, else those outside strings (a vocabulary may hold brackets), one match at a
    time (re.sub would hold a piece for every string)."""
    brackets = text.count(b"[") + text.count(b"{")
    if brackets <= CONFIG_CONTAINERS:
        return brackets
    return sum(1 for match in _JSON_STRING_OR_CONTAINER.finditer(text) if match.lastindex)


def _parse_config(path, text: bytes) -> object:
    containers = _containers(text)
    if containers > CONFIG_CONTAINERS:
        raise _refused(path, f"its {CONFIG_MEMBER} holds {containers} lists and objects, more than the "
                             f"{CONFIG_CONTAINERS} a model holds")
    try:
        return json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _damaged(path, f"its {CONFIG_MEMBER} is not valid JSON") from None


def read_model_config(path) -> object:
    """The parsed config.json of the .keras archive at ``path``, once the archive's members passed
    their limits; RunError when it cannot be read or is refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            text = _read_member(archive, _members(path, archive)[CONFIG_MEMBER])
    except _ZIP_ERRORS as exc:
        raise _damaged(path, f"not a readable zip archive: {exc}") from None
    return _parse_config(path, text)


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
            stack.extend((value, owner) for value in reversed(list(node.values())) if isinstance(value, (dict, list)))
        elif isinstance(node, list):  # not one entry per word of a vocabulary: only what may hold objects
            stack.extend((value, owner) for value in reversed(node) if isinstance(value, (dict, list)))
    return found


def _check_allowed(path, config) -> None:
    found = disallowed(config)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise RunError(f"{Path(path)}: the model file contains Python code or objects that sentiment-cli never writes: "
                       f"{found[0]}{more}. It was not made by sentiment-cli and may have been tampered with: do not "
                       "load it; train the run again")


# ---- the weights each layer holds: the one place that says which arrays a config implies ----

class _Refusal(Exception):
    """What is wrong with a model file's config or weights (open_model names the file)."""


def snake_case(name: str) -> str:
    """The name Keras files a layer's weights under (``keras.src.utils.naming.to_snake_case``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def weight_folders(layers: list) -> list[str]:
    """Each layer's folder in the weights file: its class in snake case, numbered from the second
    of a class on (``dense``, ``dense_1``), in the order of the model's layers, as Keras saves."""
    seen: dict[str, int] = {}
    paths = []
    for layer in layers:
        name = snake_case(str(layer.get("class_name", "")) if isinstance(layer, dict) else "")
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        paths.append(name)
    return paths


# The variable dtype of a layer's dtype policy (mixed policies keep their variables in float32).
_POLICY_DTYPES = {"float16": "float16", "float32": "float32", "float64": "float64",
                  "mixed_float16": "float32", "mixed_bfloat16": "float32"}


def _dtype(config: dict) -> str:
    """The dtype of a layer's variables, from its dtype policy (a name, or a serialized DTypePolicy)."""
    policy = config.get("dtype", "float32")
    if isinstance(policy, dict):
        policy = (policy.get("config") or {}).get("name")
    if policy not in _POLICY_DTYPES:
        raise _Refusal(f"layer {_text(config.get('name'))!r} has the dtype policy {_text(policy)}")
    return _POLICY_DTYPES[policy]


def _count(config: dict, key: str, default=None, least: int = 1) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise _Refusal(f"layer {_text(config.get('name'))!r} has {key} {_text(value)}")
    return value


def _input_width(layer: dict) -> int:
    """The width of the features a layer's kernel reads: the last axis of its ``build_config``
    input shape, the shape Keras builds the layer with before it loads the layer's weights."""
    shape = (layer.get("build_config") or {}).get("input_shape")
    if not isinstance(shape, list) or not shape:
        raise _Refusal(f"layer {_text(layer['config'].get('name'))!r} has no input shape")
    return _count({"name": layer["config"].get("name"), "width": shape[-1]}, "width")


def _recurrent(layer: dict, width: int, folder: str) -> list:
    """An LSTM's or GRU's kernel, recurrent kernel and bias (a GRU with reset_after: two biases)."""
    kind, config = layer.get("class_name"), layer.get("config")
    if kind not in ("LSTM", "GRU") or not isinstance(config, dict):
        raise _Refusal(f"a recurrent layer of class {_text(kind)}")
    units, dtype = _count(config, "units"), _dtype(config)
    gates = 4 if kind == "LSTM" else 3
    arrays = [(f"{folder}/cell/vars/0", (width, gates * units), dtype),
              (f"{folder}/cell/vars/1", (units, gates * units), dtype)]
    if config.get("use_bias", True):
        bias = (2, gates * units) if kind == "GRU" and config.get("reset_after", True) else (gates * units,)
        arrays.append((f"{folder}/cell/vars/2", bias, dtype))
    return arrays


def _bidirectional(layer: dict, folder: str) -> list:
    config = layer["config"]
    forward = config.get("layer")
    backward = config.get("backward_layer") or forward  # Keras copies the forward layer when none is given
    width = _input_width(layer)
    return _recurrent(forward, width, f"{folder}/forward_layer") + _recurrent(backward, width,
                                                                             f"{folder}/backward_layer")


def _dense(layer: dict, folder: str) -> list:
    config = layer["config"]
    units, dtype = _count(config, "units"), _dtype(config)
    arrays = [(f"{folder}/vars/0", (_input_width(layer), units), dtype)]
    if config.get("use_bias", True):
        arrays.append((f"{folder}/vars/1", (units,), dtype))
    return arrays


def _ngram_rows(config: dict) -> int:
    """The rows of a full n-gram table, by the one rule (``rules.table_rows``)."""
    return table_rows(_count(config, "vocab_size"), _count(config, "ngram", 3), _count(config, "buckets", 2 ** 21),
                      _count(config, "char_buckets", 0, least=0))


def _ngram_logits(layer: dict, folder: str) -> list:  # the fitted form (runs saved before 0.3.0)
    config = layer["config"]
    rows, outputs, dtype = _ngram_rows(config), _count(config, "outputs", 1), _dtype(config)
    return [(f"{folder}/vars/0", (rows, outputs), dtype), (f"{folder}/vars/1", (rows, outputs), dtype),
            (f"{folder}/vars/2", (outputs,), dtype)]


def _compact_ngram_logits(layer: dict, folder: str) -> list:  # keys and values as CompactNGramLogits.build
    config = layer["config"]
    kept, outputs = max(_count(config, "kept", 1, least=0), 1), _count(config, "outputs", 1)
    if kept > _ngram_rows(config):
        raise _Refusal(f"layer {_text(config.get('name'))!r} keeps {kept} rows of a table of {_ngram_rows(config)}")
    return [(f"{folder}/vars/0", (kept,), "int32"), (f"{folder}/vars/1", (kept, outputs), "float16"),
            (f"{folder}/vars/2", (outputs,), _dtype(config))]


def _none(layer: dict, folder: str) -> list:
    return []


def _unknown_word_vectors(layer: dict, folder: str) -> list:  # table and projection, as the layer builds them
    config = layer["config"]
    dtype = config.get("weights_dtype", "float32")
    if dtype not in ("float32", "float16"):
        raise _Refusal(f"layer {_text(config.get('name'))!r} has weights_dtype {_text(dtype)}")
    dim = _count(config, "dim")
    return [(f"{folder}/vars/0", (_count(config, "buckets"), dim), dtype),
            (f"{folder}/vars/1", (dim, _count(config, "output_dim")), dtype)]


# Each layer class our models hold (ALLOWED_OBJECTS) -> its arrays (path, shape, dtype), from its
# serialized layer and its folder in the weights file. Functional models are walked by
# ``_model_arrays``.
LAYER_ARRAYS: dict[str, Callable[[dict, str], list]] = {
    "InputLayer": _none, "KeepTokens": _none, "SpatialDropout1D": _none, "Dropout": _none,
    "NotEqual": _none, "GlobalAveragePooling1D": _none, "Activation": _none,
    "TextToIds": _none,  # its vocabulary is in config.json; its lookup table holds no array
    "Embedding": lambda layer, folder: [(f"{folder}/vars/0", (_count(layer["config"], "input_dim"),
                                                              _count(layer["config"], "output_dim")),
                                         _dtype(layer["config"]))],
    "Dense": _dense,
    "LSTM": lambda layer, folder: _recurrent(layer, _input_width(layer), folder),
    "GRU": lambda layer, folder: _recurrent(layer, _input_width(layer), folder),
    "Bidirectional": _bidirectional,
    "NGramLogits": _ngram_logits,
    "CompactNGramLogits": _compact_ngram_logits,
    "UnknownWordVectors": _unknown_word_vectors,
    "BagOfWords": lambda layer, folder: [(f"{folder}/vars/0", (_count(layer["config"], "vocab_size"),),
                                          _dtype(layer["config"]))],
    "Mix": lambda layer, folder: [(f"{folder}/vars/0", (_count(layer["config"], "halves", 1),),
                                   _dtype(layer["config"])),
                                  (f"{folder}/vars/1", (_count(layer["config"], "outputs", 1),),
                                   _dtype(layer["config"]))],
}
# Functional models nest (the text model around the classifier), never deeper than this.
_MAX_DEPTH = 4


def _model_arrays(model: dict, prefix: str, depth: int = 0) -> list:
    """The arrays of a functional model's layers, in the order of its layers."""
    layers = (model.get("config") or {}).get("layers")
    if depth > _MAX_DEPTH or not isinstance(layers, list):
        raise _Refusal("its config is not a functional model of layers")
    arrays = []
    for layer, folder in zip(layers, weight_folders(layers)):
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            raise _Refusal("its config holds a layer that is not a serialized layer")
        kind, where = layer.get("class_name"), f"{prefix}{folder}"
        if kind == "Functional":
            arrays += _model_arrays(layer, f"{where}/layers/", depth + 1)
        elif kind in LAYER_ARRAYS:
            arrays += [(path, shape, dtype, layer["config"].get("name")) for path, shape, dtype
                       in LAYER_ARRAYS[kind](layer, where)]
        else:
            raise _Refusal(f"its config holds a layer of class {_text(kind)}, whose weights sentiment-cli "
                           "does not know")
    return arrays


def expected_arrays(config) -> dict[str, tuple[tuple[int, ...], str, str]]:
    """Every array a model's config.json implies in its weights file: path -> (shape, dtype, the
    layer's name). Raises _Refusal for a config that is no functional model of known layers."""
    if not isinstance(config, dict) or config.get("class_name") != "Functional":
        raise _Refusal("its config is not a functional model")
    try:
        arrays = _model_arrays(config, "layers/")
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        # a value of another type or form than Keras writes, somewhere the walk above reads
        raise _Refusal(f"its config does not describe a model sentiment-cli builds "
                       f"({_text(f'{type(exc).__name__}: {exc}')})") from None
    expected = {}
    for path, shape, dtype, name in arrays:
        if path in expected:
            raise _Refusal(f"two layers claim the weights {path}")
        expected[path] = (tuple(shape), dtype, _text(name))
    return expected


def _check_weights(handle, expected: dict, length: int) -> dict:
    """The datasets of the opened weights file (``length`` bytes), once each is one the config
    implies, of its shape and dtype, stored in the file itself (no link outside it, no external or
    virtual data), contiguous and storing exactly the bytes it declares, all of them together no more
    than ``length``. Only metadata is read: shapes, dtypes, layouts, storage sizes."""
    import h5py
    import numpy as np

    found, problems = {}, []

    def visit(name, link):
        if problems:
            return True  # stop at the first
        try:
            check(name, link)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError, OSError, RuntimeError) as exc:
            # raised inside visititems_links, h5py would report it as a SystemError
            problems.append(f"its weights file holds {_text(name)!r}, which cannot be inspected "
                            f"({_text(f'{type(exc).__name__}: {exc}')})")
        return True if problems else None

    def check(name, link):
        if not isinstance(link, h5py.HardLink):
            problems.append(f"its weights file links {_text(name)!r} elsewhere ({type(link).__name__})")
            return
        item = handle.get(name)
        if isinstance(item, h5py.Group):
            return
        if not isinstance(item, h5py.Dataset):
            problems.append(f"its weights file holds {_text(name)!r}, neither a group nor an array")
        elif name not in expected:
            problems.append(f"its weights file holds an array no layer uses, {_text(name)!r} "
                            f"(declared {item.shape} {item.dtype})")
        else:
            shape, dtype, layer = expected[name]
            if item.shape != shape or item.dtype != np.dtype(dtype):  # an h5py.Empty array's shape is None
                problems.append(f"its weights file declares {_text(name)!r} of layer {layer!r} as {item.shape} "
                                f"{item.dtype}, where the config implies {shape} {dtype}")
            elif item.external or item.is_virtual:
                problems.append(f"its weights file keeps {_text(name)!r} outside itself")
            elif item.chunks is not None:  # HDF5 filters (compression) need chunks
                problems.append(f"its weights file stores {_text(name)!r} in chunks (compressed or extensible), "
                                "where Keras writes every array whole")
            elif item.id.get_storage_size() != math.prod(shape) * item.dtype.itemsize:
                problems.append(f"its weights file declares {_text(name)!r} as {math.prod(shape) * item.dtype.itemsize}"
                                f" bytes but stores {item.id.get_storage_size()}")
            else:
                found[name] = item

    handle.visititems_links(visit)
    if problems:
        raise _Refusal(problems[0])
    declared = sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype, _ in
                   (expected[name] for name in found))
    if declared > length:
        raise _Refusal(f"its weights file declares {declared} bytes of arrays in a member of {length} bytes")
    missing = sorted(set(expected) - set(found))
    if missing:
        raise _Refusal(f"its weights file lacks {missing[0]!r}, which layer {expected[missing[0]][2]!r} needs"
                       + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return found


class ModelFile:
    """A model file that passed ``open_model``: its parsed ``config``, and its weight arrays
    (``arrays``: path -> (shape, dtype, layer name)), each read only through ``read``."""

    def __init__(self, path: Path, config: dict, arrays: dict, datasets: dict):
        self.path, self.config, self.arrays = path, config, arrays
        self._datasets = datasets

    def read(self, name: str):
        """The array ``name`` (one of ``arrays``) as a NumPy array."""
        try:
            return self._datasets[name][()]
        except (OSError, ValueError) as exc:
            raise _damaged(self.path, f"its weights file cannot be read: {exc}") from None


@contextlib.contextmanager
def open_model(path) -> Iterator[ModelFile]:
    """The guard for an untrusted .keras archive, run before either engine reads anything: its
    members (names, count, sizes and compression ratios: ``MEMBER_LIMITS``, ``MAX_RATIO``),
    config.json's allow-list (``disallowed``), and every array of model.weights.h5 against what
    the config implies (``expected_arrays``), from the HDF5 metadata, before any array is read.
    Yields the ModelFile that passed, open; RunError, one line naming the file, for what did not."""
    import h5py

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members(path, archive)
            config = _parse_config(path, _read_member(archive, members[CONFIG_MEMBER]))
            _check_allowed(path, config)
            data = _read_member(archive, members[WEIGHTS_MEMBER])
            length, weights = len(data), io.BytesIO(data)
    except _ZIP_ERRORS as exc:
        raise _damaged(path, f"not a readable zip archive: {exc}") from None
    try:
        expected = expected_arrays(config)
        try:
            handle = h5py.File(weights, "r")
        except (OSError, ValueError) as exc:
            raise _damaged(path, f"its {WEIGHTS_MEMBER} is not an HDF5 file: {exc}") from None
        with handle:
            try:
                datasets = _check_weights(handle, expected, length)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                raise _damaged(path, f"its {WEIGHTS_MEMBER} cannot be read: {exc}") from None
            yield ModelFile(path, config, expected, datasets)
    except _Refusal as exc:
        raise _refused(path, str(exc)) from None


def check_model_file(path) -> None:
    """Refuse (RunError) a model file that ``open_model`` refuses: run before Keras reads it."""
    with open_model(path):
        pass
