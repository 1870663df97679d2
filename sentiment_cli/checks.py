"""Data checks: duplicates, conflicting labels, train/test overlap, balance, lengths, unknown words.

A file with every row three times trains to a validation accuracy of 1.0 (the validation rows
are also training rows), and a model evaluated on its own training rows looks perfect; neither
says so by itself. ``check_files`` reports such problems before training; ``duplicate_warnings``
is what ``train`` prints, and a run keeps a hash of each training text (never the text) so that
``evaluate`` can say when its input overlaps the training data.
"""

from __future__ import annotations

from collections import Counter, defaultdict
import numpy as np

from sentiment_cli.encoding import normalize
from sentiment_cli.errors import DataError

EXAMPLES = 5  # examples listed per finding

def _repeats(texts: list[str], lines: list[int], key) -> tuple[int, list[tuple[int, int]]]:
    """Rows whose key repeats an earlier row's: their count and (line, first line) examples."""
    first, count, examples = {}, 0, []
    for text, line in zip(texts, lines):
        k = key(text)
        if k in first:
            count += 1
            if len(examples) < EXAMPLES:
                examples.append((line, first[k]))
        else:
            first[k] = line
    return count, examples


def conflicts(texts: list[str], labels: list[str], lines: list[int]) -> tuple[int, int, list[dict]]:
    """Texts (after normalization) given more than one label: (texts, rows, examples)."""
    by_text = defaultdict(lambda: defaultdict(list))
    for text, label, line in zip(texts, labels, lines):
        by_text[normalize(text)][label].append(line)
    found = [(key, lab) for key, lab in by_text.items() if len(lab) > 1]
    examples = [{"text": key[:80], "labels": {label: ls[:3] for label, ls in lab.items()}}
                for key, lab in found[:EXAMPLES]]
    return len(found), sum(len(ls) for _, lab in found for ls in lab.values()), examples


def duplicate_warnings(texts: list[str], labels: list[str], lines: list[int], path) -> list[str]:
    """What ``train`` warns about: repeated texts and conflicting labels, with lines."""
    out = []
    count, examples = _repeats(texts, lines, normalize)
    if count:
        where = ", ".join(f"line {a} repeats line {b}" for a, b in examples[:3])
        out.append(f"{path}: {count} of {len(texts)} rows repeat an earlier text ({where}); a repeated text "
                   "validates or trains with all its copies, but weighs more than once in either")
    n_texts, n_rows, found = conflicts(texts, labels, lines)
    if n_texts:
        first = found[0]["labels"]
        where = " and ".join(f"{label!r} on line {ls[0]}" for label, ls in first.items())
        out.append(f"{path}: {n_texts} texts have more than one label ({n_rows} rows; for example {where})")
    if out:
        out.append(f"see them all with: sentiment-cli check --train {path}")
    return out


def _percentiles(lengths: np.ndarray) -> dict:
    if not len(lengths):
        return {}
    p = np.percentile(lengths, [5, 50, 95, 99])
    return {"p5": float(p[0]), "p50": float(p[1]), "p95": float(p[2]), "p99": float(p[3]),
            "max": int(lengths.max()), "mean": round(float(lengths.mean()), 1)}


def _token_stats(tokens: list[list[str]], vocabulary: set[str], max_length: int) -> dict:
    lengths = np.array([len(t) for t in tokens])
    total = int(lengths.sum())
    unknown = sum(1 for ts in tokens for t in ts if t not in vocabulary)
    return {"length_tokens": _percentiles(lengths),
            "over_max_length": round(float(np.mean(lengths > max_length)), 4) if len(lengths) else 0.0,
            "unknown_token_share": round(unknown / total, 4) if total else 0.0}


def _read(path, fmt, columns, labeled: bool):
    """(texts, labels or None, lines) of a file; a test file may be labeled or not."""
    from sentiment_cli.data import read_records

    records = []
    try:
        for record in read_records(path, "labeled", fmt, columns):
            records.append(record)
        return [r.text for r in records], [r.label for r in records], [r.line for r in records]
    except DataError:
        if labeled or records:  # a labeled file with a bad line stays an error
            raise
    records = list(read_records(path, "test", fmt, columns))
    return [r.text for r in records], None, [r.line for r in records]


def check_files(train, test=None, config=None) -> dict:
    """The report of ``sentiment-cli check``: one section per file, plus the overlap.

    train, test: ``data.DataSpec`` of the labeled file and of the (optional) file to test on.
    config: the ``TrainConfig`` train would use (vocab_size, max_length, normalize). Unknown
    tokens are those outside the vocabulary ``train --vocab-size`` would build from the whole
    training file (train builds it from the training side of its split); lengths are in tokens
    of sentiment-cli's tokenizer.
    """
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.tokenizer import Tokenizer, tokenize_batch

    config = config or TrainConfig()
    texts, labels, lines = _read(train.path, train.format, train.columns, labeled=True)
    if not texts:
        raise DataError(train.path, "no labeled examples in the file", fix="Give a file with labeled examples")
    tokens = tokenize_batch(texts, config.normalize)
    counts = Counter(t for ts in tokens for t in ts)
    vocabulary = set(Tokenizer.from_counts(counts, config.vocab_size).vocabulary[2:])
    section, findings = _train_section(train.path, (texts, labels, lines), tokens, config.max_length, vocabulary)
    section["vocabulary"] = {"distinct_tokens": len(counts), "kept": len(vocabulary), "vocab_size": config.vocab_size}
    report = {"train": section}
    if test is not None:
        report["test"] = _test_section(test, (texts, labels, lines), vocabulary, config, findings)
    shares = [v["share"] for v in section["labels"].values()]
    if len(shares) > 1 and max(shares) >= 4 * min(shares):
        findings.append("the classes are imbalanced (largest at least 4x the smallest): "
                        "macro F1 says more than accuracy")
    report["findings"] = findings
    return report


