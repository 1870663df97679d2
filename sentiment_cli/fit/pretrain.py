"""Pretraining of the network half on text without labels: a language model in both directions.

Dai & Le (2015) started an LSTM classifier from a language model trained on the unlabeled
reviews and gained 6 points on IMDB. Here the classifier's embedding and first recurrent layer
are trained, before the classifier sees a label, as ELMo-style language models: the forward
direction predicts each next token, the backward direction each previous one, so that neither
sees the token it predicts. The vocabulary's softmax is sampled (``SAMPLES`` tokens a step,
drawn from the unigram distribution to the power 0.75, with the usual log-probability
correction), which keeps a step about as cheap as a classifier's. Deeper recurrent layers, whose
input mixes both directions, start as they would without pretraining.

Every random draw is stateless, keyed by the seed and the step: a pretraining committed to a
workspace, killed and resumed ends with the weights an uninterrupted one ends with.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from sentiment_cli.config import TrainConfig
from sentiment_cli.encoding import keep_tokens, length_batches, pad
from sentiment_cli.progress import step as progress_step

SAMPLES = 512  # sampled softmax: negative tokens per step, shared by the batch's positions
COMMIT_SECONDS = 60.0  # a pretraining in a workspace commits its state about this often


@dataclass
class PretrainOptions:
    epochs: float = 1.0  # passes over the texts (a fraction stops part-way)
    minutes: float = 15.0  # the budget: it stops after the step that passes it (0: no budget)


def recurrent_name(config: TrainConfig) -> str:
    return f"bi{config.cell}_1" if config.bidirectional else f"{config.cell}_1"


class LanguageModel:
    """The embedding and first recurrent layer of a classifier's config, with output embeddings
    and biases for each direction."""

    def __init__(self, config: TrainConfig, vocab_size: int, embeddings=None):
        self.config, self.vocab_size = config, vocab_size
        keras.utils.set_random_seed(config.seed)
        self.embedding = layers.Embedding(vocab_size, config.embedding_dim, mask_zero=True)
        cell = layers.LSTM if config.cell == "lstm" else layers.GRU
        rnn = cell(config.hidden_size, return_sequences=True)
        self.recurrent = layers.Bidirectional(rnn, merge_mode=None) if config.bidirectional else rnn
        ids = np.ones((1, 2), np.int32)
        self.embedding.build((None, None))
        self.recurrent(self.embedding(ids))
        if embeddings is not None:
            self.embedding.set_weights([np.asarray(embeddings, np.float32)])
        directions = 2 if config.bidirectional else 1
        init = keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(config.hidden_size), seed=config.seed)
        self.softmax_w = [keras.Variable(init((vocab_size, config.hidden_size)), name=f"softmax_w_{d}")
                          for d in range(directions)]
        self.softmax_b = [keras.Variable(np.zeros(vocab_size, np.float32), name=f"softmax_b_{d}")
                          for d in range(directions)]
        self.trainable = (self.embedding.trainable_variables + self.recurrent.trainable_variables
                          + self.softmax_w + self.softmax_b)
        self.optimizer = keras.optimizers.Adam(config.lr)
        self.optimizer.build(self.trainable)

    @property
    def variables(self) -> list:
        return self.trainable + list(self.optimizer.variables)

    def states(self, ids, training: bool):
        mask = tf.not_equal(ids, 0)
        out = self.recurrent(self.embedding(ids), mask=mask, training=training)
        return out if isinstance(out, (list, tuple)) else [out]

    def loss(self, ids, sampled, log_q, training: bool = False):
        """Mean sampled-softmax loss over every predicted position of both directions.

        sampled: (S,) token ids drawn for this step; log_q: log of each token's sampling
        probability times S (the correction that makes the sampled softmax unbiased)."""
        ids = tf.cast(ids, tf.int32)
        total, count = 0.0, 0.0
        for d, h in enumerate(self.states(ids, training)):
            # forward states at t predict the token at t + 1, backward states at t the one at t - 1
            h, target = (h[:, :-1], ids[:, 1:]) if d == 0 else (h[:, 1:], ids[:, :-1])
            keep = tf.cast(tf.not_equal(target, 0), tf.float32)
            w, b = self.softmax_w[d], self.softmax_b[d]
            true_logit = tf.reduce_sum(h * tf.gather(w, target), -1) + tf.gather(b, target) - tf.gather(log_q, target)
            sampled_logits = tf.einsum("bth,sh->bts", h, tf.gather(w, sampled)) + tf.gather(b, sampled) \
                - tf.gather(log_q, sampled)
            # a sampled token equal to the target is not a negative ("remove accidental hits")
            hits = tf.equal(target[..., None], sampled[None, None, :])
            sampled_logits = tf.where(hits, tf.fill(tf.shape(sampled_logits), -1e9), sampled_logits)
            logits = tf.concat([true_logit[..., None], sampled_logits], -1)
            nll = tf.reduce_logsumexp(logits, -1) - true_logit
            total += tf.reduce_sum(nll * keep)
            count += tf.reduce_sum(keep)
        return total / tf.maximum(count, 1.0)

    def copy_into(self, model: keras.Model) -> list[str]:
        """Set the classifier's embedding and first recurrent layer to the pretrained ones."""
        name = recurrent_name(self.config)
        model.get_layer("embedding").set_weights(self.embedding.get_weights())
        model.get_layer(name).set_weights(self.recurrent.get_weights())
        return ["embedding", name]


def sampling_table(seqs: list[np.ndarray], vocab_size: int) -> np.ndarray:
    """The unigram distribution to the power 0.75 (word2vec's), over ids 1..; never padding."""
    counts = np.bincount(np.concatenate(seqs) if seqs else np.zeros(0, np.int64), minlength=vocab_size)
    counts = counts[:vocab_size].astype(np.float64) ** 0.75
    counts[0] = 0.0
    counts += (counts.sum() or 1.0) * 1e-9  # every real token can be drawn
    counts[0] = 0.0
    return counts / counts.sum()


