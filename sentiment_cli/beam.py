"""`test --beam`: label files past one machine with an Apache Beam pipeline.

The pipeline: match PATTERN -> read each file with the readers of plain `test` (data.py; Parquet
with pyarrow) into (id, text) -> reshuffle (so one large file spreads over the workers) ->
RunInference with ``RunsHandler`` -> one row per input row -> Beam's sharded files under PREFIX.

``RunsHandler`` holds the runs' names and the models directory, never a model: that is all Beam
pickles. Each worker process loads the runs once (RunInference keeps them in a per-process shared
handle, used by all of the process's threads) through ``predict.load_runs``, the loading code and
safety checks of plain `test`, and predicts with ``predict.Predictor``.

Rows are joined by id, never by order: a file without ids gives ``FILE:LINE`` ids. Beam's file
sinks write into a temporary directory and rename the shards into place at the end of the job,
so a failed job leaves no file named like finished output. This module imports apache_beam at
the top; only `test --beam` imports it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from sentiment_cli.config import PREDICT_BATCH, PREDICT_TOKENS
from sentiment_cli.data import Columns, Record, keep_good, read_records
from sentiment_cli.errors import ConfigError, DataError, RunError, SentimentError
from sentiment_cli.predict import DEFAULT_CHUNK, Predictor, decide, decision_threshold, load_runs

OUTPUT_FORMATS = ("csv", "jsonl", "parquet")
PARQUET_SUFFIXES = (".parquet", ".parq")
NAMESPACE = "sentiment-cli"  # of the job's counters
# An error of ours, carried through a runner's exception (in another process, or on Dataflow as
# text) between these marks, so the launcher can print it as one line.
_MARK = "<<sentiment-cli>>"
_MARKED = re.compile(re.escape(_MARK) + r"(.*?)" + re.escape(_MARK), re.S)


@dataclass
class BeamJob:
    """What `test --beam` labels, with what, and where it writes."""

    models_dir: str
    runs: list[str]  # names in models_dir, or paths of run directories
    pattern: str  # a file or a glob on a filesystem Beam knows
    prefix: str  # the shards are PREFIX-SSSSS-of-NNNNN.EXT
    fmt: str = "auto"  # data.FORMATS; a .parquet file is read as Parquet
    columns: Columns = field(default_factory=Columns)
    on_bad_lines: str | None = None  # None: every row is labeled, as plain `test` does
    output_format: str = "csv"
    probabilities: bool = False
    top_k: int | None = None
    threshold: float | None = None
    engine: str = "auto"  # auto: numpy when it computes every run's model, else tensorflow
    batch_size: int = PREDICT_BATCH
    max_tokens: int = PREDICT_TOKENS
    chunk_size: int = DEFAULT_CHUNK  # most rows RunInference hands the model at once
    overwrite: bool = False
    beam_args: list[str] = field(default_factory=list)  # to PipelineOptions, unchanged


class _DropOurs(logging.Filter):
    """Drops the records in which Beam logs an error of ours with its traceback: the launcher
    prints it once, in one line."""

    def filter(self, record):
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "".join(traceback.format_exception(record.exc_info[1]))
        return _MARK not in text


class _StderrWithoutOurs:
    """A worker process's stderr, less the writes that hold an error of ours: Beam 2.78's SDK
    worker prints each failed bundle's traceback there (sdk_worker.SdkHarness._execute) as well
    as logging it."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return len(text) if _MARK in text else self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _quiet_our_errors() -> None:
    """Put ``_DropOurs`` on the root logger's handlers (Beam's, in the launcher and in each
    worker process), once; in a separate SDK worker process, filter its stderr too."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _DropOurs) for f in handler.filters):
            handler.addFilter(_DropOurs())
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    if main is not None and main.name.endswith("sdk_worker_main") and not isinstance(sys.stderr, _StderrWithoutOurs):
        sys.stderr = _StderrWithoutOurs(sys.stderr)


def _ours(function):
    """Run ``function``, turning an error of ours into one Beam carries as text (a DataError does
    not survive pickling: its constructor takes four arguments)."""
    try:
        return function()
    except SentimentError as exc:
        raise RuntimeError(f"{_MARK}{exc}{_MARK}") from None


class _Lines:
    """A file of Beam's filesystems (decompressed) as ``data.read_lines`` reads one: by lines."""

    def __init__(self, handle):
        self.handle = handle

    def __iter__(self):
        return iter(self.handle.readline, b"")

    def close(self):
        self.handle.close()


