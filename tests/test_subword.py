"""Character n-grams in the n-gram half (--char-ngrams): a word never seen in training shares the
evidence of words spelled like it, both engines compute the same, and explain accounts for it."""

import csv
import io
import json

import numpy as np
import pytest

from helpers import TINY, UNKNOWN_HEAVY, invoke, write_labeled
from sentiment_cli import rules

CHARS = ["--char-ngrams", "5", "--char-buckets", "4096"]
UNSEEN = "id,text\n1,wonderfull\n2,zzq\n3,awfull\n"  # none of these words is in the training texts


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny hybrid runs of the same data: with character n-grams ("chars") and without ("words")."""
    root = tmp_path_factory.mktemp("subword")
    train = write_labeled(root / "train.txt")  # "wonderful" positive, "awful" negative
    for name, chars in (("chars", CHARS), ("words", ["--char-ngrams", "0"])):
        result = invoke("train", name, "--train", train, "--models-dir", root / "m", *chars, *TINY)
        assert result.exit_code == 0, result.output
    return root


def probabilities(run, models, path) -> list[float]:
    result = invoke("test", run, "--models-dir", models, "--input", path, "--output", "-", "--probabilities", "-q")
    assert result.exit_code == 0, result.output
    return [float(row["p_1"]) for row in csv.DictReader(io.StringIO(result.output))]


def test_an_unseen_word_moves_the_probability_as_the_words_spelled_like_it(runs):
    unseen = runs / "unseen.csv"
    unseen.write_text(UNSEEN, encoding="utf-8")
    wonderfull, neutral, awfull = probabilities("chars", runs / "m", unseen)
    assert wonderfull > neutral + 0.02 and awfull < neutral - 0.02, (wonderfull, neutral, awfull)
    # without them the three are the same unknown id, and get the same probability
    assert np.ptp(probabilities("words", runs / "m", unseen)) < 1e-6


def test_both_engines_and_the_model_layer_pack_the_same_ids():
    from sentiment_cli.tokenizer import Tokenizer

    tokenizer = Tokenizer.fit(["great movie", "awful movie", "so good"], 20, "tweets")
    for truncating in ("pre", "post"):
        graph = tokenizer.encode_arrays(UNKNOWN_HEAVY, 3, truncating, chars=(5, 997))
        python = tokenizer.encode_arrays(UNKNOWN_HEAVY, 3, truncating, engine="numpy", chars=(5, 997))
        layer = tokenizer.layer(3, truncating, (5, 997))(np.array(UNKNOWN_HEAVY, dtype=object)).numpy()
        for i, (a, b) in enumerate(zip(graph, python)):
            assert np.array_equal(a, b)
            assert np.array_equal(layer[i][:len(a)], a) and not layer[i][len(a):].any()
            kept = tokenizer.encode_arrays([UNKNOWN_HEAVY[i]], 3, truncating)[0]
            assert np.array_equal(rules.words(a), kept)  # the words are the ids without characters
    # a text's buckets are those of the tokens it keeps, ascending and each once
    ids = tokenizer.encode_arrays(["aaa bbb aaa"], 100, chars=(3, 997))[0]
    buckets = -ids[ids < 0] - 1
    assert np.array_equal(buckets, np.unique(buckets))
    assert np.array_equal(buckets, rules.char_buckets_of(["aa", "bb"], 3, 997))  # "aaa" squeezed to "aa"


def test_the_network_half_reads_the_words_of_packed_ids():
    from sentiment_cli.textops import KeepTokens

    packed = np.array([[5, 6, 7, -3, -9, 0], [8, -2, 0, 0, 0, 0]], dtype=np.int32)
    for truncating in ("pre", "post"):
        expected = rules.keep_padded(packed, 2, truncating)
        assert np.array_equal(KeepTokens(2, truncating)(packed).numpy(), expected)
        assert (expected >= 0).all() and expected.shape == (2, 2)
    assert rules.keep_padded(packed, 2, "pre").tolist() == [[6, 7], [8, 0]]


def test_both_engines_agree_on_texts_full_of_unknown_words(runs, tmp_path):
    models = runs / "m"
    path = tmp_path / "unknown.txt"
    path.write_text("\n".join(t or "." for t in UNKNOWN_HEAVY) + "\n", encoding="utf-8")
    out = {}
    for engine in ("tensorflow", "numpy"):
        result = invoke("test", "chars", "--models-dir", models, "--input", path, "--format", "lines",
                        "--output", "-", "--probabilities", "--engine", engine, "-q")
        assert result.exit_code == 0, result.output
        out[engine] = np.array([float(r["p_1"]) for r in csv.DictReader(io.StringIO(result.output))])
    assert len(out["numpy"]) == len(UNKNOWN_HEAVY)
    np.testing.assert_allclose(out["numpy"], out["tensorflow"], atol=2e-5)
    assert np.ptp(out["numpy"]) > 0.01  # the unknown words do move the probabilities


def test_explain_sums_to_the_logit_with_character_ngrams(runs):
    result = invoke("explain", "chars", "wonderfull movie", "awfull", "--models-dir", runs / "m", "--json")
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.output.splitlines()]  # a JSON line per text
    assert len(found) == 2
    for e in found:
        assert sum(w["total"] for w in e["words"]) + e["bias"] + e["gap"] == pytest.approx(e["logit"], abs=1e-4)
        chars = [g for g in e["ngrams"] if g.get("kind") == "characters"]
        assert chars and all(g["ngram"] in "<" + e["text"].replace(" ", "><") + ">" for g in chars)
    # "wonderfull"'s characters carry the evidence of "wonderful": it pushes toward the positive label
    first = {w["token"]: w for w in found[0]["words"]}
    assert first["wonderfull"]["ngram"] > 0


def test_character_ngrams_belong_to_a_model_with_an_ngram_half(tmp_path):
    train = write_labeled(tmp_path / "train.txt")
    result = invoke("train", "x", "--train", train, "--models-dir", tmp_path / "m", "--model", "rnn",
                    "--char-ngrams", "5", *TINY)
    assert result.exit_code == 2
    assert ("character n-grams belong to the n-gram half: --model rnn has none (use --model hybrid or ngram, "
            "or --char-ngrams 0)") in result.output
    assert "Traceback" not in result.output

