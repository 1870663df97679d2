"""The shared rules (rules.py): pinned to what 0.6.1 computes, and the graph reads them from there.

The equivalence tests (test_npmodel, test_ngrams, test_pytokens, test_tokenizer, test_explain)
compare the engines with each other; since both now call the one rule, these pin its values, so
that a change that moves every engine together (and so every saved run) is still caught.
"""

import numpy as np
import pytest

from sentiment_cli import rules


def test_word_ngram_rows_are_those_of_0_6_1():
    ids = np.array([[2, 3, 4, 3, 4, 0], [5, 0, 0, 0, 0, 0]], np.int32)  # "3 4" repeats; 0 pads
    # values from sentiment-cli 0.6.1 (d0862f4, npmodel.ngram_rows); 107 = 10 + 97 is the empty row
    assert rules.ngram_rows(ids, 10, 3, 97).tolist() == [
        [2, 3, 107, 4, 107, 38, 75, 85, 103, 107, 106, 107, 107, 107, 107],
        [5, 107, 107, 107, 107, 107, 107, 107, 107, 107, 107, 107, 107, 107, 107]]
    assert rules.ngram_rows(ids, 10, 1, 97).tolist() == [[2, 3, 10, 4, 10, 10], [5, 10, 10, 10, 10, 10]]
    assert [(n, b.tolist(), v.tolist()) for n, b, v in rules.ngram_buckets(np.array([[7, 8, 9]]), 3, 2**21)] == [
        (2, [[708575, 1708579]], [[True, True]]), (3, [[305149]], [[True]])]
    assert rules.table_rows(10, 3, 97) == 108 and rules.table_rows(10, 1, 97) == 11


def test_character_ngram_rows_are_pinned():
    # values from sentiment-cli 0.8.0 (the first with character n-grams): "<ab>" and "<é>", 2-3-grams
    assert rules.char_buckets_of(["ab", "é", "ab"], 3, 97).tolist() == [3, 4, 14, 17, 45, 72, 76]
    # packed ids: words 2 3, buckets 4 and 0; rows 10 + 16 + b of a block after the word buckets
    ids = np.array([[2, 3, -5, -1, 0], [4, 0, 0, 0, 0]])
    assert rules.ngram_rows(ids, 10, 2, 16, 8).tolist() == [[2, 3, 21, 26, 30] + [34] * 9, [4] + [34] * 13]
    assert rules.table_rows(10, 2, 16, 8) == 35 and rules.empty_row(10, 2, 16, 8) == 34
    assert rules.words(ids).tolist() == [[2, 3, 0, 0, 0], [4, 0, 0, 0, 0]]
    assert rules.pack(np.array([2, 3]), np.array([4, 0])).tolist() == [2, 3, -5, -1]


def test_the_graph_hashes_with_the_rules_multipliers(monkeypatch):
    import tensorflow as tf

    from sentiment_cli.ngrams import ngram_rows

    rng = np.random.default_rng(4)
    ids = np.zeros((12, 9), np.int32)
    for i, n in enumerate(rng.integers(1, 10, 12)):
        ids[i, :n] = rng.integers(1, 30, n)
    before = rules.ngram_rows(ids, 30, 3, 53)
    assert np.array_equal(ngram_rows(tf.constant(ids), 30, 3, 53).numpy(), before)
    monkeypatch.setattr(rules, "MULTIPLIERS", (3, 5))  # one edit in rules.py reaches both engines
    after = rules.ngram_rows(ids, 30, 3, 53)
    assert not np.array_equal(after, before)
    assert np.array_equal(ngram_rows(tf.constant(ids), 30, 3, 53).numpy(), after)


@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_padded_rows_keep_what_each_sequence_keeps(truncating):
    rng = np.random.default_rng(1)
    seqs = [rng.integers(1, 50, size=n).astype(np.int32) for n in (0, 1, 3, 5, 8, 11)]
    ids = np.zeros((len(seqs), 11), np.int32)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
    for n in (1, 5, 11, 20):
        cut = rules.keep_padded(ids, n, truncating)
        assert cut.shape == (len(seqs), min(11, n)) and cut.dtype == np.int32
        for row, s in zip(cut, seqs):
            kept = rules.keep(s, n, truncating)
            assert row[:len(kept)].tolist() == kept.tolist() and not row[len(kept):].any()
    assert rules.keep(list("abcdef"), 4, truncating) == (list("cdef") if truncating == "pre" else list("abcd"))


def test_lookup_pads_with_0_and_maps_unknown_tokens_to_1():
    index = rules.token_index(["", "[UNK]", "good", "bad"])
    assert index == {"good": 2, "bad": 3}  # padding and the unknown token are no text's tokens
    ids = rules.lookup(["bad", "", "meh", "good"], index)
    assert ids.dtype == np.int32 and ids.tolist() == [3, 1, 1, 2]
    assert rules.kept_ids(ids, 2, "pre").tolist() == [1, 2]
    assert rules.kept_ids(rules.lookup([], index), 2, "pre").tolist() == [rules.OOV_ID]  # no tokens: one unknown id
