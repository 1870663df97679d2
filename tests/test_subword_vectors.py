"""Subword vectors in the network half (--subword-vectors): a word outside the vocabulary gets a
vector made from its spelling, so an unseen misspelling moves the network as its word does; the
packed codes are the same from every path, both engines compute the same, explain accounts for it."""

import csv
import io
import json

import numpy as np
import pytest

from helpers import TINY, UNKNOWN_HEAVY, invoke, write_labeled
from sentiment_cli import rules

# a network that learns the tiny texts (TINY's 4-number vectors and 2 epochs learn too little)
NETWORK = [*TINY, "--model", "rnn", "--embedding-dim", "16", "--hidden-size", "8", "--epochs", "15", "--lr", "0.01",
           "--patience", "15"]
UNSEEN = "id,text\n1,wonderfull\n2,zzq\n3,awfull\n"  # none of these words is in the training texts


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny recurrent runs of the same data: with subword vectors ("subwords") and without ("words")."""
    root = tmp_path_factory.mktemp("subword_vectors")
    train = write_labeled(root / "train.txt", copies=4)  # "wonderful" positive, "awful" negative
    for name, flag in (("subwords", "--subword-vectors"), ("words", "--no-subword-vectors")):
        result = invoke("train", name, "--train", train, "--models-dir", root / "m", flag, *NETWORK)
        assert result.exit_code == 0, result.output
    return root


def probabilities(run, models, path, *more) -> np.ndarray:
    result = invoke("test", run, "--models-dir", models, "--input", path, "--output", "-", "--probabilities", "-q",
                    *more)
    assert result.exit_code == 0, result.output
    return np.array([float(row["p_1"]) for row in csv.DictReader(io.StringIO(result.output))])


def test_an_unseen_misspelling_moves_the_network_as_its_word(runs):
    unseen = runs / "unseen.csv"
    unseen.write_text(UNSEEN, encoding="utf-8")
    for engine in ("tensorflow", "numpy"):
        wonderfull, neutral, awfull = probabilities("subwords", runs / "m", unseen, "--engine", engine)
        assert wonderfull > neutral + 0.02 and awfull < neutral - 0.02, (engine, wonderfull, neutral, awfull)
    # without them the three are the same unknown vector, and get the same probability
    assert np.ptp(probabilities("words", runs / "m", unseen)) < 1e-6


def test_both_engines_agree_on_texts_full_of_unknown_words(runs, tmp_path):
    path = tmp_path / "unknown.txt"
    path.write_text("\n".join(t or "." for t in UNKNOWN_HEAVY) + "\n", encoding="utf-8")
    out = {engine: probabilities("subwords", runs / "m", path, "--format", "lines", "--engine", engine)
           for engine in ("tensorflow", "numpy")}
    assert len(out["numpy"]) == len(UNKNOWN_HEAVY)
    np.testing.assert_allclose(out["numpy"], out["tensorflow"], atol=2e-5)
    assert np.ptp(out["numpy"]) > 0.01


def test_explain_sums_to_the_logit_with_subword_vectors(runs):
    result = invoke("explain", "subwords", "wonderfull movie", "awfull zzq", "--models-dir", runs / "m", "--json")
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.output.splitlines()]
    assert len(found) == 2
    for e in found:
        assert sum(w["total"] for w in e["words"]) + e["bias"] + e["gap"] == pytest.approx(e["logit"], abs=1e-4)
        assert abs(e["gap"]) < 0.05 * max(abs(e["logit"]), 1.0)
    tokens = {w["token"]: w["network"] for e in found for w in e["words"]}
    assert tokens["wonderfull"] > 0 > tokens["awfull"], tokens  # the spelling carries the sign of the word


@pytest.mark.parametrize("chars", [(0, 0), (4, 997)])
def test_every_path_packs_the_same_subword_codes(chars):
    from sentiment_cli.tokenizer import Tokenizer

    tokenizer = Tokenizer.fit(["great movie", "awful movie", "so good"], 20, "tweets")
    setting = chars + (5, 101)
    for truncating in ("pre", "post"):
        graph = tokenizer.encode_arrays(UNKNOWN_HEAVY, 3, truncating, chars=setting)
        python = tokenizer.encode_arrays(UNKNOWN_HEAVY, 3, truncating, engine="numpy", chars=setting)
        layer = tokenizer.layer(3, truncating, setting)(np.array(UNKNOWN_HEAVY, dtype=object)).numpy()
        for i, (a, b) in enumerate(zip(graph, python)):
            assert np.array_equal(a, b)
            assert np.array_equal(layer[i][:len(a)], a) and not layer[i][len(a):].any()
            # the words, then the n-gram half's characters as they were, then the subword codes
            plain = tokenizer.encode_arrays([UNKNOWN_HEAVY[i]], 3, truncating, chars=chars)[0]
            assert np.array_equal(a[:len(plain)], plain)
            assert (a[len(plain):] < -chars[1]).all()
    # a code is the position of an unknown token among those kept, and a bucket of its spelling
    ids = tokenizer.encode_arrays(["great zzq movie qq"], 100, chars=setting)[0]
    position, bucket, valid = rules.subword_positions(ids.astype(np.int64)[None, :], 101, chars[1])
    assert set(position[valid].tolist()) == {1, 3}
    assert set(bucket[valid & (position == 3)].tolist()) == set(rules.char_buckets_of(["qq"], 5, 101).tolist())
    # the n-gram half reads its own codes alone
    rows = rules.ngram_rows(ids[None, :], 20, 2, 64, chars[1])
    assert (rows <= rules.empty_row(20, 2, 64, chars[1])).all()


@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_the_layer_and_its_numpy_twin_agree(truncating):
    from sentiment_cli.encoding import pad
    from sentiment_cli.model import UnknownWordVectors
    from sentiment_cli.npmodel import unknown_word_vectors
    from sentiment_cli.tokenizer import Tokenizer

    tokenizer = Tokenizer.fit(["great movie", "awful movie", "so good"], 20)
    texts = ["great zzq movie qq awful", "xx", "", "so good", "wonderfull awfull great movie qqq zz"]
    ids = pad(tokenizer.encode_arrays(texts, 100, truncating, chars=(0, 0, 5, 64)))
    network = rules.keep_padded(ids, 3, truncating)  # the network reads 3 of the tokens
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=network.shape + (6,)).astype(np.float32)
    layer = UnknownWordVectors(64, 4, 6, 0, 3, truncating)
    layer.build()
    table, projection = rng.normal(size=(64, 4)).astype(np.float32), rng.normal(size=(4, 6)).astype(np.float32)
    layer.set_weights([table, projection])
    graph = layer([vectors, ids]).numpy()
    numpy = unknown_word_vectors(vectors, ids, table, projection, 64, 0, 3, truncating)
    np.testing.assert_allclose(graph, numpy, rtol=1e-5, atol=1e-5)
    changed = np.abs(graph - vectors).sum(axis=2) > 0
    unknown = network == rules.OOV_ID
    unknown[texts.index("")] = False  # a text without tokens is one unknown id, with no spelling
    assert np.array_equal(changed, unknown) and changed.any()  # exactly the unknown tokens' vectors


def test_the_table_starts_a_misspelling_near_its_word():
    from sentiment_cli.embeddings import subword_table

    vocabulary = ["", "[UNK]", "wonderful", "awful", "movie", "great", "terrible", "boring", "happy", "sad"]
    vectors = np.random.default_rng(1).normal(size=(len(vocabulary), 8)).astype(np.float32)
    table, projection = subword_table(vocabulary, vectors, 5, 4096, 8)

    def made(word):
        found = [h[v] for _, h, v in rules.token_char_buckets(rules.char_codes([word]), 5, 4096)]
        return table[np.unique(np.concatenate(found))].mean(axis=0) @ projection

    for misspelt, word in (("wonderfull", "wonderful"), ("awfull", "awful"), ("terible", "terrible")):
        v = made(misspelt)
        cosine = vectors[2:] @ v / np.linalg.norm(vectors[2:], axis=1) / np.linalg.norm(v)
        assert vocabulary[2 + int(cosine.argmax())] == word, (misspelt, cosine)


def test_subword_vectors_belong_to_a_model_with_a_network(tmp_path):
    train = write_labeled(tmp_path / "train.txt")
    result = invoke("train", "x", "--train", train, "--models-dir", tmp_path / "m", "--model", "ngram",
                    "--subword-vectors", *TINY)
    assert result.exit_code == 2
    assert "subword vectors belong to the network half: --model ngram has none" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("chars", [(0, 0), (4, 997)])
def test_the_network_trains_on_the_share_it_reads(chars):
    """A hybrid reads whole texts; its network's batches are cut to the network's tokens before
    fitting (encoding.network_seqs), and keep the subword codes of those tokens, re-positioned."""
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.encoding import network_seqs, pad
    import keras

    from sentiment_cli.model import build_model
    from sentiment_cli.tokenizer import Tokenizer

    config = TrainConfig(model="hybrid", max_length=3, ngram_max_length=50, embedding_dim=6, hidden_size=4,
                         ngram_buckets=64, subword_vectors=True, subword_buckets=64, subword_dim=4, labels=["0", "1"],
                         char_ngrams=chars[0], char_buckets=chars[1] or 2**20)
    tokenizer = Tokenizer.fit(["great movie", "awful movie", "so good"], 20)
    texts = ["zz great qq movie xx awful", "wonderfull", "great movie so good awfull", "", "aa bb cc dd ee ff"]
    for truncating in ("pre", "post"):
        config.truncating = truncating
        model = build_model(config, len(tokenizer))
        layer = model.get_layer("subword_vectors")
        layer.set_weights([np.random.default_rng(2).normal(size=w.shape).astype(np.float32)
                           for w in layer.get_weights()])
        # the vectors the recurrent layers read (what comes after may not tell inputs apart: a
        # random head's ReLUs can all be off)
        network = keras.Model(model.input, model.get_layer("subword_vectors").output)
        whole = tokenizer.encode_arrays(texts, config.read_length, truncating, chars=config.chars)
        share = network_seqs(whole, config)
        assert all((s < 0).any() for s, t in zip(share, texts) if t in ("wonderfull", "zz great qq movie xx awful"))
        np.testing.assert_allclose(network(pad(share)).numpy(), network(pad(whole)).numpy(), rtol=1e-5, atol=1e-6)
        # and the codes do change what the network reads
        assert not np.allclose(network(pad([rules.words(s) for s in share])).numpy(), network(pad(share)).numpy())
