"""tune: a search of tiny trials saves a normal run, writes its trials, resumes, refuses bad budgets."""

import csv
import json

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

    def interrupted_second(job, options):
        calls.append(job.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as Ctrl-C in the middle of trial 1
        return real(job, options)

    monkeypatch.setattr(tune_module, "train_run", interrupted_second)
    first = invoke("tune", "r", "--train", labeled, "--budget", "5m", "--trials", "2", "--models-dir", models,
                   *TUNE_TINY)
    assert first.exit_code == 1  # click's Abort on Ctrl-C
    assert not (models / "r").exists() and (models / ".r.work" / "state.json").is_file()

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
    assert {k: rows[1][k] for k in ("model", "lr")} == {k: rows[2][k] for k in ("model", "lr")}


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
