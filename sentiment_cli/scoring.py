"""Scoring against a gold file, as the classic assignment did: labels kept apart from the texts.

The classic test set comes as ``testing_data.txt`` (``id,text``) and ``testing_label.csv``
(``id,label``), joined by id. ``read_gold`` reads the second; ``score_predictions`` checks a
predictions CSV (what ``sentiment-cli test`` writes, or anyone else's) against it and scores it
without a model. Nothing here needs TensorFlow.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

from sentiment_cli.data import read_lines, sort_labels
from sentiment_cli.errors import DataError, SentimentError

# A predictions file with many problems names this many, then counts the rest.
SHOWN_PROBLEMS = 10


class ValidationError(SentimentError):
    """A file with one or more problems, each named with its line."""

    def __init__(self, path, problems: list[str], fix: str):
        self.problems = problems
        shown = problems[:SHOWN_PROBLEMS]
        more = len(problems) - len(shown)
        text = f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}\n"
        text += "".join(f"  {p}\n" for p in shown)
        if more:
            text += f"  ... and {more} more\n"
        super().__init__(text + fix)


@dataclass
class Gold:
    """The labels of a gold file by id, with the line each came from."""

    path: str
    labels: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


def _table(path, what: str, required: tuple[str, ...]):
    """(header positions, rows as (line, fields)) of a CSV file whose header names ``required``."""
    numbered = read_lines(path)
    first = next(numbered, None)
    if first is None:
        raise DataError(path, "the file is empty", fix=f"Give a {what} CSV with the header '{','.join(required)}'")
    header = [h.strip() for h in next(csv.reader([first[1]]))]
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(path, f"no column {missing[0]!r} (the header has: {', '.join(header)})", line=1,
                        fix=f"A {what} file is a CSV whose first line is '{','.join(required)}'")
    positions = {name: header.index(name) for name in header}

    def rows():
        for number, line in numbered:
            if not line.strip():
                continue
            try:
                values = next(csv.reader([line]))
            except csv.Error as exc:
                raise DataError(path, f"not valid CSV ({exc})", line=number, fix="Check the quoting on that line") from None
            yield number, values, len(header)
    return positions, rows()


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, per-class precision / recall / F1 / support, macro F1, confusion matrix."""
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    for i, label in enumerate(labels):
        tp = confusion[i, i]
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                            "support": int(actual)}
    total = int(confusion.sum())
    return {
        "examples": total,
        "accuracy": float(np.trace(confusion) / total) if total else 0.0,
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "per_class": per_class,
        "labels": list(labels),
        "confusion_matrix": confusion.tolist(),  # rows: true label, columns: predicted label
    }


def format_report(report: dict) -> str:
    """The report as plain-text tables."""
    import pandas as pd

    out = io.StringIO()
    joined = f" (labels from {report['gold']})" if report.get("gold") else ""
    out.write(f"{report['examples']} examples from {report['input']}{joined}\n")
    out.write(f"accuracy  {report['accuracy']:.4f}\nmacro F1  {report['macro_f1']:.4f}\n\n")
    table = pd.DataFrame(report["per_class"]).T[["precision", "recall", "f1", "support"]]
    table["support"] = table["support"].astype(int)
    out.write(table.to_string(float_format=lambda v: f"{v:.4f}") + "\n\n")
    labels = report["labels"]
    confusion = pd.DataFrame(report["confusion_matrix"], index=[f"true {l}" for l in labels],
                             columns=[f"pred {l}" for l in labels])
    out.write(confusion.to_string() + "\n")
    for e in report.get("errors", []):
        text = e["text"] if len(e["text"]) <= 100 else e["text"][:97] + "..."
        out.write(f"\nline {e['line']}: {e['label']} predicted as {e['predicted']} "
                  f"(p={e['confidence']:.4f}): {text}")
    if report.get("errors"):
        out.write("\n")
    return out.getvalue()


def read_gold(path) -> Gold:
    """The ``id,label`` file; every id once, every label non-empty."""
    positions, rows = _table(path, "gold label", ("id", "label"))
    gold = Gold(str(path))
    for number, values, width in rows:
        if len(values) != width:
            raise DataError(path, f"{len(values)} fields where the header has {width}", line=number,
                            fix="Write each line as 'ID,LABEL'")
        row_id, label = values[positions["id"]].strip(), values[positions["label"]].strip()
        if not label:
            raise DataError(path, f"id {row_id!r} has an empty label", line=number, fix="Give every id a label")
        if row_id in gold.labels:
            raise DataError(path, f"id {row_id!r} again (first on line {gold.lines[row_id]})", line=number,
                            fix="Give each id one label")
        gold.labels[row_id], gold.lines[row_id] = label, number
    if not gold.labels:
        raise DataError(path, "no labels in the file", fix="Give a CSV 'id,label' with one line per example")
    return gold


def score_predictions(predictions_path, gold: Gold, labels: list[str] | None = None) -> dict:
    """Check a predictions CSV against the gold labels, then score it.

    A valid file has a header with ``id`` and ``label`` columns (others, such as probabilities,
    are allowed), every gold id exactly once, no other id and no label outside ``labels``
    (default: the gold file's labels and those the file's ``p_LABEL`` columns name, as `test
    --probabilities` writes them, so a class the gold rows lack is still known). Every problem
    is collected and reported at once, so one round of fixes is enough.
    """
    positions, rows = _table(predictions_path, "predictions", ("id", "label"))
    known = set(labels) if labels is not None else set(gold.labels.values()) | {
        name[2:] for name in positions if name.startswith("p_") and len(name) > 2}
    problems, predicted, seen = [], {}, {}
    for number, values, width in rows:
        if len(values) != width:
            problems.append(f"line {number}: {len(values)} fields where the header has {width}")
            continue
        row_id, label = values[positions["id"]].strip(), values[positions["label"]].strip()
        if row_id in seen:
            problems.append(f"line {number}: id {row_id!r} again (first on line {seen[row_id]})")
            continue
        seen[row_id] = number
        if row_id not in gold.labels:
            problems.append(f"line {number}: id {row_id!r} is not in {gold.path}")
        elif label not in known:
            problems.append(f"line {number}: label {label!r} is not one of {', '.join(sort_labels(known))}")
        else:
            predicted[row_id] = label
    missing = [row_id for row_id in gold.labels if row_id not in seen]
    if missing:
        listed = ", ".join(repr(m) for m in missing[:5]) + (", ..." if len(missing) > 5 else "")
        problems.append(f"{len(missing)} id{'s' if len(missing) != 1 else ''} of {gold.path} "
                        f"{'have' if len(missing) != 1 else 'has'} no prediction ({listed})")
    rows_read = len(seen)
    if rows_read != len(gold.labels) and not missing:
        problems.append(f"{rows_read} rows where {gold.path} has {len(gold.labels)}")
    if problems:
        raise ValidationError(predictions_path, problems,
                              fix=f"A predictions file has the header 'id,label' and one line for each of the "
                                  f"{len(gold.labels)} ids of {gold.path}.")
    names = sort_labels(known | set(gold.labels.values()))
    index = {label: i for i, label in enumerate(names)}
    ids = list(gold.labels)
    y_true = np.array([index[gold.labels[i]] for i in ids])
    y_pred = np.array([index[predicted[i]] for i in ids])
    report = classification_report(y_true, y_pred, names)
    report.update({"input": str(predictions_path), "gold": gold.path, "runs": [], "threshold": None})
    return report
