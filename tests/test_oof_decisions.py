"""The out-of-fold predictions of a cross-validated run (train --folds) make the later decisions:
semi's rounds are judged on them, tune's trials are scored by them."""

import csv
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import NEGATIVE, POSITIVE, TINY, invoke

from sentiment_cli import runs, training
from sentiment_cli.encoding import text_hash
from sentiment_cli.model import halves, mix_params
from sentiment_cli.semi import rounds as semi_rounds
from test_folds import FOLDED, labeled


@pytest.fixture(scope="module")
def cv_base(tmp_path_factory):
    """A tiny hybrid run cross-validated on 3 folds, and unlabeled text (two lines equal labeled texts)."""
    root = tmp_path_factory.mktemp("oof")
    path, rows = labeled(root / "train.txt", copies=2)
    unlabeled = root / "more.txt"
    unlabeled.write_text("\n".join([f"{t} again" for t in POSITIVE + NEGATIVE] + [rows[0][1], rows[-1][1]]) + "\n")
    result = invoke("train", "cv", "--train", path, "--models-dir", root / "models", *FOLDED, "--folds", "3",
                    "--no-pretrain-embeddings")
    assert result.exit_code == 0, result.output
    return root, rows


@pytest.fixture
def models(cv_base, tmp_path):
    shutil.copytree(cv_base[0] / "models", tmp_path / "models")
    return tmp_path / "models"


def semi(cv_base, models, *more):
    return invoke("semi", "cv", "--unlabeled", cv_base[0] / "more.txt", "--models-dir", models, "--select", "rank",
                  *more)


def test_semi_on_a_cross_validated_run_trains_each_fold_and_judges_out_of_fold(cv_base, models, monkeypatch):
    root, rows = cv_base
    oof = json.loads((models / "cv" / runs.OOF_FILE).read_text())
    fold_of = dict(zip(oof["hash"], oof["fold"]))
    labeled_hashes = {text_hash(t) for _, t in rows}
    trainings, judged, taught, chosen = [], [], [], []
    real_train, real_judge = training.train, semi_rounds.worse_beyond_noise
    real_logits, real_choose = training.halves_logits, semi_rounds._choose
    trained_on = {}  # a fold model's id -> the rows it trained on

    def spy_train(config, data, *args, **kwargs):
        trainings.append(data)
        made = real_train(config, data, *args, **kwargs)
        trained_on[id(made.fitted)] = data
        return made

    def spy_logits(model, seqs, *args, **kwargs):  # a fold model labeling the unlabeled text: a teacher
        out = real_logits(model, seqs, *args, **kwargs)
        if len(seqs) == len(POSITIVE + NEGATIVE):
            taught.append((trained_on[id(model)], out))
        return out

    def spy_choose(rounds, logits, probs):
        made = real_choose(rounds, logits, probs)
        chosen.append((logits, {name: [rounds.unlabeled[i] for i in idx] for name, (idx, _) in made[2].items()}))
        return made

    def spy_judge(new, old, y):
        judged.append((new, old, y))
        return real_judge(new, old, y)

    monkeypatch.setattr(training, "train", spy_train)
    monkeypatch.setattr(semi_rounds, "worse_beyond_noise", spy_judge)
    monkeypatch.setattr(training, "halves_logits", spy_logits)
    monkeypatch.setattr(semi_rounds, "_choose", spy_choose)
    result = semi(cv_base, models, "--rounds", "1")
    assert result.exit_code == 0, result.output
    assert "each round trains 3 fold models and the final one (4 trainings" in result.stderr
    assert "round 1: 3 fold trainings and the final one" in result.stderr
    assert "2 unlabeled text(s) equal labeled texts and are left out" in result.stderr
    # train's plan line and its --model ngram note name options semi has not: train's alone
    assert "(--folds off)" not in result.stderr and "--model ngram would take" not in result.stderr

    # the base run's 3 fold models trained again (the teachers of round 1), then the round's K + 1
    # trainings: 3 folds, each holding out one of the base run's folds, then the final model on every row
    assert "the base run's 3 fold models are not saved; training them again once" in result.stderr
    assert len(trainings) == 7 and not any(data.extra for data in trainings[:3])
    for k, data in enumerate(trainings[3:6]):
        held = {text_hash(t) for t in data.val_texts}
        assert {fold_of[h] for h in held} == {k}
        pseudo = [t for texts, _ in data.extra.values() for t in texts]
        assert pseudo and not {text_hash(t) for t in pseudo} & (held | labeled_hashes)
    assert len(trainings[6].train_texts) == len(rows) and not trainings[6].val_texts

    # fold k's pseudo-labels were chosen from the logits of a model that never trained on fold k's
    # rows (the final model trained on all of them and would hand fold k its own labels through
    # near-copies); the first choice is the final model's, from the base run's model
    assert len(chosen) == 4 and len(taught) == 6  # the teachers', then the round's fold models' for round 2
    for k, (logits, picked) in enumerate(chosen[1:]):
        data, teacher = taught[k]
        assert np.allclose(logits, teacher)
        assert {name: texts for name, (texts, _) in trainings[3 + k].extra.items()} == picked  # what fold k learned
        assert {text_hash(t) for t in data.val_texts} == {h for h, f in fold_of.items() if f == k}
        assert not {fold_of[text_hash(t)] for t in data.train_texts} & {k}

    # the paired test compared the round's pooled out-of-fold predictions of every labeled row with the base run's
    assert len(judged) == 1
    new, old, y = judged[0]
    assert len(y) == len(rows) and list(y) == oof["y"]
    assert np.allclose(old, np.array(oof["probabilities"]), atol=1e-6)
    run = models / "cv-semi"
    metrics = json.loads((run / runs.METRICS_FILE).read_text())
    assert metrics["judged_on"] == "out-of-fold"
    assert metrics["start_val_accuracy"] == pytest.approx(np.mean(np.argmax(oof["probabilities"], axis=1) == y))
    assert metrics["rounds"][1]["val_accuracy"] == pytest.approx(np.mean(new.argmax(axis=1) == y), abs=1e-6)
    assert (run / runs.OOF_FILE).is_file() and runs.load_run(models, "cv-semi").config.labels == ["0", "1"]


