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


def direction_of(run, e) -> np.ndarray:
    """The outputs' weights an explanation explains: the one logit (binary), or label less runner-up."""
    labels = run.config.labels
    if len(labels) == 2:
        return np.ones(1)
    direction = np.zeros(len(labels))
    direction[labels.index(e.toward)] += 1
    direction[labels.index(e.against)] -= 1
    return direction


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
        direction = direction_of(run, e)
        words = sum(w.ngram for w in e.words)
        assert words == pytest.approx(sum(g["weight"] for g in e.ngrams), abs=1e-9)
        assert words + scale * explainer.ngrams.bias @ direction == pytest.approx(scale * half[i] @ direction, abs=1e-5)
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
    directions = np.array([direction_of(run, e) for e in explanations])
    network = explainer.network.attributions(seqs, directions, 64)
    rnn = logits_of(run.model, "rnn_logits", seqs)
    mixed = logits_of(run.model, "mix", seqs)
    for i, (per_token, baseline, logit) in enumerate(network):
        # the model's own layers, truncation too; for three classes, the difference of two logits
        assert logit == pytest.approx(rnn[i] @ directions[i], abs=1e-5)
        change = logit - baseline
        assert abs(per_token.sum() - change) <= 0.02 * abs(change) + 1e-5
        assert np.abs(per_token).sum() > 0
        assert explanations[i].logit == pytest.approx(mixed[i] @ directions[i], abs=1e-4)
    # the network reads LONG's last 8 tokens only; the n-gram half (if any) all of them
    long = explanations[2]
    assert len(long.words) == (8 if name in ("rnn", "gru") else len(LONG.split()))
    assert [w.token for w in long.words[-8:]] == LONG.split()[-8:]
    assert all(w.network == 0 for w in long.words[:-8]) and any(w.network != 0 for w in long.words[-8:])


def test_three_classes_explain_the_predicted_label_against_the_runner_up(models):
    run = load_run(models, "three")
    explainer = Explainer(run, steps=64)
    texts = ["awful words", "great words", "okay words 1", AWFUL, LONG, "awful but great"]
    explanations = explainer.explain(texts)
    seqs = explainer.encoder.sequences(texts)
    mixed = logits_of(run.model, "mix", seqs)
    labels = run.config.labels
    for i, e in enumerate(explanations):
        winner, second = np.argsort(-mixed[i], kind="stable")[:2]
        # the weights add up to logit(label) - logit(runner-up): the n-gram half's exactly, the
        # network's up to integrated gradients' gap, which is reported and small
        assert sum(w.total for w in e.words) + e.bias + e.gap == pytest.approx(mixed[i, winner] - mixed[i, second],
                                                                              abs=1e-4)
        assert e.label == e.toward == labels[winner] and e.against == labels[second]
        assert e.logit == pytest.approx(mixed[i, winner] - mixed[i, second], abs=1e-4) and e.logit >= 0
        network = sum(w.network for w in e.words)
        assert abs(e.gap) <= 0.02 * abs(network + e.gap) + 1e-5
    for text in ("awful words", "great words"):  # the class's own word beats the runner-up's
        e = explanations[texts.index(text)]
        assert e.top_words(1)[0].token == text.split()[0] and e.top_words(1)[0].total > 0


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


def test_json_and_html_name_the_runner_up_and_keep_the_ids(models, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,text\nr17,awful words\nr03,great words\n", encoding="utf-8")
    result = invoke("explain", "three", "--input", src, "--json", "--models-dir", models)
    assert result.exit_code == 0, result.output
    run = load_run(models, "three")
    expected = explain_texts(run, ["awful words", "great words"])
    objects = [json.loads(line) for line in result.output.splitlines()]
    assert [(o["id"], o["text"]) for o in objects] == [("r17", "awful words"), ("r03", "great words")]
    for o, e in zip(objects, expected):
        assert list(o)[:6] == ["id", "text", "label", "probability", "toward", "against"]
        assert o["against"] == e.against and o["against"] != o["label"]
        assert o["logit_difference"] == pytest.approx(e.logit, abs=1e-6) and "logit" not in o

    page = tmp_path / "why.html"
    result = invoke("explain", "three", "--input", src, "--html", page, "--models-dir", models)
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "toward each text's label</span>" in text and "toward its runner-up (the next most probable label)" in text
    for e, row in zip(expected, ("r17", "r03")):
        assert f"id {row}: {e.label} ({e.probability:.3f}) against the runner-up {e.against}</div>" in text
        assert f"logit({e.label}) - logit({e.against}) {e.logit:+.3f}" in text

    result = invoke("explain", "three", "awful words", "--models-dir", models)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{expected[0].label} (")
    assert lines[1] == (f"  weights toward {expected[0].label!r} against the runner-up {expected[0].against!r}: "
                        "word, n-grams + network = total")
    assert f"logit difference ({expected[0].label} - {expected[0].against})" in lines[-1]


def test_binary_output_is_one_logit_and_file_rows_keep_their_ids(models, tmp_path):
    result = invoke("explain", "hybrid", AWFUL, "--json", "--models-dir", models)
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.output)) == ["text", "label", "probability", "toward", "words", "ngrams", "bias",
                                               "gap", "logit"]
    src = tmp_path / "in.txt"
    src.write_text(f"{AWFUL}\n{LOVE}\n", encoding="utf-8")  # plain lines: ids are line numbers
    result = invoke("explain", "hybrid", "--input", src, "--json", "--models-dir", models)
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.output.splitlines()]
    assert [(o["id"], o["text"], o["toward"]) for o in objects] == [("1", AWFUL, "1"), ("2", LOVE, "1")]
    assert all("against" not in o and "logit" in o for o in objects)


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
