"""Streaming batch prediction to CSV, and evaluation on labeled data.

Input is read and predicted a chunk at a time, so memory stays bounded whatever the file's
size; inside a chunk, texts of similar length share a batch and the predictions are put back
in input order. Output goes to a temporary file beside the destination that is renamed into
place only when every row is written.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import csv
import heapq
import itertools
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from sentiment_cli import runs as runs_module
from sentiment_cli.data import DataSpec, Record, keep_good, read_records
from sentiment_cli.encoding import Encoder, hash_set, text_hash
from sentiment_cli.errors import DataError, MissingLabels, RunError, disk_full, no_room
from sentiment_cli.config import PREDICT_BATCH, PREDICT_TOKENS
from sentiment_cli.runs import Run
from sentiment_cli.scoring import Gold, classification_report

DEFAULT_CHUNK = 8192
# Predictor's larger_input: tokens read ahead before the runs are settled (a few MB of ids). Past
# this many, TensorFlow's start (about 6 s more than NumPy's on 2 cores) has paid for itself: with
# 0.4.0's runs, NumPy predicted 668 IMDB reviews (263 tokens each) and 7,990 tweets (16 tokens) a
# second without its start, TensorFlow 1,268 and 13,118, so the two break even near 8,500 reviews
# (2.2 million tokens) and 122,000 tweets (1.9 million) (bench/speed.py, 2026-12-01)
LOOKAHEAD_TOKENS = 2_000_000


def check_ensemble(runs: list[Run]) -> list[str]:
    """The label set all runs share; runs that disagree cannot be averaged."""
    labels = runs[0].config.labels
    for run in runs[1:]:
        if run.config.labels != labels:
            raise RunError(
                f"runs {runs[0].path.name} and {run.path.name} have different label sets "
                f"({', '.join(labels)} vs {', '.join(run.config.labels)}): an ensemble needs the same labels"
            )
    return labels


def decision_threshold(runs: list[Run], threshold: float | None) -> float | None:
    """For binary runs: the given threshold, else the mean of the runs' validation-tuned ones."""
    if len(runs[0].config.labels) != 2:
        if threshold is not None:
            raise RunError("--threshold applies to binary runs only; this run has "
                           f"{len(runs[0].config.labels)} classes")
        return None
    if threshold is not None:
        return threshold
    return float(np.mean([run.threshold for run in runs]))


