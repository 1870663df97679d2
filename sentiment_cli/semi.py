"""self_train(): rounds of pseudo-labelling on top of training and prediction.

Each round the current best model labels the unlabeled text; the confident predictions join
the labeled training data (never the validation data) and the model trains
``epochs_per_round`` epochs, keeping its best epoch. A round that lowers validation accuracy
is rolled back. Work happens in ``models/.NAME.inprogress/``: every completed round is
committed there (state.json is written last), so ``--resume`` continues after a kill, and
the finished run is renamed to ``models/NAME`` only when the last round is done.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sentiment_cli import runs
from sentiment_cli.config import SemiConfig
from sentiment_cli.data import Columns, DataManager, LabeledData, select_pseudo_labels
from sentiment_cli.errors import RunError
from sentiment_cli.model import predict_proba
from sentiment_cli.training import best_threshold, train

STATE_FILE = "state.json"
ROUNDS_FILE = "rounds.csv"
PSEUDO_FILE = "pseudo_labels.npy"  # class id per unlabeled text, -1 where none was kept


def inprogress_path(models_dir, name: str) -> Path:
    final = runs.run_path(models_dir, name)
    return final.with_name(f".{name}.inprogress")


def _validation_accuracy(model, dm: DataManager, seqs, y) -> tuple[float, np.ndarray]:
    probs = predict_proba(model, seqs, dm.features)
    return float(np.mean(probs.argmax(axis=1) == y)), probs


def _write_rounds(path: Path, rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = path.with_suffix(".partial")
    tmp.write_text(out.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def _typed(row: dict) -> dict:
    """A rounds.csv row read back with the types it was written with."""
    out = {}
    for key, value in row.items():
        if value in ("True", "False"):
            out[key] = value == "True"
        elif value == "":
            out[key] = value
        else:
            out[key] = float(value) if any(c in value for c in ".e") else int(value)
    return out


def _save_pseudo(path: Path, labels: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".partial.npy")
    np.save(tmp, labels.astype(np.int8), allow_pickle=False)
    os.replace(tmp, path)


def self_train(models_dir, base_name: str, output_name: str, train_path, unlabeled_path,
               semi: SemiConfig, *, fmt: str = "auto", columns: Columns | None = None,
               unlabeled_fmt: str = "auto", resume: bool = False, overwrite: bool = False,
               verbose: int = 1) -> tuple[Path, dict]:
    """Run the rounds; returns the finished run's path and its metrics."""
    final = runs.run_path(models_dir, output_name)
    work = inprogress_path(models_dir, output_name)
    if output_name == base_name:
        raise RunError(f"the semi run needs a name of its own (--output-run), not {base_name!r}")
    if final.exists() and not overwrite:
        raise RunError(f"run {output_name!r} already exists in {final.parent}: pass --overwrite to replace it, "
                       "or choose another --output-run")
    if work.exists() and not resume:
        if not overwrite:
            raise RunError(f"an interrupted semi run {output_name!r} is in {work}: pass --resume to continue it, "
                           "or --overwrite to start again")
        shutil.rmtree(work)
    if resume and not work.exists():
        raise RunError(f"nothing to resume: {work} does not exist. Start without --resume")

    base = runs.load_run(models_dir, base_name)
    config = base.config
    dm = DataManager.from_config(config, base.tokenizer)
    labeled = DataManager.read_labeled(train_path, fmt, columns or Columns())
    y = dm.encode_labels(labeled.labels, labeled.path, labeled.lines)
    _, val_idx = dm.split(y, config.val_ratio, config.seed)  # the base run's split, if the same file
    val_seqs, val_y = dm.sequences([labeled.texts[i] for i in val_idx]), y[val_idx]
    unlabeled = DataManager.read_unlabeled(unlabeled_path, unlabeled_fmt, columns)
    unl_seqs = dm.sequences(unlabeled)
    binary = config.num_classes == 2

    if resume:
        if not (work / STATE_FILE).exists():
            raise RunError(f"{work} was interrupted before its round 0 was saved: nothing to resume. "
                           "Start again with --overwrite")
        state = runs.read_json(work / STATE_FILE)
        if state.get("base") != base_name or state.get("base_sha256") != base.tokenizer.fingerprint:
            raise RunError(f"{work} was started from another run than {base_name!r}: resume it with that run")
        semi = SemiConfig(**{**state["semi"], "rounds": semi.rounds})
        with open(work / ROUNDS_FILE, encoding="utf-8") as handle:
            rows = [_typed(row) for row in csv.DictReader(handle)]
        model = runs.load_model(work / state["model_file"])
        previous = np.load(work / PSEUDO_FILE, allow_pickle=False) if (work / PSEUDO_FILE).exists() else None
    else:
        work.mkdir(parents=True)
        base.tokenizer.save(work / runs.TOKENIZER_FILE)
        model = base.model
        start_accuracy, _ = _validation_accuracy(model, dm, val_seqs, val_y)
        best_accuracy, seconds, pretrained_accuracy = start_accuracy, 0.0, None
        if semi.pretrain_embeddings:
            started = time.perf_counter()
            pretrained = _pretrained_start(config, labeled, unlabeled, work / "round-0.tmp", dm, verbose)
            pretrained_accuracy, _ = _validation_accuracy(pretrained, dm, val_seqs, val_y)
            if pretrained_accuracy >= start_accuracy:
                model, best_accuracy = pretrained, pretrained_accuracy
            shutil.rmtree(work / "round-0.tmp", ignore_errors=True)
            seconds = round(time.perf_counter() - started, 2)
            if verbose:
                print(f"round 0: word vectors from labeled + unlabeled text, validation accuracy "
                      f"{pretrained_accuracy:.4f} ({'kept' if model is pretrained else 'the base run is better'})",
                      file=sys.stderr)
        model.save(work / "round-0.keras")
        state = {"base": base_name, "base_sha256": base.tokenizer.fingerprint, "semi": semi.to_dict(),
                 "completed_rounds": 0, "best_round": 0, "best_val_accuracy": best_accuracy,
                 "start_val_accuracy": start_accuracy, "pretrained_val_accuracy": pretrained_accuracy,
                 "model_file": "round-0.keras"}
        rows = [{"round": 0, "pseudo_labels": 0, **{f"pseudo_{l}": 0 for l in config.labels},
                 "agreement": "", "val_accuracy": round(best_accuracy, 6), "accepted": True,
                 "best_val_accuracy": round(best_accuracy, 6), "seconds": seconds}]
        _write_rounds(work / ROUNDS_FILE, rows)
        runs.write_json_atomic(work / STATE_FILE, state)
        previous = None

    round_config = type(config).from_dict({**config.to_dict(), "epochs": semi.epochs_per_round,
                                           "patience": semi.epochs_per_round,
                                           "embeddings": None, "pretrain_embeddings": False,
                                           "freeze_embeddings": False})
    bar = tqdm(total=semi.rounds, initial=state["completed_rounds"], desc="semi rounds", unit="round",
               file=sys.stderr, disable=not verbose)
    for r in range(state["completed_rounds"] + 1, semi.rounds + 1):
        start = time.perf_counter()
        probs = predict_proba(model, unl_seqs, dm.features)
        idx, pseudo = select_pseudo_labels(probs[:, 1] if binary else probs, semi.threshold, semi.band,
                                           semi.balance, semi.max_per_round)
        current = np.full(len(unlabeled), -1, dtype=np.int8)
        current[idx] = pseudo
        both = (current >= 0) & (previous >= 0) if previous is not None else None
        agreement = float(np.mean(current[both] == previous[both])) if both is not None and both.any() else ""
        extra = LabeledData([unlabeled[i] for i in idx], [config.labels[c] for c in pseudo], [], str(unlabeled_path))
        round_dir = work / f"round-{r}.tmp"
        shutil.rmtree(round_dir, ignore_errors=True)
        round_dir.mkdir()
        result = _train_round(round_config, labeled, round_dir, dm, model, extra, verbose)
        val_accuracy, _ = _validation_accuracy(result.model, dm, val_seqs, val_y)
        accepted = val_accuracy >= state["best_val_accuracy"]
        if accepted:
            model_file = f"round-{r}.keras"
            os.replace(round_dir / runs.MODEL_FILE, work / model_file)
            model = result.model
        else:  # rolled back: the round's weights are discarded
            model = runs.load_model(work / state["model_file"])
        shutil.rmtree(round_dir, ignore_errors=True)
        counts = np.bincount(pseudo, minlength=config.num_classes)
        rows.append({"round": r, "pseudo_labels": int(len(idx)),
                     **{f"pseudo_{l}": int(c) for l, c in zip(config.labels, counts)},
                     "agreement": "" if agreement == "" else round(agreement, 6),
                     "val_accuracy": round(val_accuracy, 6), "accepted": accepted,
                     "best_val_accuracy": round(max(val_accuracy, state["best_val_accuracy"]), 6),
                     "seconds": round(time.perf_counter() - start, 2)})
        _write_rounds(work / ROUNDS_FILE, rows)
        _save_pseudo(work / PSEUDO_FILE, current)
        old_model_file = state["model_file"]
        if accepted:
            state.update(best_round=r, best_val_accuracy=val_accuracy, model_file=model_file)
        state["completed_rounds"] = r
        runs.write_json_atomic(work / STATE_FILE, state)  # the round is committed here
        if accepted and old_model_file != state["model_file"]:
            (work / old_model_file).unlink(missing_ok=True)
        previous = current
        bar.update(1)
        if verbose:
            bar.write(f"round {r}: {len(idx)} pseudo-labels, validation accuracy {val_accuracy:.4f}"
                      f"{'' if accepted else ' (rolled back)'}", file=sys.stderr)
    bar.close()
    return _finish(work, final, base, config, semi, state, rows, model, dm, val_seqs, val_y, train_path,
                   unlabeled_path, overwrite)


