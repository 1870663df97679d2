"""tune: search a run's settings on its validation split within a time budget, and save the best.

The search is Optuna's (TPE sampler, median pruner), asked one trial at a time. Each trial is a
normal training, ``training.train_run``, of a run ``trial-N`` under the tune's workspace
(``models/.NAME.work/trials/``), with the same data file and seed, so every trial trains and is
judged on the same validation split (the split is drawn from the texts and the seed; each
trial's ``split.json`` is checked against the first's). Trial 0 is always the defaults: the
settings ``train`` would use with the options given, so the gain of the search is measured
inside it. The objective is the saved model's validation accuracy (``best_val_accuracy``); on
small data the trials cross-validate as `train` does (``--folds auto``), and the objective is
then the pooled out-of-fold accuracy of every row (a trial costs K + 1 small trainings, and
pruning, which compares one model's epochs, is off).

That objective is in-sample: each trial chooses its best epochs (and the n-gram half's C) and
fits the mix of the halves on the same validation rows that score it, and the search then picks
the best of many trials by it, so the best trial's accuracy, and its gain over the defaults, are
biased upward. ``tune.json`` says so, and records beside them each trial's
``val_accuracy_out_of_fold`` (the mix scored out-of-fold, see ``fit.mix``; its epochs and C are
still chosen on those rows); only data that no trial saw (``evaluate`` on a held-out labeled
file) measures the gain.

Pruning and the time limit act between the network half's epochs (a Keras callback reports each
epoch's validation accuracy of that half to the trial); an n-gram model has no epochs and is
never pruned, and the stages before the first epoch (vocabulary, Word2Vec, the n-gram half) run
to their end (the pruner never prunes at the first epoch). A new trial starts only while the
budget left is at least the median time of the complete trials (a pruned one stopped early).

The workspace is a ``Workspace`` of kind "tune": ``inputs.json`` (options, the data file and its
sha256), ``journal.log`` (Optuna's JournalStorage, JSON lines: the trials, their parameters and
values; no pickle, no database), ``state.json`` (committed after every trial, at each epoch and
when a trial is interrupted: time spent, budget), ``trials/`` (the best trial's run so far; the
others are removed) and ``run/``, which ``install`` renames to models/NAME: the best trial's run
with ``trials.csv``, ``tune.json`` and ``tune.png`` beside its files. The journal, not
state.json, says which trial is best (``kept_run``): a kill between the two leaves the journal's
best run in place, and the previous best's run is removed only after the commit. ``--resume``
reopens the journal: finished trials stay, a trial that was interrupted is marked failed and its
parameters are tried again once (a retry that is interrupted too stays failed, so settings that
crash the process are not tried on every resume).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

import numpy as np

from sentiment_cli import crossval, plots, runs
from sentiment_cli.config import CELLS, TrainConfig
from sentiment_cli.data import DataSpec, read_labeled, sort_labels
from sentiment_cli.encoding import text_hash
from sentiment_cli.errors import ConfigError, DataError, RunError
from sentiment_cli.training import RunOptions, TrainJob, describe, train_run
from sentiment_cli.workspace import Workspace, file_sha256, models_dir_option, work_path

INPUTS_VERSION = 1
JOURNAL_FILE = "journal.log"
TRIALS_DIR = "trials"

# What is searched, by the models it applies to. Settings given on the command line are kept as
# given (pinned) and not searched. The ranges hold the defaults (trial 0 runs them).
SEARCHED = ("model", "cell", "hidden_size", "layers", "embedding_dim", "dropout", "lr", "epochs", "max_length",
            "ngram", "ngram_min_count")
TUNED_MODELS = ("hybrid", "ngram", "rnn")
RECURRENT = ("rnn", "hybrid")  # cell, layers, embedding_dim, max_length
NETWORK = ("rnn", "hybrid", "bow")  # hidden_size, dropout, lr, epochs
NGRAMS = ("ngram", "hybrid")  # ngram, ngram_min_count
MAX_LENGTHS = (50, 100, 200, 400)
# Random trials before TPE models the results; the pruner waits for as many complete trials and
# never prunes at the first epoch: epochs are reported as steps from 1 (TrialMonitor), and Optuna's
# pruner skips the steps below n_warmup_steps, so 2 leaves step 1 (the first epoch) alone.
STARTUP_TRIALS = 5
PRUNER_STARTUP_TRIALS = 3
PRUNER_WARMUP_STEPS = 2
OUT_OF_FOLD = "val_accuracy_out_of_fold"  # of metrics.json (fit.mix): the mix scored out-of-fold
OBJECTIVE_NOTE = ("best_val_accuracy and gain_over_defaults are in-sample: each trial chose its epochs (and C) "
                  "and fitted its mix on the validation rows that score it, and the best of the trials was picked "
                  "by them, so both are biased upward. The *_out_of_fold figures score the mix out-of-fold (less "
                  "biased; the epochs are still chosen on those rows). Measure the gain on data no trial saw "
                  "(evaluate on a held-out labeled file).")
OBJECTIVE_NOTE_FOLDS = ("Each trial cross-validated (--folds): its value is the pooled out-of-fold accuracy of every "
                        "row, which no fold model trained on; the best of many trials picked by it is still biased "
                        "upward, so measure the gain on data no trial saw (evaluate on a held-out labeled file).")


@dataclass
class TuneJob:
    """What `tune` makes: a run's place and name, the settings of trial 0, and the data."""

    models_dir: str
    name: str
    config: TrainConfig  # trial 0 (the defaults): TrainConfig's defaults and the options given
    pinned: tuple = ()  # hyperparameters given on the command line: kept as given, not searched
    data: DataSpec | None = None
    labels: list | None = None
    budget: float = 1200.0  # seconds for the whole search, across resumes
    max_trials: int | None = None  # most trials that finish (complete or pruned)
    # each trial's TrainJob.folds: as `train`'s default, "auto" cross-validates small data, and a
    # trial is then scored by its pooled out-of-fold accuracy (K + 1 trainings a trial)
    folds: str | int = "auto"

    def options(self) -> dict:
        """What a resume must find unchanged (the budget and --trials may change)."""
        hyper = {k: v for k, v in self.config.to_dict().items() if k != "labels"}
        return {**hyper, "pinned": sorted(self.pinned), "labels": self.labels, "train": self.data.to_dict(),
                "folds": self.folds}

    @classmethod
    def from_options(cls, models_dir, name: str, options: dict, budget: float,
                     max_trials: int | None) -> "TuneJob":
        options = dict(options)
        data, labels, pinned = DataSpec.from_dict(options.pop("train")), options.pop("labels"), options.pop("pinned")
        folds = options.pop("folds", "off")  # tunes recorded before --folds trained one split
        return cls(models_dir, name, TrainConfig.from_dict(options), tuple(pinned), data, labels, budget, max_trials,
                   folds)

    def searched(self) -> list[str]:
        return [name for name in SEARCHED if name not in self.pinned]


