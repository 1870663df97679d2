"""build_model(config): Embedding -> LSTM/GRU/BiLSTM (stacked) -> Dense, or a BOW network."""

from __future__ import annotations

import functools
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from sentiment_cli.config import PREDICT_BATCH, PREDICT_TOKENS, TrainConfig
from sentiment_cli.encoding import length_batches
from sentiment_cli.calibration import Mix
from sentiment_cli.ngrams import CompactNGramLogits, NGramLogits, compact, expand
from sentiment_cli.rules import kept_span, subword_positions
from sentiment_cli.npmodel import batched_probabilities, class_probabilities  # noqa: F401 (kept importable here)
from sentiment_cli.textops import KeepTokens, TextToIds  # noqa: F401  (TextToIds: registered for loading)


# Each half of a model ends in a logits layer: "ngrams" (the n-gram model, trained by convex
# optimisation), "rnn_logits" or "bow_logits" (networks trained by Keras' fit). The halves are
# trained apart and the "mix" layer, fitted on held-out data, adds them (see calibration.py).


def build_model(config: TrainConfig, vocab_size: int, embeddings=None, idf=None,
                ngram_buckets: int | None = None) -> keras.Model:
    """A classifier for ``config.num_classes`` classes over ``vocab_size`` token ids.

    Every model takes right-padded id matrices of any length (id 0 pads and is masked), so
    batches can be padded to their own longest text and the cuDNN kernel applies on a GPU;
    the bow model makes its bag of words (tf-idf with the training texts' ``idf``) in the graph.
    ``text_model`` puts the tokenizer in front of it for saving and serving. ngram_buckets:
    the n-gram hash rows (default ``config.ngram_buckets``; see ``ngram_buckets_for``).
    Each half ends in a logits layer (``HALVES``); ``mix`` adds them, then the sigmoid or softmax.
    """
    binary = config.num_classes == 2
    outputs = 1 if binary else config.num_classes
    if config.model == "bow":
        inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = BagOfWords(vocab_size, config.bow_mode, name="bag_of_words")(inputs)
        x = layers.Dropout(config.dropout, name="bow_dropout")(x)
        x = _head(config, layers.Dense(config.hidden_size, activation="relu", name="hidden")(x))
        halves = [layers.Dense(outputs, name="bow_logits")(x)]
        name = "bow"
    else:
        inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        halves = []
        if config.model in ("ngram", "hybrid"):
            halves.append(NGramLogits(vocab_size, outputs, config.ngram, ngram_buckets or config.ngram_buckets,
                                      config.chars[1], name="ngrams")(inputs))
        if config.model in ("rnn", "hybrid"):
            ids = inputs
            # the n-gram half reads more of each text, or packed ids hold character n-grams
            if config.read_length > config.max_length or config.char_ngrams or config.subword_vectors:
                ids = KeepTokens(config.max_length, config.truncating, name="network_tokens")(inputs)
            features = _rnn_features(config, vocab_size, embeddings, ids, inputs)
            halves.append(layers.Dense(outputs, name="rnn_logits")(features))
        name = config.model if config.model != "rnn" else ("bi" if config.bidirectional else "") + config.cell
    logits = Mix(len(halves), outputs, name="mix")(halves if len(halves) > 1 else halves[0])
    output = layers.Activation("sigmoid" if binary else "softmax", name="output")(logits)
    model = keras.Model(inputs, output, name=f"sentiment_{name}")
    if config.model == "bow" and config.bow_mode == "tfidf":
        if idf is None:
            raise ValueError("a tf-idf bag of words needs the idf weights of the training texts")
        model.get_layer("bag_of_words").idf.assign(np.asarray(idf, dtype="float32"))
    return _set_embeddings(model, embeddings)


@keras.saving.register_keras_serializable(package="sentiment_cli")
class BagOfWords(layers.Layer):
    """Padded ids -> one row of width ``vocab_size`` per text: counts, or tf-idf (log(1 + count)
    times the idf weight, L2-normalised, as scikit-learn's sublinear TfidfVectorizer)."""

    def __init__(self, vocab_size: int, mode: str = "tfidf", **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.mode = int(vocab_size), str(mode)

    def build(self, input_shape):
        self.idf = self.add_weight(name="idf", shape=(self.vocab_size,), initializer="ones", trainable=False)

    def call(self, ids):
        counts = tf.math.bincount(tf.cast(ids, tf.int32), minlength=self.vocab_size, maxlength=self.vocab_size,
                                  dtype=tf.float32, axis=-1)
        counts = tf.concat([tf.zeros_like(counts[:, :1]), counts[:, 1:]], axis=1)  # padding is no word
        if self.mode != "tfidf":
            return counts
        return tf.math.l2_normalize(tf.math.log1p(counts) * self.idf, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.vocab_size)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "mode": self.mode}


