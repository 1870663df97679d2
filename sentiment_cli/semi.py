"""self_train(): rounds of pseudo-labelling on top of training and prediction.

Each round the current best model labels the unlabeled text; the pseudo-labels it is surest
of join the labeled training data (never the validation data) and the model trains again:
the n-gram half is refitted on labeled + pseudo-labeled text (so n-grams that only the
unlabeled text has get naive Bayes ratios and weights), the network half continues for
``epochs_per_round`` epochs, and the mix is refitted on validation. With co-training
(select="cotrain") each half learns from the other's surest texts instead of the mix's. A
round is rolled back when validation shows it worse beyond noise (``worse_beyond_noise``),
and the rounds stop, since the next round would relabel with the same model and repeat it.

Work happens in ``models/.NAME.inprogress/``. Everything a resume needs (the inputs, the
options, the rounds so far) is in one file, state.json, written atomically once per round:
that write is the round's commit. rounds.csv is derived from it. The finished run is renamed
to ``models/NAME`` only when the last round is done.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sentiment_cli import checks, runs
from sentiment_cli.config import SemiConfig
from sentiment_cli.data import Columns, DataManager, LabeledData, select_pseudo_labels
from sentiment_cli.errors import RunError
from sentiment_cli.calibration import out_of_fold, probabilities
from sentiment_cli.model import halves, halves_logits
from sentiment_cli.progress import step
from sentiment_cli.training import save_validation, train

STATE_FILE = "state.json"
PSEUDO_FILE = "pseudo_labels.npy"  # class id per unlabeled text, -1 where none was kept
STATE_VERSION = 3  # 3: rounds judged by out-of-fold log-loss (val_log_loss) and rolled back on harm


def inprogress_path(models_dir, name: str) -> Path:
    final = runs.run_path(models_dir, name)
    return final.with_name(f".{name}.inprogress")


@dataclass
class Inputs:
    """Where a semi run's data comes from; stored in its state so that --resume reads the same."""

    train: str
    unlabeled: str
    format: str = "auto"
    unlabeled_format: str = "auto"
    columns: dict | None = None

    def conflicts(self, given: dict) -> list[str]:
        """Options given on a resume that differ from the stored ones."""
        return [f"--{name.replace('_', '-')} {value} (the run started with {getattr(self, name)})"
                for name, value in given.items() if value is not None and value != getattr(self, name)]


def _validation(model, dm: DataManager, seqs, y, seed: int) -> tuple[float, np.ndarray, np.ndarray]:
    """The model on the validation rows, from one pass of its halves: accuracy and probabilities
    of its own mix, and each row's probabilities from a mix fitted on the other rows
    (out-of-fold; the model's own mix was fitted on these rows, which flatters it)."""
    logits = halves_logits(model, seqs, dm.features)
    probs = probabilities(logits, mix_params(model))
    return float(np.mean(probs.argmax(axis=1) == y)), probs, out_of_fold(logits, y, seed=seed)


def _row_log_loss(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0))


def log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(_row_log_loss(probs, y)))


def worse_beyond_noise(new_probs: np.ndarray, old_probs: np.ndarray, y: np.ndarray) -> bool:
    """Whether the validation rows show the new model worse than the old one beyond noise.

    A paired comparison on the same rows, by two measures: the mean log-loss is higher by more
    than twice the standard error of the per-row differences, or the rows only the old model
    gets right (c) outnumber those only the new one gets right (b) by more than twice the
    noise of that count (c - b > 2 sqrt(b + c)). The probabilities should come from mixes
    fitted out-of-fold (see ``_validation``).

    Why a round is rolled back only on evidence of harm, not kept only on evidence of gain:
    with few labels the validation rows cannot see a gain. On IMDB with 1,000 labels (100
    validation rows) three co-training rounds raised accuracy on the 24,000 held-out training
    reviews 84.5 -> 86.0 -> 86.2 -> 86.5%, while the 100 rows called the first a tie (t = 0.8)
    and the second a loss (81 right against 85, t = -1.7): a rule that waits for a gain kept
    none of them (bench/RESULTS.md, session 6). Pseudo-labels chosen by rank from a calibrated
    model, or by the other half, help more often than they harm; the rule stops the rounds
    that validation shows harmful.
    """
    if len(y) < 2:
        return False
    gain = _row_log_loss(old_probs, y) - _row_log_loss(new_probs, y)
    if not np.all(np.isfinite(gain)):
        return True
    standard_error = gain.std(ddof=1) / math.sqrt(len(y))
    right_new, right_old = new_probs.argmax(axis=1) == y, old_probs.argmax(axis=1) == y
    b, c = int(np.sum(right_new & ~right_old)), int(np.sum(right_old & ~right_new))
    return bool(gain.mean() < -2.0 * standard_error or c - b > 2.0 * math.sqrt(b + c))