@dataclass
class TuneOptions:
    overwrite: bool = False  # replace a finished run of the name, or discard an interrupted tune
    progress: bool = True  # a line per trial (and per epoch) on stderr


def tune_run(job: TuneJob, options: TuneOptions | None = None) -> tuple[Path, dict]:
    """Search, then install the best trial's run as models_dir/NAME; returns its path and tune.json."""
    options = options or TuneOptions()
    if str(job.data.path) == "-":
        raise ConfigError("tune reads --train once per trial: give a file, not '-' (stdin)")
    if not Path(job.data.path).is_file():
        raise DataError(job.data.path, "no such file", fix="Give the labeled data with --train FILE")
    workspace = Workspace.start(job.models_dir, job.name, "tune", options.overwrite)
    return _tune_in(workspace, job, options, resumed=False)


def resume_tune(models_dir, name: str, asked: dict, budget: float | None = None, max_trials: int | None = None,
                options: TuneOptions | None = None) -> tuple[Path, dict]:
    """Continue an interrupted tune with the options it started with; ``budget`` and ``max_trials``,
    when given, replace the recorded ones (the budget counts the time already spent)."""
    options = options or TuneOptions()
    workspace = Workspace.reopen(models_dir, name, "tune", options.overwrite)
    stored = workspace.inputs()
    if stored.get("version") != INPUTS_VERSION:
        raise RunError(f"{workspace.path} was started by another version of sentiment-cli: start again with "
                       "--overwrite")
    workspace.check_inputs({"options": asked}, hint="Leave them out (the recorded ones are used)")
    state = workspace.state() or {}
    job = TuneJob.from_options(models_dir, name, stored["options"],
                               budget if budget is not None else state.get("budget", TuneJob.budget),
                               max_trials if max_trials is not None else state.get("max_trials"))
    return _tune_in(workspace, job, options, resumed=True)