@keras.saving.register_keras_serializable(package="sentiment_cli")
class UnknownWordVectors(layers.Layer):
    """[word vectors (batch, T, D) of the network's kept tokens, the model's packed ids] -> the
    word vectors with each unknown token's replaced by one made from its spelling: the mean of
    its character n-grams' rows of ``table`` (``buckets`` x ``dim``), times ``projection`` (``dim``
    x D). The packed ids carry, for each unknown token, its position among the text's kept tokens
    and its n-grams' buckets (``rules.subword_codes``, read by ``rules.subword_positions``); the
    positions are moved to the network's own share of the tokens as ``KeepTokens`` cuts it
    (``rules.kept_span``). A token without codes (a text without tokens) keeps its vector.
    ``npmodel.unknown_word_vectors`` is it in NumPy, line for line.
    """

    def __init__(self, buckets: int, dim: int, output_dim: int, offset: int = 0, max_length: int = 400,
                 truncating: str = "pre", weights_dtype: str = "float32", **kwargs):
        super().__init__(**kwargs)
        self.buckets, self.dim, self.output_dim, self.offset = int(buckets), int(dim), int(output_dim), int(offset)
        self.max_length, self.truncating = int(max_length), str(truncating)
        if weights_dtype not in ("float32", "float16"):
            raise ValueError(f"weights_dtype must be float32 or float16, not {weights_dtype!r}")
        # float16 in a stored run (``stored_form``); it computes in float32 either way
        self.weights_dtype = weights_dtype
        self.supports_masking = True

    def build(self, input_shape=None):
        self.table = self.add_weight(name="table", shape=(self.buckets, self.dim), initializer="zeros",
                                     dtype=self.weights_dtype)
        self.projection = self.add_weight(name="projection", shape=(self.dim, self.output_dim),
                                          initializer="glorot_uniform", dtype=self.weights_dtype)

    def call(self, inputs, mask=None):
        vectors, ids = inputs
        ids = tf.cast(ids, tf.int64)
        lengths = tf.reduce_sum(tf.cast(ids > 0, tf.int64), axis=1)
        start, _ = kept_span(lengths, self.max_length, self.truncating, tf.maximum, tf.minimum)
        position, bucket, valid = subword_positions(ids, self.buckets, self.offset)
        width = tf.shape(vectors, out_type=tf.int64)[1]
        position = position - start[:, None]
        valid = valid & (position >= 0) & (position < width)
        where = tf.where(valid)
        slot = where[:, 0] * width + tf.boolean_mask(position, valid)
        rows = tf.gather(tf.cast(self.table, vectors.dtype), tf.boolean_mask(bucket, valid))
        slots = tf.shape(vectors, out_type=tf.int64)[0] * width
        sums = tf.math.unsorted_segment_sum(rows, slot, slots)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(slot, dtype=vectors.dtype), slot, slots)
        made = tf.matmul(sums / tf.maximum(counts, 1.0)[:, None], tf.cast(self.projection, vectors.dtype))
        made = tf.reshape(made, tf.shape(vectors))
        return tf.where(tf.reshape(counts > 0, tf.shape(vectors)[:2])[:, :, None], made, vectors)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "buckets": self.buckets, "dim": self.dim, "output_dim": self.output_dim,
                "offset": self.offset, "max_length": self.max_length, "truncating": self.truncating,
                "weights_dtype": self.weights_dtype}


def text_model(model: keras.Model, tokenizer, config: TrainConfig) -> keras.Model:
    """``model`` behind its tokenizer's TextToIds layer: a batch of raw strings in, probabilities out.

    This is what a run saves (best.keras) and exports: one graph from text to label.
    """
    texts = keras.Input(shape=(), dtype="string", name="text")
    ids = tokenizer.layer(config.read_length, config.truncating, config.chars)(texts)  # the layer that encoded training
    return keras.Model(texts, model(ids), name="sentiment_text")


def stored_form(model: keras.Model) -> keras.Model:
    """The model as a run stores it, the other layers shared: its n-gram half compact (the rows
    that weigh, weight x ratio in float16: ``ngrams.compact``) and its word vectors in float16
    (the layer after them computes in float32, as before). On IMDB's defaults these two were
    77 of the 78 MB of a run."""
    return _swap(model, _stored_layer)