def is_parquet(path: str, fmt: str) -> bool:
    return fmt == "auto" and path.lower().endswith(PARQUET_SUFFIXES)


class ReadFile(beam.DoFn):
    """A matched file -> (id, text) for each of its rows, read as plain `test` reads it."""

    def __init__(self, fmt: str, columns: Columns, on_bad_lines: str | None):
        self.fmt, self.columns, self.on_bad_lines = fmt, columns, on_bad_lines
        self.read = Metrics.counter(NAMESPACE, "rows_read")
        self.skipped = Metrics.counter(NAMESPACE, "bad_rows_skipped")

    def setup(self):
        _quiet_our_errors()

    def process(self, readable):
        path = readable.metadata.path
        rows = [0]

        def counted(records):
            for record in records:
                rows[0] += 1
                yield record

        if is_parquet(path, self.fmt):
            records = read_parquet(path, readable.open(compression_type="uncompressed"), self.columns)
        else:
            records = read_records(path, "test", self.fmt, self.columns, opener=lambda _: _Lines(readable.open()))
        records = counted(records)
        if self.on_bad_lines:
            records = keep_good(path, records, self.on_bad_lines)
        kept = 0
        iterator = iter(records)
        while True:
            record = _ours(lambda: next(iterator, None))
            if record is None:
                break
            kept += 1
            yield (f"{path}:{record.line}" if record.numbered else record.id), record.text
        self.read.inc(rows[0])
        self.skipped.inc(rows[0] - kept)