def _tune_in(workspace: Workspace, job: TuneJob, options: TuneOptions, resumed: bool) -> tuple[Path, dict]:
    with workspace.guard(f"sentiment-cli tune {job.name} --resume{models_dir_option(job.models_dir)}"):
        if resumed and workspace.finished():
            return workspace.install(), runs.read_json(workspace.run_dir / runs.TUNE_FILE)
        files = {"train": describe(job.data, [])}
        if resumed:
            workspace.check_inputs({"files": files}, hint="Restore it")
        else:
            workspace.record_inputs({"version": INPUTS_VERSION, "kind": "tune", "options": job.options(),
                                     "files": files})
        search = Search(workspace, job, options.progress)
        search.run()
        summary = search.write_run()
        return workspace.install(), summary


class TrialMonitor(keras.callbacks.Callback):
    """Reports each epoch's validation accuracy of the network half to the Optuna trial; stops the
    fit when the pruner says so, or when the trial's time is up (the best epoch so far is kept)."""

    def __init__(self, trial, deadline: float, progress: bool, on_epoch=None, prune: bool = True):
        super().__init__()
        self.trial, self.deadline, self.progress, self.on_epoch = trial, deadline, progress, on_epoch
        # off for a cross-validated trial: its folds' epochs restart at 1, and one fold's are no trial's figure
        self.prune = prune
        self.pruned_at: int | None = None
        self.cut_short = False

    def on_epoch_end(self, epoch, logs=None):
        accuracy = float((logs or {}).get("val_accuracy", float("nan")))
        step = epoch + 1
        if self.progress:
            print(f"  trial {self.trial.number}, epoch {step}: network half validation accuracy {accuracy:.4f}",
                  file=sys.stderr)
        if math.isfinite(accuracy) and self.prune:
            self.trial.report(accuracy, step)
        if self.on_epoch is not None:
            self.on_epoch()  # the tune commits the time spent so far
        if self.model.stop_training:  # early stopping's patience ran out
            return
        if math.isfinite(accuracy) and self.prune and self.trial.should_prune():
            self.pruned_at = step
            self.model.stop_training = True
        elif time.monotonic() >= self.deadline:
            self.cut_short = True
            self.model.stop_training = True


def trial_folds(job: TuneJob) -> int:
    """How many folds each trial cross-validates on (0: one validation split), as ``train_run``
    counts them for the trials' data and seed: the trials are alike in that."""
    if crossval.parse_folds(job.folds) == "off":
        return 0
    data = read_labeled(job.data.path, job.data.format, job.data.columns, job.labels, job.data.on_bad_lines,
                        progress=False)
    labels = sort_labels(set(data.labels) | set(job.labels or ()))
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[label] for label in data.labels])
    return crossval.fold_count(job.folds, y, np.array([text_hash(t) for t in data.texts]), job.config.val_ratio,
                               job.data.path)


def applicable(model: str, pinned=()) -> list[str]:
    """The searched settings that a model of this kind uses, less the pinned ones."""
    names = ["model"]
    if model in RECURRENT:
        names += ["cell", "layers", "embedding_dim", "max_length"]
    if model in NETWORK:
        names += ["hidden_size", "dropout", "lr", "epochs"]
    if model in NGRAMS:
        names += ["ngram", "ngram_min_count"]
    return [name for name in names if name not in pinned]