def _save_pseudo(path: Path, labels: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".partial.npy")
    np.save(tmp, labels.astype(np.int8), allow_pickle=False)
    os.replace(tmp, path)


def _commit(work: Path, state: dict) -> None:
    """The round's commit point: one atomic write of the state. rounds.csv follows from it."""
    runs.write_json_atomic(work / STATE_FILE, state)
    runs.write_csv(work / runs.ROUNDS_FILE, state["rounds"])


def why_none(probs: np.ndarray, semi: SemiConfig, binary: bool) -> str:
    """Why a selection kept no pseudo-label, and which option would change it."""
    confidence = probs.max(axis=1)
    if semi.select in ("rank", "cotrain"):
        counts = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
        return (f"the model predicts some class for none of the texts (predicted per class: "
                f"{', '.join(map(str, counts))}) and --balance-ranks keeps the same number per class; "
                "a larger --share or more unlabeled text would help")
    if semi.band is not None:
        return (f"no P(positive) is outside the band {semi.band[0]:g},{semi.band[1]:g} (range "
                f"{probs[:, 1].min():.3f}-{probs[:, 1].max():.3f}); widen --band or use --select rank")
    return (f"no prediction is surer than {1 - semi.threshold:g} (the surest: {confidence.max():.3f}); "
            f"use --select rank (keeps each class's surest --share) or a larger --confidence")