def decide(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    if threshold is None:
        return probs.argmax(axis=1)
    return (probs[:, 1] >= threshold).astype(np.int64)


class Predictor:
    """Averages the class probabilities of one or more runs over chunks of records.

    larger_input: when the input holds LOOKAHEAD_TOKENS tokens or more, a function that gives the
    runs to predict all of it with instead (``--engine auto``: the runs are loaded by NumPy, which
    starts in a fraction of a second, and a larger input is worth TensorFlow's start, faster per
    row). The texts are tokenized as the first runs' engine tokenizes: both give the same ids.
    """

    def __init__(self, runs: list[Run], batch_size: int = PREDICT_BATCH, max_tokens: int = PREDICT_TOKENS,
                 larger_input=None):
        self.runs = runs
        self.labels = check_ensemble(runs)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.encoders = [Encoder.from_config(run.config, run.tokenizer) for run in runs]
        for run, encoder in zip(runs, self.encoders):
            encoder.engine = run.engine
        self.larger_input = larger_input

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self._average([encoder.sequences(texts) for encoder in self.encoders])

    def _average(self, seqs_per_run: list) -> np.ndarray:
        total = None
        for run, encoder, seqs in zip(self.runs, self.encoders, seqs_per_run):
            probs = run_probabilities(run, seqs, encoder.features, self.batch_size, self.max_tokens)
            total = probs if total is None else total + probs
        return total / len(self.runs)

    def chunks(self, records: Iterable[Record], chunk_size: int) -> Iterator[tuple[list[Record], np.ndarray]]:
        """Chunks with their probabilities. A thread reads and tokenizes the next chunk while
        the model predicts this one: TensorFlow releases the GIL, so the two overlap."""
        records = iter(records)

        def prepare():
            chunk = list(itertools.islice(records, chunk_size))
            return chunk, [encoder.sequences([r.text for r in chunk]) for encoder in self.encoders]

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(prepare)
            ahead = []  # with larger_input: the chunks read before the runs are settled
            if self.larger_input is not None:
                tokens = 0
                while tokens < LOOKAHEAD_TOKENS:
                    chunk, seqs = pending.result()
                    if not chunk:
                        break  # the whole input is read: the runs stay
                    ahead.append((chunk, seqs))
                    tokens += sum(map(len, seqs[0]))
                    pending = pool.submit(prepare)
                else:
                    self.runs = self.larger_input()
            for chunk, seqs in ahead:
                yield chunk, self._average(seqs)
            while True:
                chunk, seqs = pending.result()
                if not chunk:
                    return
                pending = pool.submit(prepare)
                yield chunk, self._average(seqs)


def load_runs(models_dir, names, engine: str = "tensorflow", before_tensorflow=None) -> tuple[list[Run], object]:
    """The runs, their models loaded by ``engine``: "numpy" (npmodel: no TensorFlow), "tensorflow",
    or "auto". And under auto, the function that loads them with TensorFlow for an input of
    2 million tokens or more (``Predictor``'s larger_input), else None. before_tensorflow: called
    before TensorFlow loads a model (``cli`` imports it with its thread settings there).

    auto: NumPy starts in a fraction of a second where TensorFlow takes about 6 (import, load,
    tracing), and TensorFlow predicts 1.6-1.9x as many rows a second on 2 cores: past about 2
    million tokens its start has paid for itself (``LOOKAHEAD_TOKENS``). A model NumPy does not
    compute is loaded by TensorFlow from the start. `test` and `test --beam`'s workers both load here."""
    from sentiment_cli.runs import load_run

    names = list(dict.fromkeys(names))

    def with_tensorflow():
        if before_tensorflow is not None:
            before_tensorflow()
        return [load_run(models_dir, name) for name in names]

    if engine == "tensorflow":
        return with_tensorflow(), None
    from sentiment_cli.npmodel import Unsupported

    try:
        loaded = [load_run(models_dir, name, engine="numpy") for name in names]
    except Unsupported as exc:
        if engine == "numpy":
            raise RunError(f"the numpy engine does not compute this model ({exc}): use --engine tensorflow "
                           "(or auto)") from None
        return with_tensorflow(), None
    return loaded, with_tensorflow if engine == "auto" else None


def run_probabilities(run: Run, seqs: list, featurize, batch_size: int, max_tokens: int | None) -> np.ndarray:
    """(n, K) class probabilities of one run's model, by the engine that loaded it."""
    if run.engine == "numpy":
        from sentiment_cli import npmodel

        return npmodel.predict_proba(run.model, seqs, featurize, batch_size, max_tokens)
    from sentiment_cli.model import predict_proba

    return predict_proba(run.model, seqs, featurize, batch_size, max_tokens)


@contextlib.contextmanager
def atomic_output(path, newline: str = ""):
    """A text file that appears at ``path`` only if the block completes; '-' is stdout."""
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    given = Path(path)
    if given.is_dir():
        raise DataError(given, "is a directory", fix="Name an output file")
    path = Path(os.path.realpath(given))  # through a symlink: the link stays, its target is replaced
    if not path.parent.is_dir():
        raise DataError(given, "its directory does not exist", fix="Create it first or choose another --output")
    runs_module.clean_leftovers(path.parent, f".{path.name}.", ".partial")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".partial", dir=path.parent)
    try:
        os.fchmod(fd, runs_module.file_mode())  # mkstemp's 0600 would survive the rename
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if no_room(exc):
            raise disk_full(exc, path.parent, target=given) from None
        raise


def _progress(desc: str, enabled: bool):
    # Only on a terminal: into a file, a bar's carriage returns make one unreadable line.
    return tqdm(desc=desc, unit=" rows", unit_scale=True, file=sys.stderr,
                disable=not enabled or not sys.stderr.isatty(),
                mininterval=0.5, dynamic_ncols=True)


@dataclass
class PredictOptions:
    """How `test` and `evaluate` predict: memory bounds, decision threshold, progress."""

    chunk_size: int = DEFAULT_CHUNK  # rows read and predicted at a time
    batch_size: int = PREDICT_BATCH  # most rows per model call
    max_tokens: int = PREDICT_TOKENS  # most rows x padded length per model call
    threshold: float | None = None  # binary runs: P(positive) from which the positive label is given
    progress: bool = True
    larger_input: object = None  # Predictor's: the runs to use for an input of LOOKAHEAD_TOKENS tokens or more