def suggest(trial, base: TrainConfig, pinned) -> dict:
    """The trial's settings: the searched ones that apply to its model (the others stay as base)."""
    draws = {
        "model": lambda n: trial.suggest_categorical(n, TUNED_MODELS),
        "cell": lambda n: trial.suggest_categorical(n, CELLS),
        "layers": lambda n: trial.suggest_int(n, 1, 2),
        "embedding_dim": lambda n: trial.suggest_int(n, 32, 300, log=True),
        "max_length": lambda n: trial.suggest_categorical(n, MAX_LENGTHS),
        "hidden_size": lambda n: trial.suggest_int(n, 16, 256, log=True),
        "dropout": lambda n: trial.suggest_float(n, 0.0, 0.6),
        "lr": lambda n: trial.suggest_float(n, 3e-4, 1e-2, log=True),
        "epochs": lambda n: trial.suggest_int(n, 2, 15),
        "ngram": lambda n: trial.suggest_int(n, 1, 3),
        "ngram_min_count": lambda n: trial.suggest_int(n, 1, 4),
    }
    params = {}
    if "model" not in pinned:
        params["model"] = draws["model"]("model")
    for name in applicable(params.get("model", base.model), pinned):
        if name != "model":
            params[name] = draws[name](name)
    return params


def make_pruner(optuna):
    """The median pruner: it waits for PRUNER_STARTUP_TRIALS complete trials, and never prunes at
    the first epoch (step 1)."""
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_STEPS)


def kept_run(study) -> str | None:
    """The trial run that stays in trials/: the journal's best complete trial's, or none.

    The journal decides, not state.json: a kill after ``study.tell`` and before the commit leaves
    the journal naming a newer best than state.json does, and that run must not be removed.
    """
    try:
        return f"trial-{study.best_trial.number}"
    except ValueError:  # no complete trial yet
        return None


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial comes from us
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


