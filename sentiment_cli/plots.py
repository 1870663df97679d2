"""Pictures of a run: PNG files in RUN/plots/, drawn from the files the run already holds.

Each picture reads one of them: learning curves from history.csv (best epoch from
metrics.json), the validation confusion matrix, reliability diagram, ROC and precision-recall
curves from validation.json, the semi rounds from rounds.csv and the evaluation's confusion
matrix from evaluation.json. A picture whose file is missing or does not apply is skipped
with its reason; nothing here retrains or loads the model, so TensorFlow is not imported.

matplotlib is imported inside the functions (the command line starts without it) and used
through its object-oriented Figure API on the Agg canvas: no pyplot, no global state, no
display needed. Each PNG is written beside its final name and renamed into place.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from sentiment_cli import runs
from sentiment_cli.errors import RunError, SentimentError

PLOTS_DIR = "plots"
LEARNING_CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix.png"
RELIABILITY = "reliability.png"
ROC = "roc.png"
PRECISION_RECALL = "precision_recall.png"
SEMI_ROUNDS = "semi_rounds.png"
EVALUATION_CONFUSION = "evaluation_confusion_matrix.png"
TUNE_PICTURE = "tune.png"  # tune: written into the run directory itself, beside trials.csv

RELIABILITY_BINS = 10
DPI = 110
_PARTIAL = ".partial-"  # prefix of a picture being written: .partial-PID-NAME


class _Skip(Exception):
    """A picture the run has no data for; the message says why."""


def write_plots(run_dir, *, on_skip: Callable[[str, str], None] | None = None) -> list[Path]:
    """Draw every picture ``run_dir`` has data for into run_dir/plots/; returns their paths.

    on_skip(pictures, reason) is called for each picture (or group of pictures sharing a data
    file) that is left out; by default the reasons go to stderr. Safe to call after train,
    semi or evaluate: missing or damaged data only skips pictures. Raises RunError when
    run_dir is not a run or its plots directory cannot be written.
    """
    run_dir = Path(run_dir)
    if not (run_dir / runs.CONFIG_FILE).is_file():
        raise RunError(f"{run_dir}: not a run directory (no {runs.CONFIG_FILE} in it)")
    if on_skip is None:
        def on_skip(names, reason):
            print(f"skipped {names}: {reason}", file=sys.stderr)

    record = runs.read_json(run_dir / runs.CONFIG_FILE)
    if not isinstance(record, dict):
        raise RunError(f"{run_dir / runs.CONFIG_FILE}: damaged (not a JSON object). Train the run again")
    labels = [str(v) for v in (record.get("hyperparameters") or {}).get("labels") or []]
    plan: list[tuple[list[str], Callable]] = [
        ([LEARNING_CURVES], lambda: [learning_curves(run_dir, record)]),
        ([CONFUSION, RELIABILITY, ROC, PRECISION_RECALL], lambda: validation_pictures(run_dir, record)),
        ([EVALUATION_CONFUSION], lambda: [evaluation_confusion(run_dir)]),
    ]
    if "semi" in record or (run_dir / runs.ROUNDS_FILE).exists():
        plan.insert(2, ([SEMI_ROUNDS], lambda: [semi_rounds(run_dir, labels)]))
    if (run_dir / runs.TRIALS_FILE).exists():
        plan.append(([TUNE_PICTURE], lambda: [tune_trials(run_dir)]))

    written, target = [], run_dir / PLOTS_DIR
    for names, draw in plan:
        try:
            figures = draw()
        except _Skip as skip:
            on_skip(", ".join(names), str(skip))
            continue
        for name, figure in figures:
            if isinstance(figure, _Skip):
                on_skip(name, str(figure))
                continue
            if not written:
                _make_directory(target)
            written.append(_save(figure, target / name))
    return written


# --- reading the run's files -------------------------------------------------------------

def _read_json(path: Path, what: str) -> dict:
    try:
        return runs.read_json(path)
    except RunError:
        raise _Skip(f"{path.name} is damaged (not valid JSON); {what}") from None


def _read_csv(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _Skip(f"{path.name} cannot be read ({exc})") from None


def _column(rows: list[dict], name: str, path: Path) -> np.ndarray:
    try:
        return np.array([float(row[name]) if row[name] not in ("", None) else np.nan for row in rows])
    except (KeyError, ValueError, TypeError):
        raise _Skip(f"{path.name} has no numeric column {name!r}") from None


def _model_name(record: dict) -> str:
    return str((record.get("hyperparameters") or {}).get("model", ""))


def _validation(run_dir: Path, record: dict):
    """labels, true class ids (n,) and probabilities (n, K) of validation.json, checked."""
    path = run_dir / runs.VALIDATION_FILE
    if not path.is_file():
        raise _Skip(f"no {runs.VALIDATION_FILE} in the run (made by an older sentiment-cli): train it again "
                    "to get the validation pictures")
    data = _read_json(path, "train the run again")
    try:
        labels = [str(v) for v in data["labels"]]
        y = np.asarray(data["y"], dtype=np.int64)
        probs = np.asarray(data["probabilities"], dtype=np.float64)
        ok = (len(labels) >= 2 and probs.ndim == 2 and probs.shape == (len(y), len(labels)) and len(y) > 0
              and y.min() >= 0 and y.max() < len(labels) and np.isfinite(probs).all())
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise _Skip(f"{path.name} is damaged (labels, y and probabilities do not fit together); train the run again")
    return labels, y, probs


# --- the pictures ------------------------------------------------------------------------

def learning_curves(run_dir: Path, record: dict):
    """Loss and accuracy per epoch, training vs validation, the best epoch marked."""
    path = run_dir / runs.HISTORY_FILE
    if not path.is_file():
        if "semi" in record:
            raise _Skip("semi runs keep no epoch history (their rounds are in semi_rounds.png)")
        if _model_name(record) == "ngram":
            raise _Skip("the ngram model trains no epochs (one convex fit), so it has no learning curve")
        raise _Skip(f"no {runs.HISTORY_FILE} in the run")
    rows = _read_csv(path)
    if not rows:
        raise _Skip(f"{path.name} holds no epochs")
    epoch = _column(rows, "epoch", path)
    series = {name: _column(rows, name, path) for name in ("loss", "val_loss", "accuracy", "val_accuracy")}
    try:
        metrics = runs.read_json(run_dir / runs.METRICS_FILE)
    except RunError:  # missing or damaged: the best epoch is found again in the history
        metrics = {}
    best = metrics.get("best_epoch") if isinstance(metrics, dict) else None
    if not isinstance(best, int) or best not in epoch:
        finite = np.where(np.isfinite(series["val_accuracy"]), series["val_accuracy"], -np.inf)
        best = int(epoch[int(np.argmax(finite))])  # EpochCommit's rule: the first best epoch
    at = int(np.flatnonzero(epoch == best)[0])

    fig = _figure(10, 4.2)
    model = _model_name(record)
    which = {"hybrid": " (the recurrent half; the n-gram half has no epochs)"}.get(model, "")
    fig.suptitle(f"{run_dir.name}: learning curves{which}")
    axes = fig.subplots(1, 2)
    for ax, name, title in [(axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")]:
        ax.plot(epoch, series[name], marker="o", markersize=4, label="training", clip_on=False)
        ax.plot(epoch, series[f"val_{name}"], marker="o", markersize=4, label="validation", clip_on=False)
        ax.axvline(best, color="0.45", linestyle="--", linewidth=1,
                   label=f"best epoch {best} (validation accuracy {series['val_accuracy'][at]:.3f})")
        ax.plot([best], [series[f"val_{name}"][at]], marker="*", markersize=14, color="tab:red", zorder=5,
                linestyle="none", clip_on=False)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        _integer_ticks(ax.xaxis)
        if len(epoch) == 1:
            ax.set_xlim(best - 1, best + 1)
    axes[1].set_ylim(*_padded(np.r_[series["accuracy"], series["val_accuracy"]], 0, 1))
    axes[1].legend(loc="best", fontsize="small")
    return LEARNING_CURVES, fig


def validation_pictures(run_dir: Path, record: dict) -> list:
    """Confusion matrix and reliability diagram, and for binary runs ROC and precision-recall."""
    labels, y, probs = _validation(run_dir, record)
    n = len(y)
    threshold = record.get("threshold")
    threshold = float(threshold) if isinstance(threshold, (int, float)) else 0.5
    binary = len(labels) == 2
    predicted = (probs[:, 1] >= threshold).astype(np.int64) if binary else probs.argmax(axis=1)
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    where = f"{n} validation rows"
    accuracy = np.trace(confusion) / n
    out = [(CONFUSION, confusion_figure(confusion, labels, f"{run_dir.name}: confusion matrix",
                                        f"{where}, accuracy {accuracy:.3f}")),
           (RELIABILITY, reliability_figure(y, probs, labels, f"{run_dir.name}: reliability on {where}"))]
    if not binary:
        skip = _Skip(f"binary runs only (this run has {len(labels)} classes)")
        return out + [(ROC, skip), (PRECISION_RECALL, skip)]
    positive = y == 1
    if positive.all() or not positive.any():
        skip = _Skip(f"the validation rows hold one class only ({labels[int(y[0])]})")
        return out + [(ROC, skip), (PRECISION_RECALL, skip)]
    score = probs[:, 1]
    return out + [(ROC, roc_figure(score, positive, threshold, labels, f"{run_dir.name}: ROC on {where}")),
                  (PRECISION_RECALL, precision_recall_figure(score, positive, threshold, labels,
                                                             f"{run_dir.name}: precision-recall on {where}"))]


def evaluation_confusion(run_dir: Path):
    """The confusion matrix of the last ``evaluate`` of this run (evaluation.json)."""
    path = run_dir / runs.EVALUATION_FILE
    if not path.is_file():
        raise _Skip(f"no {runs.EVALUATION_FILE} yet: run sentiment-cli evaluate {run_dir.name} --input FILE first")
    report = _read_json(path, "evaluate again")
    try:
        labels = [str(v) for v in report["labels"]]
        confusion = np.asarray(report["confusion_matrix"], dtype=np.int64)
        ok = confusion.shape == (len(labels), len(labels)) and len(labels) > 0
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise _Skip(f"{path.name} has no usable labels and confusion_matrix; evaluate again")
    source = Path(str(report.get("input", ""))).name or "the evaluated file"
    accuracy = np.trace(confusion) / confusion.sum() if confusion.sum() else float("nan")
    detail = f"evaluated on {source}: {int(confusion.sum())} rows, accuracy {accuracy:.3f}"
    return EVALUATION_CONFUSION, confusion_figure(confusion, labels, f"{run_dir.name}: confusion matrix", detail)


def semi_rounds(run_dir: Path, labels: list[str]):
    """Pseudo-labels per class and validation accuracy, round by round."""
    path = run_dir / runs.ROUNDS_FILE
    if not path.is_file():
        raise _Skip(f"no {runs.ROUNDS_FILE} in this semi run")
    rows = _read_csv(path)
    if not rows:
        raise _Skip(f"{path.name} holds no rounds")
    rounds = _column(rows, "round", path).astype(int)
    accuracy = _column(rows, "val_accuracy", path)
    # the kept model's accuracy after each round (called best_val_accuracy before 0.3.0)
    best = _column(rows, "kept_val_accuracy" if "kept_val_accuracy" in rows[0] else "best_val_accuracy", path)
    accepted = np.array([str(row.get("accepted", "")).strip().lower() == "true" for row in rows])
    classes = [label for label in labels if f"pseudo_{label}" in rows[0]]
    counts = [_column(rows, f"pseudo_{label}", path) for label in classes] or [_column(rows, "pseudo_labels", path)]

    fig = _figure(8, 6.5)
    fig.suptitle(f"{run_dir.name}: semi-supervised rounds")
    top, bottom = fig.subplots(2, 1, sharex=True)
    bottom_of = np.zeros(len(rows))
    for label, count in zip(classes or ["all"], counts):
        top.bar(rounds, count, bottom=bottom_of, width=0.6, label=_short(label))
        bottom_of = bottom_of + np.nan_to_num(count)
    top.set_title("Pseudo-labels kept per class")
    top.set_ylabel("pseudo-labels")
    top.legend(title="class", fontsize="small", loc="upper left")
    top.grid(axis="y", alpha=0.3)
    # Not a running best: a round is kept unless validation shows it worse beyond noise, so the
    # kept model's accuracy can fall; the line shows the model the run holds after each round.
    bottom.plot(rounds, best, drawstyle="steps-post", color="0.5", linestyle="--",
                label="kept model (kept unless worse beyond noise)")
    bottom.plot(rounds[accepted], accuracy[accepted], marker="o", linestyle="none", color="tab:green",
                label="round kept", clip_on=False, zorder=3)
    if (~accepted).any():
        bottom.plot(rounds[~accepted], accuracy[~accepted], marker="X", markersize=9, linestyle="none",
                    color="tab:red", label="round rolled back", clip_on=False, zorder=3)
    bottom.set_title("Validation accuracy after each round (round 0: the start)")
    bottom.set_xlabel("round")
    bottom.set_ylabel("validation accuracy")
    bottom.set_ylim(*_padded(np.r_[accuracy, best], 0, 1))
    bottom.legend(fontsize="small", loc="best")
    bottom.grid(alpha=0.3)
    if len(rounds) <= 20:
        bottom.set_xticks(rounds)
    else:
        _integer_ticks(bottom.xaxis)
    return SEMI_ROUNDS, fig


def write_tune_picture(run_dir, name: str | None = None) -> Path:
    """tune.png beside trials.csv in run_dir (what `tune` leaves in the run it saves); name: the
    run's name in the title (run_dir is still the workspace's run/ when tune draws it)."""
    run_dir = Path(run_dir)
    _, fig = tune_trials(run_dir, name)
    return _save(fig, run_dir / TUNE_PICTURE)


def tune_trials(run_dir: Path, name: str | None = None):
    """tune's trials in the order they ran: validation accuracy of each (pruned ones at the epoch
    they stopped, as the network half's accuracy), the best so far, and the defaults' trial."""
    path = run_dir / runs.TRIALS_FILE
    if not path.is_file():
        raise _Skip(f"no {runs.TRIALS_FILE} in this run")
    rows = _read_csv(path)
    if not rows:
        raise _Skip(f"{path.name} holds no trials")
    number = _column(rows, "trial", path).astype(int)
    accuracy = _column(rows, "val_accuracy", path)
    # a pruned trial has no model accuracy: its network half's at the epoch it stopped (older
    # trials.csv files held that figure in val_accuracy itself)
    network = _column(rows, "network_val_accuracy", path) if "network_val_accuracy" in rows[0] else accuracy
    state = np.array([row.get("state", "") for row in rows])
    complete = state == "complete"
    best = np.fmax.accumulate(np.where(complete, accuracy, np.nan))

    fig = _figure(8, 4.5)
    ax = fig.subplots()
    ax.set_title(f"{name or run_dir.name}: tune trials (validation accuracy)")
    ax.plot(number, best, drawstyle="steps-post", color="0.5", linestyle="--", label="best so far")
    ax.plot(number[complete], accuracy[complete], marker="o", linestyle="none", color="tab:blue",
            label="complete", clip_on=False, zorder=3)
    pruned = state == "pruned"
    if pruned.any():
        ax.plot(number[pruned], network[pruned], marker="x", markersize=8, linestyle="none", color="tab:red",
                label="pruned (network half, last epoch)", clip_on=False, zorder=3)
    defaults = np.array([str(row.get("defaults", "")).strip().lower() == "true" for row in rows]) & complete
    if defaults.any():
        ax.axhline(float(accuracy[defaults][0]), color="tab:green", linewidth=1, label="defaults")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(*_padded(np.r_[accuracy[complete], network[pruned], best], 0, 1))
    _integer_ticks(ax.xaxis)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return TUNE_PICTURE, fig


# --- figures -----------------------------------------------------------------------------

def confusion_figure(confusion: np.ndarray, labels: list[str], title: str, detail: str):
    """Counts in the cells (with their share of the true class), coloured by that share."""
    k = len(labels)
    totals = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)
    side = min(max(4.8, 0.75 * k + 2.5), 16)
    fig = _figure(side + 1.2, side)
    fig.suptitle(title)
    ax = fig.subplots()
    ax.set_title(_wrap(detail, int(side * 12)), fontsize="small", color="0.35")
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8)
    colorbar.set_label("share of the true class's rows")
    size = max(5, min(12, 60 / k))
    for i in range(k):
        for j in range(k):
            text = f"{confusion[i, j]}" + (f"\n{share[i, j]:.0%}" if k <= 12 else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=size,
                    color="white" if share[i, j] > 0.55 else "black")
    names = [_short(label) for label in labels]
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    if k > 4 or max(len(n) for n in names) > 6:
        for tick in ax.get_xticklabels():
            tick.set_rotation(35)
            tick.set_horizontalalignment("right")
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    return fig


def reliability_figure(y: np.ndarray, probs: np.ndarray, labels: list[str], title: str):
    """Binary: P(positive label) against how often the label is positive; more classes: the
    top class's probability against how often it is right. Below, how many rows each bin holds."""
    if probs.shape[1] == 2:
        score, hit = probs[:, 1], y == 1
        xlabel, ylabel = f"predicted P({_short(labels[1])})", f"share of rows labeled {_short(labels[1])}"
    else:
        score, hit = probs.max(axis=1), probs.argmax(axis=1) == y
        xlabel, ylabel = "probability of the predicted class", "share predicted right"
    edges = np.linspace(0, 1, RELIABILITY_BINS + 1)
    which = np.clip(np.digitize(score, edges[1:-1], right=True), 0, RELIABILITY_BINS - 1)
    count = np.bincount(which, minlength=RELIABILITY_BINS)
    used = count > 0
    mean_score = np.bincount(which, weights=score, minlength=RELIABILITY_BINS)[used] / count[used]
    observed = np.bincount(which, weights=hit.astype(float), minlength=RELIABILITY_BINS)[used] / count[used]

    fig = _figure(6, 6.6)
    fig.suptitle(title, fontsize="medium")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="perfectly calibrated")
    top.plot(mean_score, observed, marker="o", color="tab:blue", label="this run (bins of 0.1)", clip_on=False)
    top.set_ylabel(ylabel)
    top.set_xlim(0, 1)
    top.set_ylim(-0.02, 1.02)
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize="small")
    top.set_title("The mix was fitted on these rows, so this is an optimistic view", fontsize="small",
                  color="0.35")
    bottom.bar(edges[:-1], count, width=1 / RELIABILITY_BINS, align="edge", color="tab:blue", alpha=0.6,
               edgecolor="white")
    bottom.set_xlabel(xlabel)
    bottom.set_ylabel("rows")
    _integer_ticks(bottom.yaxis)
    return fig