def predict_file(runs: list[Run], data: DataSpec, output_path, options: PredictOptions | None = None,
                 probabilities: bool = False, top_k: int | None = None, on_bad_lines: str | None = None) -> dict:
    """Write ``id,label[,p_LABEL...][,label_1,p_1...]`` for every row of ``data``, in input order.

    A row with an empty (or whitespace-only) text keeps its place and gets the label the model gives
    a text without words (every such row the same one); ``empty`` in the result counts them.

    top_k: the k likeliest labels and their probabilities, likeliest first (ties: label order).
    on_bad_lines: None labels every row, an empty text too; else a row with an empty text or a NUL
    byte stops the reading ("error") or is left out ("warn", "skip"), as ``data.keep_good`` does.
    """
    options = options or PredictOptions()
    input_path, chunk_size, progress = data.path, options.chunk_size, options.progress
    predictor = Predictor(runs, options.batch_size, options.max_tokens, options.larger_input)
    threshold = decision_threshold(runs, options.threshold)
    records = read_records(input_path, "test", data.format, data.columns)
    if on_bad_lines:
        records = keep_good(input_path, records, on_bad_lines)
    rows = 0
    empty = {"rows": 0, "first_line": None, "label": None}  # texts without a character but spaces
    start = time.perf_counter()
    # The first chunk is read before the output opens: an unreadable input writes nothing, not
    # even a header on stdout.
    chunks = predictor.chunks(records, chunk_size)
    first = next(chunks, None)
    if first is None:
        raise DataError(input_path, "no rows to predict", fix="Give a file with at least one text")
    with atomic_output(output_path) as handle, _progress("predict", progress) as bar:
        writer = csv.writer(handle, lineterminator="\n")
        k = min(top_k or 0, len(predictor.labels))
        writer.writerow(["id", "label"] + ([f"p_{label}" for label in predictor.labels] if probabilities else [])
                        + [name for i in range(1, k + 1) for name in (f"label_{i}", f"p_{i}")])
        for chunk, probs in itertools.chain([first], chunks):
            predicted = decide(probs, threshold)
            ranked = np.argsort(-probs, axis=1, kind="stable")[:, :k] if k else None
            for j, (record, label, p) in enumerate(zip(chunk, predicted, probs)):
                row = [record.id, predictor.labels[label]]
                if not record.text.strip():
                    empty["rows"] += 1
                    empty["first_line"] = empty["first_line"] or record.line
                    empty["label"] = row[1]
                if probabilities:
                    row += [f"{v:.6f}" for v in p]
                if k:
                    row += [v for c in ranked[j] for v in (predictor.labels[c], f"{p[c]:.6f}")]
                writer.writerow(row)
            rows += len(chunk)
            bar.update(len(chunk))
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds if seconds else None,
            "threshold": threshold, "empty": empty}


