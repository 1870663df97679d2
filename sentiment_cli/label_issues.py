"""Label issues: rows whose given label the data contradicts (``check --label-issues``).

Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 70, 2021), with the n-gram half as the classifier:

1. Out-of-fold probabilities: the rows are cut into K stratified folds (seeded) of distinct texts,
   the copies of a text in one fold (``encoding.group_rows``), and K no more than the distinct
   texts of the rarest class, so that no class is held out whole (``fold_count``); for each fold the
   n-gram half (``ngrams.NGramLogits``: naive Bayes ratios, then L-BFGS logistic regression) is
   fitted on the other folds only and gives the probabilities of the held-out one. So no row's
   own label is used to predict it, not even through the choice of C: each fold's C is chosen
   from ``NGRAM_C_GRID`` by log-loss on an inner fold of its own training rows (``nested_c``),
   unless ``config.ngram_c`` fixes it.
2. Per-class thresholds: t_j is the mean out-of-fold probability of class j over the rows
   labeled j (how sure the model is, on average, of the rows that really are j).
3. A row is an issue when the likeliest of the classes whose probability reaches its threshold
   is not its given label (an off-diagonal entry of the paper's confident joint) and is likelier
   than its given label (since 0.7.0: a row whose given label the model finds likeliest is not
   contradicted by it, even when that label falls short of its class's threshold); it is ranked by
   its "self-confidence", the out-of-fold probability of its given label, lowest first.
4. How far to trust the list (since 0.7.0): the out-of-fold model's accuracy against the given
   labels, beside the share of the commonest label. Below that share plus ``MIN_LIFT`` the model
   is too weak on this data to tell a wrong label from a hard row (on 200 tweets it ranks at chance):
   the rows are still listed, but ``weak`` is set and ``check`` counts no finding. The text report
   also gives the share of real issues measured among the rows it lists (``EXPECTED_TOP_PRECISION``).

5. A cross-validated run (``train --folds``) already holds out-of-fold probabilities of every row
   it trained on, from its own model (both halves, mixed): ``run_label_issues`` (``check
   --label-issues --run RUN``, and ``suggest``'s rows to relabel) takes them from its oof.json
   by text hash (``runs.read_oof``) instead of fitting step 1, and applies steps 2-4 unchanged.
   A row whose text the run did not train on (the file edited or extended since) has no
   out-of-fold probability: it is left out and counted (``not_in_run``), never scored by the
   final model, which trained on the others. The shares quoted in step 4 were measured with
   step 1's n-gram folds, not with a run's predictions, and the report says so.

The vocabulary and the n-gram hash size come from all the texts, as ``train`` builds them from
its training side: they use no label, so they cannot carry a row's label into its prediction.

We write the algorithm (a few dozen lines) rather than use cleanlab: cleanlab would bring
scikit-learn, pandas and more as runtime dependencies, for the part of it that is step 2 and 3
above; the out-of-fold fit has to be ours anyway, to use our n-gram half and tokenizer.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field, replace

import numpy as np

from sentiment_cli import runs
from sentiment_cli.calibration import probabilities as mix_probabilities
from sentiment_cli.config import TrainConfig
from sentiment_cli.data import LabeledData, sort_labels
from sentiment_cli.encoding import Encoder, group_rows, text_hash, too_few_texts
from sentiment_cli.errors import DataError, RunError
from sentiment_cli.fit.ngram import NGRAM_C_GRID, layer_matrix, ngram_buckets_for

MAX_FOLDS = 5  # what cross-validation usually takes; fewer for a class with fewer rows
LISTED = 10  # rows the text report lists (the CSV and the JSON have them all)
# The out-of-fold model must beat the commonest label's share by this much for its list to count as
# findings. Chosen on 200-row draws of the tweets and IMDB with 10% of labels flipped, seeds 0-4
# (0.7.0, 2026-12-07; `python bench/label_issues.py --small --seeds 0-4`): at 0.1 it held back all
# five tweet draws (out-of-fold accuracy 0.48-0.61 against 0.50-0.56, ranking at chance: AUC 0.54)
# and two of five IMDB draws, whose top 10 held 2-3 real issues. A weak signal: on seeds 5-9 the
# draws it passed listed 0.32 real issues among their top 10, those it held back 0.24 (below).
MIN_LIFT = 0.1
# The share of real issues among the rows listed (the first LISTED) on 200-row draws of the tweets
# and IMDB with 10% of labels flipped, seeds 5-9 (not those the rule was chosen on), pooled over the
# draws whose model passed MIN_LIFT ("strong") and those whose did not ("weak"):
# `python bench/label_issues.py --small --seeds 5-9` (0.7.0, 2026-12-07; bench/RESULTS.md).
EXPECTED_TOP_PRECISION = {"strong": 0.32, "weak": 0.24}  # 16 of 50 rows; 12 of 50
# The out-of-fold model's agreement with the given labels on those draws, quoted beside the share
# so that a user can see whether their data is as hard: a model that agrees with 96% is not.
EXPECTED_AGREEMENT = {"strong": "61-72%", "weak": "50-63%"}
# Up to this many rows the 200-row figure above is the one quoted, above it the whole files' figure
# below: a line drawn between the two sizes measured, not measured itself.
SMALL_ROWS = 1000
# On the whole training files (25,000 IMDB reviews, 71,662 tweets), 10% flipped: the share of real
# issues among the top 5% ranked (`python bench/label_issues.py --data both --model ngram`, 0.5.0).
LARGE_TOP_PRECISION = {"imdb": 0.914, "tweets": 0.603}
CSV_COLUMNS = ["rank", "line", "given_label", "suggested_label", "confidence", "given_label_probability", "text"]


@dataclass
class LabelIssue:
    """One row whose given label the out-of-fold probabilities contradict."""

    line: int  # the row's line in the file
    given: str
    suggested: str  # the likeliest class among those that reach their threshold
    confidence: float  # out-of-fold probability of the suggested label
    given_probability: float  # out-of-fold probability of the given label ("self-confidence")
    text: str

    def to_dict(self) -> dict:
        return {"line": self.line, "given_label": self.given, "suggested_label": self.suggested,
                "confidence": round(self.confidence, 6), "given_label_probability": round(self.given_probability, 6),
                "text": self.text}


@dataclass
class LabelIssues:
    """What ``find_label_issues`` found; ``index`` and ``probabilities`` are for benchmarks and tests."""

    issues: list[LabelIssue]  # ranked, least self-confident first
    index: np.ndarray  # the issues' row numbers (0-based, in file order of the rows read), ranked
    rows: int
    labels: list[str]
    folds: int
    seed: int
    c: list[float]  # the C of each fold's fit
    thresholds: np.ndarray  # t_j per class
    probabilities: np.ndarray = field(repr=False)  # (rows, classes), out of fold
    accuracy: float = float("nan")  # of the out-of-fold model against the given labels
    majority: float = float("nan")  # share of the commonest given label
    # run_label_issues: the run whose oof.json gave the probabilities, its model ("hybrid", ...),
    # and the rows of the file left out because the run has no out-of-fold probability of them
    run: str | None = None
    model: str = "ngram"
    not_in_run: int = 0

    def source(self) -> str:
        """Who contradicts the labels, for the report's first line."""
        if self.run is None:
            return f"the out-of-fold n-gram model contradicts ({self.folds} folds, seed {self.seed})"
        folds = f", {self.folds} folds" if self.folds else ""
        model = "n-gram" if self.model == "ngram" else self.model
        return (f"run {self.run!r} contradicts out of fold ({runs.OOF_FILE}: its {model} model{folds}, "
                f"seed {self.seed})")

    @property
    def weak(self) -> bool:
        """Whether the out-of-fold model beats the commonest label by less than MIN_LIFT: then its
        list is mostly rows that are merely hard (``MIN_LIFT``), and ``check`` counts no finding."""
        return not self.accuracy >= self.majority + MIN_LIFT

    def expected_top_precision(self) -> float | None:
        """The share of real issues measured among the rows listed, for a file of this size
        (``EXPECTED_TOP_PRECISION``); None above ``SMALL_ROWS``, where ``LARGE_TOP_PRECISION`` speaks."""
        if self.rows > SMALL_ROWS:
            return None
        return EXPECTED_TOP_PRECISION["weak" if self.weak else "strong"]

    def to_dict(self, top: int | None = None) -> dict:
        method = ("confident learning over out-of-fold n-gram probabilities" if self.run is None else
                  f"confident learning over the out-of-fold probabilities of run {self.run!r} ({runs.OOF_FILE})")
        return {"rows": self.rows, "found": len(self.issues), "folds": self.folds, "seed": self.seed,
                "c_by_fold": self.c, "method": method, "run": self.run, "rows_not_in_run": self.not_in_run,
                "thresholds": {label: round(float(t), 6) for label, t in zip(self.labels, self.thresholds)},
                "out_of_fold_accuracy": round(self.accuracy, 6), "majority_share": round(self.majority, 6),
                "weak": self.weak, "expected_top_precision": self.expected_top_precision(),
                "issues": [issue.to_dict() for issue in self.issues[:top]]}


