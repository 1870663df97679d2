import csv
import json
import shutil

import numpy as np
import pytest
from helpers import NEGATIVE, POSITIVE, TINY, invoke, write_labeled

from sentiment_cli import runs, semi


@pytest.fixture(scope="module")
def base_models(tmp_path_factory):
    """A confident base run (higher rate, more epochs), so that pseudo-labels pass the threshold."""
    root = tmp_path_factory.mktemp("semi")
    labeled = write_labeled(root / "train.txt")
    unlabeled = root / "nolabel.txt"
    unlabeled.write_text("\n".join(POSITIVE + NEGATIVE) + "\n")
    result = invoke("train", "base", "--train", labeled, "--models-dir", root / "models", *TINY,
                    "--lr", "0.03", "--epochs", "5", "--patience", "5")
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def setup(base_models, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(base_models / "models", models)
    common = ["--train", base_models / "train.txt", "--unlabeled", base_models / "nolabel.txt",
              "--models-dir", models, "-q", "--epochs-per-round", "1", "--threshold", "0.45"]
    return models, common


def read_rounds(path):
    return list(csv.DictReader(open(path)))


def test_rounds_run_and_are_reported(setup):
    models, common = setup
    result = invoke("semi", "base", "--rounds", "2", *common)
    assert result.exit_code == 0, result.output
    run = models / "base-semi"
    rows = read_rounds(run / semi.ROUNDS_FILE)
    assert [r["round"] for r in rows] == ["0", "1", "2"]
    for row in rows[1:]:
        assert int(row["pseudo_labels"]) == int(row["pseudo_0"]) + int(row["pseudo_1"])
        assert int(row["pseudo_labels"]) > 0
    assert rows[2]["agreement"] != ""
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    assert len(metrics["rounds"]) == 3
    assert metrics["best_val_accuracy"] >= metrics["start_val_accuracy"]
    # the base run is intact and the new run loads on its own
    assert runs.load_run(models, "base").path.name == "base"
    assert runs.load_run(models, "base-semi").config.labels == ["0", "1"]
    assert not (models / ".base-semi.inprogress").exists()


def test_a_bad_round_is_rolled_back(setup, monkeypatch):
    models, common = setup
    real = semi._train_round

    def sabotaged(config, labeled, run_dir, dm, model, extra, verbose):
        result = real(config, labeled, run_dir, dm, model, extra, verbose)
        # Make the (hybrid) model predict one class for everything: validation accuracy drops to 0.5.
        ngrams, rnn = result.model.get_layer("ngrams"), result.model.get_layer("rnn_logits")
        ngrams.weight.assign(np.zeros(ngrams.weight.shape, dtype="float32"))
        kernel, bias = rnn.get_weights()
        rnn.set_weights([np.zeros_like(kernel), np.full_like(bias, 50.0)])
        return result

    monkeypatch.setattr(semi, "_train_round", sabotaged)
    base_weights = runs.load_run(models, "base").model.get_weights()
    assert invoke("semi", "base", "--rounds", "1", *common).exit_code == 0
    rows = read_rounds(models / "base-semi" / semi.ROUNDS_FILE)
    assert rows[1]["accepted"] == "False"
    assert float(rows[1]["val_accuracy"]) < float(rows[0]["val_accuracy"])
    final = runs.load_run(models, "base-semi").model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(base_weights, final))


def test_interrupted_run_resumes_at_the_right_round(setup, monkeypatch):
    models, common = setup
    real = semi._train_round
    calls = []

    def interrupt_in_round_2(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(semi, "_train_round", interrupt_in_round_2)
    result = invoke("semi", "base", "--rounds", "3", *common)
    assert result.exit_code == 1 and "Aborted" in result.output  # click's answer to Ctrl-C
    work = models / ".base-semi.inprogress"
    assert json.loads((work / semi.STATE_FILE).read_text())["completed_rounds"] == 1
    assert not (models / "base-semi").exists()
    # without --resume the interrupted work is not silently discarded
    result = invoke("semi", "base", "--rounds", "3", *common)
    assert result.exit_code == 1 and "--resume" in result.output

    monkeypatch.setattr(semi, "_train_round", real)
    seen = []
    monkeypatch.setattr(semi, "_train_round", lambda *a: seen.append(1) or real(*a))
    assert invoke("semi", "base", "--rounds", "3", "--resume", *common).exit_code == 0
    assert len(seen) == 2  # rounds 2 and 3 only
    rows = read_rounds(models / "base-semi" / semi.ROUNDS_FILE)
    assert [r["round"] for r in rows] == ["0", "1", "2", "3"]
    metrics = json.loads((models / "base-semi" / runs.METRICS_FILE).read_text())
    assert [r["round"] for r in metrics["rounds"]] == [0, 1, 2, 3]  # typed, resumed rows too
    assert all(isinstance(r["accepted"], bool) for r in metrics["rounds"])


def test_semi_refuses_to_overwrite(setup):
    models, common = setup
    assert invoke("semi", "base", "--rounds", "1", *common).exit_code == 0
    result = invoke("semi", "base", "--rounds", "1", *common)
    assert result.exit_code == 1 and "already exists" in result.output


def test_pretrain_embeddings_retrains_the_start_on_all_text(setup, monkeypatch):
    models, common = setup
    seen = {}
    real = semi.train

    def spy(config, labeled, run_dir, **kwargs):
        if kwargs.get("initial_model") is None:  # round 0: a fresh model with Word2Vec on all the text
            seen["pretrain"] = config.pretrain_embeddings
            seen["unlabeled"] = len(kwargs["unlabeled_texts"])
        return real(config, labeled, run_dir, **kwargs)

    monkeypatch.setattr(semi, "train", spy)
    result = invoke("semi", "base", "--rounds", "1", "--pretrain-embeddings", *common)
    assert result.exit_code == 0, result.output
    assert seen == {"pretrain": True, "unlabeled": len(POSITIVE + NEGATIVE)}
    metrics = json.loads((models / "base-semi" / runs.METRICS_FILE).read_text())
    assert 0.0 <= metrics["pretrained_val_accuracy"] <= 1.0
    rows = read_rounds(models / "base-semi" / semi.ROUNDS_FILE)
    assert float(rows[0]["seconds"]) > 0
    # round 0 starts from whichever model validates better
    assert float(rows[0]["val_accuracy"]) == pytest.approx(
        max(metrics["start_val_accuracy"], metrics["pretrained_val_accuracy"]), abs=1e-6)


def test_resume_of_work_without_a_saved_round_is_refused(setup):
    models, common = setup
    (models / ".base-semi.inprogress").mkdir()
    result = invoke("semi", "base", "--resume", *common)
    assert result.exit_code != 0
    assert "nothing to resume" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output