def fake_round(probabilities_of):
    """A round whose training is skipped: the kept model again, with out-of-fold probabilities
    made from the true classes, so that only what acceptance reads decides the round."""

    def cross_validate(config, texts, y, folds, labels, unlabeled, options, out_dir, fold=None, extra=None,
                       encoder=None, fold_extra=None, teach=False, announce=True, final_model=True):
        model = runs.load_model(next(out_dir.parent.glob("round-*.keras")))
        # each fold's teacher: logits on the unlabeled text that give the rule something to rank
        logits = np.linspace(-2, 2, len(unlabeled))[:, None, None] * np.ones((1, len(halves(model)), 1))
        return SimpleNamespace(result=SimpleNamespace(model=model), probabilities=probabilities_of(np.asarray(y)),
                               oof={"fake": True, "mix": list(mix_params(model))},
                               teachers=np.stack([logits] * folds))
    return cross_validate


def test_semi_accepts_and_rolls_back_by_the_out_of_fold_figures(cv_base, models, monkeypatch):
    # The same model each round: judged on validation rows (or by the model itself) the rounds would
    # tie; only the out-of-fold figures, made all wrong and then all right, tell them apart.
    wrong = lambda y: np.eye(2)[1 - y] * 0.98 + 0.01
    monkeypatch.setattr(training, "cross_validate", fake_round(wrong))
    result = semi(cv_base, models, "--rounds", "2", "-q")
    assert result.exit_code == 0, result.output
    metrics = json.loads((models / "cv-semi" / runs.METRICS_FILE).read_text())
    assert metrics["kept_round"] == 0 and [r["accepted"] for r in metrics["rounds"]] == [True, False]
    assert "worse beyond noise on every labeled row out of fold" in metrics["stopped"]

    right = lambda y: np.eye(2)[y] * 0.98 + 0.01
    monkeypatch.setattr(training, "cross_validate", fake_round(right))
    result = semi(cv_base, models, "--rounds", "1", "-q", "--overwrite")
    assert result.exit_code == 0, result.output
    metrics = json.loads((models / "cv-semi" / runs.METRICS_FILE).read_text())
    assert metrics["kept_round"] == 1 and metrics["best_val_accuracy"] == 1.0
    assert "out-of-fold accuracy" in result.stdout
    assert json.loads((models / "cv-semi" / runs.OOF_FILE).read_text())["fake"] is True


def test_tune_scores_a_cross_validated_trial_by_its_out_of_fold_accuracy(tmp_path, monkeypatch):
    path, rows = labeled(tmp_path / "train.txt", copies=2)
    models = tmp_path / "m"
    seen = []
    real = training.cross_validate

    def spy(*args, **kwargs):
        made = real(*args, **kwargs)
        seen.append(made.result.metrics["cross_validation"]["accuracy_pooled"])
        return made

    monkeypatch.setattr(training, "cross_validate", spy)
    result = invoke("tune", "t", "--train", path, "--models-dir", models, "--model", "ngram", "--trials", "1",
                    "--budget", "2m", "--seed", "7", "--vocab-size", "60", "--ngram-buckets", "256", "--folds", "3")
    assert result.exit_code == 0, result.output
    assert "each trial cross-validates on 3 folds: 4 small trainings" in result.stderr
    summary = json.loads((models / "t" / runs.TUNE_FILE).read_text())
    assert len(seen) == 1 and summary["best_val_accuracy"] == pytest.approx(seen[0])
    assert summary["objective"].startswith("pooled out-of-fold accuracy")
    assert (models / "t" / runs.OOF_FILE).is_file()


