"""The tokenizer's rules as TensorFlow string ops, and the layer that maps raw text to token ids.

One implementation serves training and prediction: ``train`` counts its vocabulary from
``tokens`` and encodes with ``TextToIds``, and every saved model starts with that layer, so a
SavedModel exported from a run maps raw strings to probabilities with nothing but TensorFlow.

The rules (tokenizer version 3), in order:

1. lower case (Unicode);
2. HTML tags such as ``<br />``, ``<i>`` and ``</i>`` become spaces;
3. curly apostrophes (’ ‘ ʼ) become straight ones;
4. a run of three or more of one letter a-z is cut to two ("sooooo" -> "soo"; "1000" stays);
5. words are runs of letters, digits, marks and "_", with apostrophes inside them kept
   ("don't"); every other character that is not a space is a token of its own ("!", ":", ")");
   a run of apostrophes at a word's edge is one token "'".

RE2, TensorFlow's regular expressions, has no back-references, so rule 4 compares code points
instead, and only in the texts that have such a run.

``normalize="tweets"`` (``train --normalize tweets``) first rewrites what tweets are made of,
after lower-casing: the HTML entities Twitter's API leaves (``&amp;`` ``&lt;`` ``&gt;``
``&quot;`` ``&#39;``) are decoded; URLs become the one token ``_url_`` and @mentions
``_user_`` (an address such as ``a@b.com`` stays); ``#BestDayEver`` becomes the word
``bestdayever``; emoticons become one token each by what they show (``:)`` ``:-)`` ``=)``
``(:`` ``^_^`` -> ``_smile_``, ``:D`` ``xD`` -> ``_laugh_``, ``;)`` -> ``_wink_``, ``:(``
``):`` -> ``_sad_``, ``:'(`` -> ``_cry_``, ``:P`` -> ``_tongue_``, ``:/`` ``-_-`` ->
``_annoyed_``, ``:O`` -> ``_surprise_``, ``<3`` -> ``_heart_``, ``</3`` -> ``_heartbreak_``).
The rules above then apply (elongations are squeezed by rule 4). Placeholders are words
(letters and "_"), so no later rule splits them.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from sentiment_cli.config import NORMALIZATIONS
from sentiment_cli.rules import (
    BEGIN_WORD, END_WORD, OOV_ID, OOV_TOKEN, PAD_TOKEN, SPECIAL_TOKENS, kept_span, subword_keys, token_char_buckets,
)

from sentiment_cli.tokenrules import (  # noqa: F401  (_RULES, _tweet_rules: pytokens and tests read them)
    _AFTER, _BOUNDARIES, _ENTITIES, _NOSE, _RULES, _SPACES, _WORD, _tweet_rules,
)

_TRIPLES = "|".join(c * 3 for c in "abcdefghijklmnopqrstuvwxyz")

_TWEET_RULES = list(_tweet_rules())


def _tweets(t: tf.Tensor) -> tf.Tensor:
    """The tweet rules of the module's docstring, on lower-cased text."""
    t = tf.strings.regex_replace(t, _SPACES, " ")  # RE2's \S would take a no-break space into a link
    for pattern, character in _ENTITIES:
        t = tf.strings.regex_replace(t, pattern, character)
    for pattern, token, before, after in _TWEET_RULES:
        if not (before or after):
            t = tf.strings.regex_replace(t, pattern, f" {token} ")
            continue
        bounded = _BOUNDARIES[before] + "(?:" + pattern + ")" + (_AFTER if after else "()")
        # twice: a match takes the boundary after it, which the next face may need before it
        for _ in range(2):
            t = tf.strings.regex_replace(t, bounded, r"\1 " + token + r" \2")
    return tf.strings.regex_replace(t, r"#([\pL\pN_])", r" \1")  # #BestDayEver -> the word bestdayever


def _squeeze_elongations(texts: tf.Tensor) -> tf.Tensor:
    """Rule 4, on the texts that have a run of three of one letter a-z."""
    hit = tf.where(tf.strings.regex_full_match(texts, "(?s).*(?:" + _TRIPLES + ").*"))[:, 0]
    some = tf.gather(texts, hit)
    points = tf.strings.unicode_decode(some, "UTF-8", errors="replace")
    flat, rows = points.flat_values, points.value_rowids()
    position = tf.range(tf.size(flat, out_type=tf.int64)) - tf.gather(points.row_starts(), rows)
    previous = tf.concat([[-1], flat[:-1]], 0)
    before_previous = tf.concat([[-1, -1], flat[:-2]], 0)
    letter = (flat >= ord("a")) & (flat <= ord("z"))
    keep = ~((position >= 2) & (flat == previous) & (flat == before_previous) & letter)
    lengths = tf.math.unsorted_segment_sum(tf.cast(keep, tf.int64), rows, tf.size(some, out_type=tf.int64))
    squeezed = tf.RaggedTensor.from_row_lengths(tf.boolean_mask(flat, keep), lengths)
    return tf.tensor_scatter_nd_update(texts, hit[:, None], tf.strings.unicode_encode(squeezed, "UTF-8"))