def evaluate_file(runs: list[Run], data: DataSpec, options: PredictOptions | None = None, errors: int = 0,
                  gold: Gold | None = None, out_of_fold: bool = False) -> dict:
    """Metrics of the runs (averaged, if several) on a labeled file; the ``errors`` most confidently wrong.

    With ``gold``, the input is read as a test file (ids and texts) and each row's label is
    the gold file's for its id. A row with an empty text or a NUL byte is an error or is left
    out, as ``data.on_bad_lines`` says (the runs' own policy, by default).

    out_of_fold (one run trained with --folds, on its training file): each row the run trained
    on is scored by its out-of-fold probabilities (runs.OOF_FILE), from the fold model that did
    not train on it, instead of the final model, which did; other rows by the model.
    """
    options = options or PredictOptions()
    oof = None
    if out_of_fold:
        oof = runs_module.read_oof(runs[0].path) if len(runs) == 1 else None
        if oof is None:
            raise RunError(f"--out-of-fold reads the out-of-fold predictions of one run trained with --folds, and "
                           f"{', '.join(run.path.name for run in runs)} has none ({runs_module.OOF_FILE}): train it "
                           "with --folds K (or auto), or leave out --out-of-fold")
    input_path, fmt, columns = data.path, data.format, data.columns
    predictor = Predictor(runs, options.batch_size, options.max_tokens, options.larger_input)
    threshold = decision_threshold(runs, options.threshold)
    index = {label: i for i, label in enumerate(predictor.labels)}
    if gold is None:
        records = _labels_or_gold(read_records(input_path, "labeled", fmt, columns))
    else:
        records = _joined(input_path, read_records(input_path, "test", fmt, columns), gold)
    records = keep_good(input_path, records, data.on_bad_lines)
    trained_on = training_hashes(runs)
    overlap = scored_out_of_fold = 0
    y_true, y_pred, worst = [], [], []
    with _progress("evaluate", options.progress) as bar:
        for chunk, probs in predictor.chunks(records, options.chunk_size):
            truth = []
            for record in chunk:
                if record.label not in index:
                    where, line = (input_path, record.line) if gold is None else (gold.path, gold.lines[record.id])
                    raise DataError(where, f"label {record.label!r} is not one the run knows "
                                    f"({', '.join(predictor.labels)})", line=line,
                                    fix="Fix the label, or evaluate a run trained with it")
                truth.append(index[record.label])
            truth = np.asarray(truth)
            if oof is not None:
                probs = np.array(probs, dtype=np.float64)
                for j, record in enumerate(chunk):
                    found = oof.get(text_hash(record.text))
                    if found is not None:
                        probs[j] = found
                        scored_out_of_fold += 1
            elif trained_on:
                overlap += sum(text_hash(record.text) in trained_on for record in chunk)
            predicted = decide(probs, threshold)
            y_true.append(truth)
            y_pred.append(predicted)
            if errors:
                for j in np.flatnonzero(predicted != truth):
                    item = (float(probs[j, predicted[j]]), chunk[j].line, chunk[j].text, predictor.labels[truth[j]],
                            predictor.labels[predicted[j]])
                    if len(worst) < errors:
                        heapq.heappush(worst, item)
                    else:
                        heapq.heappushpop(worst, item)
            bar.update(len(chunk))
    if not y_true:
        raise DataError(input_path, "no labeled examples in the file", fix="Give a file with labeled examples")
    report = classification_report(np.concatenate(y_true), np.concatenate(y_pred), predictor.labels)
    report.update({"input": str(input_path), "runs": [run.path.name for run in runs], "threshold": threshold})
    if oof is not None:
        report["rows_out_of_fold"] = scored_out_of_fold  # the others: scored by the final model
    elif trained_on is not None:
        report["rows_in_training_data"] = overlap
    if gold is not None:
        report["gold"] = gold.path
        report["gold_ids_not_in_input"] = len(gold.labels) - report["examples"]
    if errors:
        report["errors"] = [
            {"line": line, "label": label, "predicted": pred, "confidence": round(conf, 6), "text": text}
            for conf, line, text, label, pred in sorted(worst, reverse=True)
        ]
    return report


def training_hashes(runs: list[Run]) -> set[str] | None:
    """The hashes of the runs' training texts (None when a run does not have them)."""
    found = set()
    for run in runs:
        path = run.path / runs_module.TEXTS_FILE
        try:
            hashes = hash_set(runs_module.read_json(path)) if path.exists() else None
        except RunError:  # damaged: only a warning depends on it
            hashes = None
        if hashes is None:
            return None
        found |= hashes
    return found


def _labels_or_gold(records: Iterable[Record]) -> Iterator[Record]:
    """The records; of a file without labels, an error whose first fix is --gold (the labels of a
    test file are usually in a file of their own), then the one for a file that has them."""
    try:
        yield from records
    except MissingLabels as exc:
        fix = "Give its labels with --gold FILE (a CSV 'id,label', joined by id)"
        raise DataError(exc.path, exc.message, exc.line, fix + (f", or {exc.other}" if exc.other else "")) from None


def _joined(input_path, records: Iterable[Record], gold: Gold) -> Iterator[Record]:
    """Records with their gold labels, joined by id; every id of the input once and in the gold file."""
    seen = {}
    for record in records:
        if record.id in seen:
            raise DataError(input_path, f"id {record.id!r} again (first on line {seen[record.id]})", line=record.line,
                            fix="Give each row its own id")
        seen[record.id] = record.line
        if record.id not in gold.labels:
            raise DataError(input_path, f"id {record.id!r} has no label in {gold.path}", line=record.line,
                            fix="Give the gold file that belongs to this input (ids are joined)")
        record.label = gold.labels[record.id]
        yield record


def save_report(run: Run, report: dict) -> Path:
    path = run.path / runs_module.EVALUATION_FILE
    runs_module.write_json_atomic(path, report)
    return path