def read_parquet(path: str, handle, columns: Columns, batch_rows: int = 8192):
    """Records of a Parquet file: the text column, and the id column if the file has one (else
    the row number, 1-based, stands where a text file's line number would)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with handle:
            reader = pq.ParquetFile(handle)
            names = reader.schema_arrow.names
            if columns.text not in names:
                raise DataError(path, f"no column {columns.text!r} (the columns are: {', '.join(names)})",
                                fix="Name the text column with --text-column")
            if not pa.types.is_string(reader.schema_arrow.field(columns.text).type) and \
                    not pa.types.is_large_string(reader.schema_arrow.field(columns.text).type):
                raise DataError(path, f"column {columns.text!r} holds {reader.schema_arrow.field(columns.text).type}, "
                                "not text", fix="Name the text column with --text-column")
            has_id = columns.id in names
            wanted = [columns.text] + ([columns.id] if has_id else [])
            number = 0
            for batch in reader.iter_batches(batch_size=batch_rows, columns=wanted):
                texts = batch.column(columns.text).to_pylist()
                ids = batch.column(columns.id).to_pylist() if has_id else [None] * len(texts)
                for text, row_id in zip(texts, ids):
                    number += 1
                    text = text or ""
                    if has_id and row_id is not None:
                        yield Record(number, text, None, str(row_id))
                    else:
                        yield Record(number, text, None, str(number), True)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(path, f"not a readable Parquet file ({exc})", fix="Check that the file is complete") from None


class RunsHandler(ModelHandler):
    """RunInference's model handler for sentiment-cli runs: (id, text) -> (id, probabilities).

    Only what it takes to find and load the runs is pickled; ``load_model`` loads them (once per
    worker process: RunInference shares the result between the process's threads) as plain
    `test` does, and returns a ``predict.Predictor`` that averages them."""

    def __init__(self, models_dir: str, names: list[str], engine: str = "auto", batch_size: int = PREDICT_BATCH,
                 max_tokens: int = PREDICT_TOKENS, chunk_size: int = DEFAULT_CHUNK, before_tensorflow=None):
        super().__init__(min_batch_size=min(batch_size, chunk_size), max_batch_size=chunk_size)
        self.models_dir, self.names, self.engine = str(models_dir), list(names), engine
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.before_tensorflow = before_tensorflow  # a module-level function: pickled by reference

    def load_model(self) -> Predictor:
        _quiet_our_errors()
        return _ours(lambda: Predictor(load(self.models_dir, self.names, self.engine, self.before_tensorflow),
                                       self.batch_size, self.max_tokens))

    def run_inference(self, batch, model: Predictor, inference_args=None):
        probs = _ours(lambda: model.probabilities([text for _, text in batch]))
        return [(row_id, p) for (row_id, _), p in zip(batch, probs)]

    def get_num_bytes(self, batch) -> int:
        return sum(len(text) for _, text in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


def load(models_dir: str, names: list[str], engine: str, before_tensorflow=None) -> list:
    """The runs, loaded as plain `test` loads them (``predict.load_runs``); a run on another
    filesystem (gs://, s3://) is copied to a local directory first. auto is numpy where it
    computes every run's model, without plain `test`'s switch to TensorFlow for a large input
    (a worker sees batches, not the input)."""
    local = [_fetch_run(name) if "://" in name else name for name in names]
    return load_runs(models_dir, local, engine, before_tensorflow)[0]


def _fetch_run(url: str) -> str:
    """A copy, in a new local directory, of the files of a run that loading reads."""
    import tempfile

    from sentiment_cli import runs as runs_module

    url = url.rstrip("/")
    target = os.path.join(tempfile.mkdtemp(prefix="sentiment-cli-run-"), FileSystems.split(url)[1] or "run")
    os.makedirs(target)
    for name in (runs_module.CONFIG_FILE, runs_module.TOKENIZER_FILE, runs_module.MODEL_FILE, runs_module.METRICS_FILE):
        source = FileSystems.join(url, name)
        if not FileSystems.exists(source):
            if name == runs_module.METRICS_FILE:
                continue
            raise RunError(f"{url}: no {name}: not a run directory (a finished run holds {runs_module.CONFIG_FILE}, "
                           f"{runs_module.TOKENIZER_FILE} and {runs_module.MODEL_FILE})")
        with FileSystems.open(source, compression_type="uncompressed") as src, \
                open(os.path.join(target, name), "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    return target


class Rows:
    """(id, probabilities) -> the row plain `test` writes, as a dict of its columns."""

    def __init__(self, labels: list[str], threshold: float | None, probabilities: bool, top_k: int | None):
        self.labels, self.threshold, self.probabilities = labels, threshold, probabilities
        self.k = min(top_k or 0, len(labels))
        self.columns = (["id", "label"] + ([f"p_{label}" for label in labels] if probabilities else [])
                        + [name for i in range(1, self.k + 1) for name in (f"label_{i}", f"p_{i}")])
        self.written = Metrics.counter(NAMESPACE, "rows_labeled")

    def __call__(self, element) -> dict:
        row_id, p = element
        p = np.asarray(p)
        row = {"id": row_id, "label": self.labels[int(decide(p[None, :], self.threshold)[0])]}
        if self.probabilities:
            row.update({f"p_{label}": round(float(v), 6) for label, v in zip(self.labels, p)})
        if self.k:
            for i, c in enumerate(np.argsort(-p, kind="stable")[:self.k], start=1):
                row[f"label_{i}"], row[f"p_{i}"] = self.labels[c], round(float(p[c]), 6)
        self.written.inc()
        return row

    def csv_line(self, row: dict) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(
            [f"{v:.6f}" if isinstance(v, float) else v for v in (row[c] for c in self.columns)])
        return out.getvalue()

    def parquet_schema(self):
        import pyarrow as pa

        return pa.schema([(c, pa.float64() if c.startswith("p_") else pa.string()) for c in self.columns])


def output_pattern(prefix: str) -> str:
    """The glob that finds Beam's shards of PREFIX, in any of the output formats; it also matches
    another prefix's (labels-2024-00001-of-00002.csv for labels): ``_shards`` keeps PREFIX's own."""
    return f"{prefix}-*-of-*"


def _is_shard(prefix: str, path: str) -> bool:
    """Whether ``path`` is named as Beam names PREFIX's shards: PREFIX-SSSSS-of-NNNNN.EXT."""
    name = FileSystems.split(prefix)[1]
    return re.search(r"(?:^|/)" + re.escape(name) + r"-\d{5,}-of-\d{5,}\.(?:csv|jsonl|parquet)$", path) is not None


def _shards(prefix: str) -> list[str]:
    """The files now named as PREFIX's shards."""
    return [path for path in _matched(output_pattern(prefix)) if _is_shard(prefix, path)]


def _this_jobs_shards(prefix: str) -> list[str]:
    """The shards a job just wrote under PREFIX: those named -of-NNNNN.EXT like the newest one
    (a job writes all N, and replaces an earlier job's of the same N and format)."""
    found = [m for m in _matched_metadata(output_pattern(prefix)) if _is_shard(prefix, m.path)]
    if not found:
        return []
    newest = max(found, key=lambda m: m.last_updated_in_seconds or 0).path
    tail = re.search(r"-of-\d+[^/]*$", newest).group(0)
    return sorted(m.path for m in found if m.path.endswith(tail) and m.path[:-len(tail)].startswith(prefix + "-"))


def _matched_metadata(pattern: str) -> list:
    try:
        return FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - BeamIOError for a directory that does not exist yet
        return []


def _matched(pattern: str) -> list[str]:
    return [m.path for m in _matched_metadata(pattern)]


def _temp_dirs(prefix: str) -> list[str]:
    """Beam's temporary directories of a sink writing PREFIX (FileBasedSink: beam-temp-NAME-UUID)."""
    directory, name = FileSystems.split(prefix)
    pattern = FileSystems.join(directory, f"beam-temp-{name}-*")
    if "://" not in prefix:  # the local filesystem matches files, not directories
        import glob

        return glob.glob(pattern)
    return sorted({FileSystems.split(path)[0] for path in _matched(pattern + "/*")})


def pipeline_options(beam_args: list[str]):
    """PipelineOptions from the arguments after `--`, unchanged; with no --runner, the FnApiRunner
    in this process, as Beam's DirectRunner builds it for a batch job. Not the DirectRunner itself:
    since Beam 2.6x it first tries the PrismRunner, which downloads a binary from GitHub."""
    options = PipelineOptions(beam_args)
    if options.view_as(StandardOptions).runner:
        return options, None
    if not any(arg.startswith("--default_sdk_harness_log_level") for arg in beam_args):
        # the worker processes of --direct_running_mode=multi_processing log at INFO otherwise
        options = PipelineOptions([*beam_args, "--default_sdk_harness_log_level=WARNING"])
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return options, fn_runner.FnApiRunner(provision_info=info)


def run_job(job: BeamJob, before_tensorflow=None, columns_for=None, log=None) -> dict:
    """Label every row of the files PATTERN matches into PREFIX's shards; the job's summary.

    The runs are loaded here first (a damaged run, or an unsafe model, fails before any worker
    starts), and again by each worker process. columns_for: the input's Columns given the first
    run (plain `test`'s defaults are the columns the run was trained with)."""
    log = log or (lambda message: print(message, file=sys.stderr))
    job.runs = list(dict.fromkeys(job.runs))
    if job.output_format not in OUTPUT_FORMATS:
        raise SentimentError(f"--output-format {job.output_format}: expected one of {', '.join(OUTPUT_FORMATS)}")
    if job.prefix.endswith(("/", "\\")):
        raise DataError(job.prefix, "is a directory, not a prefix",
                        fix="Name a prefix of the output files, for example out/labels")
    files = _matched(job.pattern)
    if not files:
        raise DataError(job.pattern, "matches no file", fix="Check the path or the glob")
    options, runner = pipeline_options(job.beam_args)
    earlier = _shards(job.prefix)
    if earlier and not job.overwrite:
        raise DataError(job.prefix, f"holds earlier output ({len(earlier)} files like {earlier[0]})",
                        fix="Pass --overwrite to replace it, or choose another --output")
    local_runner = options.view_as(StandardOptions).runner in (None, *StandardOptions.LOCAL_RUNNERS)
    if not local_runner and not all("://" in name for name in job.runs):
        raise RunError(f"the runner {options.view_as(StandardOptions).runner} runs on other machines, which cannot "
                       "read a local run: copy the run directory to their filesystem (gsutil cp -r models/NAME "
                       "gs://BUCKET/models/) and name it (sentiment-cli test gs://BUCKET/models/NAME --beam ...)")
    runs = load(job.models_dir, job.runs, job.engine, before_tensorflow)
    if columns_for is not None:
        job.columns = columns_for(runs[0])
    labels = Predictor(runs, job.batch_size, job.max_tokens).labels
    if job.top_k and len(labels) <= 2:
        raise ConfigError(f"--top-k is for runs of more than two classes; {runs[0].path.name} has two "
                          "(--probabilities gives both)")
    rows = Rows(labels, decision_threshold(runs, job.threshold), job.probabilities, job.top_k)
    handler = RunsHandler(job.models_dir, [name if "://" in name else str(run.path) for name, run in zip(job.runs, runs)],
                          job.engine, job.batch_size, job.max_tokens, job.chunk_size, before_tensorflow)
    temp_before = set(_temp_dirs(job.prefix))
    start = time.perf_counter()
    pipeline = beam.Pipeline(runner=runner, options=options)
    labeled = (pipeline
               | "Match" >> fileio.MatchFiles(job.pattern)
               | "Open" >> fileio.ReadMatches()
               | "Read" >> beam.ParDo(ReadFile(job.fmt, job.columns, job.on_bad_lines))
               | "Spread" >> beam.Reshuffle()
               | "Label" >> RunInference(handler)
               | "Rows" >> beam.Map(rows))
    if job.output_format == "csv":
        _ = (labeled | "CSV" >> beam.Map(rows.csv_line)
             | "Write" >> beam.io.WriteToText(job.prefix, file_name_suffix=".csv", header=",".join(rows.columns)))
    elif job.output_format == "jsonl":
        _ = (labeled | "JSON" >> beam.Map(lambda row: json.dumps(row, ensure_ascii=False))
             | "Write" >> beam.io.WriteToText(job.prefix, file_name_suffix=".jsonl"))
    else:
        _ = labeled | "Write" >> beam.io.WriteToParquet(job.prefix, rows.parquet_schema(), file_name_suffix=".parquet")
    _quiet_our_errors()
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as exc:  # noqa: BLE001 - any runner's failure, reported in one line
        _clean_temp(set(_temp_dirs(job.prefix)) - temp_before)
        text = "".join(traceback.format_exception(exc))
        found = _MARKED.search(text)
        if found:
            raise SentimentError(found.group(1)) from None
        if os.environ.get("SENTIMENT_CLI_DEBUG"):
            raise
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SentimentError(f"the Beam job failed: {last} (SENTIMENT_CLI_DEBUG=1 shows the traceback)") from None
    seconds = time.perf_counter() - start
    written = _this_jobs_shards(job.prefix)
    stale = sorted(set(_shards(job.prefix)) - set(written))
    if stale:  # only with --overwrite: shards of earlier output that this job's did not replace
        FileSystems.delete(stale)
    counters = _counters(result)
    summary = {"input": job.pattern, "files": len(files), "output": sorted(written), "runs": job.runs,
               "rows_read": counters.get("rows_read", 0), "rows": counters.get("rows_labeled", 0),
               "bad_rows_skipped": counters.get("bad_rows_skipped", 0), "seconds": seconds}
    log(f"job summary: {summary['files']} files, {summary['rows_read']} rows read, {summary['rows']} labeled, "
        f"{summary['bad_rows_skipped']} bad rows skipped (--on-bad-lines {job.on_bad_lines or 'not given'}), "
        f"{len(written)} output file{'s' if len(written) != 1 else ''}, {seconds:.1f} s")
    return summary


def _counters(result) -> dict:
    found = {}
    try:
        queried = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except Exception:  # noqa: BLE001 - a runner without metrics: the summary says 0
        return found
    for counter in queried:
        value = counter.committed if counter.committed is not None else counter.attempted
        found[counter.key.metric.name] = found.get(counter.key.metric.name, 0) + (value or 0)
    return found


def _clean_temp(directories) -> None:
    """A failed job's temporary directories, whose shards no finished output is named like, but
    which would be left behind."""
    if directories:
        try:
            FileSystems.delete(sorted(directories))
        except Exception:  # noqa: BLE001 - best effort: the job's own error matters more
            pass
