import numpy as np

from sentiment_cli.encoding import (
    fit_idf,
    length_batches,
    stratified_split,
)
from sentiment_cli.semi.selection import select_pseudo_labels


def test_stratified_split_is_seeded_and_keeps_shares():
    y = np.array([0] * 80 + [1] * 20)
    train, val = stratified_split(y, 0.25, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    assert (y[val] == 0).sum() == 20 and (y[val] == 1).sum() == 5
    again = stratified_split(y, 0.25, seed=3)
    assert np.array_equal(val, again[1])
    assert not np.array_equal(val, stratified_split(y, 0.25, seed=4)[1])


def test_bag_of_words_counts_and_tfidf():
    from sentiment_cli.model import BagOfWords

    seqs = [np.array([2, 2, 3, 0]), np.array([3])]
    padded = np.array([[2, 2, 3, 0], [3, 0, 0, 0]], dtype=np.int32)
    counts = BagOfWords(5, "counts")(padded).numpy()
    assert counts.tolist() == [[0, 0, 2, 1, 0], [0, 0, 0, 1, 0]]
    idf = fit_idf(seqs, 5)
    # token 3 is in both texts, token 2 in one: rarer tokens weigh more
    assert idf[2] > idf[3]
    layer = BagOfWords(5, "tfidf")
    layer.build(padded.shape)
    layer.idf.assign(idf)
    tfidf = layer(padded).numpy()
    assert np.allclose(np.linalg.norm(tfidf, axis=1), 1.0)
    expected = np.log1p(counts[0]) * idf
    assert np.allclose(tfidf[0], expected / np.linalg.norm(expected))


def test_length_batches_cover_every_index_once():
    seqs = [np.zeros(n) for n in [5, 1, 9, 3, 3, 7, 2]]
    for rng in (None, np.random.default_rng(0)):
        batches = length_batches(seqs, 3, rng)
        assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    sorted_batches = length_batches(seqs, 3)
    assert [len(seqs[i]) for i in np.concatenate(sorted_batches)] == [1, 2, 3, 3, 5, 7, 9]


def test_length_batches_token_budget():
    lengths = [1, 1, 1, 1, 40, 50, 60, 200]
    seqs = [np.zeros(n) for n in lengths]
    batches = length_batches(seqs, 4, max_tokens=100)
    assert sorted(np.concatenate(batches).tolist()) == list(range(8))
    assert [len(b) for b in batches] == [4, 1, 1, 1, 1]  # 4 short rows; long ones alone
    for b in batches:  # the budget holds, except a single text longer than it
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 100


def test_pseudo_labels_binary_threshold():
    p = np.array([0.95, 0.5, 0.05, 0.91, 0.10, 0.89])
    idx, labels = select_pseudo_labels(p, threshold=0.1)
    assert idx.tolist() == [0, 2, 3] and labels.tolist() == [1, 0, 1]  # strict: 0.10 and 0.89 stay out


def test_pseudo_labels_band_balance_and_cap():
    p = np.array([0.99, 0.97, 0.8, 0.2, 0.01, 0.93])
    idx, labels = select_pseudo_labels(p, band=(0.2, 0.8))
    assert idx.tolist() == [0, 1, 2, 3, 4, 5]
    idx, labels = select_pseudo_labels(p, threshold=0.1, balance=True)
    # one negative (0.01) so one positive: the most confident, 0.99
    assert idx.tolist() == [0, 4] and labels.tolist() == [1, 0]
    idx, _ = select_pseudo_labels(p, threshold=0.1, max_count=2)
    assert idx.tolist() == [0, 4]  # 0.99 and 0.01 are the two most confident


def test_pseudo_labels_multiclass():
    p = np.array([[0.95, 0.03, 0.02], [0.4, 0.3, 0.3], [0.0, 0.1, 0.9], [0.05, 0.9, 0.05]])
    idx, labels = select_pseudo_labels(p, threshold=0.1)
    assert idx.tolist() == [0, 2, 3] and labels.tolist() == [0, 2, 1]