def tokens(texts: tf.Tensor, normalize: str = "none") -> tf.RaggedTensor:
    """(batch, None) tokens of a batch of UTF-8 strings, by the rules above."""
    t = tf.strings.lower(texts, encoding="utf-8")
    if normalize == "tweets":
        t = _tweets(t)
    elif normalize != "none":
        raise ValueError(f"unknown normalization {normalize!r} (known: {', '.join(NORMALIZATIONS)})")
    t = tf.strings.regex_replace(t, r"</?[a-z]+\s*/?>", " ")
    t = tf.strings.regex_replace(t, "[\u2019\u2018\u02bc]", "'")
    t = _squeeze_elongations(t)
    t = tf.strings.regex_replace(t, _SPACES, " ")
    t = tf.strings.regex_replace(t, "[^" + _WORD + r"\s']", r" \0 ")
    t = tf.strings.regex_replace(t, r"''+", " ' ")
    t = tf.strings.regex_replace(t, r"(?:^|\s)'+", " ' ")
    t = tf.strings.regex_replace(t, r"'+(?:\s|$)", " ' ")
    return tf.strings.split(t)


def keep_ragged(words: tf.RaggedTensor, max_length: int, truncating: str) -> tf.RaggedTensor:
    """``rules.keep`` on each row of ragged tokens or ids, by slicing (``rules.kept_span``)."""
    return words[:, -max_length:] if truncating == "pre" else words[:, :max_length]


def _marked_codes(flat: tf.Tensor) -> tf.Tensor:
    """``rules.char_codes`` of a flat batch of tokens: code points between the marks, right-padded."""
    codes = tf.strings.unicode_decode(flat, "UTF-8", errors="replace")
    marks = tf.ones_like(flat, dtype=tf.int32)[:, None]
    return tf.cast(tf.concat([marks * BEGIN_WORD, codes, marks * END_WORD], axis=1).to_tensor(0), tf.int64)


