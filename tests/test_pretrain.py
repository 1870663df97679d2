"""Pretraining of the network half (fit/pretrain.py): it learns, it is carried over, it resumes."""

import json

import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY, invoke, texts, write_labeled

from sentiment_cli.config import TrainConfig
from sentiment_cli.encoding import Encoder, pad
from sentiment_cli.fit import pretrain as pretraining
from sentiment_cli.fit.pretrain import PretrainOptions, pretrain
from sentiment_cli.model import build_model
from sentiment_cli.training import seed_everything


class Folder:
    """What pretrain asks of a workspace: files and an atomic state."""

    def __init__(self, path):
        self.path = path

    def file(self, name):
        return self.path / name

    def state(self):
        path = self.path / "state.json"
        return json.loads(path.read_text()) if path.exists() else None

    def commit(self, state):
        (self.path / "state.json").write_text(json.dumps(state))


def setup(**overrides):
    positive, negative = texts(4)
    config = TrainConfig(vocab_size=60, max_length=12, embedding_dim=8, hidden_size=8, batch_size=8, seed=3,
                         labels=["0", "1"], **overrides)
    encoder = Encoder.from_config(config)
    encoder.fit(positive + negative, config.vocab_size)
    seed_everything(config.seed)
    model = build_model(config, len(encoder.tokenizer), ngram_buckets=256)
    return config, encoder, model, encoder.sequences(positive + negative)


def test_pretraining_lowers_the_language_model_loss(monkeypatch):
    config, encoder, model, seqs = setup(lr=0.01)
    vocab = len(encoder.tokenizer)
    learned = {}
    copy_into = pretraining.LanguageModel.copy_into
    monkeypatch.setattr(pretraining.LanguageModel, "copy_into",
                        lambda self, target: learned.setdefault("lm", self) and copy_into(self, target))

    def exact_loss(lm):  # the full softmax over every token: no sampling
        return float(lm.loss(tf.constant(pad(seqs)), tf.range(1, vocab), tf.zeros(vocab)))

    untrained = exact_loss(pretraining.LanguageModel(config, vocab, model.get_layer("embedding").get_weights()[0]))
    found = pretrain(model, config, seqs, vocab, PretrainOptions(epochs=40, minutes=0))["pretrained"]
    assert found["steps"] == found["steps_planned"] == 40 * 10  # 80 texts in batches of 8
    assert found["tokens"] > 0 and not found["stopped_by_budget"]
    # a few words in a few patterns: a language model that learns predicts them far better (3.5 -> 1.3)
    assert exact_loss(learned["lm"]) < 0.6 * untrained
    assert found["loss_last"] < found["loss_first"]


def test_the_classifier_starts_from_the_pretrained_weights(monkeypatch):
    config, encoder, model, seqs = setup()
    before = model.get_layer("bilstm_1").get_weights()
    carried = {}
    copy_into = pretraining.LanguageModel.copy_into

    def spy(self, target):
        carried["recurrent"] = self.recurrent.get_weights()
        carried["embedding"] = self.embedding.get_weights()
        return copy_into(self, target)

    monkeypatch.setattr(pretraining.LanguageModel, "copy_into", spy)
    found = pretrain(model, config, seqs, len(encoder.tokenizer), PretrainOptions(epochs=3, minutes=0))
    assert found["pretrained"]["layers"] == ["embedding", "bilstm_1"]
    after = model.get_layer("bilstm_1").get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))  # it changed the classifier ...
    for a, b in zip(after, carried["recurrent"]):  # ... into exactly what the language model learned
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0], carried["embedding"][0])


def test_an_interrupted_pretraining_resumes_to_where_an_uninterrupted_one_ends(tmp_path):
    config, encoder, whole, seqs = setup()
    pretrain(whole, config, seqs, len(encoder.tokenizer), PretrainOptions(epochs=2, minutes=0))

    folder = Folder(tmp_path)
    config, encoder, first, seqs = setup()
    with pytest.raises(KeyboardInterrupt):
        pretrain(first, config, seqs, len(encoder.tokenizer), PretrainOptions(epochs=2, minutes=0), folder,
                 stop_after=7)
    assert folder.state()["pretrain"]["steps"] == 7
    config, encoder, resumed, seqs = setup()  # a new process builds the same model, then resumes
    found = pretrain(resumed, config, seqs, len(encoder.tokenizer), PretrainOptions(epochs=2, minutes=0), folder)
    assert found["pretrained"]["steps"] == 20
    for name in ("embedding", "bilstm_1"):
        for a, b in zip(whole.get_layer(name).get_weights(), resumed.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_budget_stops_it_and_the_run_says_so():
    config, encoder, model, seqs = setup()
    found = pretrain(model, config, seqs, len(encoder.tokenizer), PretrainOptions(epochs=1000, minutes=1e-9))
    assert found["pretrained"]["stopped_by_budget"] and found["pretrained"]["steps"] == 1


def test_train_pretrains_on_the_unlabeled_texts_and_records_it(tmp_path):
    unlabeled = tmp_path / "more.txt"
    positive, negative = texts(6)
    # 40 new texts, and the 40 labeled ones again: the 4 that validate must stay out of the pretraining
    unlabeled.write_text("\n".join(positive[40:] + negative[40:] + positive[:20] + negative[:20]) + "\n",
                         encoding="utf-8")
    result = invoke("train", "lm", "--train", write_labeled(tmp_path / "train.txt"), "--unlabeled", unlabeled,
                    "--models-dir", tmp_path / "models", "--pretrain", "lm", "--pretrain-epochs", "2", *TINY)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "models" / "lm" / "metrics.json").read_text())
    found = metrics["pretrained"]
    # 36 training texts and 40 + 36 unlabeled (the 4 validation texts never), batches of 8, 2 passes
    assert found["texts"] == 112 and found["steps"] == 2 * 14
    assert "pretraining" in " ".join(metrics["seconds_by_stage"])
    config = json.loads((tmp_path / "models" / "lm" / "config.json").read_text())["hyperparameters"]
    assert config["pretrain"] == "lm" and config["pretrain_epochs"] == 2


def test_pretraining_a_model_without_a_network_is_refused(tmp_path):
    result = invoke("train", "x", "--train", write_labeled(tmp_path / "train.txt"), "--models-dir",
                    tmp_path / "models", "--model", "ngram", "--pretrain", "lm", *TINY)
    assert result.exit_code != 0 and "--model ngram has none" in result.output
    assert not (tmp_path / "models" / "x").exists()
