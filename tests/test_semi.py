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
        # Make the model predict one class for everything: validation accuracy drops to 0.5.
        weights = result.model.get_layer("output").get_weights()
        result.model.get_layer("output").set_weights([np.zeros_like(weights[0]), np.full_like(weights[1], 50.0)])
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