def char_buckets(words: tf.RaggedTensor, high: int, buckets: int) -> tf.RaggedTensor:
    """(batch, None) int64: each text's distinct character buckets, ascending, from its (batch,
    None) tokens: ``rules.char_buckets_of`` in TensorFlow (``rules.token_char_buckets``, called as
    it is, over the same marked code points)."""
    flat = words.flat_values
    codes = _marked_codes(flat)
    text = tf.cast(words.value_rowids(), tf.int64)
    keys = []
    for _, hashed, valid in token_char_buckets(codes, high, buckets):
        keys.append(tf.boolean_mask(text[:, None] * buckets + hashed, valid))
    keys = tf.sort(tf.unique(tf.concat(keys, axis=0)).y)  # by text, then by bucket
    return tf.RaggedTensor.from_value_rowids(keys % buckets, keys // buckets, nrows=words.nrows())


def subword_codes(words: tf.RaggedTensor, ids: tf.RaggedTensor, high: int, buckets: int, offset: int,
                  max_length: int) -> tf.RaggedTensor:
    """(batch, None) int32: ``rules.subword_codes`` of each text, from its kept tokens and their
    ids (one id per token), through ``rules.subword_keys`` as it is."""
    unknown = tf.where(tf.equal(ids.flat_values, OOV_ID))[:, 0]
    text = tf.gather(tf.cast(words.value_rowids(), tf.int64), unknown)
    position = unknown - tf.gather(tf.cast(words.row_starts(), tf.int64), text)
    codes = _marked_codes(tf.gather(words.flat_values, unknown))
    span = max_length * buckets  # above every position x buckets + bucket of a kept token
    keys = [tf.boolean_mask(text[:, None] * span + key, valid)
            for key, valid in subword_keys(codes, position, high, buckets)]
    keys = tf.sort(tf.unique(tf.concat(keys, axis=0)).y)  # by text, then by key
    found = tf.RaggedTensor.from_value_rowids(keys % span, keys // span, nrows=words.nrows())
    return tf.cast(-(offset + 1 + found), tf.int32)


@keras.saving.register_keras_serializable(package="sentiment_cli")
class TextToIds(layers.Layer):
    """Raw strings -> right-padded int32 token ids, by the lookup and truncation rules of
    ``rules`` (0 pads, 1 is any token outside the vocabulary; at most ``max_length`` tokens, their
    end with truncating="pre"; a text without tokens is one unknown id). ``vocabulary`` starts with
    the padding and unknown tokens ("" and "[UNK]"), as tokenizer.json does.

    With ``char_ngrams`` (the longest character n-gram, 0 for none) and ``char_buckets``, each row
    holds the text's ids packed with its character buckets (``rules.pack``): the word ids, then
    -(b + 1) for each distinct bucket b of the kept tokens' character n-grams. With
    ``subword_ngrams`` and ``subword_buckets``, the unknown tokens' ``rules.subword_codes`` follow.
    """

    def __init__(self, vocabulary, max_length: int = 400, truncating: str = "pre", normalize: str = "none",
                 char_ngrams: int = 0, char_buckets: int = 0, subword_ngrams: int = 0, subword_buckets: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.char_ngrams, self.char_buckets = int(char_ngrams), int(char_buckets)
        if self.char_ngrams and not (self.char_ngrams >= 2 and self.char_buckets > 0):
            raise ValueError("character n-grams need char_ngrams of 2 or more and some char_buckets")
        self.subword_ngrams, self.subword_buckets = int(subword_ngrams), int(subword_buckets)
        if self.subword_ngrams and not (self.subword_ngrams >= 2 and self.subword_buckets > 0):
            raise ValueError("subword vectors need subword_ngrams of 2 or more and some subword_buckets")
        self.vocabulary = [str(v) for v in vocabulary]
        if self.vocabulary[:2] != SPECIAL_TOKENS:
            raise ValueError("vocabulary must start with the padding and unknown tokens")
        self.max_length, self.truncating = int(max_length), str(truncating)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalize!r} (known: {', '.join(NORMALIZATIONS)})")
        self.normalize = str(normalize)
        # rules.lookup: the mask token is id 0 (PAD_ID), the one OOV index id 1 (OOV_ID), words from 2
        self.lookup = layers.StringLookup(vocabulary=self.vocabulary[2:], mask_token=PAD_TOKEN, oov_token=OOV_TOKEN,
                                          num_oov_indices=1, name="lookup")

    def build(self, input_shape=None):
        self.built = True  # the lookup table is made in __init__, from the vocabulary

    def kept_tokens(self, texts) -> tf.RaggedTensor:
        """(batch, None) tokens a text keeps (``keep_ragged``)."""
        words = tokens(tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1]), self.normalize)
        return keep_ragged(words, self.max_length, self.truncating)

    def ragged_ids(self, texts) -> tf.RaggedTensor:
        """(batch, None) int32 ids, cut to max_length, at least one per text: ``rules.kept_ids``
        of ``rules.lookup`` on ragged tokens (the cut made first, which the lookup does not change),
        packed with the character buckets when the layer has them."""
        words = self.kept_tokens(texts)
        looked = tf.cast(tf.ragged.map_flat_values(self.lookup, words), tf.int32)  # an id per token
        ids = self.word_ids(looked)
        parts = [ids]
        if self.char_ngrams:
            parts.append(tf.cast(-char_buckets(words, self.char_ngrams, self.char_buckets) - 1, tf.int32))
        if self.subword_ngrams:
            parts.append(subword_codes(words, looked, self.subword_ngrams, self.subword_buckets,
                                       self.char_buckets if self.char_ngrams else 0, self.max_length))
        return tf.concat(parts, axis=1) if len(parts) > 1 else ids

    @staticmethod
    def word_ids(looked: tf.RaggedTensor) -> tf.RaggedTensor:
        """``rules.kept_ids`` of the kept tokens' looked-up ids: one unknown id for a text without tokens."""
        empty = looked.row_lengths() == 0
        filler = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(empty, tf.int64))], OOV_ID), tf.cast(empty, tf.int64))
        return tf.concat([looked, filler], axis=1)

    def call(self, texts):
        return self.ragged_ids(texts).to_tensor(0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def get_config(self):
        config = {**super().get_config(), "vocabulary": self.vocabulary, "max_length": self.max_length,
                  "truncating": self.truncating}
        if self.normalize != "none":  # models without it load as before
            config["normalize"] = self.normalize
        if self.char_ngrams:  # the same
            config.update(char_ngrams=self.char_ngrams, char_buckets=self.char_buckets)
        if self.subword_ngrams:  # the same
            config.update(subword_ngrams=self.subword_ngrams, subword_buckets=self.subword_buckets)
        return config


@keras.saving.register_keras_serializable(package="sentiment_cli")
class KeepTokens(layers.Layer):
    """Right-padded ids -> the same rows cut to ``max_length`` tokens, as TextToIds cuts a text.

    The hybrid model reads its texts whole for the n-gram half; the network half reads only
    ``max_length`` tokens of them (the end with truncating="pre"), through this layer. Ids of
    rows no longer than ``max_length`` pass unchanged; packed rows (``rules.pack``) give their
    word ids alone. ``call`` is ``rules.keep_padded`` in TensorFlow, line for line.
    """

    def __init__(self, max_length: int = 400, truncating: str = "pre", **kwargs):
        super().__init__(**kwargs)
        self.max_length, self.truncating = int(max_length), str(truncating)

    def call(self, ids):
        lengths = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1)
        start, stop = kept_span(lengths, self.max_length, self.truncating, tf.maximum, tf.minimum)
        width = tf.minimum(tf.reduce_max(tf.concat([lengths, [0]], 0)), self.max_length)  # words only, when packed
        positions = start[:, None] + tf.range(width)[None, :]
        kept = tf.gather(ids, tf.minimum(positions, tf.shape(ids)[1] - 1), batch_dims=1)
        return tf.where(positions < stop[:, None], kept, tf.zeros_like(kept))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "truncating": self.truncating}
