"""The rules both engines share, from a text's tokens on: one statement of each.

A run is read by TensorFlow (the layers inside ``best.keras``, ``model.predict_proba``) and by
NumPy (``npmodel``, ``explain``, ``Tokenizer.encode_arrays(engine="numpy")``); each must give
the same ids and rows, byte for byte. Each rule is written here once. The NumPy paths call
these functions; the TensorFlow layers call them where they are written in operators alone
(``kept_span``, ``ngram_buckets``), and otherwise mirror them line for line, naming the
function they mirror, with the constants imported from here. This module imports only NumPy,
so that the NumPy engine starts without TensorFlow. Changing a rule or a constant changes what
every saved run computes: such a change needs a new tokenizer or model format, not an edit.

**Vocabulary lookup.** A vocabulary is a list of tokens whose index is the id: id 0
(``PAD_ID``, token ``PAD_TOKEN`` "") pads and is no token of any text; id 1 (``OOV_ID``,
``OOV_TOKEN`` "[UNK]") stands for every token outside the vocabulary; words have ids 2 and up.
A text without tokens is one unknown id, since a fully padded row has no mean.
(``token_index``, ``lookup``, ``kept_ids``; in TensorFlow ``textops.TextToIds``' StringLookup.)

**Truncation.** A text of ``length`` tokens read at most ``max_length`` keeps the span
``kept_span`` gives: its last ``max_length`` tokens with truncating "pre", its first ones with
"post" (any other value reads as "post"). The cut is made before the unknown-id rule above
applies, so a text is never longer than ``max_length``. (``kept_span``, ``keep`` for one
sequence, ``keep_padded`` for right-padded rows; in TensorFlow ``TextToIds.ragged_ids`` and
``KeepTokens.call``.)

**N-gram hashing.** A hashed n-gram feature reads right-padded integer codes (0 pads). The
bucket of a 2-gram is ``extend_hash`` of its first code by its second; that of an n-gram
extends its first n - 1 codes' bucket by its last code, each step multiplying by
``MULTIPLIERS[n % 2]`` (fixed large odd numbers; any would do, but changing them breaks saved
runs), adding the code and n, modulo ``buckets``. An n-gram holding padding has no bucket.
(``ngram_buckets``.) The word n-grams of a model (``ngrams.NGramLogits``): codes are token
ids; unigram u is row u, an n-gram of 2..``ngram`` ids is row ``vocab_size`` + its bucket
(``word_ngrams``), and the last row (``empty_row``) stands for padding and repeats, so a table
has ``table_rows`` rows. A text counts each distinct row once (``ngram_rows``, through
``distinct_rows``; in TensorFlow ``ngrams.ngram_rows``, which calls ``word_ngrams`` as it is).

**Character n-grams** (0.8.0, off unless a run asks: ``char_buckets`` 0 gives the tables and
rows above, unchanged). A token's character n-grams are the 2..``high``-grams of its code points
between two marks that no text holds (``BEGIN_WORD``, ``END_WORD``, fastText's ``<word>``),
hashed by ``ngram_buckets`` modulo ``char_buckets`` (``token_char_buckets``). A text's are those
of the tokens it keeps (after the cut above), each distinct bucket once, in ascending order
(``char_buckets_of``). Whatever reads a text's ids then reads them **packed** (``pack``): the word
ids first, then each character bucket b as the negative code -(b + 1); 0 still pads. Every rule
that reads ids > 0 (lengths, the network's share, word n-grams) therefore reads the words alone;
``words`` takes them out of a packed sequence. In the n-gram table, bucket b is row
``char_offset`` + b, a block of its own between the word n-grams' rows and the empty row
(``char_ngrams``, chained by ``ngram_rows`` after ``word_ngrams``).

**Subword vectors** (0.9.0, off unless a run asks). The network half gives a token outside the
vocabulary a vector made from its spelling (``model.UnknownWordVectors``). Its character
2..``high``-grams, hashed as above modulo ``subword_buckets``, follow the packed ids as codes
below the character buckets': -(``char_buckets`` + 1 + position x ``subword_buckets`` + bucket),
the position that of the token among the text's kept tokens (``subword_codes``; read back by
``subword_positions``). Only unknown tokens have them; the n-gram half reads none of them.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

# ---- vocabulary lookup ----
PAD_ID = 0
OOV_ID = 1
PAD_TOKEN = ""
OOV_TOKEN = "[UNK]"
SPECIAL_TOKENS = [PAD_TOKEN, OOV_TOKEN]  # the first entries of every vocabulary, in id order


def token_index(vocabulary: list[str]) -> dict[str, int]:
    """token -> id for the words (ids 2 and up): padding and the unknown token are no text's tokens."""
    return {word: i for i, word in enumerate(vocabulary) if i > OOV_ID}


