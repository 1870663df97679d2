"""Readers: labeled, unlabeled and test files -> records, in every format, with their one-line errors.

Readers stream: they yield one record at a time and name the file and line of anything they
cannot read, so a 10 GB file costs no more memory than a 10 line one until the caller keeps it.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import re
import sys
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from sentiment_cli.errors import DataError, MissingLabels
from sentiment_cli.progress import step

CLASSIC_SEPARATOR = "+++$+++"
FORMATS = ("auto", "classic", "lines", "idtext", "csv", "tsv", "jsonl")
BAD_LINES = ("error", "warn", "skip")
_INTEGER = re.compile(r"-?\d+\Z")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class Record:
    line: int  # physical line the record starts on (1-based), for error messages
    text: str
    label: str | None = None
    id: str | None = None
    numbered: bool = False  # the id is the line number: the file gives none (`test --beam` makes it FILE:LINE)


@dataclass
class Columns:
    """Column names for CSV, TSV and JSONL files."""

    text: str = "text"
    label: str = "label"
    id: str = "id"


@dataclass
class DataSpec:
    """A data file and how to read it: what a run records of each file it reads."""

    path: str
    format: str = "auto"
    columns: Columns = field(default_factory=Columns)
    on_bad_lines: str = "error"  # an example with an empty text or a NUL byte: "error", "warn" or "skip"

    def to_dict(self) -> dict:
        return {"path": str(self.path), "format": self.format, "columns": vars(self.columns),
                "on_bad_lines": self.on_bad_lines}

    @classmethod
    def from_dict(cls, data: dict) -> "DataSpec":
        return cls(data["path"], data.get("format") or "auto", Columns(**(data.get("columns") or {})),
                   data.get("on_bad_lines") or "error")


def _open_binary(path, opener=None):
    if str(path) == "-":
        return sys.stdin.buffer
    if opener is not None:  # a file of another filesystem (Beam's, for `test --beam`)
        return opener(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, "no such file", fix="Check the path") from None
    except IsADirectoryError:
        raise DataError(path, "is a directory, not a file", fix="Name a file") from None
    except PermissionError:
        raise DataError(path, "permission denied", fix="Make the file readable") from None
    if str(path).endswith(".gz"):
        # gzip.open owns (and closes) its file; GzipFile(fileobj=...) would leave ours open
        handle.close()
        return gzip.open(path, "rb")
    return handle


# Windows-1252, not Latin-1: files that are not UTF-8 are most often Windows', and Latin-1 reads
# its curly quotes, dashes and euro sign (bytes 0x80-0x9F) as invisible control characters.
_TO_UTF8 = ("Convert the file to UTF-8, for example from Windows-1252: "
            "iconv -f cp1252 -t utf-8 FILE > FILE.utf8 (or give -f the file's own encoding)")


def read_lines(path, opener=None) -> Iterator[tuple[int, str]]:
    """Yield (line number, text without its line end) of a UTF-8 file, gzip or not.

    A byte-order mark and CRLF line ends are accepted; bytes that are not UTF-8 are an error
    that names the line, never a silent replacement.
    """
    handle = _open_binary(path)
    number = 0
    try:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    path,
                    f"bytes that are not UTF-8 (byte {exc.start + 1} of the line)",
                    line=number,
                    fix=_TO_UTF8,
                ) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield number, line.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            path, f"cannot be read after line {number} ({exc})", fix="Check that the file is complete"
        ) from None
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def detect_format(path, kind: str, first_line: str | None = None) -> str:
    """The format a file's name (and, for test files, its first line) implies.

    A test file is idtext when its first line is the header 'id,text', and classic when it is
    a .txt whose first line holds the separator: the labeled training layout, whose texts
    (not its whole lines) are what to label.
    """
    name = str(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".tsv", ".tab")):
        return "tsv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if kind == "labeled":
        return "classic"
    if kind == "test" and first_line is not None and first_line.strip().lower() == "id,text":
        return "idtext"
    if kind == "test" and name.endswith(".txt") and first_line is not None \
            and f" {CLASSIC_SEPARATOR} " in first_line:
        return "classic"
    return "lines"


def read_records(path, kind: str, fmt: str = "auto", columns: Columns | None = None,
                 opener=None) -> Iterator[Record]:
    """Yield the records of a file.

    kind is "labeled" (text and label), "unlabeled" (text) or "test" (id and text; ids are line
    numbers where the format has none).
    """
    columns = columns or Columns()
    lines = read_lines(path, opener)
    first = next(lines, None)
    if first is None:
        raise DataError(path, "the file is empty", fix="Give a file with at least one example")
    lines = itertools.chain([first], lines)
    if fmt == "auto":
        fmt = detect_format(path, kind, first[1])
        if kind == "labeled" and first[1].strip().lower() == "id,text":
            raise MissingLabels(path, "this looks like a test file (header 'id,text', no labels)",
                                line=1, fix="Give a labeled file (LABEL +++$+++ TEXT, or a table with a label column); "
                                "label it with 'sentiment-cli test' instead")
    if kind == "labeled" and fmt in ("lines", "idtext"):
        raise MissingLabels(path, f"the {fmt} format has no labels",
                            fix="Give a labeled file (LABEL +++$+++ TEXT, or a table with a label column)",
                            other="name its format with --format")
    readers = {"classic": _read_classic, "lines": _read_plain, "idtext": _read_idtext,
               "csv": _read_table, "tsv": _read_table, "jsonl": _read_jsonl}
    yield from readers[fmt](path, lines, kind, fmt, columns)


def _read_classic(path, lines, kind, fmt, columns):
    told = False  # a test file's labels are left out, and said so once
    for number, line in lines:
        if not line.strip():
            continue
        label, sep, text = line.partition(CLASSIC_SEPARATOR)
        if not sep:
            if kind == "labeled":
                raise DataError(
                    path, f"no '{CLASSIC_SEPARATOR}' separator", line=number,
                    fix=f"Write the line as 'LABEL {CLASSIC_SEPARATOR} TEXT', or name the format with --format",
                )
            text = line
        label = label.strip()
        if kind == "labeled" and not label:
            raise DataError(path, f"no label before '{CLASSIC_SEPARATOR}'", line=number,
                            fix=f"Write the line as 'LABEL {CLASSIC_SEPARATOR} TEXT'")
        if kind == "test":
            if label and not told:
                print(f"note: {path} is labeled (LABEL {CLASSIC_SEPARATOR} TEXT): its texts are read and its labels "
                      f"ignored; to score the labels, run: sentiment-cli evaluate RUN --input {path}",
                      file=sys.stderr)
                told = True
            label = ""
        yield Record(number, text.strip(), label or None, str(number), True)


def _read_plain(path, lines, kind, fmt, columns):
    for number, line in lines:
        if kind == "unlabeled" and not line.strip():
            continue
        yield Record(number, line, None, str(number), True)


def _read_idtext(path, lines, kind, fmt, columns):
    _, header = next(lines)
    if header.strip().lower() != "id,text":
        raise DataError(path, f"expected the header 'id,text', found {header[:60]!r}", line=1,
                        fix="Add the header line 'id,text', or name the format with --format")
    for number, line in lines:
        if not line.strip():
            continue
        row_id, sep, text = line.partition(",")
        if not sep:
            raise DataError(path, "no comma between id and text", line=number,
                            fix="Write the line as 'ID,TEXT'")
        yield Record(number, text, None, row_id)


def _read_table(path, lines, kind, fmt, columns):
    wanted = _wanted_columns(kind, columns)
    first = next(lines)
    delimiter = "\t" if fmt == "tsv" else ","
    semicolon_names = _semicolon_names(first[1], wanted) if fmt == "csv" else None
    if semicolon_names is not None and all(name in semicolon_names for name in wanted.values()):
        # Spreadsheets in locales whose decimal mark is a comma write CSV with semicolons.
        delimiter = ";"
        print(f"note: {path}: fields separated by ';' (the header is {first[1][:60]!r}): read with ';'",
              file=sys.stderr)
    counter = _LineCounter(itertools.chain([first], lines))
    reader = csv.reader(counter, delimiter=delimiter)
    try:
        header = next(reader)
        positions = {}
        for role, name in wanted.items():
            if name not in header:
                if header and _INTEGER.match(header[0].strip()):
                    raise DataError(path, f"the first line looks like data, not a header ({', '.join(header)[:60]})",
                                    line=1, fix=f"Add a header line that names the columns (for example "
                                    f"'id,{columns.text}'), or give plain lines with --format lines")
                other = _other_table_format(first[1], header, delimiter)
                if other is not None:
                    raise DataError(path, f"no column {name!r}: read as {fmt.upper()}, the header {first[1][:60]!r} "
                                    f"is one field, and {OTHER_SEPARATORS[other]} separate its names", line=1,
                                    fix=f"Pass --format {other}")
                has = f"the header has: {', '.join(header)}" if semicolon_names is None else \
                    f"the header, read with ';' between fields, has: {', '.join(semicolon_names)}"
                if role == "label":
                    others = [h for h in semicolon_names or header if h not in (columns.text, columns.id)]
                    raise MissingLabels(path, f"no column {name!r} ({has})", line=1,
                                        fix="Name the label column with --label-column",
                                        other="name the label column with --label-column" if others else None)
                raise DataError(path, f"no column {name!r} ({has})", line=1,
                                fix=f"Name the {role} column with --{role}-column")
            positions[role] = header.index(name)
        if kind == "test" and columns.id in header:  # optional: line numbers name rows without it
            positions["id"] = header.index(columns.id)
        width = len(header)
        start = counter.number + 1
        for row in reader:
            number, start = start, counter.number + 1
            if not row:
                continue
            if len(row) != width:
                classic = [h.strip().lower() for h in header] == ["id", "text"] and len(row) > width
                raise DataError(
                    path, f"{len(row)} fields where the header has {width}", line=number,
                    fix="This looks like the classic test layout (id,text with unquoted commas in the text): "
                        "pass --format idtext" if classic else "Quote fields that contain the delimiter",
                )
            values = {role: row[i] for role, i in positions.items()}
            yield _record(path, number, kind, values)
    except csv.Error as exc:
        raise DataError(path, f"not valid {fmt.upper()} ({exc})", line=counter.number,
                        fix="Check the quoting on that line") from None


OTHER_SEPARATORS = {"csv": "commas", "tsv": "tabs"}


def _other_table_format(line: str, header: list[str], delimiter: str) -> str | None:
    """"csv" for a header that --format tsv read as one field but commas split into several
    names, "tsv" for one that tabs split so under --format csv; else None."""
    other = {"\t": "csv", ",": "tsv", ";": None}[delimiter]
    if other is None or len(header) != 1:
        return None
    names = next(csv.reader([line], delimiter="," if other == "csv" else "\t"), [])
    return other if len(names) > 1 else None


def _semicolon_names(line: str, wanted: dict) -> list[str] | None:
    """The column names of a CSV header separated by semicolons (one that names no wanted
    column when split at commas, and splits at semicolons into several names); else None."""
    with_commas = next(csv.reader([line]), [])
    if any(name in with_commas for name in wanted.values()):
        return None
    with_semicolons = next(csv.reader([line], delimiter=";"), [])
    return with_semicolons if len(with_semicolons) > 1 else None


class _LineCounter:
    """Feeds csv.reader lines with their ends, and remembers the last line number read."""

    def __init__(self, lines):
        self.lines = lines
        self.number = 0

    def __iter__(self):
        for number, line in self.lines:
            self.number = number
            yield line + "\n"


def _read_jsonl(path, lines, kind, fmt, columns):
    wanted = _wanted_columns(kind, columns)
    for number, line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"not valid JSON ({exc.msg})", line=number,
                            fix="Write one JSON object per line") from None
        if not isinstance(obj, dict):
            raise DataError(path, "not a JSON object", line=number, fix="Write one JSON object per line")
        values = {}
        for role, name in wanted.items():
            if name not in obj:
                if role == "label":
                    others = [key for key in obj if key not in (columns.text, columns.id)]
                    raise MissingLabels(path, f"no key {name!r} (keys: {', '.join(obj)})", line=number,
                                        fix="Name the label key with --label-column",
                                        other="name the label key with --label-column" if others else None)
                raise DataError(path, f"no key {name!r} (keys: {', '.join(obj)})", line=number,
                                fix=f"Name the {role} key with --{role}-column")
            value = obj[name]
            values[role] = "" if value is None else value if isinstance(value, str) else json.dumps(value)
        if kind == "test" and columns.id in obj:
            values["id"] = str(obj[columns.id])
        yield _record(path, number, kind, values)


def _wanted_columns(kind, columns):
    wanted = {"text": columns.text}
    if kind == "labeled":
        wanted["label"] = columns.label
    return wanted


def _record(path, number, kind, values):
    label = values.get("label")
    if kind == "labeled":
        label = label.strip()
        if not label:
            raise DataError(path, "empty label", line=number, fix="Give every example a label")
    if "id" in values:
        return Record(number, values["text"], label, values["id"])
    return Record(number, values["text"], label, str(number), True)


@dataclass
class LabeledData:
    texts: list[str]
    labels: list[str]
    lines: list[int]
    path: str
    declared: list[str] | None = None  # --labels: the label set, classes without examples included
    skipped: int = 0  # bad lines left out (--on-bad-lines warn or skip)


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Label names in class-id order: numerically when all are integers, else alphabetically."""
    unique = set(labels)
    if all(_INTEGER.match(label) for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def label_variants(labels: Iterable[str], lines: Iterable[int]) -> list[list[tuple[str, int, int]]]:
    """Labels that differ only in case or surrounding spaces ('POS', 'pos', 'Pos '; the readers
    strip the spaces, so what they leave is case), which train as separate classes: per group,
    (label, rows, first line) with the most rows first."""
    found = {}
    for label, line in zip(labels, lines):
        rows, first = found.get(label, (0, line))
        found[label] = (rows + 1, first)
    groups = {}
    for label, (rows, first) in found.items():
        groups.setdefault(label.strip().casefold(), []).append((label, rows, first))
    return [sorted(group, key=lambda v: (-v[1], v[2])) for group in groups.values() if len(group) > 1]


def describe_label_variants(group: list[tuple[str, int, int]]) -> str:
    """One group of ``label_variants`` and how to merge it."""
    named = [f"{label!r} ({rows} row{'s' if rows != 1 else ''}, first on line {first})" for label, rows, first in group]
    listed = ", ".join(named[:-1]) + " and " + named[-1]
    return (f"labels {listed} differ only in case and train as {len(group)} separate classes; to make them "
            f"one, write them alike in the file (for example every one as {group[0][0]!r})")


def _check_record(path, record: Record, on_bad_lines: str, allowed: set | None) -> bool:
    """Stop on (or warn of) an empty text or a NUL byte, as on_bad_lines says; refuse a label
    outside ``allowed``. Returns whether the record is kept."""
    problem = "an empty text" if not record.text.strip() else "a NUL byte in the text" \
        if "\x00" in record.text else None
    if problem:
        if on_bad_lines == "error":
            raise DataError(path, problem, line=record.line,
                            fix="Fix or remove the line, or pass --on-bad-lines warn (or skip) to leave it out")
        if on_bad_lines == "warn":
            print(f"warning: {path}, line {record.line}: {problem}; line skipped", file=sys.stderr)
        return False
    if allowed is not None and record.label not in allowed:
        raise DataError(path, f"unknown label {record.label!r} (expected one of: {', '.join(sorted(allowed))})",
                        line=record.line, fix="Fix the label, or list it in --labels")
    return True


def keep_good(path, records: Iterable[Record], on_bad_lines: str) -> Iterator[Record]:
    """The records, less those with an empty text or a NUL byte, which stop the reading
    (on_bad_lines "error") or are left out ("warn" says so on stderr, "skip" does not)."""
    for record in records:
        if _check_record(path, record, on_bad_lines, None):
            yield record


def read_labeled(path, fmt="auto", columns: Columns | None = None,
                 allowed: Iterable[str] | None = None, on_bad_lines: str = "error",
                 progress: bool = False) -> LabeledData:
    """Read every labeled example; check that the labels make sense together.

    on_bad_lines (pandas' convention) decides what an example with an empty text or a NUL
    byte does: "error" stops with the file and line, "warn" skips it with a line on stderr,
    "skip" skips it; the count of skipped lines is kept in ``skipped``.
    """
    allowed = set(allowed) if allowed else None
    texts, labels, lines = [], [], []
    numeric = None
    skipped = 0
    with step(f"reading {path}", unit="rows", enabled=progress) as counter:
        for record in read_records(path, "labeled", fmt, columns):
            counter.update()
            if not _check_record(path, record, on_bad_lines, allowed):
                skipped += 1
                continue
            is_number = bool(_INTEGER.match(record.label))
            if numeric is None:
                numeric = is_number
            elif numeric and not is_number:
                raise DataError(path, f"label {record.label!r} is not a number like the labels before it",
                                line=record.line,
                                fix="Fix the label, or check that the line is not a broken continuation")
            texts.append(record.text)
            labels.append(record.label)
            lines.append(record.line)
    if not texts:
        raise DataError(path, "no labeled examples in the file", fix="Give a file with at least two examples")
    classes = set(labels)
    if len(classes) < 2:
        raise DataError(path, f"only one class ({labels[0]!r}) in {len(labels)} examples",
                        fix="A classifier needs examples of at least two classes")
    for group in label_variants(labels, lines):
        print(f"warning: {path}: {describe_label_variants(group)}", file=sys.stderr)
    return LabeledData(texts, labels, lines, str(path), sorted(allowed) if allowed else None, skipped)


def read_unlabeled(path, fmt="auto", columns: Columns | None = None, progress: bool = False) -> list[str]:
    texts = []
    with step(f"reading {path}", unit="rows", enabled=progress) as counter:
        for record in read_records(path, "unlabeled", fmt, columns):
            counter.update()
            if record.text.strip():
                texts.append(record.text)
    if not texts:
        raise DataError(path, "no texts in the file", fix="Give a file with one text per line")
    return texts