def fitting_form(model: keras.Model) -> keras.Model:
    """A loaded model made fit to train further: its n-gram half full and its vectors float32 again."""
    return _swap(model, _fitting_layer)


def _stored_layer(layer):
    if isinstance(layer, NGramLogits):
        return compact(layer)
    if isinstance(layer, layers.Embedding) and layer.variable_dtype == "float32":
        return _embedding_in(layer, "float16")
    if isinstance(layer, UnknownWordVectors) and layer.weights_dtype == "float32":
        return _subwords_in(layer, "float16")
    return layer


def _fitting_layer(layer):
    if isinstance(layer, CompactNGramLogits):
        return expand(layer)
    if isinstance(layer, layers.Embedding) and layer.variable_dtype == "float16":
        return _embedding_in(layer, "float32")
    if isinstance(layer, UnknownWordVectors) and layer.weights_dtype == "float16":
        return _subwords_in(layer, "float32")
    return layer


def _subwords_in(layer, dtype: str):
    out = UnknownWordVectors.from_config({**layer.get_config(), "weights_dtype": dtype})
    out.build()
    out.set_weights([w.astype(dtype) for w in layer.get_weights()])
    return out


def _embedding_in(layer: layers.Embedding, dtype: str) -> layers.Embedding:
    out = layers.Embedding.from_config({**layer.get_config(), "dtype": dtype})
    out.build((None, None))
    out.set_weights([w.astype(dtype) for w in layer.get_weights()])
    return out


def _swap(model: keras.Model, convert) -> keras.Model:
    """A copy of ``model`` with each layer that ``convert`` replaces replaced, and every other
    layer copied with its weights. (Sharing them with ``model`` would leave a shared layer's
    ``output`` in ``model``'s graph, and ``half_model`` and ``halves_logits`` read it.)"""
    swapped = {id(layer): convert(layer) for layer in model.layers}
    if all(swapped[id(layer)] is layer for layer in model.layers):
        return model

    def clone(layer):
        new = swapped.get(id(layer), layer)
        return new if new is not layer else layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if swapped[id(layer)] is layer and layer.weights:
            copy.get_layer(layer.name).set_weights(layer.get_weights())
    return copy


def classifier(model: keras.Model) -> keras.Model | None:
    """The id model inside a text model (None if ``model`` does not start from text)."""
    names = [layer.name for layer in model.layers]
    if "text_to_ids" not in names:
        return None
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def halves(model: keras.Model) -> list[str]:
    """Names of the logits layers the model's mix adds (empty for a model made before the mix)."""
    names = {layer.name for layer in model.layers}
    if "mix" not in names:
        return []
    return [name for name in ("ngrams", "rnn_logits", "bow_logits") if name in names]


def mix_params(model: keras.Model) -> np.ndarray:
    """The model's mix (scales, then biases) as ``calibration.probabilities`` takes it."""
    mix = model.get_layer("mix")
    return np.concatenate([mix.scale.numpy(), mix.bias.numpy()]).astype(np.float64)


def half_model(model: keras.Model, name: str, activation: bool = True) -> keras.Model:
    """A model that shares ``model``'s layers and outputs one half's probabilities (or logits)."""
    logits = model.get_layer(name).output
    if not activation:
        return keras.Model(model.input, logits)
    act = "sigmoid" if logits.shape[-1] == 1 else "softmax"
    return keras.Model(model.input, layers.Activation(act, name=f"{name}_output")(logits))


