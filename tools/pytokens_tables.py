"""Write sentiment_cli/_pytokens_tables.py: the Unicode tables of TensorFlow's string ops, read from them.

pytokens.py replays textops.tokens in pure Python. Python's own Unicode data is not the one
TensorFlow uses (RE2's classes follow one Unicode version, ICU's lower-casing an older one, and
Python's unicodedata a third), so the tables are asked of TensorFlow itself, one code point at a
time, and written down. The assumptions pytokens makes about the ops are checked here as well,
so that a TensorFlow upgrade that breaks one of them stops this script instead of the tokens.

Run it after upgrading TensorFlow (about a minute), then run tests/test_pytokens.py:

    python tools/pytokens_tables.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

OUTPUT = Path(__file__).resolve().parents[1] / "sentiment_cli" / "_pytokens_tables.py"
CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def member(pattern: str) -> list[int]:
    """The code points that RE2's ``pattern`` matches on their own."""
    hits = tf.strings.regex_full_match(tf.constant([chr(c) for c in CODE_POINTS]), pattern).numpy()
    return [c for c, hit in zip(CODE_POINTS, hits) if hit]


def lower(texts: list[str]) -> list[str]:
    out = tf.strings.lower(tf.constant(texts), encoding="utf-8").numpy()
    return [b.decode("utf-8") for b in out]


def split_spaces() -> list[int]:
    """The code points on which tf.strings.split (no separator) splits "a?b"."""
    rows = tf.strings.split(tf.constant(["a" + chr(c) + "b" for c in CODE_POINTS])).row_lengths().numpy()
    return [c for c, n in zip(CODE_POINTS, rows) if n == 2]


def check_assumptions() -> None:
    """What pytokens takes for granted, beyond the tables."""
    assert member(r"\s") == [0x09, 0x0A, 0x0C, 0x0D, 0x20], r"RE2's \s changed"
    assert member(r"\S") == sorted(set(CODE_POINTS) - {0x09, 0x0A, 0x0C, 0x0D, 0x20}), r"RE2's \S changed"
    assert member(r"[^a]") == sorted(set(CODE_POINTS) - {0x61}), "RE2's negated classes changed"
    assert split_spaces() == [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20], "tf.strings.split's spaces changed"
    assert lower(["ab\x00CD", "\x00A", "İ"]) == ["ab", "", "i\u0307"], "tf.strings.lower's NUL or İ changed"
    # RE2 without the multi-line flag: ^ and $ at the text's ends only, not at a line's
    got = tf.strings.regex_replace(tf.constant(["a\nb\n"]), r"^|$", "|").numpy()[0]
    assert got == b"|a\nb\n|", got


def lower_table() -> tuple[list[tuple[int, int, int, int]], dict[int, str]]:
    """Runs (first, last, step, delta) of the code points above ASCII that lower-case to one other
    code point, and the ones that lower-case to more than one."""
    points = [c for c in CODE_POINTS if c]  # NUL ends the text (check_assumptions)
    lowered = lower([chr(c) for c in points])
    single, multiple = {}, {}
    for c, low in zip(points, lowered):
        if low == chr(c) or c < 0x80:
            continue
        if len(low) == 1:
            single[c] = ord(low) - c
        else:
            multiple[c] = low
    runs = []
    for c in sorted(single):
        if runs:
            first, last, step, delta = runs[-1]
            if single[c] == delta and (c - last == step or (first == last and c - last in (1, 2))):
                runs[-1] = (first, c, c - last, delta)
                continue
        runs.append((c, c, 1, single[c]))
    return runs, multiple


def sigma_classes() -> tuple[list[int], list[int]]:
    """ICU's final sigma: the cased code points and the case-ignorable ones, as lower-casing sees them.

    Σ lower-cases to ς when a cased letter comes before it (case-ignorable ones skipped) and none
    after it; each code point c is classed by how "aΣ" behaves around it.
    """
    points = [c for c in CODE_POINTS if c]
    between = lower(["a" + chr(c) + "Σ" for c in points])   # ς: c is cased or ignorable
    after = lower(["aΣ" + chr(c) for c in points])            # σ: c is cased
    before = lower([chr(c) + "Σ" for c in points])            # ς: c is cased
    cased, ignorable = [], []
    for c, x, y, z in zip(points, between, after, before):
        kind = (x[-1], y[1], z[-1])
        if kind == ("ς", "σ", "ς"):
            cased.append(c)
        elif kind == ("ς", "ς", "σ"):
            ignorable.append(c)
        else:
            assert kind == ("σ", "ς", "σ"), (hex(c), kind)
    return cased, ignorable


def ranges(points: list[int]) -> list[tuple[int, int]]:
    out = []
    for c in points:
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


def wrapped(words: list[str], width: int = 100) -> str:
    lines, line = [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def range_words(points: list[int]) -> str:
    return wrapped([f"{a:x}" if a == b else f"{a:x}-{b:x}" for a, b in ranges(points)])


def main() -> None:
    check_assumptions()
    letters, numbers, marks, separators = (member(p) for p in (r"\pL", r"\pN", r"\pM", r"\pZ"))
    runs, multiple = lower_table()
    cased, ignorable = sigma_classes()
    text = f'''"""Unicode tables of TensorFlow {tf.__version__}'s string ops, for pytokens.py. Generated by
tools/pytokens_tables.py from the ops themselves; do not edit.

Code points in hex: ranges "first-last" (or one code point) separated by spaces.
"""

TENSORFLOW = "{tf.__version__}"

# RE2's \\pL, \\pN, \\pM and \\pZ.
LETTERS = """
{range_words(letters)}
"""
NUMBERS = """
{range_words(numbers)}
"""
MARKS = """
{range_words(marks)}
"""
SEPARATORS = """
{range_words(separators)}
"""

# tf.strings.lower above ASCII: runs "first-last/step:delta" of code points that lower-case to
# code point + delta, and the code points that lower-case to several.
LOWER = """
{wrapped([f"{a:x}-{b:x}/{s}:{d:+d}" for a, b, s, d in runs])}
"""
LOWER_MULTIPLE = {{{", ".join(f"0x{c:x}: {ascii(low)}" for c, low in sorted(multiple.items()))}}}

# ICU's final sigma: the code points lower-casing treats as cased and as case-ignorable.
CASED = """
{range_words(cased)}
"""
CASE_IGNORABLE = """
{range_words(ignorable)}
"""
'''
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(text):,} characters, TensorFlow {tf.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