def test_semi_on_a_cross_validated_run_resumes_after_its_last_committed_round(cv_base, models, monkeypatch):
    right = fake_round(lambda y: np.eye(2)[y] * 0.9 + 0.05)
    calls = []

    def stopped_in_round_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the base run's fold models (the teachers), round 1, then round 2
            raise KeyboardInterrupt
        return right(*args, **kwargs)

    monkeypatch.setattr(training, "cross_validate", stopped_in_round_two)
    assert semi(cv_base, models, "--rounds", "2", "-q").exit_code == 1  # click: Aborted!
    state = json.loads((models / ".cv-semi.work" / "state.json").read_text())
    assert state["completed_rounds"] == 1 and state["kept_oof_file"] == "oof-1.npy"
    assert state["teachers_file"] == "teachers-1.npz"  # round 2's teachers, read back, not trained again

    calls.clear()
    monkeypatch.setattr(training, "cross_validate", stopped_in_round_two)
    result = invoke("semi", "cv", "--models-dir", models, "--resume", "-q")
    assert result.exit_code == 0, result.output
    metrics = json.loads((models / "cv-semi" / runs.METRICS_FILE).read_text())
    assert [r["round"] for r in metrics["rounds"]] == [0, 1, 2] and metrics["kept_round"] == 2
    assert len(calls) == 1  # round 2 only: its teachers were read from the workspace
    assert metrics["rounds"][1]["val_accuracy"] == metrics["rounds"][2]["val_accuracy"] == 1.0


def test_semi_folds_train_the_epochs_the_base_run_asked_for_not_its_median(cv_base, models, monkeypatch):
    # As if the base run's folds had chosen 1 epoch of the 2 asked: config.json holds the median,
    # which taken again as the folds' maximum would shrink the epochs round after round.
    path = models / "cv" / runs.CONFIG_FILE
    record = json.loads(path.read_text())
    record["hyperparameters"]["epochs"] = 1
    path.write_text(json.dumps(record))
    choices = json.loads((models / "cv" / runs.METRICS_FILE).read_text())["cross_validation"]["choices"]
    assert choices["epochs_asked"] == 2
    epochs = []
    # what the folds are asked to train is the whole question: the trainings themselves are skipped
    # (test_semi_on_a_cross_validated_run_trains_each_fold_and_judges_out_of_fold runs them)
    fake = fake_round(lambda y: np.eye(2)[y] * 0.98 + 0.01)

    def spy(config, *args, **kwargs):
        epochs.append(config.epochs)
        return fake(config, *args, **kwargs)

    monkeypatch.setattr(training, "cross_validate", spy)
    result = semi(cv_base, models, "--rounds", "1", "-q")
    assert result.exit_code == 0, result.output
    assert epochs == [2, 2]  # the teachers' folds and round 1's


def test_semi_refuses_epochs_per_round_on_a_cross_validated_run(cv_base, models):
    result = semi(cv_base, models, "--epochs-per-round", "3")
    assert result.exit_code == 1
    assert "--epochs-per-round" in result.output and "--folds off" in result.output
    assert "Traceback" not in result.output and not (models / "cv-semi").exists()



def test_semi_on_a_cross_validated_run_accumulates_each_model_s_own_pseudo_labels(cv_base, models, monkeypatch):
    """With --pseudo-labels accumulate each model of a round, the final one and each fold's,
    learns from what its own teacher picked in this round and the rounds before: a fold never
    learns the final model's picks, and round 2 keeps round 1's."""
    from sentiment_cli.semi import selection

    queue = []  # by call of _choose: round r's final model (t = 0), then its folds' teachers (t = 1..3)
    for r in (1, 2):
        queue += [4 * (r - 1) + t for t in range(4)]

    def choose(state, logits, probs):
        i = queue.pop(0)  # a text of its own for every teacher and round, class 1 in round 1, 0 in 2
        chosen = {name: (np.array([i]), np.array([int(i < 4)])) for name in state.names}
        return (*selection.union(chosen.values(), len(state.unlabeled)), chosen)

    fake, seen = fake_round(lambda y: np.eye(2)[y] * 0.98 + 0.01), []

    def spy(*args, extra=None, fold_extra=None, **kwargs):
        if extra is not None:  # a round's trainings (not the base run's fold models, the first teachers)
            texts = args[5]
            seen.append([{name: {texts.index(t): int(c) for t, c in zip(*pair)} for name, pair in taught.items()}
                         for taught in [extra, *fold_extra]])
        return fake(*args, extra=extra, fold_extra=fold_extra, **kwargs)

    monkeypatch.setattr(semi_rounds, "_choose", choose)
    monkeypatch.setattr(training, "cross_validate", spy)
    result = semi(cv_base, models, "--rounds", "2", "-q", "--pseudo-labels", "accumulate")
    assert result.exit_code == 0, result.output
    names = halves(runs.load_run(models, "cv").model)
    assert seen[0] == [{name: {t: 1} for name in names} for t in range(4)]
    assert seen[1] == [{name: {t: 1, 4 + t: 0} for name in names} for t in range(4)]