class Search:
    """One session of the search in a tune workspace: the study, the budget, the trials' runs."""

    def __init__(self, workspace: Workspace, job: TuneJob, progress: bool):
        optuna = self.optuna = _optuna()
        self.workspace, self.job, self.progress = workspace, job, progress
        self.trials_dir = workspace.file(TRIALS_DIR)
        self.said = set()  # the data warnings the trials printed: each once (RunOptions.said)
        self.trials_dir.mkdir(exist_ok=True)
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(workspace.file(JOURNAL_FILE))))
        self.study = optuna.create_study(study_name="tune", storage=storage, direction="maximize",
                                         pruner=make_pruner(optuna),
                                         load_if_exists=True)
        # Seeded by the trials so far: a resumed search does not draw again what it drew before.
        self.study.sampler = optuna.samplers.TPESampler(
            seed=job.config.seed + len(self.study.trials), n_startup_trials=STARTUP_TRIALS, multivariate=True,
            group=True)
        self.state = {"spent": 0.0, "best_run": None, "split_sha256": None, **(workspace.state() or {}),
                      "budget": job.budget, "max_trials": job.max_trials}
        # Every trial builds and traces new models, which TensorFlow's logger would warn of as retracing.
        tf.get_logger().setLevel(logging.ERROR)
        self.started = time.monotonic()
        self.spent_before = float(self.state["spent"])
        self.stopped_because = None
        self.folds = trial_folds(job)

    # ---- the loop ----
    def run(self) -> None:
        job, study = self.job, self.study
        if not study.trials:
            study.enqueue_trial({name: getattr(job.config, name) for name in applicable(job.config.model, job.pinned)},
                                user_attrs={"defaults": True})
        else:
            self._retry_interrupted()
        self._clean_trials_dir()
        self._say(f"tune {job.name}: budget {_clock(job.budget)} ({_clock(self.left())} left), searching "
                  f"{', '.join(job.searched()) or 'nothing (every setting is pinned)'}"
                  + (f"; at most {job.max_trials} trials" if job.max_trials else "")
                  + (f"; each trial cross-validates on {self.folds} folds: {self.folds + 1} small trainings ("
                     f"{self.folds} fold models and the final one), scored by its pooled out-of-fold accuracy"
                     if self.folds else ""))
        while self._go_on():
            self._one_trial()

    def left(self) -> float:
        return self.job.budget - self.spent_before - (time.monotonic() - self.started)

    def _finished(self) -> list:
        states = (self.optuna.trial.TrialState.COMPLETE, self.optuna.trial.TrialState.PRUNED)
        return self.study.get_trials(deepcopy=False, states=states)

    def _go_on(self) -> bool:
        finished, left = self._finished(), self.left()
        if self.job.max_trials and len(finished) >= self.job.max_trials:
            self.stopped_because = f"{len(finished)} trials finished (--trials {self.job.max_trials})"
        elif not finished and left > 0:
            return True
        elif left <= 0:
            self.stopped_because = "the budget is spent"
        else:
            complete = [t.user_attrs["seconds"] for t in finished if "seconds" in t.user_attrs
                        and t.state == self.optuna.trial.TrialState.COMPLETE]
            expected = statistics.median(complete) if complete else 0.0
            if left < expected:
                self.stopped_because = (f"{_clock(left)} left, less than a trial's usual {_clock(expected)} "
                                        "(the median of the complete ones)")
            else:
                return True
        self._say(f"tune {self.job.name}: stopping, {self.stopped_because}")
        return False

    def _one_trial(self) -> None:
        trial = self.study.ask()
        try:
            self._train_trial(trial)
        except BaseException:
            # Ctrl-C or a crash: the trial stays running in the journal (a resume tries it again), and
            # its time counts against the budget. Nothing committed yet (the first trial): nothing to keep.
            if self.workspace.state() is not None:
                self._commit()
            raise

    def _train_trial(self, trial) -> None:
        optuna, job = self.optuna, self.job
        params = suggest(trial, job.config, job.pinned)
        defaults = bool(trial.user_attrs.get("defaults"))
        label = f"trial {trial.number}{' (defaults)' if defaults else ''}"
        self._say(f"{label}: {_describe(params) or 'as pinned'}")
        monitor = TrialMonitor(trial, time.monotonic() + self.left(), self.progress, on_epoch=self._commit_spent,
                               prune=not self.folds)
        start = time.monotonic()
        name = f"trial-{trial.number}"
        try:
            config = dataclasses.replace(job.config, **params, labels=[])
            # resume_hint off: a trial is not continued with `train --resume`; tune prints its own hint.
            path, metrics = train_run(TrainJob(str(self.trials_dir), name, config, job.data, None, job.labels,
                                               folds=job.folds),
                                      RunOptions(overwrite=True, progress=False, callbacks=(monitor,),
                                                 resume_hint=False, said=self.said))
        except (ConfigError, RunError) as exc:  # settings that do not go together; a diverged training
            trial.set_user_attr("error", str(exc))
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self._remove(name)
            self._say(f"{label} failed: {exc}")
            self._commit()
            return
        finally:
            keras.backend.clear_session()  # each trial builds new models: free the last one's graph and memory
        seconds = round(time.monotonic() - start, 1)
        self._check_split(path, trial.number)
        trial.set_user_attr("seconds", seconds)
        trial.set_user_attr("epochs_run", metrics.get("epochs_run"))
        trial.set_user_attr("best_epoch", metrics.get("best_epoch"))
        if monitor.pruned_at is not None:
            trial.set_user_attr("pruned_at_epoch", monitor.pruned_at)
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self._commit()
            self._remove(name)
            self._say(f"{label} pruned after epoch {monitor.pruned_at} ({seconds:.0f} s): its network half "
                      "validated below the median of earlier trials at that epoch")
            return
        value = float(metrics["best_val_accuracy"])
        trial.set_user_attr("cut_short", monitor.cut_short)
        if metrics.get(OUT_OF_FOLD) is not None:
            trial.set_user_attr(OUT_OF_FOLD, float(metrics[OUT_OF_FOLD]))
        self.study.tell(trial, value)
        # The journal now says which run is best; commit that, and only then remove the runs that lost
        # (a kill in between leaves the journal's best in place: see kept_run).
        previous, self.state["best_run"] = self.state["best_run"], kept_run(self.study)
        self._commit()
        for loser in {previous, name} - {self.state["best_run"], None}:
            self._remove(loser)
        best = self.study.best_trial
        self._say(f"{label}: validation accuracy {value:.4f} in {seconds:.0f} s"
                  f"{' (cut short by the budget)' if monitor.cut_short else ''}; best {best.value:.4f} "
                  f"(trial {best.number}); {_clock(max(self.left(), 0))} left")

    # ---- resume and bookkeeping ----
    def _retry_interrupted(self) -> None:
        """A trial left running by a killed process is failed, and its parameters are asked again,
        once: a retry that was interrupted too stays failed (settings that crash the process would
        otherwise be tried on every resume)."""
        running = self.study.get_trials(deepcopy=False, states=(self.optuna.trial.TrialState.RUNNING,))
        for trial in running:
            self.study.tell(trial.number, state=self.optuna.trial.TrialState.FAIL)
            if "retry_of" in trial.user_attrs:
                self._say(f"trial {trial.number} (a retry of trial {trial.user_attrs['retry_of']}) was interrupted "
                          "too: its settings are not tried again")
                continue
            attrs = {"defaults": True} if trial.user_attrs.get("defaults") else {}
            self.study.enqueue_trial(trial.params, user_attrs={**attrs, "retry_of": trial.number})
            self._say(f"trial {trial.number} was interrupted: its settings are tried again")

    def _clean_trials_dir(self) -> None:
        """Only the best trial's run stays, the one the journal names (``kept_run``, whatever state.json
        says): interrupted trainings and runs that lost are removed."""
        self.state["best_run"] = keep = kept_run(self.study)
        for entry in self.trials_dir.iterdir():
            if entry.name == keep:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def _check_split(self, path: Path, number: int) -> None:
        found = file_sha256(path / runs.SPLIT_FILE)
        if self.state["split_sha256"] is None:
            self.state["split_sha256"] = found
        elif found != self.state["split_sha256"]:
            raise RunError(f"trial {number} validated on another split than the trials before it: was "
                           f"{self.job.data.path} changed during the tune? Restore it and resume, or start again "
                           "with --overwrite")

    def _commit(self) -> None:
        self.state["spent"] = round(self.spent_before + time.monotonic() - self.started, 1)
        self.workspace.commit(self.state)

    def _commit_spent(self) -> None:
        """The time spent, at a trial's epoch end (so a kill loses at most an epoch's time); nothing
        before the tune's first commit, which keeps its workspace."""
        if self.workspace.state() is not None:
            self._commit()

    def _remove(self, name: str) -> None:
        """A trial's run and what its training left (its workspace, when it failed)."""
        shutil.rmtree(self.trials_dir / name, ignore_errors=True)
        shutil.rmtree(work_path(self.trials_dir, name), ignore_errors=True)

    def _say(self, line: str) -> None:
        if self.progress:
            print(line, file=sys.stderr)

    # ---- the end ----
    def write_run(self) -> dict:
        """The best trial's run with trials.csv, tune.json and tune.png, in the workspace's run/."""
        complete = self.study.get_trials(deepcopy=False, states=(self.optuna.trial.TrialState.COMPLETE,))
        if not complete:
            raise RunError(f"no trial of tune {self.job.name!r} finished within its budget "
                           f"({_clock(self.job.budget)}): give a bigger --budget")
        best = self.study.best_trial
        source = self.trials_dir / f"trial-{best.number}"
        if not (source / runs.CONFIG_FILE).is_file():
            raise RunError(f"{source}: the best trial's run is missing; start the tune again with --overwrite")
        run_dir = self.workspace.run_dir
        shutil.rmtree(run_dir)  # what an interrupted write_run left: the run is copied anew
        shutil.copytree(source, run_dir)
        rows = trial_rows(self.study.trials, self.job.searched())
        runs.write_csv(run_dir / runs.TRIALS_FILE, rows)
        defaults = next((t for t in self.study.trials if t.user_attrs.get("defaults")
                         and t.state == self.optuna.trial.TrialState.COMPLETE), None)
        counts = {}
        for trial in self.study.trials:
            counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
        summary = {
            "best_trial": best.number,
            "best_val_accuracy": best.value,
            "best_params": best.params,
            "defaults_trial": defaults.number if defaults else None,
            "defaults_val_accuracy": defaults.value if defaults else None,
            "defaults_params": defaults.params if defaults else None,
            "gain_over_defaults": round(best.value - defaults.value, 6) if defaults else None,
            "best_val_accuracy_out_of_fold": best.user_attrs.get(OUT_OF_FOLD),
            "defaults_val_accuracy_out_of_fold": defaults.user_attrs.get(OUT_OF_FOLD) if defaults else None,
            "objective": (f"pooled out-of-fold accuracy ({self.folds} folds, every row once)" if self.folds
                          else "best_val_accuracy, in-sample"),
            "note": OBJECTIVE_NOTE_FOLDS if self.folds else OBJECTIVE_NOTE,
            "trials": counts,
            "searched": self.job.searched(),
            "pinned": {name: getattr(self.job.config, name) for name in sorted(self.job.pinned)},
            "budget_seconds": self.job.budget,
            "spent_seconds": round(self.spent_before + time.monotonic() - self.started, 1),
            "stopped_because": self.stopped_because,
            "seed": self.job.config.seed,
            "search": {"library": f"optuna {self.optuna.__version__}", "sampler": "TPE",
                       "startup_trials": STARTUP_TRIALS, "pruner": "median",
                       "pruner_startup_trials": PRUNER_STARTUP_TRIALS, "pruner_warmup_steps": PRUNER_WARMUP_STEPS},
        }
        runs.write_json(run_dir / runs.TUNE_FILE, summary)
        plots.write_tune_picture(run_dir, self.job.name)
        return summary