def lookup(tokens, index: dict[str, int]) -> np.ndarray:
    """int32 ids of tokens, by ``token_index``; a token outside it is the unknown id."""
    return np.fromiter((index.get(token, OOV_ID) for token in tokens), dtype=np.int32, count=len(tokens))


def kept_ids(ids: np.ndarray, max_length: int, truncating: str) -> np.ndarray:
    """A text's ids as a model reads them, from the ids of all its tokens: ``keep``, then one
    unknown id for a text without tokens."""
    ids = keep(ids, max_length, truncating)
    return ids if len(ids) else np.array([OOV_ID], dtype=np.int32)


# ---- truncation ----
def kept_span(length, max_length: int, truncating: str, maximum=max, minimum=min):
    """(start, stop) of the tokens a text of ``length`` tokens keeps. Written in operators and
    the given ``maximum``/``minimum`` (builtins for ints, np.maximum/np.minimum for arrays,
    tf.maximum/tf.minimum in the graph), so that every engine runs this very function."""
    if truncating == "pre":
        return maximum(length - max_length, 0), length
    return 0 * length, minimum(length, max_length)


def keep(seq, max_length: int, truncating: str):
    """The part of one sequence (ids, or tokens) that a text keeps: ``kept_span`` of it."""
    start, stop = kept_span(len(seq), max_length, truncating)
    return seq[start:stop]


def keep_padded(ids: np.ndarray, max_length: int, truncating: str) -> np.ndarray:
    """``keep`` on each row of right-padded ids (0 pads), again right-padded, as wide as the
    longest row's words or ``max_length``, whichever is less (a packed row gives its word ids
    alone). ``textops.KeepTokens.call`` mirrors it."""
    lengths = (ids > 0).sum(axis=1)
    start, stop = kept_span(lengths, max_length, truncating, np.maximum, np.minimum)
    positions = start[:, None] + np.arange(min(int(lengths.max(initial=0)), max_length))[None, :]
    kept = np.take_along_axis(ids, np.minimum(positions, ids.shape[1] - 1), axis=1)
    return np.where(positions < stop[:, None], kept, 0).astype(ids.dtype)


# ---- n-gram hashing ----
MULTIPLIERS = (1_000_003, 999_983)


def extend_hash(bucket, code, n: int, buckets: int):
    """The bucket of an n-gram from that of its first n - 1 codes (the code itself for n = 2)
    and its last code. Operators only: ints, NumPy arrays and TensorFlow tensors alike."""
    return (bucket * MULTIPLIERS[n % 2] + code + n) % buckets


def ngram_buckets(codes, ngram: int, buckets: int) -> Iterator[tuple]:
    """For n = 2..ngram: (n, bucket, valid) of the n-gram that starts at each position of
    right-padded int64 codes (batch, length - n + 1), and whether it holds no padding. Slices
    and operators only: NumPy arrays and TensorFlow tensors alike."""
    valid, hashed = codes > 0, codes
    for n in range(2, ngram + 1):
        hashed = extend_hash(hashed[:, :-1], codes[:, n - 1:], n, buckets)
        valid = valid[:, :-1] & (codes[:, n - 1:] > 0)
        yield n, hashed, valid


def char_offset(vocab_size: int, ngram: int, buckets: int) -> int:
    """The first row of the character n-grams' block: after the vocabulary and the word buckets."""
    return vocab_size + (buckets if ngram > 1 else 0)


