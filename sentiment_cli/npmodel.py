"""A run's model computed with NumPy: prediction without importing TensorFlow.

``best.keras`` is a zip archive of ``config.json`` (the layers and how they connect) and
``model.weights.h5`` (their weights). ``load`` reads both through ``safety.open_model``, which
checks the archive, the config and every weight array's shape and dtype before any is read,
and evaluates the graph layer by layer with NumPy, reading only the arrays that passed. Nothing
in the file is deserialized as Python objects, so no code in it can run.

Why: importing TensorFlow and Keras took about 4 of the 6-7 seconds that ``test`` needed for
one line from stdin on 2 cores; this starts in a fraction of a second and holds a third of the
memory. Per row it is slower than TensorFlow (IMDB reviews 668 against 1,268 a second, tweets
7,990 against 13,118, bench/RESULTS.md), which is why ``--engine auto`` hands large inputs to
TensorFlow. The recurrent layers compute, at each step, only the rows still inside their text
(rows sorted by length), both directions stacked into the same operations, and a large batch in
two threads. ``load`` raises ``Unsupported`` for a model with any layer or option it does not
know, and the caller loads it with Keras; tests compare both on every kind of model train makes.

The layers it knows are those ``model.build_model`` and ``model.text_model`` use: InputLayer,
KeepTokens, Embedding, UnknownWordVectors, (Spatial)Dropout, NotEqual (the mask), LSTM and GRU
(reset_after), Bidirectional, GlobalAveragePooling1D, Dense, NGramLogits, CompactNGramLogits,
BagOfWords, Mix and Activation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from sentiment_cli.errors import RunError
from sentiment_cli.rules import keep_padded, kept_span, ngram_rows, subword_positions
from sentiment_cli.safety import ModelFile, open_model, weight_folders
_ACTIVATIONS = ("linear", "relu", "sigmoid", "softmax", "tanh")


class Unsupported(Exception):
    """The model holds a layer or an option this module does not compute."""


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, in place on float arrays (through tanh: no overflow for large |x|)."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


def activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0.0, out=x)
    if name == "sigmoid":
        return sigmoid(x)
    if name == "tanh":
        return np.tanh(x, out=x)
    if name == "softmax":
        x = x - x.max(axis=-1, keepdims=True)
        np.exp(x, out=x)
        return x / x.sum(axis=-1, keepdims=True)
    raise Unsupported(f"activation {name!r}")


class Weights:
    """The arrays of a model file that passed ``safety.open_model``, read when a layer asks for
    them (and only those); ``unused`` says which were never asked for."""

    def __init__(self, model_file: ModelFile):
        self.model_file = model_file
        self.taken: set[str] = set()

    def vars(self, folder: str) -> list[np.ndarray]:
        """The numbered vars of one folder (``layers/dense/vars/0``, ``.../1``), in order."""
        out = []
        while f"{folder}/vars/{len(out)}" in self.model_file.arrays:
            out.append(self.model_file.read(f"{folder}/vars/{len(out)}"))
        self.taken.update(f"{folder}/vars/{i}" for i in range(len(out)))
        return out

    def unused(self) -> list[str]:
        return sorted(set(self.model_file.arrays) - self.taken)


# ---- layers: each builder takes the layer's config and its weights' folder, and returns a
# function of (inputs..., mask=None) ----

def _keep_tokens(config, weights, folder):
    n, truncating = int(config["max_length"]), str(config["truncating"])
    return lambda ids, mask=None: keep_padded(ids, n, truncating)


def _embedding(config, weights, folder):
    (table,) = _vars(weights, folder, 1)
    table = np.asarray(table, dtype=np.float32)  # stored float16: the next layer computes in float32

    def call(ids, mask=None):
        return table[ids]

    return call


def _unknown_word_vectors(config, weights, folder):
    table, projection = (np.asarray(w, dtype=np.float32) for w in _vars(weights, folder, 2))
    buckets, offset = int(config["buckets"]), int(config.get("offset", 0))
    max_length, truncating = int(config["max_length"]), str(config["truncating"])

    def call(inputs, mask=None):
        vectors, ids = inputs
        return unknown_word_vectors(vectors, ids, table, projection, buckets, offset, max_length, truncating)

    return call


def unknown_word_vectors(vectors: np.ndarray, ids: np.ndarray, table: np.ndarray, projection: np.ndarray,
                         buckets: int, offset: int, max_length: int, truncating: str) -> np.ndarray:
    """``model.UnknownWordVectors.call`` in NumPy: the vectors (batch, T, D) of the network's kept
    tokens, each unknown token's replaced by the mean of its character n-grams' rows of ``table``
    times ``projection``, read from the packed ``ids`` (``rules.subword_positions``)."""
    ids = np.asarray(ids, dtype=np.int64)
    lengths = (ids > 0).sum(axis=1)
    start, _ = kept_span(lengths, max_length, truncating, np.maximum, np.minimum)
    position, bucket, valid = subword_positions(ids, buckets, offset)
    batch, width = vectors.shape[:2]
    position = position - start[:, None]
    valid &= (position >= 0) & (position < width)
    rows, cols = np.nonzero(valid)
    slot = rows * width + position[rows, cols]
    sums = np.zeros((batch * width, table.shape[1]), dtype=np.float32)
    np.add.at(sums, slot, table[bucket[rows, cols]])
    counts = np.bincount(slot, minlength=batch * width).astype(np.float32)
    made = ((sums / np.maximum(counts, 1.0)[:, None]) @ projection).reshape(batch, width, -1)
    return np.where((counts > 0).reshape(batch, width)[:, :, None], made, vectors).astype(np.float32)


def _pass_through(config, weights, folder):
    """A layer that changes nothing at inference (dropout)."""
    return lambda x, mask=None: x


def _not_equal(config, weights, folder):
    return lambda x, value, mask=None: x != value


def _dense(config, weights, folder):
    kernel, bias = _vars(weights, folder, 2) if config.get("use_bias", True) else (*_vars(weights, folder, 1), None)
    name = _activation_name(config)
    kernel = np.asarray(kernel, np.float32)

    def call(x, mask=None):
        out = x @ kernel
        if bias is not None:
            out += bias
        return activation(name, out)

    return call


def _activation_layer(config, weights, folder):
    name = _activation_name(config)
    return lambda x, mask=None: activation(name, np.array(x, dtype=np.float32))


def _mean_pool(config, weights, folder):
    if config.get("data_format", "channels_last") != "channels_last" or config.get("keepdims"):
        raise Unsupported("GlobalAveragePooling1D options")

    def call(x, mask=None):
        if mask is None:
            return x.mean(axis=1)
        m = mask.astype(np.float32)
        return np.einsum("btu,bt->bu", x, m) / np.maximum(m.sum(axis=1), 1.0)[:, None]

    return call


def _mix(config, weights, folder):
    scale, bias = _vars(weights, folder, 2)

    def call(inputs, mask=None):
        inputs = inputs if isinstance(inputs, list) else [inputs]
        total = inputs[0] * scale[0]
        for h in range(1, len(inputs)):
            total = total + inputs[h] * scale[h]
        return (total + bias).astype(np.float32)

    return call


def _ngrams(config, weights, folder, compact: bool):
    vocab_size, outputs = int(config["vocab_size"]), int(config["outputs"])
    ngram, buckets, char_buckets = int(config["ngram"]), int(config["buckets"]), int(config.get("char_buckets", 0))
    if compact:
        keys, values, bias = _vars(weights, folder, 3)
        keys, values = np.asarray(keys, np.int64), np.asarray(values, np.float64)
    else:  # a run saved before 0.3.0: every row's weight and ratio
        weight, ratio, bias = _vars(weights, folder, 3)
        keys, values = weighing_rows(weight, ratio)
    if not len(keys):
        keys, values = np.array([-1]), np.zeros((1, outputs))
    bias = np.asarray(bias, np.float32)

    def call(ids, mask=None):
        rows = ngram_rows(ids, vocab_size, ngram, buckets, char_buckets)
        at = np.minimum(np.searchsorted(keys, rows), len(keys) - 1)
        found = keys[at] == rows
        contributions = np.where(found[:, :, None], values[at], 0.0)
        return contributions.sum(axis=1).astype(np.float32) + bias  # in float64 first, as the layer sums

    return call


def weighing_rows(weight: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A full n-gram table's rows whose weight x ratio is not 0, sorted, and those products
    (float64): what the compact form stores (the empty row's ratio is 0: never among them)."""
    product = np.asarray(weight, np.float64) * np.asarray(ratio, np.float64)
    keys = np.flatnonzero(product.any(axis=1))
    return keys, product[keys]


