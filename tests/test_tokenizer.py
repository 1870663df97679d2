import json

import numpy as np
import pytest

from sentiment_cli.encoding import Encoder, pad
from sentiment_cli.errors import RunError
from sentiment_cli.tokenizer import OOV_ID, Tokenizer, tokenize, tokenize_batch


def test_tokenize_standardises_reviews_and_tweets():
    assert tokenize("Great movie!<br /><br />I DON'T care :)") == [
        "great", "movie", "!", "i", "don't", "care", ":", ")"]
    assert tokenize("sooooo goood 1000") == ["soo", "good", "1000"]
    # non-ASCII letters, other spaces, edge apostrophes, a text without tokens
    assert tokenize("Naïve CAFÉ\u00a0déjà-vu\u0085'quoted' rock'n'roll") == [
        "naïve", "café", "déjà", "-", "vu", "'", "quoted", "'", "rock'n'roll"]
    assert tokenize(" \t ") == []


def test_tokens_are_the_same_one_by_one_and_in_a_batch():
    texts = ["Loved it!!!", "", "<br/>meh", "Ünïcödé wörds", "x" * 50 + " yyyy"]
    assert tokenize_batch(texts) == [tokenize(text) for text in texts]


def test_fit_keeps_most_frequent_then_alphabetical():
    tok = Tokenizer.fit(["b a c", "a b", "a"], vocab_size=4)
    assert tok.vocabulary == ["", "[UNK]", "a", "b"]
    assert tok.encode("a c b zzz") == [2, OOV_ID, 3, OOV_ID]


def test_json_round_trip_gives_identical_sequences(tmp_path):
    texts = ["I love it!", "naïve café, déjà vu", "it's not good at all..."]
    tok = Tokenizer.fit(texts, vocab_size=100)
    tok.save(tmp_path / "tokenizer.json")
    back = Tokenizer.load(tmp_path / "tokenizer.json")
    assert back.vocabulary == tok.vocabulary
    assert back.fingerprint == tok.fingerprint
    assert back.encode_batch(texts + ["unseen words"]) == tok.encode_batch(texts + ["unseen words"])


def test_load_rejects_other_json(tmp_path):
    (tmp_path / "t.json").write_text('{"vocabulary": ["a"]}')
    with pytest.raises(RunError, match="not a sentiment-cli tokenizer"):
        Tokenizer.load(tmp_path / "t.json")
    (tmp_path / "u.json").write_text("{broken")
    with pytest.raises(RunError, match="damaged or truncated"):
        Tokenizer.load(tmp_path / "u.json")
    # an edited vocabulary that the model's lookup table could not hold
    (tmp_path / "d.json").write_text('{"format": "sentiment-cli-tokenizer", "version": 3, '
                                     '"vocabulary": ["", "[UNK]", "a", "a"]}')
    with pytest.raises(RunError, match="damaged .*distinct"):
        Tokenizer.load(tmp_path / "d.json")


def test_sequences_truncate_pre_keeps_the_end():
    encoder = Encoder(max_length=3, truncating="pre")
    encoder.fit(["a b c d e"], vocab_size=10)
    ids = {w: encoder.tokenizer.encode(w)[0] for w in "abcde"}
    assert encoder.sequences(["a b c d e"])[0].tolist() == [ids["c"], ids["d"], ids["e"]]
    encoder.truncating = "post"
    assert encoder.sequences(["a b c d e"])[0].tolist() == [ids["a"], ids["b"], ids["c"]]
    padded = pad([np.array([5, 6]), np.array([7])])
    assert padded.tolist() == [[5, 6], [7, 0]]
    assert encoder.features([np.array([5, 6]), np.array([7])]).tolist() == [[5, 6], [7, 0]]


def test_closing_tags_and_curly_apostrophes():
    assert tokenize("<i>great</i> film<br />ok") == ["great", "film", "ok"]
    assert tokenize("don\u2019t") == ["don't"]


