"""Vocabulary and text -> ids, saved and loaded as JSON.

The rules that split a text into tokens are TensorFlow string ops (``textops.tokens``), so
that the model itself can start from raw strings: the vocabulary is counted with them, and
``encode`` runs the same ``TextToIds`` layer that every saved model begins with. The file keeps
the vocabulary (and idf weights) as JSON a person can read; TensorFlow is imported only when
a text is tokenized.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Iterable

from sentiment_cli.config import NORMALIZATIONS
from sentiment_cli.errors import RunError
from sentiment_cli.rules import (  # noqa: F401  (PAD_ID, OOV_ID: imported from here too)
    OOV_ID, OOV_TOKEN, PAD_ID, SPECIAL_TOKENS, char_buckets_of, keep, kept_ids, lookup, pack, subword_codes,
    token_index,
)

FORMAT = "sentiment-cli-tokenizer"
# Version 3: the rules are TensorFlow ops inside the model (see textops.py). Versions 1 and 2
# (sentiment-cli 0.1) were Python code outside it; their runs must be trained again.
VERSION = 3
# Version 4: version 3 plus a normalization ("normalize": "tweets"), which a sentiment-cli that
# reads only version 3 would ignore; it says "upgrade" instead.
NORMALIZED_VERSION = 4
ENCODE_BATCH = 1024


def tokenize_batch(texts: list[str], normalize: str = "none") -> list[list[str]]:
    """Each text's tokens, by the rules of textops.tokens."""
    out = []
    for start in range(0, len(texts), ENCODE_BATCH):
        ragged = _tokens_function(normalize)(_as_tensor(texts[start:start + ENCODE_BATCH]))
        out.extend([token.decode("utf-8") for token in row] for row in ragged.to_list())
    return out


def tokenize(text: str, normalize: str = "none") -> list[str]:
    """One text's tokens (for people and tests; batches are faster)."""
    return tokenize_batch([text], normalize)[0]


_FUNCTIONS = {}
_CHAR_FUNCTIONS = {}


def _char_function(high: int, buckets: int):
    """textops.char_buckets of ragged tokens, traced once per setting."""
    if (high, buckets) not in _CHAR_FUNCTIONS:
        import tensorflow as tf

        from sentiment_cli.textops import char_buckets

        def function(words):
            return char_buckets(words, high, buckets)

        spec = tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1, row_splits_dtype=tf.int64)
        _CHAR_FUNCTIONS[(high, buckets)] = tf.function(function, input_signature=[spec])
    return _CHAR_FUNCTIONS[(high, buckets)]


def _subword_function(high: int, buckets: int, offset: int, max_length: int):
    """textops.subword_codes of ragged kept tokens and their ids, traced once per setting."""
    key = ("subwords", high, buckets, offset, max_length)
    if key not in _CHAR_FUNCTIONS:
        import tensorflow as tf

        from sentiment_cli.textops import subword_codes

        def function(words, ids):
            return subword_codes(words, ids, high, buckets, offset, max_length)

        spec = [tf.RaggedTensorSpec([None, None], dtype, ragged_rank=1, row_splits_dtype=tf.int64)
                for dtype in (tf.string, tf.int32)]
        _CHAR_FUNCTIONS[key] = tf.function(function, input_signature=spec)
    return _CHAR_FUNCTIONS[key]


def _rows(ragged) -> list:
    """A ragged tensor's rows as NumPy arrays."""
    import numpy as np

    return np.split(ragged.flat_values.numpy(), np.cumsum(ragged.row_lengths().numpy())[:-1])


def _tokens_function(normalize: str = "none"):
    if normalize not in _FUNCTIONS:
        import tensorflow as tf

        from sentiment_cli.textops import tokens

        def function(texts):
            return tokens(texts, normalize)

        _FUNCTIONS[normalize] = tf.function(function, input_signature=[tf.TensorSpec([None], tf.string)])
    return _FUNCTIONS[normalize]


def _as_tensor(texts):
    import tensorflow as tf

    return tf.constant(list(texts), dtype=tf.string)


