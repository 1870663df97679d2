"""Word vectors for the embedding layer: read from GloVe / word2vec text files, or learned with
gensim's Word2Vec from the user's own (labeled and unlabeled) text."""

from __future__ import annotations

import zlib

import numpy as np

from sentiment_cli.data import read_lines
from sentiment_cli.errors import DataError, SentimentError
from sentiment_cli.progress import step
from sentiment_cli.rules import char_codes, token_char_buckets
from sentiment_cli.tokenizer import PAD_ID, Tokenizer, tokenize_batch


def _initial_matrix(size: int, dim: int, seed: int) -> np.ndarray:
    # Rows without a vector start like Keras' default uniform initialiser; padding is zero.
    matrix = np.random.default_rng(seed).uniform(-0.05, 0.05, (size, dim)).astype(np.float32)
    matrix[PAD_ID] = 0.0
    return matrix


def load_vectors(path, tokenizer: Tokenizer, seed: int = 0) -> tuple[np.ndarray, float]:
    """An embedding matrix for the tokenizer's vocabulary, and the share of it the file covers.

    Reads GloVe ("word v1 ... vD" lines) and word2vec text files (the same, after a "COUNT DIM"
    header line), gzip or not. Words are matched after the tokenizer's lower-casing.
    """
    wanted = {token: i for i, token in enumerate(tokenizer.vocabulary) if i > 1}
    matrix, dim, found = None, None, set()
    for number, line in read_lines(path):
        parts = line.rstrip().split(" ")
        if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            dim = int(parts[1])  # word2vec header: COUNT DIM
            matrix = _initial_matrix(len(tokenizer), dim, seed)
            continue
        if len(parts) < 2:
            if not line.strip():
                continue
            raise DataError(path, "expected 'WORD V1 V2 ...'", line=number, fix="Give a GloVe or word2vec text file")
        if dim is None:
            dim = len(parts) - 1
            matrix = _initial_matrix(len(tokenizer), dim, seed)
        elif len(parts) - 1 < dim:
            raise DataError(path, f"{len(parts) - 1} fields where the vectors have {dim} numbers", line=number,
                            fix="Every vector needs the same number of dimensions")
        # The last DIM fields are the vector; the word is the rest (GloVe 840B has words with spaces).
        word = " ".join(parts[:-dim]).lower()
        row = wanted.get(word)
        if row is None or row in found:
            continue
        try:
            matrix[row] = np.asarray(parts[-dim:], dtype=np.float32)
        except ValueError:
            raise DataError(path, "a vector value is not a number", line=number,
                            fix="Give a GloVe or word2vec text file") from None
        found.add(row)
    if matrix is None:
        raise DataError(path, "no vectors in the file", fix="Give a GloVe or word2vec text file")
    return matrix, len(found) / max(len(wanted), 1)


def _stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def pretrain_word2vec(texts: list[str], tokenizer: Tokenizer, dim: int, seed: int, epochs: int = 5,
                      workers: int = 1, progress: bool = False, sg: int = 1) -> tuple[np.ndarray, float]:
    """Word2Vec (skip-gram, or CBOW with sg=0; gensim) on the given texts.

    One worker and a hash that does not change between processes (Python's str hash does,
    and gensim seeds each word's vector with it) make the vectors a function of the seed.
    """
    try:
        from gensim.models import Word2Vec
        from gensim.models.callbacks import CallbackAny2Vec
    except ImportError:
        raise SentimentError(
            "--pretrain-embeddings needs gensim: pip install gensim (or --no-pretrain-embeddings)") from None
    sentences = tokenize_batch(texts, tokenizer.normalize)

    class Epochs(CallbackAny2Vec):
        def on_epoch_end(self, model):
            counter.update()

    with step("word vectors (Word2Vec)", total=epochs, unit="epochs", enabled=progress) as counter:
        w2v = Word2Vec(sentences=sentences, vector_size=dim, window=5, min_count=2, sg=sg, negative=5,
                       epochs=epochs, seed=seed, workers=workers, hashfxn=_stable_hash, callbacks=[Epochs()])
    matrix = _initial_matrix(len(tokenizer), dim, seed)
    found = 0
    for i, token in enumerate(tokenizer.vocabulary[2:], start=2):
        if token in w2v.wv.key_to_index:
            matrix[i] = w2v.wv[token]
            found += 1
    return matrix, found / max(len(tokenizer) - 2, 1)


# The subword table's ridge, per word of the vocabulary: LSQR's damp is this times the square root
# of the number of words, so that the penalty weighs the same against each word's error in a
# vocabulary of 50 words as in one of 20,000 (with a fixed damp, a tiny run's table shrank to
# nothing). On the validation rows of trained runs with 20,000-word vocabularies, damp 0.1, 0.3, 1,
# 3 and 10 gave the tweets' network half 0.8102, 0.8119, 0.8117, 0.8118, 0.8117 and IMDB's 0.8932,
# 0.8948, 0.8940, 0.8928, 0.8928; the hybrids were best or level at 1 on both
# (bench/subword_vectors.py, 0.9.0-dev, 2026-12-07): damp 1 at 19,998 words.
SUBWORD_RIDGE = 1.0 / 19_998 ** 0.5


def subword_table(vocabulary: list[str], vectors: np.ndarray, high: int, buckets: int, dim: int,
                  ridge: float = SUBWORD_RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """Starting weights of ``model.UnknownWordVectors``: (table, projection) such that each word's
    mean of its character n-grams' rows, times projection, comes near its vector (the
    vocabulary's words, ids 2 and up): a word never seen then starts near the words spelled like
    it (as MIMICK, Pinter et al. 2017, learns vectors from spelling). The projection is the
    vectors' ``dim`` leading right singular vectors; the table is the ridge least-squares fit of
    the words' vectors in those coordinates, by SciPy's LSQR, one column at a time, with damp
    ``ridge`` x sqrt(words) (``SUBWORD_RIDGE``). Deterministic: no random numbers.
    """
    from scipy import sparse
    from scipy.sparse.linalg import lsqr

    words = list(vocabulary[2:])
    targets = np.asarray(vectors, dtype=np.float64)[2:]
    if not words:
        return np.zeros((buckets, dim), np.float32), np.zeros((dim, targets.shape[1]), np.float32)
    rows, cols = [], []
    for _, hashed, valid in token_char_buckets(char_codes(words), high, buckets):
        r, c = np.nonzero(valid)
        rows.append(r)
        cols.append(hashed[r, c])
    spelling = sparse.csr_matrix((np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(len(words), buckets))
    spelling.data[:] = 1.0  # each distinct bucket once, as the layer reads them
    spelling = sparse.diags(1.0 / np.maximum(np.asarray(spelling.sum(axis=1)).ravel(), 1.0)) @ spelling
    _, _, right = np.linalg.svd(targets, full_matrices=False)
    projection = np.zeros((dim, targets.shape[1]))
    projection[:min(dim, len(right))] = right[:dim]
    coordinates = targets @ projection.T
    damp = ridge * len(words) ** 0.5
    table = np.stack([lsqr(spelling, coordinates[:, j], damp=damp, iter_lim=200)[0] for j in range(dim)], axis=1)
    return table.astype(np.float32), projection.astype(np.float32)