def _batches(seqs: list[np.ndarray], config: TrainConfig, epochs: float) -> list[np.ndarray]:
    rng = np.random.default_rng([config.seed, 7])
    out = []
    for _ in range(math.ceil(epochs)):
        out.extend(length_batches(seqs, config.batch_size, rng))
    return out[:max(1, round(epochs * math.ceil(len(seqs) / config.batch_size)))] if seqs else []


def pretrain(model: keras.Model, config: TrainConfig, seqs: list[np.ndarray], vocab_size: int,
             options: PretrainOptions, workspace=None, progress: bool = False, stop_after: int | None = None) -> dict:
    """Pretrain a language model on ``seqs`` (token ids of texts without their labels' use),
    start ``model``'s embedding and first recurrent layer from it, and return what was done.

    With a workspace, the state is committed about every COMMIT_SECONDS and at the end, and a
    committed one is resumed. stop_after (tests) stops after that many steps as a kill would.
    """
    seqs = [s for s in keep_tokens(seqs, config.max_length, config.truncating) if len(s) > 1]
    lm = LanguageModel(config, vocab_size, model.get_layer("embedding").get_weights()[0])
    table = sampling_table(seqs, vocab_size)
    log_q = tf.constant(np.log(np.maximum(table * SAMPLES, 1e-30)), tf.float32)
    cumulative = tf.constant(np.cumsum(table), tf.float64)
    batches = _batches(seqs, config, options.epochs)
    state = _restore(lm, workspace, progress) or {"steps": 0, "seconds": 0.0, "losses": [], "done": False}
    seed = int(config.seed) % (2**31)

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((), tf.int64)],
                 reduce_retracing=True)
    def train_step(ids, step):
        u = tf.random.stateless_uniform((SAMPLES,), seed=tf.stack([tf.cast(seed, tf.int64), step]), dtype=tf.float64)
        sampled = tf.cast(tf.minimum(tf.searchsorted(cumulative, u), vocab_size - 1), tf.int32)
        with tf.GradientTape() as tape:
            loss = lm.loss(ids, sampled, log_q, training=True)
        grads = tape.gradient(loss, lm.trainable)
        lm.optimizer.apply_gradients(zip(grads, lm.trainable))
        return loss

    budget = options.minutes * 60 if options.minutes else math.inf
    started, last_commit = time.perf_counter() - state["seconds"], time.perf_counter()
    window = []
    with progress_step("pretraining (language model)", total=len(batches), unit="batches", enabled=progress) as bar:
        bar.update(state["steps"])
        while not state["done"] and state["steps"] < len(batches):
            idx = batches[state["steps"]]
            loss = float(train_step(pad([seqs[i] for i in idx]), tf.constant(state["steps"], tf.int64)))
            if not math.isfinite(loss):
                raise FloatingPointError("the language model's loss became NaN: lower --lr")
            window.append(loss)
            state["steps"] += 1
            state["seconds"] = time.perf_counter() - started
            bar.update(1)
            if len(window) == 50 or state["steps"] == len(batches):
                state["losses"].append(round(float(np.mean(window)), 4))
                window = []
            if state["seconds"] >= budget:
                state["stopped_by_budget"] = True
                break
            if stop_after is not None and state["steps"] >= stop_after:
                if workspace is not None:
                    _commit(lm, workspace, state)
                raise KeyboardInterrupt("stop_after")
            if workspace is not None and time.perf_counter() - last_commit >= COMMIT_SECONDS:
                _commit(lm, workspace, state)
                last_commit = time.perf_counter()
    state["done"] = True
    if workspace is not None:
        _commit(lm, workspace, state)
    layers_set = lm.copy_into(model)
    tokens = int(sum(len(seqs[i]) for idx in batches[:state["steps"]] for i in idx))
    return {"pretrained": {
        "what": "bidirectional language model (sampled softmax)" if config.bidirectional else "language model",
        "layers": layers_set, "texts": len(seqs), "steps": state["steps"], "steps_planned": len(batches),
        "tokens": tokens, "seconds": round(state["seconds"], 1),
        "stopped_by_budget": bool(state.get("stopped_by_budget", False)),
        "loss_first": state["losses"][0] if state["losses"] else None,
        "loss_last": state["losses"][-1] if state["losses"] else None,
    }}


def _commit(lm: LanguageModel, workspace, state: dict) -> None:
    """Commit the language model's variables and the pretraining's progress in one step."""
    name = f"pretrain-{state['steps']}.npz"
    tmp = workspace.file(f".{name}.partial.npz")
    np.savez(tmp, **{f"v{i}": np.asarray(v) for i, v in enumerate(lm.variables)})
    os.replace(tmp, workspace.file(name))
    whole = workspace.state() or {}
    previous = (whole.get("pretrain") or {}).get("file")
    workspace.commit({**whole, "pretrain": {**state, "file": name}})
    if previous and previous != name:
        workspace.file(previous).unlink(missing_ok=True)


def _restore(lm: LanguageModel, workspace, progress: bool) -> dict | None:
    saved = ((workspace.state() if workspace is not None else None) or {}).get("pretrain")
    if not saved:
        return None
    with np.load(workspace.file(saved["file"]), allow_pickle=False) as arrays:
        for i, v in enumerate(lm.variables):
            v.assign(arrays[f"v{i}"])
    state = {k: v for k, v in saved.items() if k != "file"}
    if progress and not state["done"]:
        print(f"resuming the pretraining after step {state['steps']}", file=sys.stderr)
    return state
