import numpy as np
import pytest

from sentiment_cli import runs
from sentiment_cli.tokenizer import Tokenizer
from sentiment_cli.config import TrainConfig
from sentiment_cli.fit.ngram import ngram_matrix
from sentiment_cli.model import build_model, has_ngrams
from sentiment_cli.ngrams import NGramLogits

VOCAB = 10


def distinct_rows(layer, ids):
    rows = layer.ngram_ids(np.asarray(ids, dtype="int32")).numpy()
    return [sorted(int(r) for r in row if r != layer.rows - 1) for row in rows]


def test_ngrams_are_distinct_and_skip_padding():
    layer = NGramLogits(VOCAB, ngram=2, buckets=1000)
    # "2 3 2 3": words 2 and 3, bigrams (2,3) twice and (3,2): four distinct n-grams; the second
    # row's padding adds none, and the same bigram gets the same row in both texts.
    first, second = distinct_rows(layer, [[2, 3, 2, 3, 0], [3, 2, 0, 0, 0]])
    assert len(first) == 4 and first[:2] == [2, 3]
    assert len(second) == 3 and second[:2] == [2, 3]
    assert set(second[2:]) < set(first[2:])  # (3,2) is in both
    assert all(VOCAB <= r < VOCAB + 1000 for r in first[2:])


def test_trigrams_and_word_only_models():
    assert len(distinct_rows(NGramLogits(VOCAB, ngram=3, buckets=1000), [[2, 3, 4]])[0]) == 3 + 2 + 1
    words = NGramLogits(VOCAB, ngram=1)
    assert words.rows == VOCAB + 1
    assert distinct_rows(words, [[4, 4, 5, 0]]) == [[4, 5]]


def test_naive_bayes_ratios_by_hand():
    layer = NGramLogits(VOCAB, ngram=1)
    layer.build((None, None))
    # class 1 texts: {2, 3}, {2}; class 0 texts: {4}. Add-one smoothing over all VOCAB + 1 rows
    # (the empty row is zeroed after): P(2 | 1) = (2 + 1) / (3 + 11), P(2 | 0) = (0 + 1) / (1 + 11).
    x = layer.matrix([np.array([[2, 3], [2, 0], [4, 0]], dtype="int32")])
    assert x.toarray()[:, 2:5].tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 1]]
    ratios = layer.set_ratios(x, np.array([1, 1, 0]))
    assert ratios[2, 0] == pytest.approx(np.log((3 / 14) / (1 / 12)), rel=1e-5)
    assert ratios[4, 0] == pytest.approx(np.log((1 / 14) / (2 / 12)), rel=1e-5)
    assert ratios[-1, 0] == 0.0
    assert np.allclose(layer.ratio.numpy(), ratios)
    # min_count 2: words 3 and 4, each in one text, weigh nothing; word 2, in two, keeps its ratio
    # (the smoothing still counts every row, so the kept ratios do not move)
    pruned = layer.set_ratios(x, np.array([1, 1, 0]), min_count=2)
    assert pruned[3, 0] == 0.0 and pruned[4, 0] == 0.0
    assert pruned[2, 0] == pytest.approx(ratios[2, 0])


def test_logit_is_weight_times_ratio_over_distinct_ngrams():
    layer = NGramLogits(VOCAB, ngram=1)
    layer.build((None, None))
    layer.weight.assign(np.arange(VOCAB + 1, dtype="float32")[:, None])
    layer.ratio.assign(np.full((VOCAB + 1, 1), 0.5, dtype="float32"))
    layer.bias.assign([1.0])
    # distinct words 2 and 5: 0.5 * 2 + 0.5 * 5 + 1; the repeated 5 and the padding add nothing
    assert float(layer(np.array([[2, 5, 5, 0]], dtype="int32"))[0, 0]) == pytest.approx(4.5)