def empty_row(vocab_size: int, ngram: int, buckets: int, char_buckets: int = 0) -> int:
    """The n-gram table's last row: padding and repeats, weighing nothing."""
    return char_offset(vocab_size, ngram, buckets) + char_buckets


def table_rows(vocab_size: int, ngram: int, buckets: int, char_buckets: int = 0) -> int:
    """Rows of an n-gram table: the vocabulary, the word buckets (for 2-grams and up), the
    character buckets (when there are), the empty row."""
    return empty_row(vocab_size, ngram, buckets, char_buckets) + 1


def word_ngrams(ids, vocab_size: int, ngram: int, buckets: int) -> Iterator[tuple]:
    """For n = 1..ngram: (n, row, valid) of the word n-gram that starts at each position of
    right-padded int64 ids: unigram u is row u, a longer n-gram ``vocab_size`` + its bucket.
    Operators only: NumPy arrays and TensorFlow tensors alike."""
    yield 1, ids, ids > 0
    for n, hashed, valid in ngram_buckets(ids, ngram, buckets):
        yield n, hashed + vocab_size, valid


def char_ngrams(ids, vocab_size: int, ngram: int, buckets: int, char_buckets: int) -> Iterator[tuple]:
    """("char", row, valid) of the character buckets packed in right-padded int64 ids (the
    negative codes from -1 to -``char_buckets``; those below are ``subword_codes``): bucket b is
    row ``char_offset`` + b. Operators only, as ``word_ngrams``."""
    yield "char", char_offset(vocab_size, ngram, buckets) - ids - 1, (ids < 0) & (ids >= -char_buckets)


def all_ngrams(ids, vocab_size: int, ngram: int, buckets: int, char_buckets: int = 0) -> Iterator[tuple]:
    """``word_ngrams``, then ``char_ngrams`` when the table has character rows."""
    yield from word_ngrams(ids, vocab_size, ngram, buckets)
    if char_buckets:
        yield from char_ngrams(ids, vocab_size, ngram, buckets, char_buckets)


def ngram_rows(ids: np.ndarray, vocab_size: int, ngram: int, buckets: int, char_buckets: int = 0) -> np.ndarray:
    """(batch, k) rows of each text's distinct 1..ngram-grams of right-padded ids (and of its
    packed character buckets); the other places hold ``empty_row``. ``ngrams.ngram_rows`` is it
    in TensorFlow."""
    _, grams, masks = zip(*all_ngrams(np.asarray(ids).astype(np.int64), vocab_size, ngram, buckets, char_buckets))
    return distinct_rows(grams, masks, empty_row(vocab_size, ngram, buckets, char_buckets))


def distinct_rows(grams, masks, empty: int) -> np.ndarray:
    """Each text's rows (blocks of (batch, k_i) rows and whether each is real) with every row
    once: sorted, padding and repeats made ``empty``. ``ngrams.distinct_rows`` mirrors it."""
    rows = np.where(np.concatenate(masks, axis=1), np.concatenate(grams, axis=1), empty)
    rows.sort(axis=1)  # repeats become neighbours
    repeat = np.zeros_like(rows, dtype=bool)
    repeat[:, 1:] = rows[:, 1:] == rows[:, :-1]
    rows[repeat] = empty
    return rows


# ---- character n-grams ----
BEGIN_WORD, END_WORD = 0x110000, 0x110001  # past Unicode's last code point: no text holds them
CHAR_LOW = 2  # the shortest character n-gram (a mark and a letter, or two letters)


def char_codes(tokens: list[str]) -> np.ndarray:
    """(tokens, longest + 2) int64: each token's code points between the marks, right-padded with 0."""
    width = max((len(t) for t in tokens), default=0) + 2
    codes = np.zeros((len(tokens), width), dtype=np.int64)
    for i, token in enumerate(tokens):
        codes[i, :len(token) + 2] = [BEGIN_WORD, *map(ord, token), END_WORD]
    return codes


