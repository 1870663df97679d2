"""textops.tokens in pure Python: the same tokens, without importing TensorFlow (seconds).

The model was trained on the tokens of textops' TensorFlow ops, so this copy must give exactly
those, not tokens by the same description. It runs textops' own rules (``tokenrules``, which
both import) with what each op does, measured on TensorFlow 2.21 rather than read from its
documentation:

- ``tf.strings.lower``: ICU's lower-casing, whose Unicode version (13) is older than Python's
  ``str.lower`` (14 in Python 3.11), so the changed code points come from a table; Σ becomes ς at
  a word's end by ICU's final-sigma rule; and the text ends at its first NUL (ICU reads a C string).
  ICU also follows the process's locale (LANG, LC_ALL or LC_MESSAGES): under tr or az it turns
  "I" into "ı", under lt it adds dots. This copy lower-cases as every other locale does.
- RE2's classes: ``\\pL`` ``\\pN`` ``\\pM`` ``\\pZ`` follow Unicode 15, so they come from a table too
  (Python's ``re`` has no ``\\p``, and its ``\\w`` follows Python's Unicode); ``\\s`` is ASCII
  ``[\\t\\n\\f\\r ]`` (no ``\\v``); ``$`` is the text's end only (Python's ``\\Z``).
- ``tf.strings.split``: splits on ASCII ``[\\t\\n\\v\\f\\r ]`` only.

The tables (_pytokens_tables.py) were asked of the ops themselves, one code point at a time, by
tools/pytokens_tables.py. A text in ASCII needs none of them. The first text that does compiles
the Unicode classes (some tens of milliseconds).

The tweet rules meet a non-ASCII character only through the class of letters and digits (or
``\\S``), so they run on a shadow of the text where each non-ASCII character stands as one of two
private-use characters, in or out of that class: the rules then compile in Python's ``re`` as
small ASCII classes, and each edit is made on the text and its shadow alike.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import cache

from sentiment_cli import _pytokens_tables as _TABLES
from sentiment_cli.config import NORMALIZATIONS

from sentiment_cli.tokenrules import (  # noqa: F401  (_RULES: tests read it)
    _AFTER, _BOUNDARIES, _ENTITIES, _NOSE, _RULES, _SPACES, _WORD, _tweet_rules,
)

# RE2's \s (TensorFlow's regular expressions), narrower than Python's: no \v, nothing above ASCII.
_RE2_SPACE = "\t\n\f\r "
# Where tf.strings.split splits: ASCII only, \v included.
_TOKEN = re.compile("[^\t\n\v\f\r ]+")
# In the shadow of a text: a non-ASCII letter or digit (RE2's \pL or \pN), and any other non-ASCII character.
_LETTER, _OTHER = "\ue000", "\ue001"


def _translate(pattern: str, classes: dict[str, str]) -> str:
    """A textops pattern (RE2) in Python's syntax; ``classes`` holds what \\pL, \\pN, \\pM and \\pZ
    add to a [...] class. Raises on RE2 syntax this does not know, so a new rule cannot slip by."""
    out, i, opened = [], 0, None  # opened: where the [...] class now open starts its members
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            escaped = pattern[i + 1]
            if escaped == "p" and opened is not None:
                out.append(classes[pattern[i + 2]])
                i += 3
                continue
            if escaped == "x" and pattern[i + 2] == "{":
                end = pattern.index("}", i)
                out.append(f"\\U{int(pattern[i + 3:end], 16):08x}")
                i = end + 1
                continue
            if escaped == "s":
                out.append(_RE2_SPACE if opened is not None else f"[{_RE2_SPACE}]")
            elif escaped == "S" and opened is None:
                out.append(f"[^{_RE2_SPACE}]")
            elif escaped.isascii() and escaped.isalnum():
                raise ValueError(f"pytokens cannot translate \\{escaped} in {pattern!r}")
            else:
                out.append(c + escaped)
            i += 2
            continue
        if opened is None and c == "[":
            opened = i + 2 if pattern[i + 1] == "^" else i + 1
            out.append(pattern[i:opened])
            i = opened
            continue
        if opened is not None and c == "]" and i > opened:  # a "]" first in a class is a member
            opened = None
        out.append(r"\Z" if c == "$" and opened is None else c)
        i += 1
    return "".join(out)


def _template(rewrite: str) -> list[str | int]:
    """An RE2 rewrite ("\\1 _smile_ \\2") as its literal parts and group numbers."""
    return [int(part[1:]) if part.startswith("\\") else part for part in re.split(r"(\\\d)", rewrite) if part]


def _ranges(table: str):
    for word in table.split():
        first, _, last = word.partition("-")
        yield int(first, 16), int(last or first, 16)


def _merged(*tables: str) -> list[tuple[int, int]]:
    out = []
    for first, last in sorted(r for table in tables for r in _ranges(table)):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def _class(ranges, low: int = 0, high: int = 0x10FFFF) -> str:
    """The inside of a [...] class of ``ranges`` clipped to low..high."""
    parts = []
    for first, last in ranges:
        first, last = max(first, low), min(last, high)
        if first <= last:
            parts.append(f"\\U{first:08x}" + (f"-\\U{last:08x}" if last > first else ""))
    return "".join(parts)


# What RE2's classes hold in ASCII: enough for a text in ASCII, and for the tweet rules' shadow.
_ASCII_CLASSES = {"L": "A-Za-z", "N": "0-9", "M": ""}
_SHADOW_CLASSES = {"L": "A-Za-z" + _LETTER, "N": "0-9"}

_SPACES_RE = re.compile(_translate(_SPACES, {"Z": _class(_ranges(_TABLES.SEPARATORS))}))
_HTML_TAG = re.compile(_translate(r"</?[a-z]+\s*/?>", {}))
_CURLY = re.compile("[\u2019\u2018\u02bc]")
_SQUEEZE = re.compile(r"([a-z])\1\1+")  # RE2 has no back-references; textops compares code points instead
_NON_WORD = "([^" + _WORD + r"\s'])"
_NON_WORD_ASCII = re.compile(_translate(_NON_WORD, _ASCII_CLASSES))
_APOSTROPHES = [re.compile(_translate(p, {})) for p in (r"''+", r"(?:^|\s)'+", r"'+(?:\s|$)")]
# What each of them needs, found faster than they are (most texts hold an apostrophe, few these).
_APOSTROPHES_NEED = [lambda t: "''" in t,
                     lambda t: t.startswith("'") or any(c + "'" in t for c in _RE2_SPACE),
                     lambda t: t.endswith("'") or any("'" + c in t for c in _RE2_SPACE)]
_CONTROL_SPACES = "\x1c\x1d\x1e\x1f"  # the characters of _SPACES in ASCII (\x85 is not)


@cache
def _tweet_regexes():
    """The entities, and each tweet rule in order as (its pattern alone, the rule, its rewrite as
    Python writes it and as parts, times), compiled for the shadow.

    A rule runs only where its pattern alone is found: Python's re finds a pattern that starts with
    a character fast, and most texts hold no face, while the rule with its boundaries would be
    tried at every position."""
    out = []
    for pattern, token, before, after in _tweet_rules():
        if not (before or after):
            out.append((pattern, pattern, f" {token} ", 1))
            continue
        bounded = _BOUNDARIES[before] + "(?:" + pattern + ")" + (_AFTER if after else "()")
        # twice: a match takes the boundary after it, which the next face may need before it
        out.append((pattern, bounded, r"\1 " + token + r" \2", 2))
    out.append((r"#[\pL\pN_]", r"#([\pL\pN_])", r" \1", 1))
    if not all(core.isascii() for core, *_ in out):
        raise ValueError("a tweet rule holds a character above ASCII, which the shadow cannot see: "
                         "give pytokens' shadow a class for it")
    entities = [(re.compile(_translate(pattern, {})), character) for pattern, character in _ENTITIES]
    return entities, [(re.compile(_translate(core, _SHADOW_CLASSES)), re.compile(_translate(rule, _SHADOW_CLASSES)),
                       rewrite, _template(rewrite), times) for core, rule, rewrite, times in out]


class _Unicode:
    """The classes a text above ASCII needs, compiled once (tens of milliseconds)."""

    def __init__(self):
        tables = _TABLES
        classes = {"L": _class(_ranges(tables.LETTERS)), "N": _class(_ranges(tables.NUMBERS)),
                   "M": _class(_ranges(tables.MARKS))}
        self.non_word = re.compile(_translate(_NON_WORD, classes))
        letters_digits = _class(_merged(tables.LETTERS, tables.NUMBERS), low=0x80)
        self.shadow_runs = re.compile(f"([{letters_digits}]+)|[^\\x00-\\x7f]")
        self.lower = {}
        for word in tables.LOWER.split():
            span, _, step_delta = word.partition("/")
            first, last = (int(x, 16) for x in span.split("-"))
            step, delta = (int(x) for x in step_delta.split(":"))
            self.lower.update((chr(c), chr(c + delta)) for c in range(first, last + 1, step))
        self.lower.update((chr(c), low) for c, low in tables.LOWER_MULTIPLE.items())
        upper = _merged(" ".join(f"{ord(c):x}" for c in self.lower))
        self.upper = re.compile(f"[{_class(upper)}]")
        # ICU's final sigma: 0 neither, 1 cased, 2 case-ignorable, looked up by bisect
        kinds = sorted([(a, b, 1) for a, b in _ranges(tables.CASED)]
                       + [(a, b, 2) for a, b in _ranges(tables.CASE_IGNORABLE)])
        self.starts, self.kinds = [0], [0]
        for first, last, kind in kinds:
            self.starts += [first, last + 1]
            self.kinds += [kind, 0]

    def kind(self, c: str) -> int:
        return self.kinds[bisect_right(self.starts, ord(c)) - 1]

    def final_sigma(self, text: str, at: int) -> bool:
        """ICU's rule: a cased letter before Σ and none after it, case-ignorable ones skipped."""
        i = at - 1
        while i >= 0 and self.kind(text[i]) == 2:
            i -= 1
        if i < 0 or self.kind(text[i]) != 1:
            return False
        i = at + 1
        while i < len(text) and self.kind(text[i]) == 2:
            i += 1
        return i == len(text) or self.kind(text[i]) != 1

    def lower_one(self, match: re.Match) -> str:
        c = match.group()
        if c == "\u03a3":
            return "\u03c2" if self.final_sigma(match.string, match.start()) else "\u03c3"
        return self.lower[c]

    def shadow(self, text: str) -> str:
        return self.shadow_runs.sub(lambda m: _LETTER * len(m.group()) if m.group(1) else _OTHER, text)


