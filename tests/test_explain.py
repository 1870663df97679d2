import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY, invoke, write_labeled

from sentiment_cli.encoding import pad
from sentiment_cli.explain import Explainer, explain_texts, text_ngrams
from sentiment_cli.ngrams import ngram_rows
from sentiment_cli.runs import load_run

AWFUL = "awful boring movie"
LOVE = "i love it"
# longer than TINY's 8 tokens: the hybrid's network reads only its end, its n-gram half all of it
LONG = "so good , love it and then a great great fun movie again today here too"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny runs, trained once: an n-gram model, a hybrid, networks alone, three classes, a bag of words."""
    root = tmp_path_factory.mktemp("explain")
    labeled = write_labeled(root / "train.txt", copies=3)
    three = root / "three.csv"
    three.write_text("label,text\n" + "".join(f"{label},{word} words {i // 3}\n" for i, (label, word) in enumerate(
        [("neg", "awful"), ("neu", "okay"), ("pos", "great")] * 8)))
    models = root / "models"
    for name, path, extra in [("ngram", labeled, ["--model", "ngram"]), ("hybrid", labeled, []),
                              ("rnn", labeled, ["--model", "rnn", "--epochs", "6", "--lr", "0.03"]),
                              ("gru", labeled, ["--model", "rnn", "--cell", "gru", "--unidirectional", "--layers", "2",
                                                "--pooling", "last", "--dropout", "0", "--hidden-size", "8"]),
                              ("three", three, []), ("bow", labeled, ["--model", "bow"])]:
        result = invoke("train", name, "--train", path, "--models-dir", models, *TINY, *extra)
        assert result.exit_code == 0, result.output
    return models


def logits_of(model, layer: str, seqs) -> np.ndarray:
    """A layer's output for the padded sequences, by the model itself."""
    return np.asarray(keras.Model(model.input, model.get_layer(layer).output)(pad(seqs)), dtype=np.float64)


@pytest.mark.parametrize("ngram", [1, 2, 3])
def test_text_ngrams_are_the_layers_rows(ngram):
    rng = np.random.default_rng(ngram)
    for length in (1, 2, 3, 7, 30):
        ids = rng.integers(1, 12, size=length)  # few ids: repeats
        expected = ngram_rows(tf.constant(pad([ids], length + 3)), 50, ngram, 64).numpy()[0]
        empty = 50 + (64 if ngram > 1 else 0)
        assert sorted({row for row, _, _ in text_ngrams(ids, 50, ngram, 64)}) == sorted(expected[expected != empty])


def test_the_words_the_ngram_half_weighs_come_first(models):
    run = load_run(models, "ngram")
    awful, love = explain_texts(run, [AWFUL, LOVE])
    assert awful.label == "0" and love.label == "1"
    assert awful.toward == "1"
    top = awful.top_words(1)[0]
    assert top.token in ("awful", "boring") and top.total < 0
    assert love.top_words(1)[0].token == "love" and love.top_words(1)[0].total > 0
    assert [w.token for w in awful.words] == ["awful", "boring", "movie"]
    assert all(w.network == 0 for w in awful.words)
    # the explanation is the model's: its logit gives the model's probability
    assert 1 / (1 + np.exp(-awful.logit)) == pytest.approx(1 - awful.probability, abs=1e-5)


@pytest.mark.parametrize("name", ["ngram", "hybrid", "three"])
def test_ngram_contributions_add_up_to_the_halfs_logit(models, name):
    run = load_run(models, name)
    explainer = Explainer(run)
    texts = [AWFUL, LOVE, LONG, "awful awful awful", "unknown words only"]
    explanations = explainer.explain(texts)
    seqs = explainer.encoder.sequences(texts)
    half = logits_of(run.model, "ngrams", seqs)
    scale = explainer.scale["ngrams"]
    for i, e in enumerate(explanations):
        c = 0 if len(run.config.labels) == 2 else run.config.labels.index(e.label)
        words = sum(w.ngram for w in e.words)
        assert words == pytest.approx(sum(g["weight"] for g in e.ngrams), abs=1e-9)
        assert words + scale * explainer.ngrams.bias[c] == pytest.approx(scale * half[i, c], abs=1e-5)
    # a repeated n-gram counts once, shared over its occurrences
    repeated = explanations[3]
    assert repeated.words[0].ngram == pytest.approx(repeated.words[2].ngram)