def trial_rows(trials, searched: list[str]) -> list[dict]:
    """trials.csv: one row per trial; a setting its model does not use is left empty.

    val_accuracy is the objective, the saved model's (complete trials only);
    network_val_accuracy is the network half's at the last epoch reported (where a pruned trial
    stopped), a figure of one half, not comparable with val_accuracy.
    """
    retried = {t.user_attrs["retry_of"]: t.number for t in trials if "retry_of" in t.user_attrs}
    rows = []
    for trial in trials:
        state = trial.state.name.lower()
        value = trial.value if state == "complete" else None
        network = trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None
        out_of_fold = trial.user_attrs.get(OUT_OF_FOLD) if state == "complete" else None
        rows.append({
            "trial": trial.number, "state": state, "val_accuracy": _rounded(value),
            "val_accuracy_out_of_fold": _rounded(out_of_fold), "network_val_accuracy": _rounded(network),
            "defaults": bool(trial.user_attrs.get("defaults")), "seconds": trial.user_attrs.get("seconds", ""),
            "epochs_run": trial.user_attrs.get("epochs_run", ""),
            "pruned_at_epoch": trial.user_attrs.get("pruned_at_epoch", ""),
            "cut_short": trial.user_attrs.get("cut_short", ""),
            **{name: trial.params.get(name, "") for name in searched},
            "note": _note(trial, state, retried),
        })
    return rows


def _note(trial, state: str, retried: dict) -> str:
    notes = []
    if "retry_of" in trial.user_attrs:
        notes.append(f"retry of trial {trial.user_attrs['retry_of']}")
    if trial.user_attrs.get("error"):
        notes.append(trial.user_attrs["error"])
    elif state == "fail":  # failed by a resume: the process stopped during it
        notes.append(f"interrupted; tried again as trial {retried[trial.number]}" if trial.number in retried
                     else "interrupted; not tried again" if "retry_of" in trial.user_attrs
                     else "interrupted")
    return "; ".join(notes)


def _rounded(value) -> float | str:
    return "" if value is None else round(float(value), 6)


def _describe(params: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s")