@cache
def _unicode() -> _Unicode:
    return _Unicode()


def _lower(text: str) -> str:
    """tf.strings.lower(text, encoding="utf-8")."""
    data = text.encode("utf-8")  # a lone surrogate raises here, as it does in tf.constant
    end = data.find(b"\0")
    if end >= 0:
        data = data[:end]  # ICU reads the text as a C string: it ends at the first NUL
    text = data.lower().decode("utf-8")  # bytes.lower changes ASCII only
    if text.isascii():
        return text
    unicode = _unicode()
    return unicode.upper.sub(unicode.lower_one, text)


def _spaces(text: str) -> str:
    """_SPACES to " " (in ASCII, only four control characters are among them)."""
    if text.isascii() and not any(c in text for c in _CONTROL_SPACES):
        return text
    return _SPACES_RE.sub(" ", text)


def _sub_aligned(regex: re.Pattern, rewrite: str, parts: list[str | int], text: str, shadow: str):
    """regex.sub on the shadow, and the same edits on the text (the two stay aligned)."""
    if shadow is text:
        text = regex.sub(rewrite, text)
        return text, text
    texts, shadows, end = [], [], 0
    for match in regex.finditer(shadow):
        texts.append(text[end:match.start()])
        shadows.append(shadow[end:match.start()])
        for part in parts:
            if isinstance(part, str):
                texts.append(part)
                shadows.append(part)
            else:
                texts.append(text[match.start(part):match.end(part)])
                shadows.append(match.group(part))
        end = match.end()
    if not texts:
        return text, shadow
    texts.append(text[end:])
    shadows.append(shadow[end:])
    return "".join(texts), "".join(shadows)


