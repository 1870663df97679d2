"""Records -> model inputs: the label set, token ids, the validation split (kept as text hashes),
and batches of texts of similar length."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import numpy as np

from sentiment_cli.errors import DataError
from sentiment_cli.rules import PAD_ID, keep, network_share, words
from sentiment_cli.tokenizer import Tokenizer

# Fewer validation rows than this make an accuracy that moves in steps of 1/N or more: said.
FEW_VALIDATION_ROWS = 30


class Rows(NamedTuple):
    """Encoded rows: token id sequences and their class ids."""

    seqs: list
    y: np.ndarray


class Encoder:
    """A run's text pipeline: tokenizer, label set and the tokens a text keeps.

    max_length is the tokens a text keeps when tokenized (``TrainConfig.read_length``).
    """

    def __init__(self, tokenizer: Tokenizer | None = None, labels: list[str] | None = None,
                 max_length: int = 400, truncating: str = "pre", tfidf: bool = False, normalize: str = "none",
                 chars: tuple[int, int] = (0, 0)):
        self.tokenizer = tokenizer
        self.normalize = normalize
        self.labels = list(labels or [])
        self.max_length = max_length
        self.truncating = truncating
        self.tfidf = tfidf  # the bow model's tf-idf needs the training texts' idf
        self.chars = tuple(chars)  # (longest character n-gram, buckets): ids packed with them (rules.pack)
        # "numpy": tokenize in Python, without TensorFlow (Tokenizer.encode_arrays); the same ids
        self.engine = "tensorflow"

    @classmethod
    def from_config(cls, config, tokenizer: Tokenizer | None = None) -> "Encoder":
        return cls(tokenizer, config.labels, config.read_length, config.truncating,
                   config.model == "bow" and config.bow_mode == "tfidf", config.normalize, config.chars)

    def fit(self, texts: list[str], vocab_size: int, progress: bool = False) -> None:
        """Vocabulary (and idf) from the training texts; validation texts stay unseen."""
        self.tokenizer = Tokenizer.fit(texts, vocab_size, self.normalize, progress=progress)
        if self.tfidf:
            idf = fit_idf(self.sequences(texts), len(self.tokenizer))
            self.tokenizer = Tokenizer(self.tokenizer.vocabulary, idf.tolist(), self.normalize)

    def encode_labels(self, labels: list[str], path="labels", lines: list[int] | None = None) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels)}
        out = np.empty(len(labels), dtype=np.int32)
        for i, label in enumerate(labels):
            if label not in index:
                raise DataError(path, f"label {label!r} is not one the run knows ({', '.join(self.labels)})",
                                line=lines[i] if lines else None, fix="Fix the label or retrain with it")
            out[i] = index[label]
        return out

    def sequences(self, texts: Iterable[str], progress: bool = False) -> list[np.ndarray]:
        """Token ids of each text, cut to max_length (keeping the end when truncating='pre').

        A text without tokens becomes one unknown token: a fully masked row has no mean (0/0).
        """
        return self.tokenizer.encode_arrays(texts, self.max_length, self.truncating, progress=progress,
                                            engine=self.engine, chars=self.chars)

    def rows(self, texts: list[str], y: np.ndarray, progress: bool = False) -> Rows:
        return Rows(self.sequences(texts, progress=progress), np.asarray(y))

    def features(self, seqs: list[np.ndarray]) -> np.ndarray:
        """Model input for a batch: right-padded ids (the bow model makes its bag of words in the graph)."""
        return pad(seqs)


# ---- text identity: what the split, the overlap warnings and `check` compare ----
# Bump when normalize() changes: hashes stored by runs made with another version are not compared.
NORMALIZATION = "nfkc-casefold-alnum-1"
_NOT_WORD = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    """The text as near-duplicates share it: Unicode NFKC, case folded, only letters and digits
    separated by single spaces ('Great movie!!' and 'great  movie' are the same)."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def text_hash(text: str) -> str:
    """64-bit hash of the normalized text, as hex."""
    return hashlib.blake2b(normalize(text).encode("utf-8"), digest_size=8).hexdigest()


def text_hashes(texts) -> dict:
    """A run's record of its training texts (saved as JSON): sorted unique hashes, not the texts."""
    return {"normalization": NORMALIZATION, "digest": "blake2b-64", "hashes": sorted({text_hash(t) for t in texts})}


def hash_set(record: dict) -> set[str] | None:
    """The hashes of a ``text_hashes`` record, or None when they were made another way."""
    if not isinstance(record, dict) or record.get("normalization") != NORMALIZATION \
            or not isinstance(record.get("hashes"), list):
        return None
    return set(record["hashes"])