@pytest.mark.parametrize("version", [1, 2])
def test_tokenizers_of_older_versions_ask_for_retraining(tmp_path, version):
    import json

    path = tmp_path / "t.json"
    path.write_text(json.dumps({"format": "sentiment-cli-tokenizer", "version": version, "oov_token": "[UNK]",
                                "vocabulary": ["", "[UNK]", "don", "t"]}))
    with pytest.raises(RunError, match="older version of sentiment-cli.*train the run again"):
        Tokenizer.load(path)


def test_encode_gives_what_the_model_layer_gives():
    import numpy as np

    tok = Tokenizer.fit(["good film", "bad film !", "so good"], vocab_size=10)
    texts = ["good good bad", "", "unknown words here", "film " * 7]
    layer = tok.layer(max_length=5)
    padded = layer(np.array(texts, dtype=object)).numpy()
    expected = tok.encode_arrays(texts, max_length=5)
    for row, ids in zip(padded, expected):
        assert row[:len(ids)].tolist() == ids.tolist() and not row[len(ids):].any()
    assert expected[1].tolist() == [OOV_ID]  # no tokens: one unknown id
    assert len(expected[3]) == 5


def test_tweets_normalization():
    assert tokenize("@JohnDoe :) #BestDayEver http://t.co/abc123", "tweets") == [
        "_user_", "_smile_", "bestdayever", "_url_"]
    # without it, the example falls apart
    assert tokenize("@JohnDoe :) #BestDayEver http://t.co/abc123")[:4] == ["@", "johndoe", ":", ")"]
    cases = {
        "great day:) (: ;-) :D xD :P :O :/ -_- ^_^ :'( <3 </3": [
            "great", "day", "_smile_", "_smile_", "_wink_", "_laugh_", "_laugh_", "_tongue_", "_surprise_",
            "_annoyed_", "_annoyed_", "_smile_", "_cry_", "_heart_", "_heartbreak_"],
        "so sad :( ): :-[": ["so", "sad", "_sad_", "_sad_", "_sad_"],
        "&lt;3 you &amp; &quot;me&quot;": ["_heart_", "you", "&", '"', "me", '"'],
        "RT @user_1: see www.example.com/x?y=1 soooo good!!": [
            "rt", "_user_", ":", "see", "_url_", "soo", "good", "!", "!"],
        # not faces, not mentions: a year in brackets, a time, an address, a word after a colon
        "awww...so cute, it took <30 mins": ["aww", ".", ".", ".", "so", "cute", ",", "it", "took", "<", "30",
                                             "mins"],
        "http://t.co/x\u00a0great film": ["_url_", "great", "film"],  # a no-break space ends a link
        "the book (etc.): loved it, x=(a+b)": ["the", "book", "(", "etc", ".", ")", ":", "loved", "it", ",", "x",
                                               "=", "(", "a", "+", "b", ")"],
        "the film (2010): great at 10:30, mail a@b.com :do it": [
            "the", "film", "(", "2010", ")", ":", "great", "at", "10", ":", "30", ",", "mail", "a", "@", "b", ".",
            "com", ":", "do", "it"],
    }
    for text, expected in cases.items():
        assert tokenize(text, "tweets") == expected, text
    tokenizer = Tokenizer.fit(["@a :) great", "@b :( awful"], 20, normalize="tweets")
    assert tokenizer.encode("@JaneRoe :-) great") == tokenizer.encode("@x =) great")
    assert OOV_ID not in tokenizer.encode("@JaneRoe :-) great")


def test_the_normalization_is_saved_and_applied_by_the_model_layer(tmp_path):
    import tensorflow as tf

    tokenizer = Tokenizer.fit(["@a :) great http://x.y", "@b :( awful"], 20, normalize="tweets")
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.normalize == "tweets" and loaded.fingerprint == tokenizer.fingerprint
    # version 4: a sentiment-cli that reads only version 3 says "upgrade" instead of ignoring it
    assert json.loads(path.read_text())["version"] == 4
    assert Tokenizer(tokenizer.vocabulary).fingerprint != tokenizer.fingerprint  # a run notices the swap
    texts = ["@Someone :D www.a.com great", "awful :("]
    layer = loaded.layer(max_length=10)
    assert [list(r[r > 0]) for r in layer(tf.constant(texts)).numpy()] == loaded.encode_batch(texts)