def _tweets(text: str) -> str:
    """textops._tweets."""
    entities, rules = _tweet_regexes()
    text = _spaces(text)
    if "&" in text:
        for regex, character in entities:
            text = regex.sub(character, text)
    shadow = text if text.isascii() else _unicode().shadow(text)
    for core, regex, rewrite, parts, times in rules:
        for _ in range(times if core.search(shadow) else 0):
            text, shadow = _sub_aligned(regex, rewrite, parts, text, shadow)
    return text


def _tokens(text: str, tweets: bool) -> list[str]:
    text = _lower(text)
    if tweets:
        text = _tweets(text)
    if "<" in text:
        text = _HTML_TAG.sub(" ", text)
    if not text.isascii():
        text = _CURLY.sub("'", text)
    text = _SQUEEZE.sub(r"\1\1", text)
    text = _spaces(text)
    ascii = text.isascii()
    # " c " around each other character: re.split keeps it (its group), the join puts the spaces
    text = " ".join((_NON_WORD_ASCII if ascii else _unicode().non_word).split(text))
    if "'" in text:
        for regex, need in zip(_APOSTROPHES, _APOSTROPHES_NEED):
            if need(text):
                text = regex.sub(" ' ", text)
    return text.split() if ascii else _TOKEN.findall(text)


def tokens(texts: list[str], normalize: str = "none") -> list[list[str]]:
    """Each text's tokens, exactly as textops.tokens gives them (tokenizer.tokenize_batch)."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalize!r} (known: {', '.join(NORMALIZATIONS)})")
    tweets = normalize == "tweets"
    return [_tokens(text, tweets) for text in texts]
