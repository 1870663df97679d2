"""semi_run(): rounds of pseudo-labelling, in the workspace that `train` uses too.

Each round the kept model labels the unlabeled text; the pseudo-labels it is surest of join the
labeled training side (never validation) and the model trains again: the n-gram half is refitted
on labeled + pseudo-labeled text, the network half continues for ``epochs_per_round`` epochs,
and the mix is refitted on validation. With co-training each half learns from the other's surest
texts instead of the mix's. A round that validation shows worse beyond noise is rolled back
(``acceptance.worse_beyond_noise``), and the rounds stop, since the next one would relabel with
the same model and repeat it. With ``--judge cv`` a round is also rolled back when the n-gram half,
fitted out of fold on the labeled training rows with the round's pseudo-labels, predicts them
worse beyond noise than with the kept round's (``acceptance.cross_validated``): many more rows
than validation has, though only the n-gram half, which is why validation still judges too.

The validation rows are the base run's own, rebuilt from the hashes of its validation texts,
whatever became of the file's order; unlabeled texts equal to one of them are left out. Each
round is committed to the workspace (its model file first, then the state), so an interrupted
semi run resumes after its last committed round.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sentiment_cli import runs
from sentiment_cli.calibration import probabilities
from sentiment_cli.config import SemiConfig, TrainConfig
from sentiment_cli.data import Columns, DataSpec, read_labeled, read_unlabeled
from sentiment_cli.encoding import Encoder, Rows, Split, split_by_hashes, stratified_split, text_hash, text_hashes
from sentiment_cli.errors import RunError
from sentiment_cli.fit import FitOptions
from sentiment_cli.model import halves, halves_logits, mix_params
from sentiment_cli.progress import step
from sentiment_cli.semi.acceptance import (
    LabeledFolds, cross_validated, judge, labeled_folds, log_loss, worse_beyond_noise,
)
from sentiment_cli.semi.selection import check_selection, cotrain_pseudo_labels, select, union, why_none
from sentiment_cli.training import TrainData, describe, save_validation, train
from sentiment_cli.workspace import Workspace, models_dir_option

INPUTS_VERSION = 1


@dataclass
class SemiJob:
    """What `semi` makes: a new run from a base run, its options and its data."""

    models_dir: str
    base: str  # the run to improve: a name in models_dir, or a path to a run directory
    name: str  # the new run's name in models_dir
    semi: SemiConfig
    unlabeled: DataSpec
    train: DataSpec | None = None  # None: the base run's own training file, read as it was read
    allow_other_train: bool = False  # a --train file other than the base run's own

    def options(self) -> dict:
        return {"semi": self.semi.to_dict(), "unlabeled": self.unlabeled.to_dict(),
                "train": self.train.to_dict() if self.train else None, "allow_other_train": self.allow_other_train}


@dataclass
class Rounds:
    """What every round reads; made once per process from the job, the base run and the data."""

    job: SemiJob
    config: TrainConfig  # the base run's
    encoder: Encoder
    data: TrainData  # the labeled rows, split as the base run split them
    val: Rows
    unlabeled: list
    unlabeled_seqs: list
    workspace: Workspace
    progress: bool = True
    names: list = field(default_factory=list)  # the model's halves
    folds: LabeledFolds | None = None  # --judge cv: made at its first round (see _comparisons)


def semi_run(job: SemiJob, overwrite: bool = False, progress: bool = True) -> tuple[Path, dict]:
    """Run the rounds into models_dir/NAME; returns its path and metrics."""
    base = _load_base(job)
    workspace = Workspace.start(job.models_dir, job.name, "semi", overwrite)
    return _semi_in(workspace, job, base, progress, resumed=False)


def resume_semi(models_dir, base_name: str, name: str, asked: dict, overwrite: bool = False,
                progress: bool = True) -> tuple[Path, dict]:
    """Continue an interrupted semi run with the options it started with. asked: options given
    again (SemiJob.options' keys, nested ones as dicts); one that differs is refused."""
    workspace = Workspace.reopen(models_dir, name, "semi", overwrite)
    stored = workspace.inputs()
    if stored.get("version") != INPUTS_VERSION:
        raise RunError(f"{workspace.path} was started by another version of sentiment-cli: start again with "
                       "--overwrite")
    workspace.check_inputs({"options": asked}, hint="Leave them out (the recorded ones are used)")
    options = stored["options"]
    job = SemiJob(models_dir, base_name, name, SemiConfig.from_dict(options["semi"]),
                  DataSpec.from_dict(options["unlabeled"]),
                  DataSpec.from_dict(options["train"]) if options["train"] else None, options["allow_other_train"])
    base = _load_base(job)
    return _semi_in(workspace, job, base, progress, resumed=True)


def _load_base(job: SemiJob) -> runs.Run:
    """The base run, refusing one that cannot be improved or that the new run would replace."""
    base = runs.load_run(job.models_dir, job.base)
    if runs.run_path(job.models_dir, job.name) == base.path.resolve():
        raise RunError(f"the semi run needs a name of its own (--output-run): {job.name!r} is the base run "
                       f"{base.path} itself")
    if not halves(base.model):
        raise RunError(f"run {job.base!r} was made by an older version of sentiment-cli (its model has no "
                       f"calibrated mix of halves): retrain it with 'sentiment-cli train {job.base} --overwrite'")
    chosen = job.semi.for_run(halves(base.model))
    if job.semi.select is None and chosen.select == "rank":
        print(f"note: {job.base!r} has one half ({', '.join(halves(base.model))}) and co-training needs two: its "
              "pseudo-labels are chosen by --select rank", file=sys.stderr)
    job.semi = chosen
    check_selection(job.semi, base.config.num_classes)
    return base


def _semi_in(workspace: Workspace, job: SemiJob, base: runs.Run, progress: bool, resumed: bool):
    """Read and check the inputs, run the rounds left, write the run and install it."""
    with workspace.guard(_resume_command(job)):
        if resumed and workspace.finished():
            metrics = runs.read_json(workspace.run_dir / runs.METRICS_FILE)
            return workspace.install(), metrics
        rounds, inputs = _prepare(workspace, job, base, progress)
        if resumed:
            workspace.check_inputs(inputs, hint="Restore them")
            state = workspace.state()
            model = runs.load_model(workspace.file(state["model_file"]))
        else:
            workspace.record_inputs({**inputs, "version": INPUTS_VERSION, "kind": "semi",
                                     "options": job.options()})
            model, state = _round_zero(rounds, base.model)
        model = _run_rounds(rounds, model, state)
        _, probs, _ = judge(model, rounds.encoder, rounds.val, rounds.config.seed)  # the kept model's, for `plot`
        save_validation(workspace.run_dir / runs.VALIDATION_FILE, rounds.config.labels, rounds.val.y, probs)
        metrics = _write_run(rounds, base, state, model)
        return workspace.install(), metrics


def _prepare(workspace: Workspace, job: SemiJob, base: runs.Run, progress: bool) -> tuple[Rounds, dict]:
    """Read the labeled and unlabeled text; rebuild the base run's split; the inputs to record."""
    spec = _train_spec(job, base)
    config = base.config
    encoder = Encoder.from_config(config, base.tokenizer)
    labeled = read_labeled(spec.path, spec.format, spec.columns, None, spec.on_bad_lines, progress=progress)
    y = encoder.encode_labels(labeled.labels, labeled.path, labeled.lines)
    split = _base_split(base, labeled.texts, y, spec)
    texts = labeled.texts
    data = TrainData([texts[i] for i in split.train], y[split.train], [texts[i] for i in split.val], y[split.val])
    unlabeled = read_unlabeled(job.unlabeled.path, job.unlabeled.format, job.unlabeled.columns, progress=progress)
    held_out = set(split.hashes)
    kept = [t for t in unlabeled if text_hash(t) not in held_out]
    if len(kept) < len(unlabeled) and progress:
        print(f"note: {len(unlabeled) - len(kept)} unlabeled text(s) equal validation texts and are left out, so "
              "that validation judges the rounds on texts they did not train on", file=sys.stderr)
    if not kept:
        raise RunError(f"{job.unlabeled.path}: every unlabeled text is also a validation text; give other text")
    with step("tokenizing the unlabeled text", total=len(kept), unit="texts", enabled=progress) as counter:
        seqs = encoder.sequences(kept)
        counter.update(len(seqs))
    rounds = Rounds(job, config, encoder, data, encoder.rows(data.val_texts, data.val_y), kept, seqs, workspace,
                    progress, halves(base.model))
    inputs = {"files": {"train": describe(spec, texts, labeled.labels), "unlabeled": describe(job.unlabeled, unlabeled)},
              "base": {"path": str(base.path.resolve()), "tokenizer_sha256": base.tokenizer.fingerprint},
              "split": split.record()}
    return rounds, inputs


def _train_spec(job: SemiJob, base: runs.Run) -> DataSpec:
    """The labeled file and how to read it: the base run's own as it was read, unless --train."""
    stored = base.record.get("data", {})
    if stored.get("train") is None and job.train is None:
        raise RunError(f"run {job.base!r} does not record its training file: name it with --train")
    own = DataSpec(stored.get("train"), stored.get("format") or "auto", Columns(**(stored.get("columns") or {})),
                   stored.get("on_bad_lines") or "error")
    if job.train is None:
        return own
    if own.path is not None and str(job.train.path) != str(own.path) and not job.allow_other_train:
        raise RunError(
            f"run {job.base!r} was trained on {own.path}, not {job.train.path}: semi holds out the base run's own "
            "validation texts, which another file may lack. Leave out --train, or pass --allow-other-train (its "
            "rows that are the base run's validation texts validate, the others train)")
    return job.train


def _base_split(base: runs.Run, texts: list, y: np.ndarray, spec: DataSpec) -> Split:
    """The base run's split, rebuilt from its validation texts' hashes (or, for a run made before
    runs recorded them, drawn again from the file's order and seed, which is said)."""
    path = base.path / runs.SPLIT_FILE
    record = runs.read_json(path) if path.exists() else None
    if record is not None and record.get("cross_validation"):
        raise RunError(f"run {base.path.name!r} was cross-validated (train --folds {record['cross_validation']}) and "
                       "holds no validation rows, on which semi judges its rounds: train the base run with "
                       "--folds off for semi")
    if record is not None:
        split = split_by_hashes(texts, record["validation"])
    else:
        print(f"warning: run {base.path.name!r} records no split (made by an older version): its validation rows "
              f"are drawn again from the order of {spec.path} and the seed, which is right only if the file did "
              "not change since; retrain the run to record them", file=sys.stderr)
        _, val_idx = stratified_split(y, base.config.val_ratio, base.config.seed)
        split = split_by_hashes(texts, {text_hash(texts[i]) for i in val_idx})
    if len(split.val) < 2:
        raise RunError(f"{spec.path} holds {len(split.val)} of run {base.path.name!r}'s validation texts: semi "
                       "cannot judge its rounds. Give the file the run was trained on")
    return split


def _round_config(config: TrainConfig, semi: SemiConfig) -> TrainConfig:
    """What a round trains: the base run's model, ``epochs_per_round`` epochs on its vectors.

    patience = epochs_per_round on purpose: a round runs every epoch asked for, with no early
    stopping (``semi --help`` says so). The best epoch by validation accuracy is the one kept
    either way, so stopping early would only save time, and rounds are short (1 epoch by
    default); the base run's patience was chosen for a whole training, not for a round."""
    return TrainConfig.from_dict({**config.to_dict(), "epochs": semi.epochs_per_round,
                                  "patience": semi.epochs_per_round, "embeddings": None,
                                  "pretrain_embeddings": False, "freeze_embeddings": False})


def _round_zero(rounds: Rounds, model) -> tuple[object, dict]:
    """The start: the base model, or with --pretrain-embeddings a fresh one if it validates better."""
    seed = rounds.config.seed
    start_accuracy, _, held_out = judge(model, rounds.encoder, rounds.val, seed)
    accuracy, seconds, pretrained_accuracy = start_accuracy, 0.0, None
    if rounds.job.semi.pretrain_embeddings:
        started = time.perf_counter()
        pretrained = _pretrained_start(rounds)
        pretrained_accuracy, _, pretrained_held_out = judge(pretrained, rounds.encoder, rounds.val, seed)
        if pretrained_accuracy >= start_accuracy:
            model, accuracy, held_out = pretrained, pretrained_accuracy, pretrained_held_out
        seconds = round(time.perf_counter() - started, 2)
        if rounds.progress:
            print(f"round 0: word vectors from labeled + unlabeled text, validation accuracy "
                  f"{pretrained_accuracy:.4f} ({'kept' if model is pretrained else 'the base run is better'})",
                  file=sys.stderr)
    runs.save_model(rounds.workspace.file("round-0.keras"), model, rounds.encoder.tokenizer, rounds.config)
    state = {"completed_rounds": 0, "kept_round": 0, "kept_val_accuracy": accuracy,
             "start_val_accuracy": start_accuracy, "pretrained_val_accuracy": pretrained_accuracy,
             "model_file": "round-0.keras", "rounds": [], "stopped": None}
    _append_row(rounds, state, {"round": 0, "pseudo": np.zeros(0, np.int64), "agreement": "",
                                "val_accuracy": accuracy, "val_probs": held_out, "accepted": True,
                                "seconds": seconds})
    _commit(rounds.workspace, state)
    return model, state


def _pretrained_start(rounds: Rounds):
    """The base run's configuration trained afresh, its word vectors learned from all the text."""
    fresh = TrainConfig.from_dict({**rounds.config.to_dict(), "embeddings": None, "pretrain_embeddings": True})
    scratch = rounds.workspace.file("round-0.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    data = TrainData(rounds.data.train_texts, rounds.data.train_y, rounds.data.val_texts, rounds.data.val_y,
                     unlabeled=rounds.unlabeled)
    model = train(fresh, data, scratch, rounds.encoder, options=FitOptions(progress=rounds.progress)).model
    shutil.rmtree(scratch, ignore_errors=True)
    return model


def _run_rounds(rounds: Rounds, model, state: dict):
    """The rounds after the committed ones, until the last, a rollback, or a round with nothing
    to learn; returns the kept model."""
    # the last committed round's pseudo-labels (a class id per unlabeled text, -1 where none was kept)
    previous = np.load(rounds.workspace.file(state["pseudo_file"]), allow_pickle=False) \
        if state.get("pseudo_file") else None
    _, _, kept_val = judge(model, rounds.encoder, rounds.val, rounds.config.seed)
    for r in range(state["completed_rounds"] + 1, rounds.job.semi.rounds + 1):
        if state.get("stopped"):
            break
        model, kept_val, previous = _one_round(rounds, r, model, kept_val, state, previous)
    return model


def _one_round(rounds: Rounds, r: int, model, kept_val: np.ndarray, state: dict, previous):
    """Label, select, train, judge and commit round r; returns the kept model, its validation
    probabilities and this round's pseudo-labels."""
    started = time.perf_counter()
    picks = _pick(rounds, r, model, state)
    if picks is None:
        _commit(rounds.workspace, state)
        return model, kept_val, previous
    idx, pseudo, chosen = picks
    current = _labels_of(idx, pseudo, len(rounds.unlabeled))
    extra = {name: ([rounds.unlabeled[i] for i in i_h], p_h) for name, (i_h, p_h) in chosen.items()}
    result = _train_round(_round_config(rounds.config, rounds.job.semi), rounds, model, extra)
    accuracy, _, new_val = judge(result.model, rounds.encoder, rounds.val, rounds.config.seed)
    taught = _labels_of(*chosen["ngrams"], len(rounds.unlabeled)) if "ngrams" in chosen else None
    evidence = _comparisons(rounds, result, (new_val, kept_val), taught, state)
    worse = [name for name, (new, old, y) in evidence.items() if worse_beyond_noise(new, old, y)]
    accepted = not worse
    old_file, old_taught = state["model_file"], state.get("kept_ngram_pseudo_file")
    if accepted:
        state.update(kept_round=r, kept_val_accuracy=accuracy, model_file=f"round-{r}.keras")
        runs.save_model(rounds.workspace.file(state["model_file"]), result.model, rounds.encoder.tokenizer,
                        rounds.config)
        if "cv" in evidence:  # the pseudo-labels the next round's are compared with
            state["kept_ngram_pseudo_file"] = f"ngram-pseudo-{r}.npy"
            _save_pseudo(rounds.workspace.file(state["kept_ngram_pseudo_file"]), taught)
        model, kept_val = result.model, new_val
    else:  # the round may have trained the model in place (a bow model has no stored form to copy
        # from): the kept one is read back from its file
        state["stopped"] = (f"round {r} was rolled back (worse beyond noise on {_where(worse)}); the next round "
                            "would relabel with the same model")
        model = runs.load_model(rounds.workspace.file(old_file))
    _append_row(rounds, state, {"round": r, "pseudo": pseudo, "agreement": _agreement(current, previous),
                                "val_accuracy": accuracy, "val_probs": new_val, "accepted": accepted,
                                "seconds": round(time.perf_counter() - started, 2)})
    state["completed_rounds"] = r
    old_pseudo, state["pseudo_file"] = state.get("pseudo_file"), f"pseudo-{r}.npy"
    _save_pseudo(rounds.workspace.file(state["pseudo_file"]), current)
    _commit(rounds.workspace, state)  # the round is committed here
    if accepted and old_file != state["model_file"]:
        rounds.workspace.file(old_file).unlink(missing_ok=True)
    if old_taught and old_taught != state.get("kept_ngram_pseudo_file"):
        rounds.workspace.file(old_taught).unlink(missing_ok=True)
    if old_pseudo:
        rounds.workspace.file(old_pseudo).unlink(missing_ok=True)
    if rounds.progress:
        print(f"round {r}: {len(idx)} pseudo-labels, validation accuracy {accuracy:.4f}"
              f"{'' if accepted else f' (rolled back: worse beyond noise on {_where(worse)}; stopping)'}",
              file=sys.stderr)
    return model, kept_val, current


# where each judge's evidence comes from, as messages name it
_EVIDENCE = {"validation": "validation", "cv": "the labeled training rows out of fold"}


def _where(judges: list) -> str:
    return " and ".join(_EVIDENCE[name] for name in judges)


def _comparisons(rounds: Rounds, result, val: tuple, taught: np.ndarray | None, state: dict) -> dict:
    """The paired evidence on a round, by judge: (the round's probabilities, the kept model's,
    the true classes) of the same rows. "validation": the mixes out of fold on the validation rows
    (val: the round's and the kept model's, from ``judge``); with --judge cv also "cv": the n-gram
    half fitted out of fold on the labeled training rows with the pseudo-labels it learned from
    this round (taught) and with the kept round's (none for round 0), both with the C this
    round's fit chose."""
    evidence = {"validation": (*val, rounds.val.y)}
    if rounds.job.semi.judge != "cv":
        return evidence
    if rounds.folds is None:
        train = rounds.encoder.rows(rounds.data.train_texts, rounds.data.train_y)
        rounds.folds = labeled_folds(result.model.get_layer("ngrams"), rounds.config, rounds.data.train_texts, train,
                                     rounds.unlabeled, rounds.unlabeled_seqs)
    kept_file = state.get("kept_ngram_pseudo_file")
    kept = np.load(rounds.workspace.file(kept_file), allow_pickle=False) if kept_file \
        else np.full(len(rounds.unlabeled), -1, dtype=np.int8)
    c = result.metrics["ngram_c"]
    evidence["cv"] = (cross_validated(rounds.folds, taught, c), cross_validated(rounds.folds, kept, c),
                      rounds.folds.y)
    return evidence


def _labels_of(idx: np.ndarray, pseudo: np.ndarray, n: int) -> np.ndarray:
    """A class id per unlabeled text (-1 where none) from a selection's indices and classes."""
    labels = np.full(n, -1, dtype=np.int8)
    labels[idx] = pseudo
    return labels


def _pick(rounds: Rounds, r: int, model, state: dict):
    """Round r's pseudo-labels: (indices, class ids, and by half the indices and class ids it
    learns from), or None (with the state's ``stopped`` set) when the rule keeps none."""
    semi = rounds.job.semi
    with step(f"round {r}: labeling the unlabeled text", total=len(rounds.unlabeled_seqs), unit="texts",
              enabled=rounds.progress) as counter:
        logits = halves_logits(model, rounds.unlabeled_seqs, rounds.encoder.features, progress=counter.update)
    probs = probabilities(logits, mix_params(model))
    if semi.select == "cotrain":
        chosen = cotrain_pseudo_labels(logits, rounds.names, semi.share, semi.max_per_round)
        idx, pseudo = union(chosen.values(), len(rounds.unlabeled))
    else:
        idx, pseudo = select(probs, semi)
        chosen = {name: (idx, pseudo) for name in rounds.names}
    if len(idx) == 0:
        reason = why_none(probs, semi, logits, rounds.names)  # the scores the rule ranked by
        if rounds.progress:
            print(f"round {r}: 0 pseudo-labels: {reason}", file=sys.stderr)
        state["stopped"] = f"round {r} kept no pseudo-label: {reason}"
        return None
    return idx, pseudo, chosen


def _train_round(config: TrainConfig, rounds: Rounds, model, extra: dict):
    """One round's training, continuing ``model``; a function of its own so tests can spy on it
    or force a bad round."""
    scratch = rounds.workspace.file("round.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    data = TrainData(rounds.data.train_texts, rounds.data.train_y, rounds.data.val_texts, rounds.data.val_y,
                     extra=extra)
    try:
        return train(config, data, scratch, rounds.encoder, model, FitOptions(progress=rounds.progress))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _agreement(current: np.ndarray, previous: np.ndarray | None):
    """The share of texts pseudo-labeled in both this round and the last that got the same class."""
    if previous is None or len(previous) != len(current):
        return ""
    both = (current >= 0) & (previous >= 0)
    return round(float(np.mean(current[both] == previous[both])), 6) if both.any() else ""


def _append_row(rounds: Rounds, state: dict, row: dict) -> None:
    labels = rounds.config.labels
    counts = np.bincount(row["pseudo"], minlength=len(labels)) if len(row["pseudo"]) else np.zeros(len(labels), int)
    state["rounds"].append({
        "round": row["round"], "pseudo_labels": int(len(row["pseudo"])),
        **{f"pseudo_{label}": int(c) for label, c in zip(labels, counts)},
        "agreement": row["agreement"], "val_accuracy": round(row["val_accuracy"], 6),
        "val_log_loss": round(log_loss(row["val_probs"], rounds.val.y), 6), "accepted": row["accepted"],
        "kept_val_accuracy": round(state["kept_val_accuracy"], 6), "seconds": row["seconds"]})


def _save_pseudo(path: Path, labels: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".partial.npy")
    np.save(tmp, labels.astype(np.int8), allow_pickle=False)
    tmp.replace(path)


def _commit(workspace: Workspace, state: dict) -> None:
    """The round's commit point: one atomic write of the state. rounds.csv follows from it."""
    workspace.commit(state)
    if state["rounds"]:
        runs.write_csv(workspace.file(runs.ROUNDS_FILE), state["rounds"])


def _write_run(rounds: Rounds, base: runs.Run, state: dict, model) -> dict:
    """The finished run's files in the workspace's run directory; returns its metrics."""
    run_dir, config, job = rounds.workspace.run_dir, rounds.config, rounds.job
    metrics = {
        "start_val_accuracy": state["start_val_accuracy"],
        "pretrained_val_accuracy": state.get("pretrained_val_accuracy"),
        "best_val_accuracy": state["kept_val_accuracy"],  # the kept model's, as `list` shows a run's
        "kept_round": state["kept_round"],
        "stopped": state.get("stopped"),
        "rounds": state["rounds"],
        "seconds": round(sum(float(r["seconds"]) for r in state["rounds"]), 2),
    }
    extra = {"semi": {**job.semi.to_dict(), "base_run": str(base.path)}}
    if config.num_classes == 2:
        extra["threshold"] = metrics["threshold"] = 0.5  # calibrated probabilities, as in train
    inputs = rounds.workspace.inputs()
    train_file = inputs["files"]["train"]
    data_info = {**train_file, "train": train_file["path"], "unlabeled": inputs["files"]["unlabeled"]["path"]}
    runs.write_json(run_dir / runs.CONFIG_FILE, runs.make_config_record(config, rounds.encoder.tokenizer, data_info,
                                                                        extra))
    runs.write_json(run_dir / runs.METRICS_FILE, metrics)
    runs.write_csv(run_dir / runs.ROUNDS_FILE, state["rounds"])
    runs.write_json(run_dir / runs.SPLIT_FILE, inputs["split"])
    runs.write_json(run_dir / runs.TEXTS_FILE, text_hashes(rounds.data.train_texts + rounds.data.val_texts))
    rounds.encoder.tokenizer.save(run_dir / runs.TOKENIZER_FILE)
    shutil.copyfile(rounds.workspace.file(state["model_file"]), run_dir / runs.MODEL_FILE)
    return metrics


def _resume_command(job: SemiJob) -> str:
    return (f"sentiment-cli semi {shlex.quote(job.base)} --output-run {shlex.quote(job.name)} --resume"
            f"{models_dir_option(job.models_dir)}")
