"""Why a run gave a text its label: each word's and n-gram's signed share of the logit.

A model's logit is the mix of its halves' logits (calibration.Mix): scale_n * ngrams + scale_r *
rnn_logits + bias. Each half is explained on its own terms, then the two are put side by side:

- the n-gram half is linear, so its explanation is exact: each distinct n-gram of the text adds
  its stored value (weight x ratio) times the half's mix scale, and nothing else does but the
  layer's bias. An n-gram that repeats counts once, as the layer counts it. Its share is spread
  evenly over the tokens of its occurrences.
- the network half is explained by integrated gradients (Sundararajan et al., 2017) on its word
  vectors, from an all-zero baseline with the padding mask kept: per token, the sum over
  dimensions of (vector x mean gradient along the path). Their sum falls short of
  logit(text) - logit(baseline) by a few percent at most with enough steps: that ``gap`` is
  reported, not hidden.

Weights are signed toward one class (``Explanation.toward``). For a binary run, the label at
index 1: its one logit is explained, and already is a contrast of the two classes. For three or
more classes the explanation is contrastive: the predicted class against the runner-up
(``Explanation.against``, the second most probable), so what is explained is the difference of
their mixed logits, logit(label) - logit(runner-up): each n-gram's value for the label less its
value for the runner-up, integrated gradients of that difference (completeness holds for it as for
one logit), and bias and gap the same way. A word that pushes every class alike weighs nothing.
Either way ``sum(word.total) + bias + gap`` is ``Explanation.logit``, the explained quantity.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass

import numpy as np

from sentiment_cli.encoding import Encoder, keep_tokens, pad
from sentiment_cli.errors import DataError, RunError
from sentiment_cli.model import predict_proba
from sentiment_cli.ngrams import CompactNGramLogits, NGramLogits
from sentiment_cli.npmodel import unknown_word_vectors, weighing_rows
from sentiment_cli.predict import atomic_output, decide
from sentiment_cli.rules import (
    OOV_TOKEN, char_codes, char_ngrams, char_offset, keep, kept_span, token_char_buckets, word_ngrams,
)
from sentiment_cli.rules import words as word_ids
from sentiment_cli.runs import Run
from sentiment_cli.tokenizer import tokenize_batch

IG_STEPS = 48  # integrated gradients' path points: the gap was under 1% of the logit on tiny runs
# Most (texts x path points x tokens) per gradient call: bounds the activations' memory.
IG_TOKENS = 65536


@dataclass
class Word:
    token: str
    ngram: float  # its share of the n-gram half's contributions (scaled by the mix)
    network: float  # the network half's integrated gradient (scaled by the mix)
    total: float


@dataclass
class Explanation:
    text: str
    label: str  # the predicted label (by the run's decision threshold, as `test` decides)
    probability: float  # of that label
    toward: str  # the label a positive weight pushes toward
    words: list[Word]  # every token the model read, in text order
    # {ngram, weight}: the n-gram half's contributions, largest |weight| first; an n-gram is named by
    # its first occurrence's words (words outside the vocabulary all count as the unknown token)
    ngrams: list[dict]
    bias: float  # the part of the logit owed to no word: biases and the network's baseline logit
    gap: float  # the network half's logit change that its integrated gradients miss (0 without one)
    # what the weights explain, sum of the totals + bias + gap (to rounding): the mixed logit of
    # ``toward`` (binary), or logit(toward) - logit(against) (three or more classes)
    logit: float
    against: str | None = None  # three or more classes: the runner-up, the weights push away from it
    id: str | None = None  # the text's id in the input file (None for texts given as arguments)

    def top_words(self, k: int) -> list[Word]:
        return sorted(self.words, key=lambda w: -abs(w.total))[:k]

    def to_dict(self, top: int | None = None) -> dict:
        """As JSON: the id first when there is one; a contrastive explanation names its runner-up
        (``against``) and calls its logit ``logit_difference``; a binary one keeps 0.6.1's keys."""
        out = asdict(self)
        if top is not None:
            out["ngrams"] = out["ngrams"][:top]
        identity, against = out.pop("id"), out.pop("against")
        if against is not None:
            at = list(out).index("toward") + 1
            items = list(out.items())
            out = dict(items[:at] + [("against", against)] + items[at:])
            out["logit_difference"] = out.pop("logit")
        return out if identity is None else {"id": identity, **out}