def _bag_of_words(config, weights, folder):
    vocab_size, mode = int(config["vocab_size"]), str(config["mode"])
    (idf,) = _vars(weights, folder, 1)

    def call(ids, mask=None):
        counts = np.zeros((len(ids), vocab_size), dtype=np.float32)
        rows = np.repeat(np.arange(len(ids)), ids.shape[1])
        np.add.at(counts, (rows, ids.ravel()), 1.0)
        counts[:, 0] = 0.0  # padding is no word
        if mode != "tfidf":
            return counts
        x = np.log1p(counts) * idf
        norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
        return x / np.maximum(norm, 1e-12)

    return call


# ---- recurrent layers ----

def _cell(config: dict, backward: bool = False) -> dict:
    """The options of an LSTM or GRU config that change what it computes; Unsupported for others.
    backward: the backward layer of a Bidirectional, which reads its input reversed."""
    kind = config["class_name"]
    c = config["config"]
    if kind not in ("LSTM", "GRU"):
        raise Unsupported(f"recurrent layer {kind}")
    if c.get("activation") != "tanh" or c.get("recurrent_activation") != "sigmoid" or not c.get("use_bias", True) \
            or bool(c.get("go_backwards")) != backward or c.get("stateful") or c.get("return_state") \
            or (kind == "GRU" and not c.get("reset_after", True)):
        raise Unsupported(f"{kind} options")
    return {"kind": kind, "return_sequences": bool(c.get("return_sequences"))}