def _pretrained_start(config, labeled, unlabeled, run_dir, dm, verbose):
    """The base run's configuration trained afresh, its word vectors learned from all the text."""
    fresh = type(config).from_dict({**config.to_dict(), "embeddings": None, "pretrain_embeddings": True})
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    return train(fresh, labeled, run_dir, verbose=2 if verbose else 0, data_manager=dm,
                 unlabeled_texts=unlabeled).model


def _train_round(config, labeled, run_dir, dm, model, extra, verbose):
    """One round's training; a function of its own so tests can force a bad round."""
    return train(config, labeled, run_dir, verbose=2 if verbose else 0, data_manager=dm,
                 initial_model=model, extra_data=extra)


def _finish(work, final, base, config, semi, state, rows, model, dm, val_seqs, val_y, train_path,
            unlabeled_path, overwrite):
    accuracy, probs = _validation_accuracy(model, dm, val_seqs, val_y)
    metrics = {
        "start_val_accuracy": state["start_val_accuracy"],
        "pretrained_val_accuracy": state.get("pretrained_val_accuracy"),
        "best_val_accuracy": state["best_val_accuracy"],
        "best_round": state["best_round"],
        "rounds": rows,
        "seconds": round(sum(float(r["seconds"]) for r in rows), 2),
    }
    extra = {"semi": {**semi.to_dict(), "base_run": base.path.name}}
    if config.num_classes == 2:
        extra["threshold"] = best_threshold(probs[:, 1], val_y)
        metrics["threshold"] = extra["threshold"]
    data_info = {"train": str(train_path), "unlabeled": str(unlabeled_path)}
    runs.write_json(work / runs.CONFIG_FILE, runs.make_config_record(config, dm.tokenizer, data_info, extra))
    runs.write_json(work / runs.METRICS_FILE, metrics)
    os.replace(work / state["model_file"], work / runs.MODEL_FILE)
    for leftover in (STATE_FILE, PSEUDO_FILE):
        (work / leftover).unlink(missing_ok=True)
    if final.exists() and not overwrite:
        raise RunError(f"run {final.name!r} appeared while semi ran: its work stays in {work}")
    runs.install_run(work, final)
    return final, metrics