class TextGroups(NamedTuple):
    """Labeled rows grouped by text (``text_hash``): what a split or a fold deals, so that the
    copies of a text go together and a frequent text weighs as one text, not as its copies.

    A text whose copies carry different labels is one group, dealt as its most frequent label
    (ties: the class that sorts first); its rows keep their own labels. Groups are numbered in the
    order of their keys (sorted), so a draw over them does not depend on the file's order."""

    of_row: np.ndarray  # each row's group, 0 .. len(keys) - 1
    keys: np.ndarray  # each group's key (the text's hash), sorted
    label: np.ndarray  # each group's class: the most frequent among its rows

    def per_class(self, classes: int) -> np.ndarray:
        """Distinct texts of each class (groups dealt as that class)."""
        return np.bincount(self.label, minlength=classes)


def group_rows(keys, y: np.ndarray) -> TextGroups:
    """Rows grouped by ``keys`` (one per row: a text's hash, or any id), each group's class the
    most frequent of its rows' classes ``y``. The one grouping the split (``draw_split``) and the
    folds (``label_issues.stratified_folds``) use."""
    y = np.asarray(y, dtype=np.int64)
    keys, of_row = np.unique(np.asarray(keys), return_inverse=True)
    of_row = of_row.ravel()
    votes = np.zeros((len(keys), int(y.max(initial=0)) + 1), dtype=np.int64)
    np.add.at(votes, (of_row, y), 1)
    return TextGroups(of_row, keys, votes.argmax(axis=1))


def text_groups(texts: list[str], y: np.ndarray) -> TextGroups:
    """The labeled rows grouped by text identity (``text_hash``): see ``TextGroups``."""
    return group_rows([text_hash(t) for t in texts], y)


def too_few_texts(path, label: str, distinct: int, rows: int, needs: str) -> DataError:
    """The refusal of a class with fewer than two distinct texts (``TextGroups.per_class``);
    needs: what needs two, and why."""
    has = "only one distinct text" if distinct else "no text of its own"
    copies = f" ({rows} rows)" if rows > 1 else ""
    mixed = "; each of its rows is a copy of a text labeled otherwise more often" if not distinct else ""
    return DataError(path, f"label {label!r} has {has}{copies}, and {needs}{mixed}",
                     fix="Add other texts of that class (better: dozens), or leave its rows out")


# ---- the split ----
@dataclass
class Split:
    """Which labeled rows train and which validate. ``hashes`` (of the validation texts, sorted)
    is how a run records it: rebuilt from them, it follows the texts, whatever the file's order."""

    train: np.ndarray
    val: np.ndarray
    hashes: list

    def record(self) -> dict:
        return {"digest": "blake2b-64 of encoding.normalize(text)", "validation": self.hashes}


def draw_split(texts: list[str], y: np.ndarray, val_ratio: float, seed: int, path="labels",
               labels: list[str] | None = None) -> Split:
    """A new split, drawn among distinct texts (``text_groups``), class by class: each class's
    share of its distinct texts validates, chosen by the seed, with every copy of each; at least
    one distinct text of each class trains and one validates, or a ``DataError`` says which class
    cannot. Drawn by text, not by row: a text's copies do not make it likelier to validate, and a
    class of few texts with many copies keeps texts to train on. A text whose copies carry
    different labels is dealt as its most frequent label (``TextGroups``).

    A recorded split is never drawn again: ``split_by_hashes`` rebuilds it (up to 0.6.1 splits
    were drawn by rows, ``stratified_split``, then widened to the copies of each drawn text)."""
    y = np.asarray(y)
    groups = text_groups(texts, y)
    rng = np.random.default_rng(seed)
    val = []
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(groups.label == cls))
        if len(members) < 2:
            raise too_few_texts(path, labels[cls] if labels else str(cls), len(members), int(np.sum(y == cls)),
                                "the validation split needs two of each class, one to train and one to validate")
        n_val = min(max(int(round(len(members) * val_ratio)), 1), len(members) - 1)
        val.append(members[:n_val])
    val_groups = np.concatenate(val) if val else np.zeros(0, dtype=np.int64)
    is_val = np.zeros(len(groups.keys), dtype=bool)
    is_val[val_groups] = True
    row_val = is_val[groups.of_row]  # as split_by_hashes would rebuild it, without hashing again
    return Split(np.flatnonzero(~row_val), np.flatnonzero(row_val), sorted(groups.keys[val_groups].tolist()))


def split_by_hashes(texts: list[str], hashes) -> Split:
    """The split a run recorded: the rows whose text hash is among ``hashes`` validate."""
    keys = set(hashes)
    is_val = np.fromiter((text_hash(t) in keys for t in texts), dtype=bool, count=len(texts))
    return Split(np.flatnonzero(~is_val), np.flatnonzero(is_val), sorted(keys))