def token_char_buckets(codes, high: int, char_buckets: int) -> Iterator[tuple]:
    """(n, bucket, valid) of the character 2..``high``-grams of ``char_codes``' rows:
    ``ngram_buckets`` over the marked code points. Operators only, as ``ngram_buckets``."""
    yield from ngram_buckets(codes, high, char_buckets)


def char_buckets_of(tokens: list[str], high: int, char_buckets: int) -> np.ndarray:
    """A text's distinct character buckets, ascending, from the tokens it keeps."""
    if not tokens:
        return np.zeros(0, dtype=np.int64)
    found = [hashed[valid] for _, hashed, valid in token_char_buckets(char_codes(sorted(set(tokens))), high,
                                                                      char_buckets)]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def pack(ids: np.ndarray, buckets: np.ndarray, subwords: np.ndarray | None = None) -> np.ndarray:
    """A text's word ids, then its character buckets b as -(b + 1), then its ``subword_codes``:
    what a model reads."""
    parts = [np.asarray(ids, np.int32), (-np.asarray(buckets, np.int64) - 1).astype(np.int32)]
    if subwords is not None:
        parts.append(np.asarray(subwords, np.int32))
    return np.concatenate(parts)


# ---- subword vectors of unknown words ----
def subword_keys(codes, unknown, high: int, buckets: int) -> list:
    """Per n = 2..``high``: (key, valid) of the character n-grams of ``char_codes``' rows, each
    row that of the token at position ``unknown`` (int64, one per row): key = position x
    ``buckets`` + bucket. Operators only, as ``ngram_buckets``."""
    return [(unknown[:, None] * buckets + hashed, valid)
            for _, hashed, valid in token_char_buckets(codes, high, buckets)]


def subword_codes(tokens: list[str], ids: np.ndarray, high: int, buckets: int, offset: int) -> np.ndarray:
    """The codes that carry a text's unknown words' spelling to the network half's
    ``model.UnknownWordVectors``: for each kept token at position p whose id is ``OOV_ID``, each
    distinct bucket b of its character 2..``high``-grams (``token_char_buckets``) is the code
    -(``offset`` + 1 + p x ``buckets`` + b), ascending by p x buckets + b. ``offset`` is the
    character buckets' count (0 without them), so the codes lie below theirs."""
    unknown = np.flatnonzero(np.asarray(ids[:len(tokens)]) == OOV_ID).astype(np.int64)
    if not len(unknown):
        return np.zeros(0, dtype=np.int32)
    keys = [key[valid] for key, valid in subword_keys(char_codes([tokens[i] for i in unknown]), unknown, high,
                                                        buckets)]
    return (-(offset + 1 + np.unique(np.concatenate(keys)))).astype(np.int32)


def network_share(seq: np.ndarray, max_length: int, truncating: str, buckets: int = 0, offset: int = 0) -> np.ndarray:
    """The part of one packed sequence the network half reads: its words cut by ``keep``, then
    (with subword ``buckets``) the kept tokens' ``subword_codes``, their positions counted from the
    first kept token; the n-gram half's character codes left out. The network reads it as it reads
    the whole sequence (``model.UnknownWordVectors`` cuts it the same way), only shorter."""
    seq = np.asarray(seq)
    kept = words(seq)
    start, stop = kept_span(len(kept), max_length, truncating)
    kept = kept[start:stop]
    if not buckets:
        return kept
    position, bucket, valid = subword_positions(seq.astype(np.int64), buckets, offset)
    valid &= (position >= start) & (position < stop)
    codes = -(offset + 1 + (position[valid] - start) * buckets + bucket[valid])
    return np.concatenate([kept, codes.astype(kept.dtype)])


def subword_positions(ids, buckets: int, offset: int):
    """(position, bucket, valid) of each place of right-padded packed ids, by ``subword_codes``:
    valid where it holds such a code. Operators only (// and % floor: the same in every engine)."""
    key = -ids - 1 - offset
    return key // buckets, key % buckets, ids < -offset


def words(ids: np.ndarray) -> np.ndarray:
    """The word ids of a (packed or plain) sequence."""
    ids = np.asarray(ids)
    return ids[ids > 0] if ids.ndim == 1 else np.where(ids > 0, ids, 0)
