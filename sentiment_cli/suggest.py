"""Which unlabeled texts to label next: those a label would teach the model most (active learning).

A text is worth a label where the model is least sure of it (uncertainty sampling: the
calibrated margin between its two likeliest classes is small, Lewis & Gale 1994) and where its
two halves disagree (query by committee, Seung et al. 1992: the n-gram half and the network
read a text differently, so a text they call differently is one at least one of them gets
wrong). The texts are taken best first, leaving out near-duplicates of one already taken, and
texts the run was trained or validated on.

A run cross-validated by ``train --folds`` has nothing left that was judged on validation rows
(its mix, the calibration these scores read, was fitted on the pooled out-of-fold logits of
every row), but it has each labeled row's out-of-fold probabilities (oof.json): ``relabel``
lists the rows of its training file whose labels they most contradict, by the rule of ``check
--label-issues`` (``label_issues.run_label_issues``), so that a label to fix is suggested beside
the texts to label.
"""

from __future__ import annotations

import csv
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment_cli import runs
from sentiment_cli.calibration import probabilities
from sentiment_cli.data import Columns, DataSpec, read_labeled, read_records
from sentiment_cli.encoding import Encoder, normalize, text_hash
from sentiment_cli.errors import DataError, RunError
from sentiment_cli.label_issues import LabelIssues, no_out_of_fold, run_label_issues
from sentiment_cli.model import halves, halves_logits, mix_params
from sentiment_cli.predict import atomic_output, training_hashes
from sentiment_cli.runs import Run

CHUNK = 8192
# Texts whose word and word-pair sets overlap more than this (Jaccard) with one already taken are
# near-duplicates: retweets with another handle, reviews posted twice with a typo fixed.
SIMILARITY = 0.7
# Labeled rows listed to relabel when the run has out-of-fold predictions and --relabel is not given
RELABEL = 10


@dataclass
class Suggestion:
    line: int
    text: str
    predicted: str
    probability: float  # the calibrated probability of ``predicted``
    uncertainty: float  # 1 - (p of the likeliest class - p of the next): 1 at a tie, 0 when sure
    disagreement: float  # total variation between the halves' own probabilities (0 for one half)
    score: float  # uncertainty + disagreement: higher is taken first