def _train_section(path, rows: tuple, tokens, max_length: int, vocabulary: set) -> tuple[dict, list[str]]:
    """The training file's section of the report, and its findings."""
    from sentiment_cli.data import describe_label_variants, label_variants

    texts, labels, lines = rows
    classes = Counter(labels)
    exact, _ = _repeats(texts, lines, lambda t: t)
    near, near_examples = _repeats(texts, lines, normalize)
    n_conflicts, conflict_rows, conflict_examples = conflicts(texts, labels, lines)
    variants = label_variants(labels, lines)
    section = {
        "path": str(path), "rows": len(texts),
        "labels": {label: {"rows": n, "share": round(n / len(texts), 4)} for label, n in sorted(classes.items())},
        "duplicates": {"exact": exact, "normalized": near,
                       "examples": [{"line": a, "repeats_line": b} for a, b in near_examples]},
        "conflicts": {"texts": n_conflicts, "rows": conflict_rows, "examples": conflict_examples},
        "label_variants": [[{"label": label, "rows": rows, "first_line": first} for label, rows, first in group]
                           for group in variants],
        **_token_stats(tokens, vocabulary, max_length),
    }
    findings = []
    if near:
        findings.append(f"{near} training rows repeat an earlier text ({exact} exactly)")
    if n_conflicts:
        findings.append(f"{n_conflicts} training texts have more than one label")
    findings.extend(describe_label_variants(group) for group in variants)
    return section, findings


def _test_section(test, train_rows: tuple, vocabulary: set, config, findings: list[str]) -> dict:
    """The test file's section of the report: its overlap with the training file and its tokens;
    its findings are appended to ``findings``."""
    from sentiment_cli.tokenizer import tokenize_batch

    texts, labels, lines = train_rows
    test_texts, test_labels, test_lines = _read(test.path, test.format, test.columns, labeled=False)
    first_exact, first_near = {}, {}
    for text, line in zip(texts, lines):
        first_exact.setdefault(text, line)
        first_near.setdefault(normalize(text), line)
    overlap_exact = overlap_near = 0
    examples = []
    for text, line in zip(test_texts, test_lines):
        overlap_exact += text in first_exact
        train_line = first_near.get(normalize(text))
        if train_line is not None:
            overlap_near += 1
            if len(examples) < EXAMPLES:
                examples.append({"test_line": line, "train_line": train_line})
    section = {"path": str(test.path), "rows": len(test_texts), "labeled": test_labels is not None,
               "overlap": {"exact": overlap_exact, "normalized": overlap_near, "examples": examples},
               **_token_stats(tokenize_batch(test_texts, config.normalize), vocabulary, config.max_length)}
    if test_labels is not None:
        section["labels"] = {label: {"rows": n, "share": round(n / len(test_texts), 4)}
                             for label, n in sorted(Counter(test_labels).items())}
        unseen = sorted(set(test_labels) - set(labels))
        if unseen:
            findings.append(f"test labels the training file never has: {', '.join(unseen)}")
    if overlap_near:
        findings.append(f"{overlap_near} test rows are also in the training file ({overlap_exact} exactly)")
    return section


def format_check(report: dict) -> str:
    """The report as plain text."""
    out = []
    for name in ("train", "test"):
        part = report.get(name)
        if part is None:
            continue
        out.append(f"{name}: {part['path']}, {part['rows']} rows")
        if "labels" in part:
            out.append("  labels: " + ", ".join(f"{label} {v['rows']} ({v['share']:.1%})"
                                               for label, v in part["labels"].items()))
        lengths = part["length_tokens"]
        if lengths:
            out.append(f"  tokens per text: median {lengths['p50']:g}, 95th percentile {lengths['p95']:g}, "
                       f"max {lengths['max']}; {part['over_max_length']:.1%} longer than --max-length")
        out.append(f"  unknown tokens: {part['unknown_token_share']:.2%} of all tokens")
        if "duplicates" in part:
            d = part["duplicates"]
            out.append(f"  duplicates: {d['normalized']} rows repeat an earlier text ({d['exact']} exactly)"
                       + "".join(f"\n    line {e['line']} repeats line {e['repeats_line']}" for e in d["examples"]))
            c = part["conflicts"]
            out.append(f"  conflicting labels: {c['texts']} texts ({c['rows']} rows)"
                       + "".join(f"\n    {e['text']!r}: " + ", ".join(f"{label} on lines {', '.join(map(str, ls))}"
                                                              for label, ls in e["labels"].items())
                                 for e in c["examples"]))
        if "overlap" in part:
            o = part["overlap"]
            out.append(f"  also in the training file: {o['normalized']} rows ({o['exact']} exactly)"
                       + "".join(f"\n    test line {e['test_line']} = train line {e['train_line']}"
                                 for e in o["examples"]))
    out.append("findings: " + ("none" if not report["findings"] else ""))
    out.extend(f"  - {f}" for f in report["findings"])
    return "\n".join(out) + "\n"