@pytest.mark.parametrize("model_type", ["hybrid", "ngram"])
@pytest.mark.parametrize("labels", [["0", "1"], ["a", "b", "c"]])
def test_ngram_models_save_and_load_safely(tmp_path, model_type, labels):
    config = TrainConfig(model=model_type, embedding_dim=4, hidden_size=4, ngram_buckets=64, labels=labels)
    model = build_model(config, vocab_size=VOCAB)
    assert has_ngrams(model)
    seqs = [np.array([2, 3, 4]), np.array([5, 6]), np.array([7, 8, 9, 2]), np.array([3])]
    model.get_layer("ngrams").set_ratios(ngram_matrix(model, seqs), np.array([0, 1, 2, 1]) % len(labels))
    assert np.abs(model.get_layer("ngrams").ratio.numpy()).sum() > 0
    layer = model.get_layer("ngrams")
    layer.weight.assign(np.random.default_rng(0).normal(size=layer.weight.shape).astype("float32"))
    x = np.array([[2, 3, 4, 0], [5, 6, 7, 8]], dtype="int32")
    before = model.predict_on_batch(x)
    assert before.shape == (2, 1 if len(labels) == 2 else len(labels))
    tokenizer = Tokenizer(["", "[UNK]"] + [f"w{i}" for i in range(2, VOCAB)])
    runs.save_model(tmp_path / "m.keras", model, tokenizer, config)
    loaded = runs.load_model(tmp_path / "m.keras")
    # stored compact: weight x ratio in float16, so equal up to its rounding
    assert np.allclose(loaded.predict_on_batch(x), before, atol=2e-3)
    # the file starts from text: "w2 w3 w4" are ids 2, 3, 4
    text = runs.load_model(tmp_path / "m.keras", text=True)
    assert np.allclose(text.predict_on_batch(np.array(["w2 w3 w4", "w5 w6 w7 w8"], dtype=object)), before,
                       atol=2e-3)
    product = layer.weight.numpy() * layer.ratio.numpy()
    stored = loaded.get_layer("ngrams")
    assert stored.keys.numpy().tolist() == np.flatnonzero(product.any(axis=1)).tolist()
    assert np.allclose(stored.values.numpy().astype("float32"), product[stored.keys.numpy()], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_regression_weights_fit_the_training_texts(classes):
    # word k + 2 marks class k; word 9 is noise in every text
    layer = NGramLogits(VOCAB, outputs=1 if classes == 2 else classes, ngram=1)
    layer.build((None, None))
    y = np.arange(30) % classes
    ids = np.stack([y + 2, np.full(30, 9)], axis=1).astype("int32")
    x = layer.matrix([ids])
    layer.set_ratios(x, y)
    weak = layer.fit_weights(x, y, c=0.01).copy()
    strong = layer.fit_weights(x, y, c=10.0)
    logits = layer(ids).numpy()
    predicted = (logits[:, 0] > 0).astype(int) if classes == 2 else logits.argmax(axis=1)
    assert (predicted == y).all()
    # less regularisation (larger C): larger weights; the noise word's weight stays near 0
    assert np.abs(strong[:-layer.outputs]).sum() > np.abs(weak[:-layer.outputs]).sum()
    assert np.abs(layer.weight.numpy()[9]).max() < 0.5 * np.abs(layer.weight.numpy()[2:2 + classes]).max()


@pytest.mark.parametrize("classes", [2, 3])
def test_the_fit_over_rows_with_a_ratio_is_the_optimum_over_all_rows(classes):
    # fit_weights optimises only the rows with a ratio; the answer must still zero the gradient
    # of scikit-learn's objective over every row (and leave the other rows' weights at 0), from
    # a cold start and from the warm start of another C
    rng = np.random.default_rng(0)
    k = 1 if classes == 2 else classes
    layer = NGramLogits(40, outputs=k, ngram=2, buckets=64)
    layer.build((None, None))
    ids = rng.integers(2, 40, size=(60, 6)).astype("int32")
    y = ids[:, :3].sum(axis=1) % classes
    x = layer.matrix([ids])
    ratio = layer.set_ratios(x, y, min_count=2)
    pruned = ~ratio.any(axis=1)
    assert pruned.any() and not pruned.all()
    c = 0.5
    for params in (layer.fit_weights(x, y, c, max_iter=2000),
                   layer.fit_weights(x, y, c, start=layer.fit_weights(x, y, 5.0), max_iter=2000)):
        w, b = params[:-k].reshape(-1, k), params[-k:]
        assert (w[pruned] == 0).all()
        z = x @ (w * ratio) + b
        if k == 1:
            residual = 1.0 / (1.0 + np.exp(-z)) - y.reshape(-1, 1)
        else:
            p = np.exp(z - z.max(axis=1, keepdims=True))
            residual = p / p.sum(axis=1, keepdims=True) - np.eye(k)[y]
        gradient = np.concatenate([(c * (x.T @ residual) * ratio + w).ravel(), c * residual.sum(axis=0)])
        assert np.abs(gradient).max() < 1e-4


def test_a_fit_with_every_row_pruned_fits_the_bias_only():
    layer = NGramLogits(VOCAB, ngram=1)
    layer.build((None, None))
    ids = np.array([[2], [3], [4], [5]], dtype="int32")  # every word in one text
    x = layer.matrix([ids])
    y = np.array([1, 1, 1, 0])
    assert not layer.set_ratios(x, y, min_count=2).any()
    params = layer.fit_weights(x, y, c=1.0)
    assert (params[:-1] == 0).all()
    assert params[-1] > 0  # the bias leans to the majority class


def test_the_hash_table_is_sized_from_the_training_data():
    from sentiment_cli.fit.ngram import ngram_buckets_for

    config = TrainConfig(ngram=3, ngram_buckets=2**21)
    few = [np.arange(2, 12)] * 40  # 40 texts of 10 tokens: 9 bigrams + 8 trigrams each
    assert ngram_buckets_for(few, config) == 4096  # 4 x 680 n-grams, rounded up to a power of two
    many = [np.arange(2, 402)] * 5000
    assert ngram_buckets_for(many, config) == 2**21  # the configured most
    assert ngram_buckets_for([np.array([2])], config) == 1024  # the least


@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_keep_tokens_cuts_padded_rows_as_the_tokenizer_cuts_texts(truncating):
    from sentiment_cli.encoding import keep_tokens, pad
    from sentiment_cli.textops import KeepTokens

    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 50, size=n).astype("int32") for n in (1, 3, 5, 7, 12, 4)]
    cut = KeepTokens(5, truncating)(pad(seqs)).numpy()
    assert cut.shape == (6, 5)
    assert cut.tolist() == pad(keep_tokens(seqs, 5, truncating), 5).tolist()
    assert cut[4].tolist() == (seqs[4][-5:] if truncating == "pre" else seqs[4][:5]).tolist()
    assert cut[1].tolist() == seqs[1].tolist() + [0, 0]  # a short row is unchanged


