"""semi_run(): rounds of pseudo-labelling, in the workspace that `train` uses too.

Each round the kept model labels the unlabeled text; the pseudo-labels it is surest of join the
labeled training side (never validation) and the model trains again: the n-gram half is refitted
on labeled + pseudo-labeled text, the network half continues for ``epochs_per_round`` epochs,
and the mix is refitted on validation. With co-training each half learns from the other's surest
texts instead of the mix's; with ``--pseudo-labels accumulate`` also from those of the rounds
before, each with its first class (``selection.accumulate``). A round that validation shows worse
beyond noise is rolled back
(``acceptance.worse_beyond_noise``), and the rounds stop, since the next one would relabel with
the same model and repeat it. With ``--judge cv`` a round is also rolled back when the n-gram half,
fitted out of fold on the labeled training rows with the round's pseudo-labels, predicts them
worse beyond noise than with the kept round's (``acceptance.cross_validated``): many more rows
than validation has, though only the n-gram half, which is why validation still judges too.

On a cross-validated base run (``train --folds``, which keeps no validation rows) a round is
judged out of fold instead, on every labeled row: K + 1 trainings with the base run's settings
(``training.cross_validate``) on the base run's folds, and the round is rolled back when its
pooled out-of-fold predictions are worse beyond noise than the kept round's (round 0: the base
run's own, from its oof.json). Fold k's pseudo-labels come from a teacher that never saw fold
k's labels, the kept round's fold-k model (the final model, which trained on every labeled row,
would hand fold k its own held-out labels through near-copies in the unlabeled text); the final
model's come from the kept final model. The base run's fold models are not saved: they are
trained again once, before round 1, and each kept round's fold models' logits on the unlabeled
text are saved at its commit (teachers-R.npz), which a resumed run reads back. Unlabeled texts
equal to a labeled text are left out.

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
from sentiment_cli.data import DataSpec, read_labeled, read_unlabeled
from sentiment_cli.encoding import Encoder, Rows, Split, split_by_hashes, stratified_split, text_hash, text_hashes
from sentiment_cli.errors import RunError
from sentiment_cli.fit import FitOptions
from sentiment_cli.model import halves, halves_logits, mix_params
from sentiment_cli.progress import step
from sentiment_cli.semi.acceptance import (
    LabeledFolds, cross_validated, judge, labeled_folds, log_loss, worse_beyond_noise,
)
from sentiment_cli.semi.selection import (
    accumulate, check_selection, cotrain_pseudo_labels, select, union, why_none,
)
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
    # a cross-validated base run (train --folds): each labeled row's fold, from its oof.json; the
    # rounds are then judged out of fold on every labeled row (data.train_*), and val is empty
    fold: np.ndarray | None = None
    cv_config: TrainConfig | None = None  # the fold trainings' settings: the base run's, with the epochs it asked
    # each fold's teacher: its fold model's halves' logits on the unlabeled text (folds, texts,
    # halves, classes) and the mix that turns them into probabilities
    teachers: tuple | None = None

    def judged_y(self) -> np.ndarray:
        """The true classes of the rows that judge the rounds: every labeled row out of fold, or validation's."""
        return self.data.train_y if self.fold is not None else self.val.y


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
    # a run started before --pseudo-labels replaced each round's pseudo-labels, and goes on so
    job = SemiJob(models_dir, base_name, name, SemiConfig.from_dict({"pseudo_labels": "replace", **options["semi"]}),
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
            model, state = _round_zero_cv(rounds, base) if rounds.fold is not None else _round_zero(rounds, base.model)
        model = _run_rounds(rounds, model, state)
        if rounds.fold is not None:  # the kept round's out-of-fold probabilities, as train --folds saves them
            probs = np.load(workspace.file(state["kept_oof_file"]), allow_pickle=False)
        else:
            _, probs, _ = judge(model, rounds.encoder, rounds.val, rounds.config.seed)  # the kept model's, for `plot`
        save_validation(workspace.run_dir / runs.VALIDATION_FILE, rounds.config.labels, rounds.judged_y(), probs)
        metrics = _write_run(rounds, base, state, model)
        return workspace.install(), metrics


def _prepare(workspace: Workspace, job: SemiJob, base: runs.Run, progress: bool) -> tuple[Rounds, dict]:
    """Read the labeled and unlabeled text; rebuild the base run's split; the inputs to record."""
    spec = _train_spec(job, base)
    config = base.config
    encoder = Encoder.from_config(config, base.tokenizer)
    labeled = read_labeled(spec.path, spec.format, spec.columns, None, spec.on_bad_lines, progress=progress)
    y = encoder.encode_labels(labeled.labels, labeled.path, labeled.lines)
    texts = labeled.texts
    fold, record = _base_folds(base, texts, spec)
    if fold is None:
        split = _base_split(base, texts, y, spec)
        record = split.record()
        data = TrainData([texts[i] for i in split.train], y[split.train], [texts[i] for i in split.val], y[split.val])
        held_out, which = set(split.hashes), "validation texts"
    else:  # every labeled row validates once, in its fold
        _refuse_on_folds(job)
        data = TrainData(list(texts), y, [], np.zeros(0, y.dtype))
        held_out, which = {text_hash(t) for t in texts}, "labeled texts"
    unlabeled = read_unlabeled(job.unlabeled.path, job.unlabeled.format, job.unlabeled.columns, progress=progress)
    kept = [t for t in unlabeled if text_hash(t) not in held_out]
    if len(kept) < len(unlabeled) and progress:
        print(f"note: {len(unlabeled) - len(kept)} unlabeled text(s) equal {which} and are left out, so that the "
              "rounds are judged on texts they did not train on", file=sys.stderr)
    if not kept:
        raise RunError(f"{job.unlabeled.path}: every unlabeled text is also one of the {which}; give other text")
    with step("tokenizing the unlabeled text", total=len(kept), unit="texts", enabled=progress) as counter:
        seqs = encoder.sequences(kept)
        counter.update(len(seqs))
    rounds = Rounds(job, config, encoder, data, encoder.rows(data.val_texts, data.val_y), kept, seqs, workspace,
                    progress, halves(base.model), fold=fold, cv_config=_cv_config(base) if fold is not None else None)
    inputs = {"files": {"train": describe(spec, texts, labeled.labels), "unlabeled": describe(job.unlabeled, unlabeled)},
              "base": {"path": str(base.path.resolve()), "tokenizer_sha256": base.tokenizer.fingerprint},
              "split": record}
    return rounds, inputs


def _train_spec(job: SemiJob, base: runs.Run) -> DataSpec:
    """The labeled file and how to read it: the base run's own as it was read, unless --train."""
    own = runs.training_file(base)
    if own is None and job.train is None:
        raise RunError(f"run {job.base!r} does not record its training file: name it with --train")
    if job.train is None:
        return own
    if own is not None and str(job.train.path) != str(own.path) and not job.allow_other_train:
        raise RunError(
            f"run {job.base!r} was trained on {own.path}, not {job.train.path}: semi holds out the base run's own "
            "validation texts, which another file may lack. Leave out --train, or pass --allow-other-train (its "
            "rows that are the base run's validation texts validate, the others train)")
    return job.train


def _base_folds(base: runs.Run, texts: list, spec: DataSpec) -> tuple[np.ndarray | None, dict | None]:
    """For a cross-validated base run (train --folds): each labeled row's fold, as its oof.json
    records them by text hash, and its split record; (None, None) for a run with a validation split."""
    path = base.path / runs.SPLIT_FILE
    record = runs.read_json(path) if path.exists() else None
    if record is None or not record.get("cross_validation"):
        return None, None
    oof_path = base.path / runs.OOF_FILE
    if not oof_path.is_file():
        raise RunError(f"run {base.path.name!r} was cross-validated but has no {runs.OOF_FILE}: train it again")
    oof = runs.read_json(oof_path)
    fold_of = dict(zip((str(h) for h in oof["hash"]), (int(k) for k in oof["fold"])))
    fold = np.array([fold_of.get(text_hash(t), -1) for t in texts], dtype=np.int64)
    if (fold < 0).any():
        raise RunError(f"{spec.path} holds {int((fold < 0).sum())} text(s) that run {base.path.name!r} was not "
                       f"cross-validated on: semi judges the rounds on the base run's folds. Give the file the run "
                       "was trained on")
    return fold, record


def _cv_config(base: runs.Run) -> TrainConfig:
    """The base run's settings for the rounds' fold trainings: its C, and the epochs it asked for
    (config.json holds the median of its folds' best, which taken again as the folds' maximum
    would shrink round after round). A run made by 0.6.1 or earlier records no asked epochs: its
    config's are used, which is said."""
    asked = base.metrics.get("cross_validation", {}).get("choices", {}).get("epochs_asked")
    if asked is None:
        if base.config.model != "ngram":
            print(f"warning: run {base.path.name!r} does not record the epochs its folds were asked for (made by an "
                  f"older version): the rounds' folds train up to its final model's {base.config.epochs}",
                  file=sys.stderr)
        return base.config
    return TrainConfig.from_dict({**base.config.to_dict(), "epochs": int(asked)})


def _refuse_on_folds(job: SemiJob) -> None:
    """What a cross-validated base run's rounds do not offer."""
    if job.semi.epochs_per_round != SemiConfig.epochs_per_round:
        raise RunError("--epochs-per-round continues the kept model, which the rounds on a cross-validated base run "
                       "(train --folds) do not do (each round trains its folds afresh with the base run's epochs): "
                       "leave it out, or train the base run with --folds off")
    if job.semi.pretrain_embeddings:
        raise RunError("--pretrain-embeddings compares a fresh start with the base run on validation rows, which a "
                       "cross-validated base run (train --folds) has none of: leave it out, or train the base run "
                       "with --folds off")


def _base_split(base: runs.Run, texts: list, y: np.ndarray, spec: DataSpec) -> Split:
    """The base run's split, rebuilt from its validation texts' hashes (or, for a run made before
    runs recorded them, drawn again from the file's order and seed, which is said)."""
    path = base.path / runs.SPLIT_FILE
    record = runs.read_json(path) if path.exists() else None
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


def _round_zero_cv(rounds: Rounds, base: runs.Run) -> tuple[object, dict]:
    """The start on a cross-validated base run: its model, judged by its own out-of-fold
    probabilities (oof.json), which the first round's are compared with."""
    found = runs.read_oof(base.path)
    probs = np.stack([found[text_hash(t)] for t in rounds.data.train_texts])
    accuracy = float(np.mean(probs.argmax(axis=1) == rounds.judged_y()))
    runs.save_model(rounds.workspace.file("round-0.keras"), base.model, rounds.encoder.tokenizer, rounds.config)
    _save_array(rounds.workspace.file("oof-0.npy"), probs)
    if rounds.progress:
        k = int(rounds.fold.max()) + 1
        print(f"semi on a cross-validated run: each round trains {k} fold models and the final one ({k + 1} "
              f"trainings of up to {len(rounds.fold)} labeled rows and the round's pseudo-labels) and is judged on the "
              f"pooled out-of-fold predictions of every labeled row (round 0: the base run's, accuracy "
              f"{accuracy:.4f})" + ("; --judge cv adds nothing to them and is not run" if rounds.job.semi.judge == "cv"
                                   else ""), file=sys.stderr)
    state = {"completed_rounds": 0, "kept_round": 0, "kept_val_accuracy": accuracy, "start_val_accuracy": accuracy,
             "pretrained_val_accuracy": None, "model_file": "round-0.keras", "kept_oof_file": "oof-0.npy",
             "judged_on": "out-of-fold", "rounds": [], "stopped": None}
    _append_row(rounds, state, {"round": 0, "pseudo": np.zeros(0, np.int64), "agreement": "",
                                "val_accuracy": accuracy, "val_probs": probs, "accepted": True, "seconds": 0.0})
    _commit(rounds.workspace, state)
    return base.model, state


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
    if rounds.fold is not None:
        kept_val = np.load(rounds.workspace.file(state["kept_oof_file"]), allow_pickle=False)
        if not state.get("stopped") and state["completed_rounds"] < rounds.job.semi.rounds:
            rounds.teachers = _teachers(rounds, state)
    else:
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
    learned = _learned(rounds, state, [chosen] + (_fold_picks(rounds, r) if rounds.fold is not None else []))
    extra, *fold_extra = (_extra(rounds, labels) for labels in learned)
    taught = learned[0, rounds.names.index("ngrams")] if "ngrams" in rounds.names else None
    if rounds.fold is not None:
        made = _train_round_cv(rounds, r, extra, fold_extra)
        result, new_val = made.result, made.probabilities
        accuracy = float(np.mean(new_val.argmax(axis=1) == rounds.judged_y()))
        evidence = {"out-of-fold": (new_val, kept_val, rounds.judged_y())}
    else:
        result = _train_round(_round_config(rounds.config, rounds.job.semi), rounds, model, extra)
        accuracy, _, new_val = judge(result.model, rounds.encoder, rounds.val, rounds.config.seed)
        evidence = _comparisons(rounds, result, (new_val, kept_val), taught, state)
    worse = [name for name, (new, old, y) in evidence.items() if worse_beyond_noise(new, old, y)]
    accepted = not worse
    old_file, old_taught = state["model_file"], state.get("kept_ngram_pseudo_file")
    old_oof, old_teachers = state.get("kept_oof_file"), state.get("teachers_file")
    old_learned = state.get("learned_file")
    if accepted:
        state.update(kept_round=r, kept_val_accuracy=accuracy, model_file=f"round-{r}.keras")
        if rounds.job.semi.pseudo_labels == "accumulate":  # what the next round's picks join
            state["learned_file"] = f"learned-{r}.npy"
            _save_pseudo(rounds.workspace.file(state["learned_file"]), learned)
        runs.save_model(rounds.workspace.file(state["model_file"]), result.model, rounds.encoder.tokenizer,
                        rounds.config)
        if rounds.fold is not None:  # what the next round is compared with, and the run's oof.json
            state["kept_oof_file"] = f"oof-{r}.npy"
            _save_array(rounds.workspace.file(state["kept_oof_file"]), new_val)
            runs.write_json(rounds.workspace.file(f"oof-{r}.json"), made.oof)
            rounds.teachers = (made.teachers, np.asarray(made.oof["mix"], dtype=np.float64))
            state["teachers_file"] = f"teachers-{r}.npz"
            _save_teachers(rounds.workspace.file(state["teachers_file"]), rounds.teachers)
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
    if old_learned and old_learned != state.get("learned_file"):
        rounds.workspace.file(old_learned).unlink(missing_ok=True)
    if old_teachers and old_teachers != state.get("teachers_file"):
        rounds.workspace.file(old_teachers).unlink(missing_ok=True)
    if old_oof and old_oof != state.get("kept_oof_file") and old_oof != "oof-0.npy":
        rounds.workspace.file(old_oof).unlink(missing_ok=True)
        rounds.workspace.file(old_oof.replace(".npy", ".json")).unlink(missing_ok=True)
    if rounds.progress:
        grown = "" if rounds.job.semi.pseudo_labels == "replace" else \
            f" ({', '.join(str(int((labels >= 0).sum())) for labels in learned[0])} learned by the halves so far)"
        print(f"round {r}: {len(idx)} pseudo-labels{grown}, "
              f"{'out-of-fold' if rounds.fold is not None else 'validation'} accuracy {accuracy:.4f}"
              f"{'' if accepted else f' (rolled back: worse beyond noise on {_where(worse)}; stopping)'}",
              file=sys.stderr)
    return model, kept_val, current


# where each judge's evidence comes from, as messages name it
_EVIDENCE = {"validation": "validation", "cv": "the labeled training rows out of fold",
             "out-of-fold": "every labeled row out of fold"}


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
    idx, pseudo, chosen = _choose(rounds, logits, probs)
    if len(idx) == 0:
        reason = why_none(probs, semi, logits, rounds.names)  # the scores the rule ranked by
        if rounds.progress:
            print(f"round {r}: 0 pseudo-labels: {reason}", file=sys.stderr)
        state["stopped"] = f"round {r} kept no pseudo-label: {reason}"
        return None
    return idx, pseudo, chosen


def _choose(rounds: Rounds, logits: np.ndarray, probs: np.ndarray):
    """The rule's pseudo-labels from a teacher's halves' logits and mixed probabilities on the
    unlabeled text: (indices, class ids, and by half the indices and class ids it learns from)."""
    semi = rounds.job.semi
    if semi.select == "cotrain":
        chosen = cotrain_pseudo_labels(logits, rounds.names, semi.share, semi.max_per_round)
        idx, pseudo = union(chosen.values(), len(rounds.unlabeled))
    else:
        idx, pseudo = select(probs, semi)
        chosen = {name: (idx, pseudo) for name in rounds.names}
    return idx, pseudo, chosen


def _learned(rounds: Rounds, state: dict, picks: list) -> np.ndarray:
    """What each model learns from in this round, by teacher (picks: by half, the indices and
    class ids each teacher picked for it; the final model's, then each fold's) and half: a class id
    per unlabeled text, -1 where none. --pseudo-labels replace: this round's picks alone;
    accumulate: they join the kept round's (``selection.accumulate``)."""
    n = len(rounds.unlabeled)
    picked = np.stack([[_labels_of(*chosen[name], n) for name in rounds.names] for chosen in picks])
    if rounds.job.semi.pseudo_labels == "replace" or not state.get("learned_file"):
        return picked
    return accumulate(np.load(rounds.workspace.file(state["learned_file"]), allow_pickle=False), picked)


def _extra(rounds: Rounds, learned: np.ndarray) -> dict:
    """By half, the (texts, class ids) it learns from (TrainData.extra), from a class id per
    unlabeled text and half."""
    extra = {}
    for name, labels in zip(rounds.names, learned):
        idx = np.flatnonzero(labels >= 0)
        extra[name] = ([rounds.unlabeled[i] for i in idx], labels[idx].astype(np.int64))
    return extra


def _fold_picks(rounds: Rounds, r: int) -> list:
    """Each fold's pseudo-labels for round r, by half (indices and class ids, as ``_choose``),
    chosen by the same rule from its own teacher: the kept round's model of that fold, which never
    saw the fold's labels."""
    logits, mix = rounds.teachers
    picks = []
    for k in range(len(logits)):
        _, _, chosen = _choose(rounds, logits[k], probabilities(logits[k], mix))
        picks.append(chosen)
    if rounds.progress:
        counts = [max(len(i) for i, _ in fold.values()) if fold else 0 for fold in picks]
        print(f"round {r}: each fold's pseudo-labels from its own fold model: {', '.join(map(str, counts))}",
              file=sys.stderr)
    return picks


def _teachers(rounds: Rounds, state: dict) -> tuple:
    """The next round's teachers: the kept round's, saved at its commit, or before round 1 the base
    run's fold models, trained again (they are not saved with a run), and committed."""
    if state.get("teachers_file"):
        with np.load(rounds.workspace.file(state["teachers_file"]), allow_pickle=False) as saved:
            return saved["logits"], saved["mix"]
    k = int(rounds.fold.max()) + 1
    print(f"semi on a cross-validated run: the base run's {k} fold models are not saved; training them again once "
          f"({k} trainings of up to {len(rounds.fold)} labeled rows) so that each fold's pseudo-labels come from a "
          "model that never saw that fold's labels", file=sys.stderr)
    made = _fold_trainings(rounds, "teachers.tmp", final_model=False)
    teachers = (made.teachers, np.asarray(made.oof["mix"], dtype=np.float64))
    state["teachers_file"] = "teachers-0.npz"
    _save_teachers(rounds.workspace.file(state["teachers_file"]), teachers)
    _commit(rounds.workspace, state)
    return teachers


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


def _train_round_cv(rounds: Rounds, r: int, extra: dict, fold_extra: list):
    """One round on a cross-validated base run: each fold's own pseudo-labels (fold_extra) join its
    training side (less the held-out fold's texts), the kept final model's (extra) the final
    model's, trained afresh with the base run's settings (its C and asked epochs; the final model
    takes the median of the folds' best) and its tokenizer for the final model: K + 1 trainings
    (``training.cross_validate``), which also return the fold models' logits on the unlabeled
    text, the next round's teachers. A function of its own so tests can spy on it."""
    k = int(rounds.fold.max()) + 1
    if rounds.progress:
        print(f"round {r}: {k} fold trainings and the final one ({k + 1} trainings of up to {len(rounds.fold)} "
              f"labeled rows and {max((len(t) for t, _ in extra.values()), default=0)} pseudo-labels)",
              file=sys.stderr)
    encoder = Encoder.from_config(rounds.config, rounds.encoder.tokenizer)
    return _fold_trainings(rounds, "round.tmp", extra=extra, encoder=encoder, fold_extra=fold_extra)


def _fold_trainings(rounds: Rounds, scratch_name: str, **kwargs):
    """``training.cross_validate`` on the base run's folds with its settings, the fold models'
    logits on the unlabeled text returned (``teach``), in a scratch folder of the workspace."""
    from sentiment_cli.training import cross_validate

    scratch = rounds.workspace.file(scratch_name)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        return cross_validate(rounds.cv_config, rounds.data.train_texts, rounds.data.train_y,
                              int(rounds.fold.max()) + 1, rounds.config.labels, rounds.unlabeled,
                              FitOptions(progress=rounds.progress), scratch, fold=rounds.fold, teach=True,
                              announce=False, **kwargs)
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
        "val_log_loss": round(log_loss(row["val_probs"], rounds.judged_y()), 6), "accepted": row["accepted"],
        "kept_val_accuracy": round(state["kept_val_accuracy"], 6), "seconds": row["seconds"]})


def _save_pseudo(path: Path, labels: np.ndarray) -> None:
    _save_array(path, labels.astype(np.int8))


def _save_array(path: Path, values: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".partial.npy")
    np.save(tmp, values, allow_pickle=False)
    tmp.replace(path)


def _save_teachers(path: Path, teachers: tuple) -> None:
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as out:
        np.savez(out, logits=teachers[0], mix=teachers[1])
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
        # "out-of-fold" on a cross-validated base run: the *_val_accuracy figures are pooled out of fold
        "judged_on": state.get("judged_on", "validation"),
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
    if rounds.fold is not None:  # the kept round's out-of-fold predictions, for what reads a run's oof.json
        kept_oof = rounds.workspace.file(f"oof-{state['kept_round']}.json") if state["kept_round"] \
            else Path(inputs["base"]["path"]) / runs.OOF_FILE
        shutil.copyfile(kept_oof, run_dir / runs.OOF_FILE)
    return metrics


def _resume_command(job: SemiJob) -> str:
    return (f"sentiment-cli semi {shlex.quote(job.base)} --output-run {shlex.quote(job.name)} --resume"
            f"{models_dir_option(job.models_dir)}")