@pytest.mark.parametrize("name", ["hybrid", "rnn", "gru", "three"])
def test_integrated_gradients_are_complete_and_the_logit_is_the_models(models, name):
    run = load_run(models, name)
    explainer = Explainer(run, steps=64)
    texts = [AWFUL, LOVE, LONG]
    seqs = explainer.encoder.sequences(texts)
    explanations = explainer.explain(texts)
    classes = [0 if len(run.config.labels) == 2 else run.config.labels.index(e.label) for e in explanations]
    network = explainer.network.attributions(seqs, np.array(classes), 64)
    rnn = logits_of(run.model, "rnn_logits", seqs)
    mixed = logits_of(run.model, "mix", seqs)
    for i, (per_token, baseline, logit) in enumerate(network):
        assert logit == pytest.approx(rnn[i, classes[i]], abs=1e-5)  # the model's own layers, truncation too
        change = logit - baseline
        assert abs(per_token.sum() - change) <= 0.02 * abs(change) + 1e-5
        assert np.abs(per_token).sum() > 0
        assert explanations[i].logit == pytest.approx(mixed[i, classes[i]], abs=1e-4)
    # the network reads LONG's last 8 tokens only; the n-gram half (if any) all of them
    long = explanations[2]
    assert len(long.words) == (8 if name in ("rnn", "gru") else len(LONG.split()))
    assert [w.token for w in long.words[-8:]] == LONG.split()[-8:]
    assert all(w.network == 0 for w in long.words[:-8]) and any(w.network != 0 for w in long.words[-8:])


def test_three_classes_explain_the_predicted_label(models):
    run = load_run(models, "three")
    for e in explain_texts(run, ["awful words", "great words"]):
        assert e.toward == e.label
        assert e.top_words(1)[0].token in ("awful", "great") and e.top_words(1)[0].total > 0


def test_json_and_html_end_to_end(models, tmp_path):
    result = invoke("explain", "hybrid", AWFUL, LOVE, "--json", "--top", "2", "--models-dir", models)
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.output.splitlines()]
    assert [o["text"] for o in objects] == [AWFUL, LOVE]
    assert set(objects[0]) >= {"text", "label", "probability", "words", "ngrams", "bias"}
    assert set(objects[0]["words"][0]) == {"token", "ngram", "network", "total"}
    assert len(objects[0]["ngrams"]) == 2 and objects[0]["label"] == "0"

    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,<b>awful</b> & boring\n2,i love it\n", encoding="utf-8")
    page = tmp_path / "why.html"
    result = invoke("explain", "ngram", "--input", src, "--html", page, "--models-dir", models)
    assert result.exit_code == 0, result.output
    assert "2 explanation(s) written" in result.output
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text and "toward 1" in text
    assert "http" not in text and "src=" not in text  # one page, nothing fetched
    assert "&amp;" in text and "<b>awful" not in text
    assert text.count('class="text"') == 2 and "rgba(220, 40, 40" in text
    assert not list(tmp_path.glob(".why.html*"))


def test_terminal_output_is_plain_off_a_terminal(models):
    result = invoke("explain", "ngram", AWFUL, "--models-dir", models)
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output
    assert result.output.startswith("0 (") and "awful" in result.output.splitlines()[2]


@pytest.mark.parametrize("args, code, message", [
    (["nope", "text"], 1, "Error: no run 'nope'"),
    (["ngram"], 2, "give texts to explain as arguments, or --input FILE"),
    (["ngram", "text", "--input", "x.txt"], 2, "give texts as arguments or --input FILE, not both"),
    (["ngram", "fine", "  "], 1, "Error: arguments: text 2 is empty. Give each text some words"),
    (["bow", "text"], 1, "Error: bow is a bag-of-words run (--model bow), which explain does not take apart"),
    (["ngram", "text", "--html", "no/such/dir/x.html"], 1, "its directory does not exist"),
])
def test_errors_are_one_line(models, args, code, message):
    result = invoke("explain", *args, "--models-dir", models)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_empty_file_is_an_error(models, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = invoke("explain", "ngram", "--input", empty, "--models-dir", models)
    assert result.exit_code == 1
    assert "the file is empty" in result.output