def test_the_ngram_half_reads_past_the_network_s_length(tmp_path):
    """A hybrid model reads ngram_max_length tokens; its network half only the last max_length."""
    from sentiment_cli.encoding import Encoder, pad
    from sentiment_cli.model import half_model

    words = [f"w{i}" for i in range(2, VOCAB)]
    tokenizer = Tokenizer(["", "[UNK]"] + words)
    config = TrainConfig(embedding_dim=4, hidden_size=4, ngram_buckets=64, max_length=3, ngram_max_length=20,
                         labels=["0", "1"])
    assert config.read_length == 20
    encoder = Encoder.from_config(config, tokenizer)
    long_text = " ".join(words[:8])  # 8 tokens: the network reads w7 w8 w9, the n-gram half all 8
    [seq] = encoder.sequences([long_text])
    assert seq.tolist() == list(range(2, 10))
    model = build_model(config, vocab_size=VOCAB)
    assert ngram_matrix(model, [seq])[0, 2] == 1  # w2, which only the n-gram half sees
    network = half_model(model, "rnn_logits", activation=False)
    assert np.allclose(network.predict_on_batch(pad([seq])), network.predict_on_batch(pad([seq[-3:]])), atol=1e-6)
    runs.save_model(tmp_path / "m.keras", model, tokenizer, config)
    text = runs.load_model(tmp_path / "m.keras", text=True)
    assert np.allclose(text.predict_on_batch(np.array([long_text], dtype=object)),
                       model.predict_on_batch(pad([seq])), atol=1e-6)


def test_a_config_saved_before_ngram_max_length_reads_as_it_did():
    old = {k: v for k, v in TrainConfig(max_length=123).to_dict().items()
           if k not in ("ngram_max_length", "ngram_min_count")}
    config = TrainConfig.from_dict(old)
    assert config.ngram_max_length == 123 and config.read_length == 123
    assert TrainConfig().read_length == 5000 and TrainConfig(model="rnn").read_length == 200
    # nor had it ngram_min_count: every n-gram of the training texts weighed
    assert config.ngram_min_count == 1 and TrainConfig().ngram_min_count == 2


def test_a_config_saved_before_the_word2vec_choice_reads_as_skip_gram():
    old = {k: v for k, v in TrainConfig().to_dict().items() if k != "word2vec"}
    assert TrainConfig.from_dict(old).word2vec == "skipgram" and TrainConfig().word2vec == "cbow"


def test_a_min_count_that_prunes_every_ngram_is_said(tmp_path):
    from helpers import TINY, invoke, write_labeled

    labeled = write_labeled(tmp_path / "train.txt")  # each text twice: 40 lines
    result = invoke("train", "rare", "--train", labeled, *TINY, "--model", "ngram", "--ngram-min-count", "100",
                    "--models-dir", tmp_path / "m")
    assert result.exit_code == 0
    assert "no n-gram is found in 100 or more training texts" in result.output and "--ngram-min-count" in result.output
    assert runs.load_run(tmp_path / "m", "rare", with_model=False).metrics["ngram_rows_weighed"] == 0