def scores(logits: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixed probabilities (n, K), uncertainty (n,) and the halves' disagreement (n,) from the
    halves' logits (n, H, outputs) and the mix's parameters (scales, then biases).

    Each half's own probability is its logit as the mix scales it, with the mix's bias: the
    mixed logit is their sum, so two halves that agree push the same way.
    """
    probs = probabilities(logits, params)
    top = np.sort(probs, axis=1)[:, ::-1]
    uncertainty = 1.0 - (top[:, 0] - top[:, 1])
    count = logits.shape[1]
    disagreement = np.zeros(len(probs))
    if count > 1:
        bias = params[count:]
        own = [probabilities(logits[:, [h]], np.concatenate([params[h:h + 1], bias])) for h in range(count)]
        for a, b in itertools.combinations(own, 2):
            disagreement = np.maximum(disagreement, 0.5 * np.abs(a - b).sum(axis=1))
    return probs, uncertainty, disagreement


def shingles(text: str) -> frozenset:
    words = normalize(text).split()
    return frozenset(words) | frozenset(zip(words, words[1:]))


def spread_out(order: np.ndarray, texts: list[str], n: int, similarity: float) -> tuple[list[int], int]:
    """The first n of ``order`` (indices into texts), skipping a text too like one already taken;
    and how many were skipped."""
    taken, taken_sets, skipped = [], [], 0
    for i in order:
        words = shingles(texts[i])
        if similarity < 1.0 and any(len(words & other) > similarity * len(words | other) for other in taken_sets):
            skipped += 1
            continue
        taken.append(int(i))
        taken_sets.append(words)
        if len(taken) == n:
            break
    return taken, skipped


BY = ("both", "uncertainty", "disagreement")


def ranking(uncertainty: np.ndarray, disagreement: np.ndarray, by: str = "both") -> tuple[np.ndarray, np.ndarray]:
    """(score, order best first) of texts by ``by``: the sum of both measures, or one of them
    (the other breaks its ties); remaining ties in input order."""
    first, second = {"both": (uncertainty + disagreement, uncertainty), "uncertainty": (uncertainty, disagreement),
                     "disagreement": (disagreement, uncertainty)}[by]
    return first, np.lexsort((np.arange(len(first)), -second, -first))


def interleave(order: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``order`` re-dealt one predicted class at a time (each class's texts in their own order), so
    that the first n hold every class about equally: a weak model's doubts lean to one class."""
    ranked = predicted[order]
    first = sorted(np.unique(ranked), key=lambda k: int(np.argmax(ranked == k)))  # the best text's class leads
    queues = [order[ranked == k] for k in first]
    longest = max(len(q) for q in queues)
    return np.array([q[i] for i in range(longest) for q in queues if i < len(q)], dtype=order.dtype)


def suggest(run: Run, data: DataSpec, n: int, similarity: float = SIMILARITY, progress=None,
            by: str = "both", balance: bool = False) -> tuple[list[Suggestion], dict]:
    """The n unlabeled texts of ``data`` most worth labeling for ``run``, best first; and counts
    of what was read and left out. progress: called with each scored batch's row count; by: see
    ``ranking``."""
    if not halves(run.model):
        raise DataError(run.path, "the run was made before its halves were mixed, so suggest cannot weigh them",
                        fix="Train the run again with this version")
    encoder = Encoder.from_config(run.config, run.tokenizer)
    params = mix_params(run.model)
    known = training_hashes([run]) or set()
    seen: set[str] = set()
    texts, lines = [], []
    counts = {"read": 0, "empty": 0, "repeated": 0, "labeled_already": 0}
    for record in read_records(data.path, "unlabeled", data.format, data.columns):
        counts["read"] += 1
        if not record.text.strip():
            counts["empty"] += 1
            continue
        key = text_hash(record.text)
        if key in known:
            counts["labeled_already"] += 1
            continue
        if key in seen:
            counts["repeated"] += 1
            continue
        seen.add(key)
        texts.append(record.text)
        lines.append(record.line)
    if not texts:
        why = "no texts in the file" if not counts["read"] else "every text is empty, repeated or one the run was trained on"
        raise DataError(data.path, why, fix="Give unlabeled texts the run has not seen")
    probs, uncertainty, disagreement = [], [], []
    for start in range(0, len(texts), CHUNK):
        seqs = encoder.sequences(texts[start:start + CHUNK])
        p, u, d = scores(halves_logits(run.model, seqs, encoder.features, progress), params)
        probs.append(p), uncertainty.append(u), disagreement.append(d)
    probs, uncertainty, disagreement = (np.concatenate(v) for v in (probs, uncertainty, disagreement))
    total, order = ranking(uncertainty, disagreement, by)
    labels = run.config.labels
    if balance:
        order = interleave(order, probs.argmax(axis=1))
    picked, skipped = spread_out(order, texts, n, similarity)
    counts.update(candidates=len(texts), near_duplicates_skipped=skipped)
    out = [Suggestion(lines[i], texts[i], labels[int(probs[i].argmax())], float(probs[i].max()), float(uncertainty[i]),
                      float(disagreement[i]), float(total[i])) for i in picked]
    return out, counts


def relabel(run: Run, asked: int | None = None) -> tuple[LabelIssues | None, int]:
    """The rows of the file ``run`` was trained on whose labels its out-of-fold predictions
    contradict (``run_label_issues``), and how many to list: ``asked``, or by default ``RELABEL``
    for a run that has oof.json and none for one that has not. (None, 0) when none are asked; by
    default also when the training file cannot be read again, which is said on stderr."""
    has_oof = (run.path / runs.OOF_FILE).is_file()
    count = asked if asked is not None else RELABEL if has_oof else 0
    if not count:
        return None, 0
    if not has_oof:
        raise no_out_of_fold(run, "--relabel")
    spec, name = runs.training_file(run), run.path.name
    if spec is None or str(spec.path) == "-" or not Path(spec.path).is_file():
        why = (f"run {name!r} does not record its training file" if spec is None else
               f"run {name!r} was trained on stdin" if str(spec.path) == "-" else
               f"{spec.path}, which run {name!r} was trained on, is gone")
        if asked is None:
            print(f"note: no labeled rows to relabel: {why}", file=sys.stderr)
            return None, 0
        raise RunError(f"--relabel reads the labeled rows RUN was trained on, and {why}: "
                       + ("put it back, or leave out --relabel" if spec is not None and str(spec.path) != "-"
                          else "leave out --relabel"))
    data = read_labeled(spec.path, spec.format, spec.columns, on_bad_lines=spec.on_bad_lines)
    return run_label_issues(data, run, option="--relabel"), count


FIELDS = ["label", "text", "line", "predicted", "probability", "uncertainty", "disagreement", "score"]


def run_columns(run: Run) -> Columns:
    """The label and text column names of the file ``run`` was trained on (the defaults for a
    file without columns, or a run that does not record them)."""
    stored = run.record.get("data", {}).get("columns") or {}
    return Columns(**{role: stored[role] for role in ("text", "label", "id") if stored.get(role)})


def write_suggestions(path, suggestions: list[Suggestion], columns: Columns | None = None) -> None:
    """A CSV with an empty label column to fill in: `train --train FILE` reads it as it is, the
    other columns ignored (a row left without a label is an error that names its line: label it
    or delete it). ``columns``: the run's own (``run_columns``), so that the filled-in rows join
    the run's data file and train with its --text-column and --label-column."""
    columns = columns or Columns()
    with atomic_output(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([columns.label, columns.text, *FIELDS[2:]])
        for s in suggestions:
            writer.writerow(["", s.text, s.line, s.predicted, f"{s.probability:.6f}", f"{s.uncertainty:.6f}",
                             f"{s.disagreement:.6f}", f"{s.score:.6f}"])