def self_train(models_dir, base_name: str, output_name: str, train_path, unlabeled_path,
               semi: SemiConfig, *, fmt: str | None = None, columns: Columns | None = None,
               unlabeled_fmt: str | None = None, resume: bool = False, overwrite: bool = False,
               allow_other_train: bool = False, explicit: frozenset = frozenset(),
               verbose: int = 1) -> tuple[Path, dict]:
    """Run the rounds; returns the finished run's path and its metrics.

    train_path None: the base run's own training file (its validation split stays held out).
    On --resume the stored inputs and options are used; one given again (input arguments that
    are not None, SemiConfig fields named in ``explicit``) with another value is an error.
    """
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
    if not halves(base.model):
        raise RunError(f"run {base_name!r} was made by an older version of sentiment-cli (its model has no "
                       f"calibrated mix of halves): retrain it with 'sentiment-cli train {base_name} --overwrite'")
    config = base.config
    if not resume and semi.select == "cotrain" and len(halves(base.model)) != 2:
        if "select" in explicit:  # refused before any work is written
            raise RunError(f"--select cotrain needs a run with two halves (--model hybrid); {base_name!r} has "
                           f"{', '.join(halves(base.model))}. Use --select rank")
        # the default, on a run of one half: rank is what it can do
        semi = replace(semi, select="rank")
        print(f"note: {base_name!r} has one half ({', '.join(halves(base.model))}), and co-training needs "
              "two: its pseudo-labels are chosen by --select rank", file=sys.stderr)
    stored_train = base.record.get("data", {}).get("train")
    if resume:
        if not (work / STATE_FILE).exists():
            raise RunError(f"{work} was interrupted before its round 0 was saved: nothing to resume. "
                           "Start again with --overwrite")
        state = runs.read_json(work / STATE_FILE)
        if state.get("version") != STATE_VERSION:
            raise RunError(f"{work} was started by another version of sentiment-cli: start again with --overwrite")
        if state.get("base") != base_name or state.get("base_sha256") != base.tokenizer.fingerprint:
            raise RunError(f"{work} was started from another run than {base_name!r}: resume it with that run")
        inputs = Inputs(**state["inputs"])
        given = {"train": None if train_path is None else str(train_path),
                 "unlabeled": None if unlabeled_path is None else str(unlabeled_path),
                 "format": fmt, "unlabeled_format": unlabeled_fmt,
                 "columns": None if columns is None else vars(columns)}
        stored_semi = SemiConfig.from_dict(state["semi"])
        conflicts = inputs.conflicts(given) + [
            f"--{name.replace('_', '-')} {value} (the run started with {getattr(stored_semi, name)})"
            for name, value in semi.to_dict().items()
            if name != "rounds" and name in explicit and value != getattr(stored_semi, name)]
        if conflicts:
            raise RunError(f"{work} is resumed with the inputs and options it started with; these differ: "
                           f"{'; '.join(conflicts)}. Drop them, or start again with --overwrite")
        semi = SemiConfig.from_dict({**state["semi"], "rounds": semi.rounds})
    else:
        train_file = str(train_path) if train_path is not None else stored_train
        if train_file is None:
            raise RunError(f"run {base_name!r} does not record its training file: name it with --train")
        if stored_train is not None and train_file != stored_train and not allow_other_train:
            raise RunError(
                f"run {base_name!r} was trained on {stored_train}, not {train_file}: semi holds out the base run's "
                "own validation split, which another file would not have (its validation rows could be ones the "
                "model trained on). Leave out --train, or pass --allow-other-train to split the other file anew")
        data_info = base.record.get("data", {})
        inputs = Inputs(train_file, str(unlabeled_path) if unlabeled_path is not None else None,
                        fmt or data_info.get("format", "auto"), unlabeled_fmt or "auto",
                        columns=vars(columns) if columns is not None else data_info.get("columns"))
        if inputs.unlabeled is None:
            raise RunError("name the unlabeled text with --unlabeled")

    columns = Columns(**inputs.columns) if inputs.columns else Columns()
    dm = DataManager.from_config(config, base.tokenizer)
    labeled = DataManager.read_labeled(inputs.train, inputs.format, columns, progress=bool(verbose))
    y = dm.encode_labels(labeled.labels, labeled.path, labeled.lines)
    _, val_idx = dm.split(y, config.val_ratio, config.seed)  # the base run's split: same file, same seed
    val_seqs, val_y = dm.sequences([labeled.texts[i] for i in val_idx]), y[val_idx]
    unlabeled = DataManager.read_unlabeled(inputs.unlabeled, inputs.unlabeled_format, columns, progress=bool(verbose))
    unl_seqs = dm.sequences(unlabeled, progress=bool(verbose))

    if resume:
        model = runs.load_model(work / state["model_file"])
        previous = np.load(work / PSEUDO_FILE, allow_pickle=False) if (work / PSEUDO_FILE).exists() else None
    else:
        work.mkdir(parents=True)
        base.tokenizer.save(work / runs.TOKENIZER_FILE)
        runs.write_json(work / runs.TEXTS_FILE, checks.text_hashes(labeled.texts))
        model, state = _round_zero(work, base, config, semi, dm, labeled, unlabeled, val_seqs, val_y, verbose)
        state.update(inputs=vars(inputs), semi=semi.to_dict())
        _commit(work, state)
        previous = None

    round_config = type(config).from_dict({**config.to_dict(), "epochs": semi.epochs_per_round,
                                           "patience": semi.epochs_per_round,
                                           "embeddings": None, "pretrain_embeddings": False,
                                           "freeze_embeddings": False})
    binary = config.num_classes == 2
    names = halves(model)
    if semi.select == "cotrain" and len(names) != 2:
        raise RunError(f"--select cotrain needs a run with two halves (--model hybrid); {base_name!r} has "
                       f"{', '.join(names)}. Use --select rank")
    # the current best model's held-out validation probabilities; a round is judged against them
    _, _, model_val = _validation(model, dm, val_seqs, val_y, config.seed)
    bar = tqdm(total=semi.rounds, initial=state["completed_rounds"], desc="semi rounds", unit="round",
               file=sys.stderr, disable=not verbose or not sys.stderr.isatty())
    for r in range(state["completed_rounds"] + 1, semi.rounds + 1):
        if state.get("stopped"):
            break
        start = time.perf_counter()
        with step(f"round {r}: labeling the unlabeled text", total=len(unl_seqs), unit="texts",
                  enabled=bool(verbose)) as counter:
            logits = halves_logits(model, unl_seqs, dm.features, progress=counter.update)
        probs = probabilities(logits, mix_params(model))
        half_extra = None
        if semi.select == "cotrain":
            picks = cotrain_pseudo_labels(logits, names, semi.share, semi.max_per_round)
            half_extra = {name: LabeledData([unlabeled[i] for i in i_h], [config.labels[c] for c in p_h], [],
                                            inputs.unlabeled) for name, (i_h, p_h) in picks.items()}
            idx, pseudo = _union(picks.values(), len(unlabeled))
        else:
            idx, pseudo = select(probs, semi)
        if len(idx) == 0:
            reason = why_none(probs, semi, binary)
            if verbose:
                bar.write(f"round {r}: 0 pseudo-labels: {reason}", file=sys.stderr)
            state.update(stopped=f"round {r} kept no pseudo-label: {reason}")
            _commit(work, state)
            break
        current = np.full(len(unlabeled), -1, dtype=np.int8)
        current[idx] = pseudo
        both = (current >= 0) & (previous >= 0) if previous is not None else None
        agreement = float(np.mean(current[both] == previous[both])) if both is not None and both.any() else ""
        extra = None if half_extra else LabeledData([unlabeled[i] for i in idx], [config.labels[c] for c in pseudo],
                                                    [], inputs.unlabeled)
        round_dir = work / f"round-{r}.tmp"
        shutil.rmtree(round_dir, ignore_errors=True)
        round_dir.mkdir()
        result = _train_round(round_config, labeled, round_dir, dm, model, extra, verbose, half_extra)
        val_accuracy, _, new_val = _validation(result.model, dm, val_seqs, val_y, config.seed)
        accepted = not worse_beyond_noise(new_val, model_val, val_y)
        old_model_file = state["model_file"]
        if accepted:
            model_file = f"round-{r}.keras"
            runs.save_model(work / model_file, result.model, dm.tokenizer, config)
            model, model_val = result.model, new_val
            state.update(best_round=r, best_val_accuracy=val_accuracy, model_file=model_file)
        else:  # rolled back: the round's weights are discarded (the saved best stays), and the rounds
            # stop, since the next one would relabel with the same model and repeat this one. The
            # round trained the model in place, so the kept one is read back from its file.
            state["stopped"] = f"round {r} was rolled back; the next round would relabel with the same model"
            model = runs.load_model(work / state["model_file"])
        shutil.rmtree(round_dir, ignore_errors=True)
        counts = np.bincount(pseudo, minlength=config.num_classes)
        state["rounds"].append({
            "round": r, "pseudo_labels": int(len(idx)),
            **{f"pseudo_{label}": int(c) for label, c in zip(config.labels, counts)},
            "agreement": "" if agreement == "" else round(agreement, 6),
            "val_accuracy": round(val_accuracy, 6), "val_log_loss": round(log_loss(new_val, val_y), 6),
            "accepted": accepted,
            "best_val_accuracy": round(state["best_val_accuracy"], 6),
            "seconds": round(time.perf_counter() - start, 2)})
        state["completed_rounds"] = r
        _save_pseudo(work / PSEUDO_FILE, current)
        _commit(work, state)  # the round is committed here
        if accepted and old_model_file != state["model_file"]:
            (work / old_model_file).unlink(missing_ok=True)
        previous = current
        bar.update(1)
        if verbose:
            bar.write(f"round {r}: {len(idx)} pseudo-labels, validation accuracy {val_accuracy:.4f}"
                      f"{'' if accepted else ' (rolled back: worse beyond noise on validation; stopping)'}",
                      file=sys.stderr)
    bar.close()
    _, probs, _ = _validation(model, dm, val_seqs, val_y, config.seed)  # the kept model's, for `plot`
    save_validation(work / runs.VALIDATION_FILE, config.labels, val_y, probs)
    return _finish(work, final, base, config, semi, state, dm, overwrite)