def halves_logits(model: keras.Model, seqs: list[np.ndarray], featurize: Callable,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(n, H, outputs) logits of each half of the model, in input order (progress: as predict_proba's)."""
    names = halves(model)
    both = keras.Model(model.input, [model.get_layer(name).output for name in names])
    out = None
    for idx in length_batches(seqs, PREDICT_BATCH, max_tokens=PREDICT_TOKENS):
        x = featurize([seqs[i] for i in idx])
        # traced once for any shape: called eagerly, a recurrent layer steps through Python
        values = inference_function(both, x.ndim, x.dtype)(x)
        values = np.stack([np.asarray(v, dtype=np.float64) for v in (values if len(names) > 1 else [values])], axis=1)
        if out is None:
            out = np.empty((len(seqs),) + values.shape[1:], dtype=np.float64)
        out[idx] = values
        if progress is not None:
            progress(len(idx))
    return out


def _set_embeddings(model: keras.Model, embeddings) -> keras.Model:
    if embeddings is not None:
        model.get_layer("embedding").set_weights([np.asarray(embeddings, dtype="float32")])
    return model


def _rnn_features(config: TrainConfig, vocab_size: int, embeddings, inputs, packed=None):
    """Embedding -> (unknown words' subword vectors) -> (stacked) recurrent layers -> pooling ->
    Dense head: all but the output layer. packed: the model's input ids (for the subword codes)."""
    x = layers.Embedding(
        vocab_size, config.embedding_dim, mask_zero=True, name="embedding",
        trainable=not (embeddings is not None and config.freeze_embeddings),
        # Given vectors are set after building: a Constant initialiser would be saved, whole, in
        # the .keras file's JSON config (55 MB for IMDB, and 500 MB of memory to load it).
        # "zeros" draws no random numbers, so the other layers start as they would with Constant.
        embeddings_initializer="uniform" if embeddings is None else "zeros",
    )(inputs)
    if config.subword_vectors:
        x = UnknownWordVectors(config.subword_buckets, config.subword_dim, config.embedding_dim,
                               config.chars[1], config.max_length, config.truncating,
                               name="subword_vectors")([x, packed])
    if config.dropout:
        x = layers.SpatialDropout1D(config.dropout, name="embedding_dropout")(x)
    cell = layers.LSTM if config.cell == "lstm" else layers.GRU
    for i in range(config.layers):
        last = i == config.layers - 1
        rnn = cell(
            config.hidden_size,
            return_sequences=not last or config.pooling != "last",
            recurrent_dropout=config.recurrent_dropout,
            name=f"{config.cell}_{i + 1}",
        )
        if config.bidirectional:
            rnn = layers.Bidirectional(rnn, merge_mode=config.merge_mode, name=f"bi{config.cell}_{i + 1}")
        x = rnn(x)
    if config.pooling == "mean":  # masked: padding does not dilute the mean
        x = layers.GlobalAveragePooling1D(name="mean_pool")(x)
    return _head(config, x)


def _head(config: TrainConfig, x):
    x = layers.Dense(max(config.hidden_size // 2, 1), activation="relu", name="head")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name="head_dropout")(x)
    return x


def has_ngrams(model: keras.Model) -> bool:
    return any(layer.name == "ngrams" for layer in model.layers)


def compile_model(model: keras.Model, config: TrainConfig, steps_per_epoch: int | None = None) -> keras.Model:
    """Adam and the loss that fits the number of classes (also for a loaded model). With
    ``config.lr_schedule`` "cosine" and the steps of an epoch, the rate decays to 0 over
    ``config.epochs`` epochs, by the optimizer's step count (which a resumed training restores)."""
    loss = "binary_crossentropy" if config.num_classes == 2 else "sparse_categorical_crossentropy"
    lr = config.lr
    if config.lr_schedule == "cosine" and steps_per_epoch:
        lr = keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=max(steps_per_epoch * config.epochs, 1))
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])
    return model


def inference_function(model: keras.Model, ndim: int, dtype) -> Callable:
    """model(x) traced once for any batch size and length (predict_on_batch retraces per shape).

    The traced functions live on the model itself: a cache keyed by the model would keep every
    model alive through the functions that close over it (a weak key does not help when the
    value refers to the key). Model and functions form a cycle the garbage collector frees.
    """
    key = (ndim, np.dtype(dtype).name)
    functions = model.__dict__.setdefault("_sentiment_inference", {})
    if key not in functions:
        spec = tf.TensorSpec((None,) * ndim, tf.as_dtype(dtype))
        # A partial, not a closure: TensorFlow's retracing warning counts traces by the Python
        # function's code object, which every closure made here shares, so the one trace of each
        # new model (semi's rounds, halves_logits' model of both halves) added up to "5 out of the
        # last 5 calls ... triggered tf.function retracing" (TF 2.x, seen in 0.6.1's semi). A
        # partial object is its own key: a real retrace of one function would still be reported.
        # No Python control flow to convert: AutoGraph would only read the source, and it warned
        # ("closure mismatch") on models that share layers with another (model.stored_form).
        functions[key] = tf.function(functools.partial(_call_model, model), input_signature=[spec],
                                     autograph=False)
    return functions[key]


def _call_model(model: keras.Model, x):
    return model(x, training=False)


def predict_proba(model: keras.Model, seqs: list[np.ndarray], featurize: Callable,
                  batch_size: int = PREDICT_BATCH, max_tokens: int | None = PREDICT_TOKENS,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(n, K) class probabilities in input order; batches group texts of similar length.

    max_tokens bounds rows x padded length per batch (the activations' size); progress is
    called with each batch's row count.
    """
    def compute(x):
        return inference_function(model, x.ndim, x.dtype)(x).numpy()

    return batched_probabilities(compute, seqs, featurize, batch_size, max_tokens, progress)