def default_folds(y: np.ndarray, groups: np.ndarray | None = None) -> int:
    """5 folds, fewer when a class has fewer rows (each fold should hold one of each), at least 2.

    groups: one key per row (``encoding.text_hash``): then a class's distinct texts are counted,
    not its rows, since the copies of a text share a fold (``stratified_folds``)."""
    return max(2, min(MAX_FOLDS, int(class_sizes(y, groups).min())))


def class_sizes(y: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """What each present class deals into folds: its rows, or with groups its distinct texts
    (``encoding.group_rows``: a text whose copies disagree counts for its most frequent label)."""
    y = np.asarray(y)
    present = np.unique(y)
    if groups is None:
        return np.bincount(y)[present]
    return group_rows(groups, y).per_class(int(y.max()) + 1)[present]


def stratified_folds(y: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Each row's fold (0..folds-1): every class's rows shuffled by the seed, then dealt in turn.

    groups: rows of one group (copies of a text: ``encoding.text_hash``) share a fold, dealt by
    the group's class (``encoding.group_rows``: the most frequent label of its rows). Otherwise a
    copy with the same wrong label, in another fold, would teach the model that label for its
    twin, and the twin would not be found. A class of at least ``folds`` groups has one in every
    fold (``class_sizes`` counts them); with fewer, some folds' training sides hold all of it.
    """
    rng = np.random.default_rng(seed)
    grouped = group_rows(np.arange(len(y)) if groups is None else groups, y)
    group_fold = np.empty(len(grouped.keys), dtype=np.int64)
    start = 0  # each class starts dealing where the last ended, so the folds' sizes differ by one at most
    for k in np.unique(y):
        members = rng.permutation(np.flatnonzero(grouped.label == k))
        group_fold[members] = (start + np.arange(len(members))) % folds
        start = (start + len(members)) % folds
    return group_fold[grouped.of_row]


def probabilities(layer, x) -> np.ndarray:
    """(rows, classes) probabilities of the fitted layer for the n-gram matrix x."""
    logits = x @ (layer.weight.numpy().astype(np.float64) * layer.ratio.numpy()) + layer.bias.numpy()
    return mix_probabilities(logits[:, None, :], np.concatenate([[1.0], np.zeros(logits.shape[1])]))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))


def _fit(layer, x, y, c: float, min_count: int, start=None) -> np.ndarray:
    layer.set_ratios(x, y, min_count=min_count)
    return layer.fit_weights(x, y, c, start)


def nested_c(layer, x, y, min_count: int, grid=NGRAM_C_GRID) -> float:
    """The C of ``grid`` with the lowest log-loss on one inner fold of these (training) rows,
    fitted on the rest: log-loss, not accuracy, because confident learning reads probabilities."""
    inner = stratified_folds(y, default_folds(y), seed=0) == 0
    fit, held = np.flatnonzero(~inner), np.flatnonzero(inner)
    layer.set_ratios(x[fit], y[fit], min_count=min_count)
    best, start = None, None
    for c in grid:  # from the most regularised: each fit starts from the one before
        start = layer.fit_weights(x[fit], y[fit], c, start)
        loss = log_loss(probabilities(layer, x[held]), y[held])
        if best is None or loss < best[1]:
            best = (c, loss)
    return best[0]


def out_of_fold(layer, x, y: np.ndarray, fold: np.ndarray, config: TrainConfig,
                progress: bool = False, extra: tuple | None = None) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold probabilities: each fold's from ratios and weights fitted on the other folds
    only; and the C of each fold (config.ngram_c, or chosen within the other folds).

    extra: (matrix, classes, fold) of more rows that join the training side of every fold but
    their own, never held out (semi's pseudo-labels; a row's fold is that of a labeled copy of its
    text, -1 for none, so that no text is on both sides)."""
    from scipy import sparse

    folds = int(fold.max()) + 1
    out = np.zeros((len(y), max(layer.outputs, 2)))
    chosen = []
    for k in range(folds):
        train, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        x_train, y_train = x[train], y[train]
        c = config.ngram_c or nested_c(layer, x_train, y_train, config.ngram_min_count)
        if extra is not None:
            more = np.flatnonzero(extra[2] != k)
            x_train = sparse.vstack([x_train, extra[0][more]], format="csr")
            y_train = np.concatenate([y_train, np.asarray(extra[1])[more].astype(y_train.dtype)])
        _fit(layer, x_train, y_train, c, config.ngram_min_count)
        out[held] = probabilities(layer, x[held])
        chosen.append(float(c))
        if progress:
            print(f"label issues: fold {k + 1} of {folds} (C={c:g}), {len(held)} rows", file=sys.stderr)
    return out, chosen


def confident_issues(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confident learning's issues from out-of-fold probabilities p and given classes y:
    (their row numbers ranked by self-confidence, lowest first; each row's suggested class, -1
    where no class reaches its threshold; the per-class thresholds t_j)."""
    classes = p.shape[1]
    thresholds = np.array([p[y == j, j].mean() if np.any(y == j) else 1.0 for j in range(classes)])
    above = p >= thresholds - 1e-12  # a row at exactly the mean counts, as in the paper
    suggested = np.where(above.any(axis=1), np.where(above, p, -1.0).argmax(axis=1), -1)
    given = p[np.arange(len(y)), y]
    issue = (suggested >= 0) & (suggested != y)
    issue[issue] &= p[issue, suggested[issue]] > given[issue]  # the model must find the other label likelier
    rows = np.flatnonzero(issue)
    self_confidence = p[rows, y[rows]]
    return rows[np.argsort(self_confidence, kind="stable")], suggested, thresholds


def fold_count(y: np.ndarray, groups: np.ndarray, labels: list[str], path, asked: int | None = None) -> int:
    """The folds for these rows: ``asked`` (default ``MAX_FOLDS``), fewer (said on stderr) when a
    class has fewer distinct texts, since the copies of a text share a fold and a class held out
    whole would get an out-of-fold probability of about 0, and a threshold of about 0 with it. A
    class of one distinct text (its copies), which even 2 folds would hold out whole, is refused."""
    sizes = class_sizes(y, groups)
    present = np.unique(y)
    fewest = int(sizes.min())
    rarest = labels[int(present[int(sizes.argmin())])]
    if fewest < 2:
        raise too_few_texts(path, rarest, fewest, int(np.sum(y == present[int(sizes.argmin())])),
                            "out-of-fold probabilities need two of each class: a class in one fold is never "
                            "seen by the model that predicts it")
    wanted = asked or MAX_FOLDS
    if wanted > fewest:
        print(f"note: label {rarest!r} has {fewest} distinct texts (copies share a fold): {fewest} folds, "
              f"not {wanted}", file=sys.stderr)
        return fewest
    return wanted


def find_label_issues(data: LabeledData, config: TrainConfig | None = None, folds: int | None = None,
                      seed: int | None = None, progress: bool = False) -> LabelIssues:
    """The rows of ``data`` (``data.read_labeled``) whose labels the out-of-fold n-gram
    probabilities contradict, ranked. config: the ``TrainConfig`` train would use (vocab_size,
    ngram, ngram_buckets, ngram_min_count, ngram_max_length, truncating, normalize, ngram_c; its
    seed when ``seed`` is None). folds: default ``MAX_FOLDS``; fewer when a class has fewer
    distinct texts (``fold_count``)."""
    from sentiment_cli.ngrams import NGramLogits

    config = replace(config or TrainConfig(), model="ngram")  # the n-gram half reads ngram_max_length tokens
    seed = config.seed if seed is None else seed
    encoder = Encoder.from_config(config)
    encoder.labels = sort_labels(set(data.labels))
    y = encoder.encode_labels(data.labels, data.path, data.lines)
    copies = np.array([text_hash(t) for t in data.texts])
    folds = fold_count(y, copies, encoder.labels, data.path, folds)

    encoder.fit(data.texts, config.vocab_size, progress=progress)
    seqs = encoder.sequences(data.texts, progress=progress)
    outputs = 1 if len(encoder.labels) == 2 else len(encoder.labels)
    layer = NGramLogits(len(encoder.tokenizer), outputs, config.ngram, ngram_buckets_for(seqs, config),
                        config.chars[1])
    layer.char_weight = config.char_weight
    layer.build(None)
    x = layer_matrix(layer, seqs)

    p, chosen = out_of_fold(layer, x, y, stratified_folds(y, folds, seed, copies), config, progress)
    return _issues(p, y, data.lines, data.texts, encoder.labels, LabelIssues(
        [], np.zeros(0, np.int64), len(y), encoder.labels, folds, seed, chosen, np.zeros(0), p))


def _issues(p: np.ndarray, y: np.ndarray, lines: list[int], texts: list[str], labels: list[str],
            found: LabelIssues, rows: np.ndarray | None = None) -> LabelIssues:
    """``found`` with the issues of out-of-fold probabilities p for classes y (steps 2-4), its
    thresholds and figures; rows: each of p's rows' number among the rows read (default: the same)."""
    ranked, suggested, thresholds = confident_issues(p, y)
    found.issues = [LabelIssue(lines[i], labels[y[i]], labels[suggested[i]], float(p[i, suggested[i]]),
                               float(p[i, y[i]]), texts[i]) for i in ranked]
    found.index = ranked if rows is None else rows[ranked]
    found.thresholds, found.probabilities = thresholds, p
    found.accuracy = float(np.mean(p.argmax(axis=1) == y))
    found.majority = float(np.bincount(y).max() / len(y))
    return found


def no_out_of_fold(run: runs.Run, option: str) -> RunError:
    """The error of a run without oof.json asked for its out-of-fold predictions by ``option``."""
    return RunError(f"run {run.path.name!r} has no out-of-fold predictions ({runs.OOF_FILE}): it was trained on one "
                    f"validation split. Train it with --folds K (or auto, on small data), or leave out {option}")


def run_label_issues(data: LabeledData, run: runs.Run, option: str = "--run") -> LabelIssues:
    """The rows of ``data`` whose labels the out-of-fold probabilities of a cross-validated ``run``
    (its oof.json, ``runs.read_oof``: each row's from the fold model that did not train on it)
    contradict, by the rule of ``find_label_issues``. A row whose text the run has no out-of-fold
    probability of is left out and counted (``not_in_run``). option: what the caller leaves out to
    read no run, for the error of a run without oof.json."""
    oof = runs.read_oof(run.path)
    name = run.path.name
    if oof is None:
        raise no_out_of_fold(run, option)
    encoder = Encoder.from_config(run.config)
    y = encoder.encode_labels(data.labels, data.path, data.lines)
    found = [oof.get(text_hash(t)) for t in data.texts]
    kept = np.array([i for i, p in enumerate(found) if p is not None], dtype=np.int64)
    if not len(kept):
        raise DataError(data.path, f"none of its {len(data.texts)} rows is a text run {name!r} was cross-validated "
                        "on", fix=f"Give the file the run was trained on, or leave out {option}")
    p = np.stack([found[i] for i in kept])
    labels = list(run.config.labels)
    if p.shape[1] != len(labels):
        raise RunError(f"{run.path / runs.OOF_FILE}: damaged ({p.shape[1]} probabilities a row, for "
                       f"{len(labels)} labels). Train the run again")
    folds = (run.metrics.get("cross_validation") or {}).get("folds") or 0
    return _issues(p, y[kept], [data.lines[i] for i in kept], [data.texts[i] for i in kept], labels, LabelIssues(
        [], np.zeros(0, np.int64), len(kept), labels, int(folds), run.config.seed, [], np.zeros(0), p,
        run=name, model=run.config.model, not_in_run=len(data.texts) - len(kept)), kept)


def label_issue_report(spec, config: TrainConfig | None = None, folds: int | None = None, seed: int | None = None,
                       output=None, progress: bool = True, run: runs.Run | None = None) -> LabelIssues:
    """What ``check --label-issues`` does: read the labeled file of ``spec`` (a ``data.DataSpec``) as
    train reads it, find the issues (with ``run``, a cross-validated run: from its out-of-fold
    probabilities, ``run_label_issues``), and write them all to the CSV ``output`` when given."""
    from sentiment_cli.data import read_labeled

    data = read_labeled(spec.path, spec.format, spec.columns, on_bad_lines=spec.on_bad_lines)
    found = run_label_issues(data, run) if run is not None else find_label_issues(data, config, folds, seed, progress)
    if output:
        write_issues_csv(found, output)
    return found


def write_issues_csv(found: LabelIssues, path) -> None:
    """All the issues, ranked, as CSV (``CSV_COLUMNS``); the file appears only when complete."""
    from sentiment_cli.predict import atomic_output

    with atomic_output(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for rank, issue in enumerate(found.issues, 1):
            writer.writerow([rank, issue.line, issue.given, issue.suggested, f"{issue.confidence:.6f}",
                             f"{issue.given_probability:.6f}", issue.text])


def format_issues(found: LabelIssues, top: int, output=None, rest: str = "all of them with --output FILE",
                  title: str = "label issues") -> str:
    """The text report: how many were found, the top rows, where the CSV went (rest: where the
    rows past ``top`` are, when there is no ``output``)."""
    out = [f"{title}: {len(found.issues)} of {found.rows} rows {'has' if len(found.issues) == 1 else 'have'} "
           f"a label that {found.source()}"]
    if found.not_in_run:
        out.append(f"  {found.not_in_run} more row{'s' if found.not_in_run != 1 else ''} of the file "
                   f"{'are' if found.not_in_run != 1 else 'is'} not in run {found.run!r}'s {runs.OOF_FILE} (edited or "
                   "added since it trained): not checked")
    for rank, issue in enumerate(found.issues[:top], 1):
        text = issue.text if len(issue.text) <= 70 else issue.text[:67] + "..."
        out.append(f"  {rank}. line {issue.line}: {issue.given} -> {issue.suggested} "
                   f"(p {issue.confidence:.2f}, given {issue.given_probability:.2f}) {text!r}")
    if len(found.issues) > top:
        out.append(f"  ... {len(found.issues) - top} more" + ("" if output else f"; {rest}"))
    if output:
        out.append(f"  all {len(found.issues)} written to {output}")
    out.append(f"  the out-of-fold model agrees with {found.accuracy:.0%} of the given labels; the commonest "
               f"label alone with {found.majority:.0%}")
    if found.weak and found.issues:
        out.append("  too weak on this data to tell a wrong label from a hard row: listed to look at, "
                   "not counted as a finding")
    if found.issues:
        out.append("  " + how_sure(found))
    return "\n".join(out) + "\n"


def how_sure(found: LabelIssues) -> str:
    """One line: the share of real issues measured among the rows listed, on data of this size."""
    expected = found.expected_top_precision()
    # the shares were measured with check's own n-gram folds: a run's out-of-fold predictions, untested
    measured = "" if found.run is None else "; measured with check's own n-gram folds, not a run's predictions"
    if expected is not None:
        strength = "weak" if found.weak else "strong"
        return (f"how sure: on 200-row draws of IMDB and the tweets with 10% of labels flipped, where the model "
                f"agreed with {EXPECTED_AGREEMENT[strength]} of the labels, about {expected * LISTED:.0f} of the first "
                f"{LISTED} listed were real issues (0.7.0; bench/RESULTS.md{measured})")
    return (f"how sure: on the whole IMDB and tweet training files with 10% of labels flipped, "
            f"{LARGE_TOP_PRECISION['imdb']:.0%} and {LARGE_TOP_PRECISION['tweets']:.0%} of the first 5% ranked "
            f"were real issues (0.5.0; bench/RESULTS.md{measured})")