class Tokenizer:
    """Maps tokens to ids by ``rules``' lookup: 0 pads, 1 stands for any token outside the vocabulary."""

    def __init__(self, vocabulary: list[str], idf: list[float] | None = None, normalize: str = "none"):
        if vocabulary[:2] != SPECIAL_TOKENS:
            raise ValueError("vocabulary must start with the padding and OOV tokens")
        if idf is not None and len(idf) != len(vocabulary):
            raise ValueError("idf must have one weight per vocabulary entry")
        words = vocabulary[2:]
        if not all(isinstance(w, str) and w for w in words) or len(set(words)) != len(words) or OOV_TOKEN in words:
            raise ValueError("the vocabulary's words must be distinct, non-empty strings")
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalize!r}")
        self.vocabulary = list(vocabulary)
        self.normalize = normalize  # what textops rewrites before its rules ("none" or "tweets")
        self.version = VERSION
        self._layers = {}
        self._index = None
        # Inverse document frequencies of the training texts, for tf-idf bag-of-words features.
        self.idf = None if idf is None else [float(v) for v in idf]

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int, normalize: str = "none", progress: bool = False) -> "Tokenizer":
        """Keep the ``vocab_size - 2`` most frequent tokens; ties go to the earlier token."""
        from sentiment_cli.progress import step

        counts = Counter()
        texts = list(texts)
        function = _tokens_function(normalize)
        with step("counting the vocabulary", total=len(texts), unit="texts", enabled=progress) as counter:
            for start in range(0, len(texts), ENCODE_BATCH):
                batch = texts[start:start + ENCODE_BATCH]
                counts.update(function(_as_tensor(batch)).flat_values.numpy())
                counter.update(len(batch))
        return cls.from_counts({token.decode("utf-8"): n for token, n in counts.items()}, vocab_size, normalize)

    @classmethod
    def from_counts(cls, counts: dict[str, int], vocab_size: int, normalize: str = "none") -> "Tokenizer":
        """The vocabulary ``fit`` keeps from token counts: the ``vocab_size - 2`` most frequent,
        ties in alphabetical order."""
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        words = [token for token, _ in ranked[: max(vocab_size - 2, 0)]]
        return cls([*SPECIAL_TOKENS, *words], normalize=normalize)

    def __len__(self) -> int:
        return len(self.vocabulary)

    def layer(self, max_length: int = 100_000, truncating: str = "pre", chars: tuple[int, int] = (0, 0)):
        """The TextToIds layer of this vocabulary (one per length limit and character setting, built once)."""
        key = (max_length, truncating, tuple(chars))
        if key not in self._layers:
            from sentiment_cli.textops import TextToIds

            self._layers[key] = TextToIds(self.vocabulary, max_length, truncating, self.normalize, *chars,
                                          name="text_to_ids")
        return self._layers[key]

    def encode_arrays(self, texts: Iterable[str], max_length: int = 100_000, truncating: str = "pre",
                      progress: bool = False, engine: str = "tensorflow", chars: tuple[int, int] = (0, 0)):
        """Each text's ids as an int32 array, as the model's TextToIds layer gives them: the same
        token ops and lookup table, then ``rules.kept_ids`` (cut to max_length; a text without
        tokens is one unknown id). chars: (longest character n-gram, buckets), or (0, 0) for
        none: the ids then come packed with the kept tokens' character buckets (``rules.pack``).

        (The layer's own graph is traced per vocabulary, which costs most of a second; this
        path traces the token ops once per process and looks the tokens up eagerly.)
        engine "numpy": the rules in Python (``pytokens``, the same tokens) and a dict lookup,
        without importing TensorFlow.
        """
        from sentiment_cli.progress import step

        texts = list(texts)
        out = []
        with step("tokenizing", total=len(texts), unit="texts", enabled=progress) as counter:
            for start in range(0, len(texts), ENCODE_BATCH):
                out.extend(self._encode_batch(texts[start:start + ENCODE_BATCH], engine, max_length, truncating,
                                              chars))
                counter.update(min(ENCODE_BATCH, len(texts) - start))
        return out

    def _encode_batch(self, texts: list[str], engine: str, max_length: int, truncating: str,
                      chars: tuple[int, int]) -> list:
        import numpy as np

        high, buckets, sub_high, sub_buckets = (tuple(chars) + (0, 0))[:4]
        if engine == "numpy":
            from sentiment_cli.pytokens import tokens

            index = self.index
            out = []
            for row in tokens(texts, self.normalize):
                ids = kept_ids(lookup(row, index), max_length, truncating)
                if not (high or sub_high):
                    out.append(ids)
                    continue
                kept = keep(row, max_length, truncating)
                out.append(pack(ids, char_buckets_of(kept, high, buckets) if high else np.zeros(0, np.int64),
                                subword_codes(kept, ids, sub_high, sub_buckets, buckets) if sub_high else None))
            return out
        words = _tokens_function(self.normalize)(_as_tensor(texts))
        flat = self.layer(max_length, truncating).lookup(words.flat_values).numpy().astype(np.int32)
        out = [kept_ids(ids, max_length, truncating)
               for ids in np.split(flat, np.cumsum(words.row_lengths().numpy())[:-1])]
        if not (high or sub_high):
            return out
        from sentiment_cli.textops import keep_ragged

        kept = keep_ragged(words, max_length, truncating)
        found = _rows(_char_function(high, buckets)(kept)) if high else [np.zeros(0, np.int64)] * len(out)
        subwords = [None] * len(out)
        if sub_high:
            looked = keep_ragged(words.with_flat_values(flat), max_length, truncating)
            subwords = _rows(_subword_function(sub_high, sub_buckets, buckets, max_length)(kept, looked))
        return [pack(ids, b, c) for ids, b, c in zip(out, found, subwords)]

    @property
    def index(self) -> dict[str, int]:
        """token -> id (padding and the unknown token left out: no text has them as tokens)."""
        if self._index is None:
            self._index = token_index(self.vocabulary)
        return self._index

    def encode(self, text: str) -> list[int]:
        """One text's ids (a text without tokens gives one unknown id, as the model sees it)."""
        return self.encode_arrays([text])[0].tolist()

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [ids.tolist() for ids in self.encode_arrays(texts)]

    def to_json(self) -> str:
        version = self.version if self.normalize == "none" else NORMALIZED_VERSION
        data = {"format": FORMAT, "version": version, "oov_token": OOV_TOKEN, "vocabulary": self.vocabulary}
        if self.idf is not None:
            data["idf"] = self.idf
        if self.normalize != "none":
            data["normalize"] = self.normalize
        return json.dumps(data, ensure_ascii=False)

    @property
    def fingerprint(self) -> str:
        """sha256 of the vocabulary (and the normalization, when there is one): a run's config
        records it to catch a foreign tokenizer."""
        what = self.vocabulary if self.normalize == "none" else [self.normalize, self.vocabulary]
        return hashlib.sha256(json.dumps(what, ensure_ascii=False).encode()).hexdigest()

    def save(self, path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path) -> "Tokenizer":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{path}: no tokenizer here. Train the run again to recreate it") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RunError(f"{path}: damaged or truncated (not valid JSON). Restore it from a copy of the run, "
                           "or train the run again") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RunError(f"{path}: not a sentiment-cli tokenizer. Train the run again")
        version = data.get("version")
        if version in (1, 2):
            raise RunError(
                f"{path}: made by an older version of sentiment-cli (tokenizer version {version}, which "
                "tokenized outside the model). This version tokenizes inside the model: train the run again "
                "(sentiment-cli train NAME --overwrite, with the options it had)")
        if version not in (VERSION, NORMALIZED_VERSION):
            raise RunError(
                f"{path}: tokenizer version {version} is not supported "
                f"(this sentiment-cli reads versions {VERSION} and {NORMALIZED_VERSION}). Upgrade sentiment-cli or retrain"
            )
        try:
            return cls(data["vocabulary"], data.get("idf"), data.get("normalize", "none"))
        except (KeyError, ValueError, TypeError) as exc:
            raise RunError(f"{path}: damaged ({exc}). Restore it from a copy of the run, or train the run again") from None