def roc_figure(score, positive, threshold, labels, title):
    fpr, tpr, _, _ = roc_curve(score, positive)
    fig, ax = _curve_axes(title)
    ax.plot(fpr, tpr, color="tab:blue", label=f"this run (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="chance (AUC 0.5)")
    decided = score >= threshold
    ax.plot([np.mean(decided[~positive])], [np.mean(decided[positive])], marker="o", color="tab:red",
            linestyle="none", label=f"threshold {threshold:g}")
    ax.set_xlabel(f"false positive rate (rows labeled {_short(labels[0])} predicted {_short(labels[1])})")
    ax.set_ylabel(f"true positive rate (recall of {_short(labels[1])})")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def precision_recall_figure(score, positive, threshold, labels, title):
    precision, recall = precision_recall_curve(score, positive)
    fig, ax = _curve_axes(title)
    ax.step(np.r_[0, recall], np.r_[precision[0], precision], where="pre", color="tab:blue",
            label=f"this run (average precision {average_precision(precision, recall):.3f})")
    ax.axhline(positive.mean(), color="0.5", linestyle="--", linewidth=1,
               label=f"chance (share of {_short(labels[1])}: {positive.mean():.2f})")
    decided = score >= threshold
    if decided.any():
        ax.plot([np.mean(decided[positive])], [np.mean(positive[decided])], marker="o", color="tab:red",
                linestyle="none", label=f"threshold {threshold:g}")
    ax.set_xlabel(f"recall of {_short(labels[1])}")
    ax.set_ylabel(f"precision of {_short(labels[1])}")
    ax.legend(loc="lower left", fontsize="small")
    return fig


# --- ROC and precision-recall, as scikit-learn computes them (it is not a dependency) ----

def _ranked_counts(score: np.ndarray, positive: np.ndarray):
    """True and false positives when predicting positive at each distinct score and above."""
    order = np.argsort(-score, kind="stable")
    score, positive = score[order], positive[order].astype(np.int64)
    last_of_each = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(positive)[last_of_each]
    fps = last_of_each + 1 - tps
    return tps, fps, score[last_of_each]


def roc_curve(score, positive):
    """False and true positive rates from (0, 0) to (1, 1), their thresholds, and the positives' count."""
    tps, fps, thresholds = _ranked_counts(np.asarray(score, float), np.asarray(positive, bool))
    return np.r_[0, fps / fps[-1]], np.r_[0, tps / tps[-1]], np.r_[np.inf, thresholds], int(tps[-1])


def auc(x, y) -> float:
    """Area under a curve by the trapezoidal rule."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def precision_recall_curve(score, positive):
    """Precision and recall at each distinct score threshold, from the highest score down."""
    tps, fps, _ = _ranked_counts(np.asarray(score, float), np.asarray(positive, bool))
    return tps / (tps + fps), tps / tps[-1]


def average_precision(precision, recall) -> float:
    """Precision at each threshold weighted by the recall it adds (scikit-learn's definition)."""
    return float(np.sum(np.diff(np.r_[0, recall]) * precision))


# --- helpers -----------------------------------------------------------------------------

def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SentimentError("plot needs matplotlib, which is not installed here: pip install matplotlib "
                             "(or reinstall sentiment-cli)") from None
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _curve_axes(title: str):
    fig = _figure(6, 6)
    fig.suptitle(title, fontsize="medium")
    ax = fig.subplots()
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_aspect("equal", adjustable="box")
    ax.grid(alpha=0.3)
    return fig, ax


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _padded(values: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """Axis limits around the finite values with a margin, never beyond [low, high] (an accuracy
    axis that reads 1.02 would be misleading; markers on the edge are drawn unclipped instead)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return low, high
    lo, hi = float(finite.min()), float(finite.max())
    margin = max((hi - lo) * 0.1, 0.05)
    return max(low, lo - margin), min(high, hi + margin)


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[:width - 1] + "…"


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, max(width, 30)))


def _make_directory(path: Path) -> None:
    try:
        path.mkdir(exist_ok=True)
    except FileExistsError:
        raise RunError(f"{path}: exists and is not a directory, so the pictures cannot be written there. "
                       "Move it away and plot again") from None
    except OSError as exc:
        raise RunError(f"{path}: cannot be created ({exc.strerror or exc}). Make the run directory writable, or "
                       "copy the run elsewhere and plot the copy") from None
    runs.clean_leftovers(path, _PARTIAL)


def _save(fig, path: Path) -> Path:
    """The figure as a PNG, written beside ``path`` and renamed into place."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    tmp = path.with_name(f"{_PARTIAL}{os.getpid()}-{path.name}")
    try:
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)
    except OSError as exc:
        raise RunError(f"{path}: cannot be written ({exc.strerror or exc}). Make {path.parent} writable, or copy "
                       "the run elsewhere and plot the copy") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