class Explainer:
    """A loaded run made ready to explain: its halves, their mix scales, its word vectors."""

    def __init__(self, run: Run, steps: int = IG_STEPS):
        config, model = run.config, run.model
        if config.model == "bow":
            raise RunError(f"{run.path.name} is a bag-of-words run (--model bow), which explain does not "
                           "take apart: explain a hybrid, ngram or rnn run")
        if steps < 2:
            raise RunError(f"integrated gradients need at least 2 steps, not {steps}")
        names = {layer.name for layer in model.layers}
        if "mix" not in names:
            raise RunError(f"{run.path}: made before models had a mix layer; train the run again to explain it")
        self.run, self.steps = run, steps
        self.encoder = Encoder.from_config(config, run.tokenizer)
        halves = [name for name in ("ngrams", "rnn_logits") if name in names]  # the mix's order (model.halves)
        mix = model.get_layer("mix")
        self.scale = dict(zip(halves, np.asarray(mix.scale.numpy(), dtype=np.float64)))
        self.mix_bias = np.asarray(mix.bias.numpy(), dtype=np.float64)
        self.ngrams = NGramTable(model.get_layer("ngrams"), config.char_ngrams) if "ngrams" in halves else None
        self.network = Network(model, config) if "rnn_logits" in halves else None

    def explain(self, texts: list[str], ids: list[str] | None = None) -> list[Explanation]:
        """One explanation per text, in input order; ``ids`` (the input file's) are kept on them."""
        texts = list(texts)
        if not texts:
            raise DataError("input", "no texts to explain", fix="Give at least one text")
        labels = self.run.config.labels
        seqs = self.encoder.sequences(texts)
        probs = predict_proba(self.run.model, seqs, self.encoder.features)
        predicted = decide(probs, self.run.threshold if probs.shape[1] == 2 else None)
        rows = np.arange(len(texts))
        if len(labels) == 2:  # one logit: toward labels[1]
            classes, against = np.ones(len(texts), dtype=np.int64), None
            directions = np.ones((len(texts), 1))
        else:  # the predicted class's logit less the runner-up's
            classes, against = predicted, runner_up(probs, predicted)
            directions = np.zeros((len(texts), len(labels)))
            directions[rows, classes] = 1.0
            directions[rows, against] -= 1.0
        tokens = self.tokens(texts, seqs)
        seqs, packed = [word_ids(s) for s in seqs], seqs  # a token per word id; packed: with character buckets
        network = self.network.attributions(seqs, directions, self.steps, packed) if self.network else None
        out = []
        for i, text in enumerate(texts):
            direction = directions[i]
            words_ngram = np.zeros(len(seqs[i]))
            bias = float(self.mix_bias @ direction)
            ngrams = []
            if self.ngrams is not None:
                scale = self.scale["ngrams"]
                found = self.ngrams.contributions(packed[i], direction, tokens[i])
                for row, (value, spans) in found.items():
                    weight = value * scale
                    start, n = spans[0]
                    if isinstance(n, str):  # a character n-gram: shared by the tokens that hold it
                        for position, _ in spans:
                            words_ngram[position] += weight / len(spans)
                        ngrams.append({"ngram": n, "weight": float(weight), "kind": "characters"})
                        continue
                    share = weight / sum(n for _, n in spans)
                    for start, n in spans:
                        words_ngram[start:start + n] += share
                    start, n = spans[0]
                    ngrams.append({"ngram": " ".join(tokens[i][start:start + n]), "weight": float(weight)})
                ngrams.sort(key=lambda g: -abs(g["weight"]))
                bias += scale * float(self.ngrams.bias @ direction)
            words_network = np.zeros(len(seqs[i]))
            gap = 0.0
            if network is not None:
                scale = self.scale["rnn_logits"]
                per_token, baseline, logit = network[i]
                offset, _ = kept_span(len(seqs[i]), len(per_token), self.run.config.truncating)
                words_network[offset:offset + len(per_token)] = per_token * scale
                bias += scale * baseline
                gap = float(scale * (logit - baseline) - words_network.sum())
            total = words_ngram + words_network
            words = [Word(t, float(a), float(b), float(s))
                     for t, a, b, s in zip(tokens[i], words_ngram, words_network, total)]
            probability = float(probs[i, predicted[i]])
            out.append(Explanation(text, labels[predicted[i]], probability, labels[classes[i]], words, ngrams,
                                   float(bias), gap, float(total.sum() + bias + gap),
                                   against=None if against is None else labels[against[i]],
                                   id=None if ids is None else ids[i]))
        return out

    def tokens(self, texts: list[str], seqs: list[np.ndarray]) -> list[list[str]]:
        """The tokens behind each id sequence's words, as written (a word outside the vocabulary too)."""
        out = []
        for found, ids in zip(tokenize_batch(texts, self.run.tokenizer.normalize), seqs):
            found = keep(np.array(found, dtype=object), self.encoder.max_length, self.encoder.truncating)
            n = len(word_ids(ids))
            out.append(list(found) if len(found) == n else [OOV_TOKEN] * n)
        return out