def check_split(split: Split, y: np.ndarray, labels: list[str], path) -> list[str]:
    """Refuse a split that cannot train or validate; return warnings about one that validates little."""
    present = sorted(set(int(c) for c in y))
    if len(split.val) == 0:
        counts = ", ".join(f"{labels[c]!r}: {int(np.sum(y == c))}" for c in present)
        raise DataError(path, f"too few examples to hold out validation data ({counts})",
                        fix="Give each class at least two examples, one to train and one to validate (better: "
                            "dozens), or a larger --val-ratio")
    missing = [labels[c] for c in present if not np.any(y[split.train] == c)]
    if missing:
        raise DataError(path, f"no training example left for {', '.join(map(repr, missing))}: all of its examples "
                        "are validation texts (or repeat one)", fix="Give that class more (distinct) examples")
    warnings = []
    if len(split.train) < len(split.val):
        warnings.append(f"training holds only {len(split.train)} of {len(y)} rows, validation {len(split.val)}: "
                        f"the model learns from {len(split.train)} examples; a smaller --val-ratio (0.1 to 0.2 is "
                        "usual) trains on more")
    if len(split.val) < FEW_VALIDATION_ROWS:
        warnings.append(f"validation holds only {len(split.val)} rows: its accuracy moves in steps of "
                        f"{1 / len(split.val):.0%} and says little; give more data or a larger --val-ratio")
    return warnings


def keep_tokens(seqs: list[np.ndarray], max_length: int, truncating: str = "pre", subword_buckets: int = 0,
                offset: int = 0) -> list[np.ndarray]:
    """Each id sequence's words (``rules.words``: packed character buckets left out) cut to
    max_length, as the tokenizer cuts a text (``rules.keep``); with ``subword_buckets`` (and the
    character buckets' count, ``offset``), the kept tokens' subword codes after them
    (``rules.network_share``)."""
    if subword_buckets:
        return [network_share(s, max_length, truncating, subword_buckets, offset) for s in seqs]
    return [keep(words(s), max_length, truncating) for s in seqs]


def network_seqs(seqs: list[np.ndarray], config) -> list[np.ndarray]:
    """The sequences the network half of ``config``'s model reads of each text, for fitting it.
    When the texts were read whole for the n-gram half, or packed with its character n-grams,
    the network's KeepTokens layer would cut them anyway: ``keep_tokens`` cuts them first, keeping
    the subword codes of the tokens kept (the model computes the same from either)."""
    if not (config.read_length > config.max_length or config.char_ngrams):
        return seqs
    return keep_tokens(seqs, config.max_length, config.truncating,
                       config.subword_buckets if config.subword_vectors else 0, config.chars[1])


def pad(seqs: list[np.ndarray], length: int | None = None) -> np.ndarray:
    if length is None:
        length = max((len(s) for s in seqs), default=1) or 1
    out = np.full((len(seqs), length), PAD_ID, dtype=np.int32)
    for i, s in enumerate(seqs):
        s = s[:length]
        out[i, : len(s)] = s
    return out


def fit_idf(seqs: list[np.ndarray], vocab_size: int) -> np.ndarray:
    """Smooth inverse document frequency, as scikit-learn computes it."""
    df = np.zeros(vocab_size, dtype=np.float64)
    for s in seqs:
        df[np.unique(s)] += 1
    return (np.log((1 + len(seqs)) / (1 + df)) + 1).astype(np.float32)


def stratified_split(y: np.ndarray, val_ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of rows that keeps each class's share; every class keeps a training example.

    Runs made with 0.6.1 or earlier drew their validation rows so (then widened them to the copies of
    each drawn text); semi redraws it for a run that records no split. New splits: ``draw_split``."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_val = int(round(len(idx) * val_ratio))
        n_val = min(max(n_val, 1 if len(idx) > 1 else 0), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def length_batches(seqs: list[np.ndarray], batch_size: int, rng: np.random.Generator | None = None,
                   pool: int = 50, max_tokens: int | None = None) -> list[np.ndarray]:
    """Index batches of texts of similar length, so that each pads only to its own longest.

    With rng (training): shuffle, sort within pools of ``pool`` batches, shuffle the batches.
    Without (prediction): sort everything by length, and, with max_tokens, end a batch before
    rows x its longest text would pass max_tokens, so that long texts come in smaller batches
    and memory stays bounded whatever the texts' length.
    """
    n = len(seqs)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        if max_tokens is None:
            return [order[i:i + batch_size] for i in range(0, n, batch_size)]
        batches, start = [], 0
        while start < n:
            # sorted ascending: the batch's last row is its longest
            longest = max(int(lengths[order[min(start + batch_size, n) - 1]]), 1)
            rows = min(batch_size, max(max_tokens // longest, 1))
            batches.append(order[start:start + rows])
            start += rows
        return batches
    order = rng.permutation(n)
    step = batch_size * pool
    batches = []
    for start in range(0, n, step):
        chunk = order[start:start + step]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches

