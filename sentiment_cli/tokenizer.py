"""Vocabulary and text -> ids, saved and loaded as JSON.

Keras 3 dropped ``Tokenizer``; ``TextVectorization`` runs its standardisation as TensorFlow
string ops inside a layer. This tokenizer is plain Python instead: the same ids on every
backend and machine, a JSON file a person can read, and standardisation that knows about the
HTML line breaks and punctuation of real reviews and tweets.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

from sentiment_cli.errors import RunError

PAD_ID = 0
OOV_ID = 1
PAD_TOKEN = ""
OOV_TOKEN = "[UNK]"
FORMAT = "sentiment-cli-tokenizer"
# Version 2 drops closing tags too ("</i>") and reads curly apostrophes as straight ones
# ("don’t" is one token). Version 1 files keep their rules, so old runs predict as trained.
VERSION = 2
VERSIONS = (1, 2)

_BREAKS = {1: re.compile(r"<br\s*/?>|<[a-z]+\s*/?>", re.IGNORECASE),
           2: re.compile(r"</?[a-z]+\s*/?>", re.IGNORECASE)}
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
# Words keep inner apostrophes ("don't"); every other non-space symbol ("!", ":)") is a token.
_TOKENS = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
# Three or more repeats of a letter say the same as two: "sooooo" -> "soo" (digits stay: "1000").
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")


def tokenize(text: str, version: int = VERSION) -> list[str]:
    """Split one text into lower-case tokens, by the rules of tokenizer ``version``."""
    text = text.lower()
    if "<" in text:  # most texts have no tags: skip the scan
        text = _BREAKS[version].sub(" ", text)
    if version >= 2:
        text = text.translate(_APOSTROPHES)
    text = _ELONGATED.sub(r"\1\1", text)
    return _TOKENS.findall(text)


class Tokenizer:
    """Maps tokens to ids: 0 pads, 1 stands for any token outside the vocabulary."""

    def __init__(self, vocabulary: list[str], idf: list[float] | None = None, version: int = VERSION):
        if vocabulary[:2] != [PAD_TOKEN, OOV_TOKEN]:
            raise ValueError("vocabulary must start with the padding and OOV tokens")
        if idf is not None and len(idf) != len(vocabulary):
            raise ValueError("idf must have one weight per vocabulary entry")
        self.vocabulary = list(vocabulary)
        self.version = version
        # Inverse document frequencies of the training texts, for tf-idf bag-of-words features.
        self.idf = None if idf is None else [float(v) for v in idf]
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int) -> "Tokenizer":
        """Keep the ``vocab_size - 2`` most frequent tokens; ties go to the earlier token."""
        counts = Counter()
        for text in texts:
            counts.update(tokenize(text))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        words = [token for token, _ in ranked[: max(vocab_size - 2, 0)]]
        return cls([PAD_TOKEN, OOV_TOKEN, *words])

    def __len__(self) -> int:
        return len(self.vocabulary)

    def encode(self, text: str) -> list[int]:
        ids = self._ids
        return [ids.get(token, OOV_ID) for token in tokenize(text, self.version)]

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]

    def to_json(self) -> str:
        data = {"format": FORMAT, "version": self.version, "oov_token": OOV_TOKEN, "vocabulary": self.vocabulary}
        if self.idf is not None:
            data["idf"] = self.idf
        return json.dumps(data, ensure_ascii=False)

    @property
    def fingerprint(self) -> str:
        """sha256 of the vocabulary: a run's config records it to catch a foreign tokenizer."""
        return hashlib.sha256(json.dumps(self.vocabulary, ensure_ascii=False).encode()).hexdigest()

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
        if data.get("version") not in VERSIONS:
            raise RunError(
                f"{path}: tokenizer version {data.get('version')} is not supported "
                f"(this sentiment-cli reads version {VERSION}). Upgrade sentiment-cli or retrain"
            )
        try:
            return cls(data["vocabulary"], data.get("idf"), data["version"])
        except (KeyError, ValueError, TypeError) as exc:
            raise RunError(f"{path}: damaged ({exc}). Restore it from a copy of the run, or train the run again") from None
