"""tune: a search of tiny trials saves a normal run, writes its trials, resumes, refuses bad budgets."""

import csv
import dataclasses
import json
import time

import keras

import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import tune as tune_module

# Tiny trials: the sizes are pinned (given), so the search draws the model, cell, layers, dropout,
# learning rate and n-gram settings only. Word2Vec is off to keep each trial to a few seconds.
TUNE_TINY = [*TINY, "--no-pretrain-embeddings"]


def read_trials(run_dir):
    with open(run_dir / "trials.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_tune_saves_a_run_that_test_reads_with_its_trials(tmp_path):
    labeled = write_labeled(tmp_path / "train.txt")
    models = tmp_path / "models"
    result = invoke("tune", "best", "--train", labeled, "--budget", "5m", "--trials", "2", "--models-dir", models,
                    "--json", *TUNE_TINY)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    run_dir = models / "best"
    assert summary["run"] == str(run_dir)
    rows = read_trials(run_dir)
    assert [row["trial"] for row in rows] == ["0", "1"]
    assert rows[0]["defaults"] == "True" and rows[0]["model"] == "hybrid"  # trial 0: train's defaults
    assert {row["state"] for row in rows} <= {"complete", "pruned"}
    assert summary["defaults_trial"] == 0 and 0 <= summary["defaults_val_accuracy"] <= 1
    assert summary["best_val_accuracy"] >= summary["defaults_val_accuracy"]
    assert "in-sample" in summary["note"] and 0 <= summary["best_val_accuracy_out_of_fold"] <= 1
    assert float(rows[0]["val_accuracy_out_of_fold"]) == pytest.approx(summary["defaults_val_accuracy_out_of_fold"],
                                                                       abs=1e-6)
    assert float(rows[0]["val_accuracy"]) == pytest.approx(summary["defaults_val_accuracy"], abs=1e-6)
    assert summary["search"]["pruner_warmup_steps"] == 2
    assert (run_dir / "tune.png").stat().st_size > 0
    assert json.loads((run_dir / "tune.json").read_text())["best_trial"] == summary["best_trial"]
    assert [p.name for p in models.iterdir()] == ["best"]  # the workspace and the trials' runs are gone
    # the saved run is the best trial's: its settings, and the defaults' pinned sizes
    hyper = json.loads((run_dir / "config.json").read_text())["hyperparameters"]
    assert hyper["embedding_dim"] == 4 and hyper["max_length"] == 8
    assert all(hyper[k] == v for k, v in summary["best_params"].items())
    predicted = invoke("test", "best", "--input", labeled, "--output", tmp_path / "out.csv", "--models-dir", models)
    assert predicted.exit_code == 0, predicted.output
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 41  # header + 40 rows
    again = invoke("tune", "best", "--train", labeled, "--budget", "5m", "--models-dir", models, *TUNE_TINY)
    assert again.exit_code == 1 and "already exists" in again.output


def test_resume_runs_only_the_trials_not_finished(tmp_path, monkeypatch):
    labeled = write_labeled(tmp_path / "train.txt")
    models = tmp_path / "models"
    calls = []
    real = tune_module.train_run

    spent_at_interrupt = []

    def interrupted_second(job, options):
        calls.append(job.name)
        if len(calls) == 2:
            spent_at_interrupt.append(read_spent(models))  # committed when trial 0 ended
            time.sleep(0.3)
            raise KeyboardInterrupt  # as Ctrl-C in the middle of trial 1
        return real(job, options)

    monkeypatch.setattr(tune_module, "train_run", interrupted_second)
    first = invoke("tune", "r", "--train", labeled, "--budget", "5m", "--trials", "2", "--models-dir", models,
                   *TUNE_TINY)
    assert first.exit_code == 1  # click's Abort on Ctrl-C
    assert not (models / "r").exists() and (models / ".r.work" / "state.json").is_file()
    assert spent_at_interrupt and read_spent(models) >= spent_at_interrupt[0] + 0.3  # trial 1's time counts
    (models / ".r.work" / "run").mkdir()
    (models / ".r.work" / "run" / "stale.txt").write_text("left by an interrupted write_run")

    calls.clear()
    monkeypatch.setattr(tune_module, "train_run", lambda job, options: calls.append(job.name) or real(job, options))
    changed = invoke("tune", "r", "--resume", "--models-dir", models, "--seed", "8")
    assert changed.exit_code == 1 and "seed: 7 -> 8" in changed.output
    resumed = invoke("tune", "r", "--resume", "--models-dir", models, "-q")
    assert resumed.exit_code == 0, resumed.output
    assert calls == ["trial-2"]  # trial 0 was not trained again; trial 1's settings were, as trial 2
    rows = read_trials(models / "r")
    assert [(row["trial"], row["state"]) for row in rows][0] == ("0", "complete")
    assert rows[1]["state"] == "fail" and rows[2]["note"] == "retry of trial 1"
    assert rows[1]["note"] == "interrupted; tried again as trial 2" and rows[1]["val_accuracy"] == ""
    assert not (models / "r" / "stale.txt").exists()  # run/ was written anew
    assert {k: rows[1][k] for k in ("model", "lr")} == {k: rows[2][k] for k in ("model", "lr")}


def read_spent(models):
    return json.loads((models / ".r.work" / "state.json").read_text())["spent"]


def test_ctrl_c_in_a_trial_prints_no_train_resume_hint(tmp_path, monkeypatch):
    labeled = write_labeled(tmp_path / "train.txt")
    real = tune_module.train_run

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # after the trial's training committed its first epoch

    monkeypatch.setattr(tune_module, "train_run", lambda job, options: real(
        job, dataclasses.replace(options, callbacks=(*options.callbacks, CtrlC()))))
    result = invoke("tune", "c", "--train", labeled, "--budget", "5m", "--models-dir", tmp_path / "models",
                    *TUNE_TINY)
    assert result.exit_code == 1
    assert "sentiment-cli train" not in result.output  # the trial's own `train --resume` hint is not shown
    assert not (tmp_path / "models" / ".c.work").exists()  # nothing committed by the tune: discarded


# ---- the search's bookkeeping, on in-memory studies ----

def _study():
    optuna = tune_module._optuna()
    return optuna, optuna.create_study(direction="maximize", pruner=tune_module.make_pruner(optuna))


def _search(tmp_path, study, optuna, best_run=None):
    search = tune_module.Search.__new__(tune_module.Search)
    search.optuna, search.study, search.progress = optuna, study, False
    search.trials_dir = tmp_path / "trials"
    search.trials_dir.mkdir()
    search.state = {"best_run": best_run}
    return search


def test_the_journal_decides_which_trial_run_is_kept(tmp_path):
    optuna, study = _study()
    assert tune_module.kept_run(study) is None
    complete, pruned = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
    study.add_trial(optuna.trial.create_trial(value=0.7, state=complete))
    study.add_trial(optuna.trial.create_trial(state=pruned, intermediate_values={1: 0.9}))
    study.add_trial(optuna.trial.create_trial(value=0.8, state=complete))
    assert tune_module.kept_run(study) == "trial-2"
    # killed after tell(trial 2) and before the commit: state.json still names trial 0
    search = _search(tmp_path, study, optuna, best_run="trial-0")
    for name in ("trial-0", "trial-2", ".trial-3.work"):
        (search.trials_dir / name).mkdir()
    search._clean_trials_dir()
    assert [p.name for p in search.trials_dir.iterdir()] == ["trial-2"] and search.state["best_run"] == "trial-2"


def test_the_pruner_never_prunes_at_the_first_epoch():
    optuna, study = _study()
    for _ in range(tune_module.PRUNER_STARTUP_TRIALS):
        study.add_trial(optuna.trial.create_trial(value=0.9, state=optuna.trial.TrialState.COMPLETE,
                                                  intermediate_values={1: 0.9, 2: 0.9}))
    trial = study.ask()
    trial.report(0.1, 1)  # TrialMonitor's step of the first epoch
    assert not trial.should_prune()
    trial.report(0.1, 2)
    assert trial.should_prune()


def test_an_interrupted_trial_is_tried_again_once(tmp_path):
    optuna, study = _study()
    first = study.ask()
    first.set_user_attr("defaults", True)
    first.set_user_attr("seconds", 3.0)
    retry = study.ask()
    retry.set_user_attr("retry_of", 0)
    _search(tmp_path, study, optuna)._retry_interrupted()
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.FAIL] * 2 + [optuna.trial.TrialState.WAITING]
    assert study.trials[2].user_attrs == {"defaults": True, "retry_of": 0}  # not trial 0's figures
    rows = tune_module.trial_rows(study.trials, [])
    assert [row["note"] for row in rows[:2]] == ["interrupted; tried again as trial 2",
                                                 "retry of trial 0; interrupted; not tried again"]