def mix_params(model) -> np.ndarray:
    """The model's mix (scales, then biases) as ``calibration.probabilities`` takes it."""
    mix = model.get_layer("mix")
    return np.concatenate([mix.scale.numpy(), mix.bias.numpy()]).astype(np.float64)


def cotrain_pseudo_labels(logits: np.ndarray, names: list[str], share: float,
                          max_count: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Co-training (Blum & Mitchell 1998): each half's surest texts, ranked by its own logits,
    the same number per class, become pseudo-labels for the other half.

    The n-gram half and the network read a text differently and make different mistakes, so
    each learns from the other what it does not already know; self-training a half on its own
    surest texts mostly repeats what it gets right. Returns, by the name of the half that
    learns from them, the indices and class ids (as ``rank_pseudo_labels``).
    """
    picks = {}
    for h, name in enumerate(names):
        own = probabilities(logits[:, h:h + 1], np.concatenate([[1.0], np.zeros(logits.shape[2])]))
        picks[names[1 - h]] = rank_pseudo_labels(own, share, max_count)
    return picks


def _union(picks, n: int) -> tuple[np.ndarray, np.ndarray]:
    """All texts picked by either half, with their class; one the halves label differently is left out."""
    labels = np.full(n, -1, dtype=np.int64)
    conflict = np.zeros(n, dtype=bool)
    for idx, pseudo in picks:
        conflict[idx] |= (labels[idx] >= 0) & (labels[idx] != pseudo)
        labels[idx] = pseudo
    labels[conflict] = -1
    idx = np.flatnonzero(labels >= 0)
    return idx, labels[idx]


def select(probs: np.ndarray, semi: SemiConfig) -> tuple[np.ndarray, np.ndarray]:
    """The pseudo-labels a round keeps, by the rule semi.select names."""
    if semi.select == "rank":
        return rank_pseudo_labels(probs, semi.share, semi.max_per_round)
    binary = probs.shape[1] == 2
    return select_pseudo_labels(probs[:, 1] if binary else probs, semi.threshold, semi.band, semi.balance,
                                semi.max_per_round)


def rank_pseudo_labels(probs: np.ndarray, share: float, max_count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each class's surest predictions, the same number per class: share x n / K of them.

    Ranking by (calibrated) probability instead of a fixed threshold gives an unsure start its
    most certain examples too, and equal numbers per class keep the pseudo-labels from
    drifting to the class the model favours. Returns sorted indices and their class ids.
    """
    n, k = probs.shape
    predicted = probs.argmax(axis=1)
    per_class = int(share * n / k)
    if max_count is not None:
        per_class = min(per_class, max_count // k)
    ranked = []
    for c in range(k):
        members = np.flatnonzero(predicted == c)
        ranked.append(members[np.argsort(-probs[members, c], kind="stable")])
    per_class = min([per_class] + [len(r) for r in ranked])
    idx = np.sort(np.concatenate([r[:per_class] for r in ranked])) if per_class > 0 else np.zeros(0, np.int64)
    return idx, predicted[idx]


def _round_zero(work, base, config, semi, dm, labeled, unlabeled, val_seqs, val_y, verbose):
    """The start: the base model, or with --pretrain-embeddings a fresh one if it validates better."""
    model = base.model
    start_accuracy, _, held_out = _validation(model, dm, val_seqs, val_y, config.seed)
    best_accuracy, seconds, pretrained_accuracy = start_accuracy, 0.0, None
    if semi.pretrain_embeddings:
        started = time.perf_counter()
        pretrained = _pretrained_start(config, labeled, unlabeled, work / "round-0.tmp", dm, verbose)
        pretrained_accuracy, _, pretrained_held_out = _validation(pretrained, dm, val_seqs, val_y, config.seed)
        if pretrained_accuracy >= start_accuracy:
            model, best_accuracy, held_out = pretrained, pretrained_accuracy, pretrained_held_out
        shutil.rmtree(work / "round-0.tmp", ignore_errors=True)
        seconds = round(time.perf_counter() - started, 2)
        if verbose:
            print(f"round 0: word vectors from labeled + unlabeled text, validation accuracy "
                  f"{pretrained_accuracy:.4f} ({'kept' if model is pretrained else 'the base run is better'})",
                  file=sys.stderr)
    runs.save_model(work / "round-0.keras", model, dm.tokenizer, config)
    row = {"round": 0, "pseudo_labels": 0, **{f"pseudo_{label}": 0 for label in config.labels},
           "agreement": "", "val_accuracy": round(best_accuracy, 6),
           "val_log_loss": round(log_loss(held_out, val_y), 6), "accepted": True,
           "best_val_accuracy": round(best_accuracy, 6), "seconds": seconds}
    state = {"version": STATE_VERSION, "base": base.path.name, "base_sha256": base.tokenizer.fingerprint,
             "completed_rounds": 0, "best_round": 0, "best_val_accuracy": best_accuracy,
             "start_val_accuracy": start_accuracy, "pretrained_val_accuracy": pretrained_accuracy,
             "model_file": "round-0.keras", "rounds": [row], "stopped": None}
    return model, state


def _pretrained_start(config, labeled, unlabeled, run_dir, dm, verbose):
    """The base run's configuration trained afresh, its word vectors learned from all the text."""
    fresh = type(config).from_dict({**config.to_dict(), "embeddings": None, "pretrain_embeddings": True})
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    return train(fresh, labeled, run_dir, verbose=2 if verbose else 0, data_manager=dm,
                 unlabeled_texts=unlabeled).model


def _train_round(config, labeled, run_dir, dm, model, extra, verbose, half_extra=None):
    """One round's training; a function of its own so tests can force a bad round."""
    return train(config, labeled, run_dir, verbose=2 if verbose else 0, data_manager=dm,
                 initial_model=model, extra_data=extra, half_extra=half_extra)


def _finish(work, final, base, config, semi, state, dm, overwrite):
    """Write the run's files and rename the work into place; nothing is committed before the
    output name is known to be free, so a refused finish can still be resumed."""
    if final.exists() and not overwrite:
        raise RunError(f"run {final.name!r} appeared while semi ran: its work stays in {work}; "
                       f"pass --resume --overwrite to finish it in its place")
    rows = state["rounds"]
    metrics = {
        "start_val_accuracy": state["start_val_accuracy"],
        "pretrained_val_accuracy": state.get("pretrained_val_accuracy"),
        "best_val_accuracy": state["best_val_accuracy"],
        "best_round": state["best_round"],
        "stopped": state.get("stopped"),
        "rounds": rows,
        "seconds": round(sum(float(r["seconds"]) for r in rows), 2),
    }
    extra = {"semi": {**semi.to_dict(), "base_run": base.path.name}}
    if config.num_classes == 2:
        extra["threshold"] = metrics["threshold"] = 0.5  # calibrated probabilities, as in train
    inputs = state["inputs"]
    data_info = {"train": inputs["train"], "unlabeled": inputs["unlabeled"], "format": inputs["format"],
                 "columns": inputs["columns"]}
    runs.write_json(work / runs.CONFIG_FILE, runs.make_config_record(config, dm.tokenizer, data_info, extra))
    runs.write_json(work / runs.METRICS_FILE, metrics)
    shutil.copyfile(work / state["model_file"], work / runs.MODEL_FILE)
    runs.install_run(work, final, overwrite)
    for leftover in (STATE_FILE, PSEUDO_FILE, state["model_file"]):
        (final / leftover).unlink(missing_ok=True)
    return final, metrics