def runner_up(probs: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per row, the most probable class other than the predicted one (the first of equals)."""
    others = np.array(probs, dtype=np.float64)
    others[np.arange(len(others)), predicted] = -np.inf
    return others.argmax(axis=1)


class NGramTable:
    """The n-gram half's stored values (weight x ratio), looked up by row as the layer does."""

    def __init__(self, layer, char_ngrams: int = 0):
        self.vocab_size, self.ngram, self.buckets = layer.vocab_size, layer.ngram, layer.buckets
        self.char_buckets, self.char_ngrams = layer.char_buckets, char_ngrams
        if isinstance(layer, CompactNGramLogits):
            self.keys = np.asarray(layer.keys.numpy(), dtype=np.int64)
            self.values = np.asarray(layer.values.numpy(), dtype=np.float64)
        elif isinstance(layer, NGramLogits):
            self.keys, self.values = weighing_rows(layer.weight.numpy(), layer.ratio.numpy())
        else:
            raise RunError(f"the layer 'ngrams' is a {type(layer).__name__}, not an n-gram half explain knows")
        self.bias = np.asarray(layer.bias.numpy(), dtype=np.float64)

    def contributions(self, ids: np.ndarray, direction: np.ndarray,
                      tokens: list[str] | None = None) -> dict[int, tuple[float, list[tuple[int, int]]]]:
        """{row: (value, [(first token, n) of each occurrence])} of the text's n-grams that weigh,
        each distinct row once; a row's value is its outputs' values weighed by ``direction``
        (one per output: 1 at a class explains its logit, 1 and -1 the difference of two).
        A character n-gram's row (the packed ids' negative codes) lists each token that holds
        it as (token, the n-gram as written), so that its value is shared over those tokens."""
        found = {}
        for row, start, n in text_ngrams(ids, self.vocab_size, self.ngram, self.buckets):
            found.setdefault(int(row), []).append((int(start), int(n)))
        ids = np.asarray(ids, dtype=np.int64)
        if self.char_buckets and (ids < 0).any():
            offset = char_offset(self.vocab_size, self.ngram, self.buckets)
            _, rows, valid = next(char_ngrams(ids[None, :], self.vocab_size, self.ngram, self.buckets,
                                              self.char_buckets))
            present = set(rows[valid].tolist())  # the character rows alone, not the subword codes
            for row, position, gram in token_chars(tokens or [], self.char_ngrams, self.char_buckets, offset):
                if row in present:
                    found.setdefault(row, []).append((position, gram))
        rows = np.fromiter(found, dtype=np.int64, count=len(found))
        at = np.minimum(np.searchsorted(self.keys, rows), len(self.keys) - 1)
        hit = self.keys[at] == rows if len(self.keys) else np.zeros(len(rows), bool)
        values = self.values[at] @ np.asarray(direction, dtype=np.float64) if len(self.keys) else np.zeros(len(rows))
        return {int(row): (float(v), found[int(row)]) for row, v, h in zip(rows, values, hit) if h and v != 0}


def token_chars(tokens: list[str], high: int, char_buckets: int, offset: int) -> list[tuple[int, int, str]]:
    """(row, token position, the n-gram as written with fastText's marks) of each distinct
    character n-gram row of each token, by ``rules.token_char_buckets``: which tokens hold a row."""
    out = []
    if not tokens or not high:
        return out
    seen = [set() for _ in tokens]  # each token's rows, each once
    for n, hashed, valid in token_char_buckets(char_codes(tokens), high, char_buckets):
        for position, j in zip(*np.nonzero(valid)):
            row = offset + int(hashed[position, j])
            if row not in seen[position]:
                seen[position].add(row)
                out.append((row, int(position), f"<{tokens[position]}>"[j:j + n]))
    return out


def text_ngrams(ids: np.ndarray, vocab_size: int, ngram: int, buckets: int) -> list[tuple[int, int, int]]:
    """(row, first token, n) of every 1..ngram-gram of one unpadded id sequence, repeats included:
    the rows of ``rules.ngram_rows`` (there, repeats count once)."""
    ids = np.asarray(ids, dtype=np.int64)
    ids = ids[ids > 0]
    return [(int(row), i, n) for n, rows, _ in word_ngrams(ids[None, :], vocab_size, ngram, buckets)
            for i, row in enumerate(rows[0])]


class Network:
    """The network half as a function of its word vectors, for integrated gradients.

    It calls the model's own layers by name in the order ``model._rnn_features`` builds them:
    embedding -> (embedding_dropout) -> recurrent layers -> (mean_pool) -> head -> (head_dropout)
    -> rnn_logits; the dropouts are left out (inference). ``network_tokens`` (KeepTokens) is
    applied to the ids first, as ``rules.keep``.
    """

    def __init__(self, model, config):
        import tensorflow as tf

        names = {layer.name for layer in model.layers}
        self.config = config
        self.max_length = config.max_length if "network_tokens" in names else None
        self.vectors = np.asarray(model.get_layer("embedding").embeddings.numpy(), dtype=np.float32)
        # an unknown word's vector made from its spelling (model.UnknownWordVectors), as the model makes it
        self.subwords = model.get_layer("subword_vectors") if "subword_vectors" in names else None
        if self.subwords is not None:
            self.subword_weights = [np.asarray(w, dtype=np.float32) for w in self.subwords.get_weights()]
        prefix = "bi" if config.bidirectional else ""
        self.recurrent = [model.get_layer(f"{prefix}{config.cell}_{i + 1}") for i in range(config.layers)]
        self.pool = model.get_layer("mean_pool") if "mean_pool" in names else None
        self.head, self.logits = model.get_layer("head"), model.get_layer("rnn_logits")

        # traced once per model (kept on it, as model.inference_function keeps its own): a new
        # function per Explainer would trace again each time
        functions = model.__dict__.setdefault("_sentiment_explain", {})
        if "gradients" not in functions:
            layers = (self.recurrent, self.pool, self.head, self.logits)

            # direction: per row, one weight per output (a one-hot row picks a logit; 1 and -1, the
            # difference of two, whose gradients are those of the two logits' difference)
            def gradients(x, mask, direction, alphas):
                with tf.GradientTape() as tape:
                    path = x * alphas[:, None, None]
                    tape.watch(path)
                    chosen = tf.reduce_sum(network_logits(layers, path, mask) * direction, axis=1)
                return tape.gradient(chosen, path), chosen

            spec = [tf.TensorSpec([None, None, self.vectors.shape[1]], tf.float32),
                    tf.TensorSpec([None, None], tf.bool), tf.TensorSpec([None, None], tf.float32),
                    tf.TensorSpec([None], tf.float32)]
            functions["gradients"] = tf.function(gradients, input_signature=spec, autograph=False)
        self.gradients = functions["gradients"]

    def attributions(self, seqs: list[np.ndarray], directions: np.ndarray, steps: int,
                     packed: list[np.ndarray] | None = None) -> list[tuple]:
        """Per text: (attribution of each token the network reads, logit at the baseline, logit), where
        its "logit" is its row of ``directions`` (texts x outputs) times the half's logits. packed:
        the texts' ids as the model reads them, for the unknown words' subword vectors."""
        if self.max_length is not None:
            seqs = keep_tokens(seqs, self.max_length, self.config.truncating)
        alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)  # midpoints of the path
        per_call = max(1, IG_TOKENS // (steps * max(max((len(s) for s in seqs), default=1), 1)))
        out = [None] * len(seqs)
        order = np.argsort([len(s) for s in seqs], kind="stable")
        for start in range(0, len(seqs), per_call):
            idx = order[start:start + per_call]
            ids = pad([seqs[i] for i in idx])
            mask = ids > 0
            x = self.vectors[ids]
            if self.subwords is not None:
                x = self.subword_vectors(x, pad([packed[i] for i in idx]))
            x = x * mask[:, :, None]
            g = len(idx)
            # each text's path points, then its text itself (alpha 1) and the baseline (alpha 0)
            a = np.concatenate([alphas, [1.0, 0.0]]).astype(np.float32)
            xs = np.repeat(x, len(a), axis=0)
            direction = np.repeat(np.asarray(directions, np.float32)[idx], len(a), axis=0)
            grads, chosen = self.gradients(xs, np.repeat(mask, len(a), axis=0), direction, np.tile(a, g))
            grads = grads.numpy().reshape(g, len(a), *x.shape[1:])[:, :steps].mean(axis=1)
            chosen = chosen.numpy().reshape(g, len(a))
            per_token = (grads * x).sum(axis=2)
            for j, i in enumerate(idx):
                n = len(seqs[i])
                out[i] = (per_token[j, :n].astype(np.float64), float(chosen[j, -1]), float(chosen[j, -2]))
        return out

    def subword_vectors(self, x: np.ndarray, packed: np.ndarray) -> np.ndarray:
        """The word vectors with the unknown words' made from their spelling, by the layer's
        NumPy twin (npmodel.unknown_word_vectors) and its weights."""
        layer = self.subwords
        return unknown_word_vectors(x, packed, *self.subword_weights, layer.buckets, layer.offset, layer.max_length,
                                    layer.truncating)


def network_logits(layers, vectors, mask):
    """rnn_logits of word vectors (batch, length, dim) with their padding mask, through the
    network's layers after its embedding: (recurrent layers, mean_pool or None, head, rnn_logits)."""
    recurrent, pool, head, logits = layers
    x = vectors
    for layer in recurrent:
        x = layer(x, mask=mask, training=False)
    if pool is not None:
        x = pool(x, mask=mask)
    return logits(head(x))


def explain_texts(run: Run, texts: list[str], steps: int = IG_STEPS,
                  ids: list[str] | None = None) -> list[Explanation]:
    """Explanations of ``texts`` by ``run`` (see the module's docstring), each with its id from ``ids``."""
    return Explainer(run, steps).explain(texts, ids)


# ---- HTML: one page, no network ----
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sentiment-cli explain: {run}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }}
.text {{ border-top: 1px solid #ccc; padding: 1em 0; }}
.head {{ font-weight: bold; margin-bottom: .5em; }}
.words span {{ padding: 0 .15em; border-radius: .2em; line-height: 1.9; }}
.legend span {{ padding: .1em .5em; margin-right: .5em; border-radius: .2em; }}
table {{ border-collapse: collapse; margin-top: .5em; font-size: .9em; }}
td, th {{ padding: .1em .6em; text-align: right; }} td:first-child, th:first-child {{ text-align: left; }}
</style></head><body>
<h1>Why {run} labelled these texts</h1>
<p class="legend">Each word is shaded by its weight: <span style="background:{pos}">toward {toward}</span>
<span style="background:{neg}">{against}</span> (the stronger the colour, the larger the weight; the
n-gram half's weights are shared over their words, the network's come from integrated gradients). Hover a
word for its figures.</p>
{body}
</body></html>
"""


def _shade(weight: float, largest: float) -> str:
    strength = 0.0 if largest <= 0 else min(abs(weight) / largest, 1.0)
    colour = "0, 160, 60" if weight > 0 else "220, 40, 40"
    return f"rgba({colour}, {0.85 * strength:.3f})"


def html_page(explanations: list[Explanation], run_name: str, top: int = 10) -> str:
    """One self-contained page: each text with its words shaded by their total weight."""
    parts = []
    for e in explanations:
        largest = max((abs(w.total) for w in e.words), default=0.0)
        words = " ".join(
            f'<span style="background:{_shade(w.total, largest)}" title="n-grams {w.ngram:+.3f}, network '
            f'{w.network:+.3f}, total {w.total:+.3f}">{html.escape(w.token)}</span>' for w in e.words)
        rows = "".join(f"<tr><td>{html.escape(w.token)}</td><td>{w.ngram:+.3f}</td><td>{w.network:+.3f}</td>"
                       f"<td>{w.total:+.3f}</td></tr>" for w in e.top_words(top))
        grams = "".join(f"<tr><td>{html.escape(g['ngram'])}</td><td>{g['weight']:+.3f}</td></tr>"
                        for g in e.ngrams[:top])
        head = f"{html.escape(e.label)} ({e.probability:.3f})"
        if e.against is not None:
            head += f" against the runner-up {html.escape(e.against)}"
        if e.id is not None:
            head = f"id {html.escape(e.id)}: {head}"
        logit = "logit" if e.against is None else f"logit({html.escape(e.label)}) - logit({html.escape(e.against)})"
        parts.append(
            f'<div class="text"><div class="head">{head}</div>'
            f'<div class="words">{words}</div>'
            f"<table><tr><th>word</th><th>n-grams</th><th>network</th><th>total</th></tr>{rows}</table>"
            + (f"<table><tr><th>n-gram</th><th>weight</th></tr>{grams}</table>" if grams else "")
            + f"<div>bias {e.bias:+.3f}, integrated gradients' gap {e.gap:+.3f}, {logit} {e.logit:+.3f}</div></div>")
    towards = {e.toward for e in explanations}
    toward = html.escape(towards.pop()) if len(towards) == 1 else "each text's label"
    against = f"against {toward}"
    if any(e.against is not None for e in explanations):  # three or more classes: label against runner-up
        toward, against = "each text's label", "toward its runner-up (the next most probable label)"
    return _PAGE.format(run=html.escape(run_name), toward=toward, against=against, pos=_shade(1, 1),
                        neg=_shade(-1, 1), body="\n".join(parts))


def write_html(path, explanations: list[Explanation], run_name: str, top: int = 10) -> None:
    """The page at ``path``, appearing only once complete."""
    with atomic_output(path, newline="\n") as handle:
        handle.write(html_page(explanations, run_name, top))