def test_trials_csv_keeps_the_network_half_apart():
    optuna, study = _study()
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED,
                                              intermediate_values={1: 0.6, 2: 0.55}))
    study.add_trial(optuna.trial.create_trial(value=0.8, state=optuna.trial.TrialState.COMPLETE,
                                              intermediate_values={1: 0.7},
                                              user_attrs={"val_accuracy_out_of_fold": 0.75}))
    columns = ("val_accuracy", "network_val_accuracy", "val_accuracy_out_of_fold")
    pruned, complete = tune_module.trial_rows(study.trials, [])
    assert [pruned[k] for k in columns] == ["", 0.55, ""]  # the half's figure is not the objective
    assert [complete[k] for k in columns] == [0.8, 0.7, 0.75]


@pytest.mark.parametrize("budget", ["20", "twenty minutes", "0m", "5x"])
def test_a_bad_budget_is_refused(tmp_path, budget):
    result = invoke("tune", "r", "--train", write_labeled(tmp_path / "train.txt"), "--budget", budget,
                    "--models-dir", tmp_path / "models")
    assert result.exit_code == 2
    assert "Invalid value for '--budget'" in result.output and "such as 90s, 20m" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "models").exists()


def test_budget_strings():
    from sentiment_cli.config import parse_duration

    assert [parse_duration(t) for t in ("90s", "20m", "1h", "1h30m", "1.5h")] == [90, 1200, 3600, 5400, 5400]


def test_a_missing_train_file_is_one_line(tmp_path):
    result = invoke("tune", "r", "--train", tmp_path / "none.txt", "--models-dir", tmp_path / "models", "-q")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {tmp_path / 'none.txt'}: no such file. Give the labeled "
                                                  "data with --train FILE"]


def test_optuna_loads_only_for_tune():
    import subprocess
    import sys

    probe = ("import sys\nfrom sentiment_cli.cli import cli\ntry:\n    cli(sys.argv[1:], standalone_mode=False)\n"
             "finally:\n    print('optuna' in sys.modules, file=sys.stderr)")
    for args in (["--help"], ["test", "--help"], ["tune", "--help"]):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr.strip().endswith("False"), (args, done.stderr)