def _directions(weights: list[list[np.ndarray]], kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The weights of one or two directions stacked for ``_recurrent``: kernels, recurrent
    kernels, input biases, recurrent biases (zero for an LSTM).

    An LSTM's candidate columns (its third quarter) are doubled, so that one sigmoid over all
    four gates gives sigmoid(2g), and tanh(g) = 2 sigmoid(2g) - 1."""
    kernels, recurrents, biases, recurrent_biases = [], [], [], []
    for kernel, recurrent, bias in weights:
        kernel, recurrent, bias = (np.array(w, dtype=np.float32) for w in (kernel, recurrent, bias))
        units = recurrent.shape[0]
        if kind == "LSTM":
            for w in (kernel, recurrent, bias):
                w[..., 2 * units:3 * units] *= 2.0
            recurrent_bias = np.zeros_like(bias)
        else:  # GRU with reset_after: an input bias and a recurrent bias
            bias, recurrent_bias = bias[0], bias[1]
        kernels.append(kernel)
        recurrents.append(recurrent)
        biases.append(bias)
        recurrent_biases.append(recurrent_bias)
    return np.stack(kernels), np.stack(recurrents), np.stack(biases), np.stack(recurrent_biases)


def _recurrent(x: np.ndarray, lengths: np.ndarray, weights: tuple, kind: str, return_sequences: bool) -> list:
    """An LSTM or GRU over right-padded rows whose real lengths are ``lengths``, in one or two
    directions (``_directions``' weights; the second reads each row's own tokens from its last
    to its first). Returns each direction's outputs: the last state, or the sequence in the
    input's order.

    Keras' masked semantics: a padded step changes no state and outputs zeros. Rows are taken
    longest first, so that at each step the rows still inside their text are a prefix of the
    batch and only they are computed; the directions are stacked into the same operations.
    """
    kernels, recurrents, biases, recurrent_biases = weights
    directions, units = len(kernels), recurrents.shape[1]
    batch, steps, _ = x.shape
    order = np.argsort(-lengths, kind="stable")
    x, lengths = x[order], lengths[order]
    inside = np.arange(steps)[None, :] < lengths[:, None]
    # position t of the reversed reading is the row's token lengths - 1 - t (a map that is its own inverse)
    reverse = np.clip(lengths[:, None] - 1 - np.arange(steps)[None, :], 0, max(steps - 1, 0))
    # time first: each step reads and writes contiguous rows
    projected = np.empty((steps, directions, batch, kernels.shape[2]), dtype=np.float32)
    for d in range(directions):
        xd = x if d == 0 else np.take_along_axis(x, reverse[:, :, None], axis=1)
        projected[:, d] = (xd.reshape(batch * steps, -1) @ kernels[d] + biases[d]).reshape(batch, steps, -1) \
            .transpose(1, 0, 2)
    h = np.zeros((directions, batch, units), dtype=np.float32)
    c = np.zeros_like(h)
    out = np.zeros((steps, directions, batch, units), dtype=np.float32) if return_sequences else None
    active = np.searchsorted(-lengths, -np.arange(steps), side="left")  # rows longer than t: a prefix
    for t in range(steps):
        k = int(active[t])
        if k == 0:
            break
        hk = h[:, :k]
        if kind == "LSTM":
            gates = sigmoid(projected[t, :, :k] + np.matmul(hk, recurrents))  # i, f, sigmoid(2g), o
            candidate = gates[..., 2 * units:3 * units]
            candidate *= 2.0
            candidate -= 1.0
            cell = gates[..., units:2 * units] * c[:, :k]
            cell += gates[..., :units] * candidate
            c[:, :k] = cell
            h[:, :k] = gates[..., 3 * units:] * np.tanh(cell)
        else:
            inner = np.matmul(hk, recurrents) + recurrent_biases[:, None, :]
            xt = projected[t, :, :k]
            zr = sigmoid(xt[..., :2 * units] + inner[..., :2 * units])
            candidate = np.tanh(xt[..., 2 * units:] + zr[..., units:] * inner[..., 2 * units:])
            z = zr[..., :units]
            h[:, :k] = z * hk + (1.0 - z) * candidate
        if return_sequences:
            out[t, :, :k] = h[:, :k]
    restore = np.empty_like(order)
    restore[order] = np.arange(batch)
    if not return_sequences:
        return [h[d][restore] for d in range(directions)]
    out = out.transpose(1, 2, 0, 3)  # directions, batch, steps, units
    results = [out[0]]
    if directions == 2:
        results.append(np.take_along_axis(out[1], reverse[:, :, None], axis=1) * inside[:, :, None])
    return [r[restore] for r in results]


def _rnn(config, weights, folder):
    cell = _cell(config)
    stacked = _directions([_vars(weights, f"{folder}/cell", 3)], cell["kind"])

    def call(x, mask=None):
        return _in_halves(x, _lengths(x, mask), stacked, cell["kind"], cell["return_sequences"])[0]

    return call


def _bidirectional(config, weights, folder):
    merge = config.get("merge_mode", "concat")
    if merge not in ("concat", "sum", "mul", "ave"):
        raise Unsupported(f"merge mode {merge!r}")
    cell = _cell(config["layer"])
    backward = config.get("backward_layer")
    if backward is not None and _cell(backward, backward=True) != cell:
        raise Unsupported("a backward layer unlike the forward one")
    stacked = _directions([_vars(weights, f"{folder}/forward_layer/cell", 3),
                           _vars(weights, f"{folder}/backward_layer/cell", 3)], cell["kind"])

    def call(x, mask=None):
        a, b = _in_halves(x, _lengths(x, mask), stacked, cell["kind"], cell["return_sequences"])
        if merge == "concat":
            return np.concatenate([a, b], axis=-1)
        if merge == "sum":
            return a + b
        if merge == "mul":
            return a * b
        return (a + b) / 2

    return call


# Rows from which a batch's recurrent layer runs in two threads, half the rows each (NumPy
# releases the GIL inside its operations; with fewer rows each operation is too short to gain).
# On 2 cores, 20,000 tweets: 10,257 rows/s against 5,650 in one thread; 3,000 IMDB reviews 620
# against 530 (the model alone, tokens made beforehand; 2026-12-01, tweets' and IMDB's 0.4.0 runs)
THREADED_ROWS = 64
_POOL = []


def _in_halves(x: np.ndarray, lengths: np.ndarray, weights: tuple, kind: str, return_sequences: bool) -> list:
    """``_recurrent`` over the batch, in two threads when it has THREADED_ROWS rows or more."""
    if len(x) < THREADED_ROWS:
        return _recurrent(x, lengths, weights, kind, return_sequences)
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="npmodel"))
    half = len(x) // 2
    other = _POOL[0].submit(_recurrent, x[half:], lengths[half:], weights, kind, return_sequences)
    first = _recurrent(x[:half], lengths[:half], weights, kind, return_sequences)
    return [np.concatenate([a, b]) for a, b in zip(first, other.result())]


def _lengths(x: np.ndarray, mask) -> np.ndarray:
    """Each row's real length. The mask of right-padded ids is a prefix of ones per row."""
    if mask is None:
        return np.full(len(x), x.shape[1], dtype=np.int64)
    mask = np.asarray(mask, dtype=bool)
    lengths = mask.sum(axis=1)
    if not np.array_equal(mask, np.arange(mask.shape[1])[None, :] < lengths[:, None]):
        raise ValueError("the mask is not right padding")  # inputs are padded on the right, always
    return lengths


BUILDERS: dict[str, Callable] = {
    "KeepTokens": _keep_tokens,
    "Embedding": _embedding,
    "UnknownWordVectors": _unknown_word_vectors,
    "SpatialDropout1D": _pass_through,
    "Dropout": _pass_through,
    "NotEqual": _not_equal,
    "Dense": _dense,
    "Activation": _activation_layer,
    "GlobalAveragePooling1D": _mean_pool,
    "Mix": _mix,
    "CompactNGramLogits": lambda c, w, f: _ngrams(c, w, f, compact=True),
    "NGramLogits": lambda c, w, f: _ngrams(c, w, f, compact=False),
    "BagOfWords": _bag_of_words,
    "LSTM": lambda c, w, f: _rnn({"class_name": "LSTM", "config": c}, w, f),
    "GRU": lambda c, w, f: _rnn({"class_name": "GRU", "config": c}, w, f),
    "Bidirectional": _bidirectional,
}


def _vars(weights: Weights, folder: str, count: int) -> list[np.ndarray]:
    found = weights.vars(folder)
    if len(found) != count:
        raise Unsupported(f"{folder}: {len(found)} weight arrays, expected {count}")
    return found


def _activation_name(config: dict) -> str:
    name = config.get("activation", "linear")
    if name not in _ACTIVATIONS:
        raise Unsupported(f"activation {name!r}")
    return name


class NumpyModel:
    """The classifier of a run (right-padded token ids -> the output layer's values) in NumPy.

    Attributes that ``runs.load_run`` compares with the run's tokenizer and labels: ``input_dim``
    (the token ids it reads), ``outputs`` (1 for two classes), ``vocabulary`` and ``normalize``
    (of its TextToIds layer).
    """

    def __init__(self, steps: list, input_name: str, output_name: str, input_dim: int | None, outputs: int,
                 vocabulary: list, normalize: str):
        self.steps, self.input_name, self.output_name = steps, input_name, output_name
        self.input_dim, self.outputs = input_dim, outputs
        self.vocabulary, self.normalize = vocabulary, normalize

    def __call__(self, ids: np.ndarray, output: str | None = None) -> np.ndarray:
        """The output layer's values for a batch of ids (or those of the layer named ``output``)."""
        values = {self.input_name: np.asarray(ids)}
        for name, function, args, mask in self.steps:
            resolved = [_resolve(a, values) for a in args]
            values[name] = function(*resolved, mask=None if mask is None else values[mask])
            if name == output:
                break
        return np.asarray(values[output or self.output_name], dtype=np.float32)


def _resolve(arg, values):
    if isinstance(arg, list):
        return [_resolve(a, values) for a in arg]
    if isinstance(arg, _Ref):
        return values[arg.name]
    return arg


class _Ref:
    def __init__(self, name: str):
        self.name = name


def _reference(arg):
    """A layer call's argument from config.json: a tensor (by the layer that made it), a list of
    them, or a constant."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        history = arg.get("config", {}).get("keras_history")
        if not (isinstance(history, list) and len(history) == 3 and history[1:] == [0, 0]):
            raise Unsupported("a layer called more than once")
        return _Ref(str(history[0]))
    if isinstance(arg, list):
        return [_reference(a) for a in arg]
    if isinstance(arg, (int, float)) and not isinstance(arg, bool):
        return arg
    raise Unsupported(f"argument {str(arg)[:60]}")


def _graph(model: dict, weights: Weights, prefix: str) -> tuple[list, str, str]:
    """The steps of a functional model's config: (name, function, arguments, mask name)."""
    config = model["config"]
    layers = config["layers"]
    inputs, outputs = _single(config["input_layers"]), _single(config["output_layers"])
    steps = []
    for layer, folder in zip(layers, weight_folders(layers)):
        kind, name = layer["class_name"], layer["config"]["name"]
        if kind == "InputLayer":
            continue
        if kind not in BUILDERS:
            raise Unsupported(f"layer {kind}")
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise Unsupported(f"layer {name} called {len(nodes)} times")
        args = [_reference(a) for a in nodes[0].get("args", [])]
        kwargs = dict(nodes[0].get("kwargs", {}))
        mask = kwargs.pop("mask", None)
        kwargs.pop("training", None)
        if kwargs:
            raise Unsupported(f"layer {name} called with {sorted(kwargs)}")
        mask = _reference(mask).name if mask is not None else None
        steps.append((name, BUILDERS[kind](layer["config"], weights, f"{prefix}/{folder}"), args, mask))
    return steps, inputs, outputs


def _single(entry) -> str:
    """The layer name of a model's one input or output: ``[name, 0, 0]`` (or that in a list)."""
    if isinstance(entry, list) and len(entry) == 1 and isinstance(entry[0], list):
        entry = entry[0]
    if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and entry[1:] == [0, 0]:
        return entry[0]
    raise Unsupported("a model with several inputs or outputs")


def load(path) -> NumpyModel:
    """The classifier inside a run's best.keras, in NumPy. RunError for a damaged or refused file
    (as ``runs.load_model``); Unsupported for a model this module does not compute."""
    if not Path(path).is_file():
        raise RunError(f"{path}: no model here. Train the run again")
    with open_model(path) as model_file:
        try:
            return _load(model_file)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise Unsupported(f"unexpected config ({type(exc).__name__}: {exc})") from None


def _load(model_file: ModelFile) -> NumpyModel:
    config = model_file.config
    if config.get("class_name") != "Functional":
        raise Unsupported("not a functional model")
    outer = config["config"]["layers"]
    kinds = [layer["class_name"] for layer in outer]
    if kinds != ["InputLayer", "TextToIds", "Functional"]:
        raise Unsupported(f"outer layers {kinds}")
    text_to_ids = outer[1]["config"]
    weights = Weights(model_file)
    folder = f"layers/{weight_folders(outer)[2]}/layers"
    steps, input_name, output_name = _graph(outer[2], weights, folder)
    if weights.unused():
        raise Unsupported(f"weights no layer read: {', '.join(weights.unused()[:3])}")
    inner = {layer["config"]["name"]: layer for layer in outer[2]["config"]["layers"]}
    if "embedding" in inner:
        input_dim = int(inner["embedding"]["config"]["input_dim"])
    elif "bag_of_words" in inner:
        input_dim = int(inner["bag_of_words"]["config"]["vocab_size"])
    elif "ngrams" in inner:
        input_dim = int(inner["ngrams"]["config"]["vocab_size"])
    else:
        input_dim = None
    model = NumpyModel(steps, input_name, output_name, input_dim, 0,
                       [str(v) for v in text_to_ids["vocabulary"]], str(text_to_ids.get("normalize", "none")))
    model.outputs = int(model(np.ones((1, 1), dtype=np.int32)).shape[-1])  # one unknown token
    return model


def predict_proba(model: NumpyModel, seqs: list[np.ndarray], featurize: Callable, batch_size: int,
                  max_tokens: int | None, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(n, K) class probabilities in input order, batched as ``model.predict_proba`` batches."""
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the recurrent steps multiply 64-wide matrices, which OpenBLAS's threads
    # slow down (4x on 2 busy cores), and the rows' batches keep both cores busy in `test`
    # (one tokenizes the next chunk meanwhile).
    with threadpool_limits(limits=1, user_api="blas"):
        return batched_probabilities(model, seqs, featurize, batch_size, max_tokens, progress)


def batched_probabilities(compute: Callable, seqs: list[np.ndarray], featurize: Callable, batch_size: int,
                          max_tokens: int | None, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(n, K) class probabilities in input order of ``compute`` (a batch of model inputs -> the
    output layer's values), over batches that group texts of similar length (``length_batches``):
    max_tokens bounds rows x padded length per batch; progress is called with each batch's rows."""
    from sentiment_cli.encoding import length_batches

    out = None
    for idx in length_batches(seqs, batch_size, max_tokens=max_tokens):
        probs = class_probabilities(compute(featurize([seqs[i] for i in idx])))
        if out is None:
            out = np.empty((len(seqs), probs.shape[1]), dtype=np.float32)
        out[idx] = probs
        if progress is not None:
            progress(len(idx))
    return out if out is not None else np.empty((0, 0), dtype=np.float32)


def class_probabilities(outputs) -> np.ndarray:
    """(n, K) class probabilities from a model's outputs (a binary model gives P(class 1)); for
    both engines (model.py imports it)."""
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        p = outputs[:, 0]
        return np.stack([1.0 - p, p], axis=1)
    return outputs
