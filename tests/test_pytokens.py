"""pytokens gives exactly the tokens of textops' TensorFlow ops (tokenizer.tokenize_batch).

The full sweep of every code point and the comparison on the benchmark corpora are opt-in
(pytest --run-slow); the normal suite sweeps every 97th code point and a seeded fuzz.
"""

import hashlib
import inspect
import random
import subprocess
import sys
from pathlib import Path

import pytest

from sentiment_cli import pytokens
from sentiment_cli.tokenizer import tokenize_batch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NORMALIZATIONS = ["none", "tweets"]

CRAFTED = [
    # reviews: tags, apostrophes of every kind, elongations, digits
    "Great movie!<br /><br />I DON'T care :)", "<i>great</i> film<br/>ok <BR>x</ b> <a href=x>link</a> < br>",
    "sooooo goood 1000 AAARGH zzzz hmmmm ...... !!!! aaa-bbb", "Naïve CAFÉ\u00a0déjà-vu\u0085'quoted' rock'n'roll",
    "don\u2019t \u2018quote\u2019 \u02bcx\u02bc it's ''double'' ' lone '' ''' 'edge' rock''n'roll '", "'", "''", "a'",
    "'a", "a''b", "\u2019\u2019", "don`t don\u00b4t don\uff07t", "l'amour 'tis y'all'", " \t ", "", "x" * 50 + " yyyy",
    # tweets: every rule, with and without the boundaries they need
    "@JohnDoe :) #BestDayEver http://t.co/abc123", "great day:) (: ;-) :D xD :P :O :/ -_- ^_^ :'( <3 </3",
    "so sad :( ): :-[ :{ =( =[ :'-( :o) :-} ;] ;D ;-p :-| :\\ =/ =| =D =p =O =o)",
    "&lt;3 you &amp; &quot;me&quot; &#39;x&#039; &apos;", "&amp;lt;3 &lt;/3 &gt;:( &#0039;",
    "RT @user_1: see www.example.com/x?y=1 soooo good!!", "awww...so cute, it took <30 mins",
    "http://t.co/x\u00a0great film", "the book (etc.): loved it, x=(a+b)", "a@b.com :do it :dd :ddd xdd xd1 xD_",
    "the film (2010): great at 10:30, mail a@b.com", ":):):) :d:d:d:d ;);) (:(: ):): <3<3 </3</3 <333 <3a <30",
    "x=) x =) (=) (= ^^ ^_^^__^ -__- -_-_- :p:p ;p;p :O:O", "@@user @ user @_ #_ ## #1 #日本 @日本 #é @é é@x",
    "https://a.b/c?d=e&amp;f=g)) www.x.y. http:// www. HTTP://X.Y/Z wwww.a.b awww.b.c", "x\u00a0:) \u3000:( \u2028:d",
    # scripts, marks, emoji, joiners, spaces, controls
    "日本語のテキスト😀👍🏽 👨\u200d👩\u200d👧 🇯🇵", "مرحبا بِكُم ١٢٣ ۴۵", "हिन्दी क्षत्रिय", "한국어 텍스트 ㅋㅋㅋ",
    "Ελληνικά ΟΔΟΣ ΟΔΟΣ. Σ ΑΣ' ΑΣ\u0301 Α\u0345Σ aΣʰ ʰΣ", "İstanbul IİıI ǅ ǈ ǋ ǲ ẞ ß ﬃ ﬁ Ω K Å",
    "e\u0301 a\u0308\u0301 z\u200bz",
    "\u200e\u200f\u202a\u2066x\u2069 \ufeffbom \u00ad soft", "a\vb\fc\rd\ne\tf\x1cg\x1dh\x1ei\x1fj\x85k\u2029l",
    "x\u1680y\u2000z\u200a\u202f\u205f\u3000w \u180e \u200b", "ab\x00CD ef", "\x00abc", "abc\x00",
    "tab\there\nnewline\r\n",
    "\x01\x02\x7f\x80\x9f ctrl", "\ue000\ue001 private \U000f0000", "\ufffd replacement \ufffe \uffff \U0010ffff",
    # code points where Python's Unicode data differs from TensorFlow's (Unicode 14 and 15 additions)
    "\U00010570\U00010597 \u2c2f \ua7c0 ΑΣ\U00010570 Α\u1734Σ \U00011f00\U00011f04 \U0001e4f0 \U00031350 \U0001d2c0",
    "ΑΣ\u0888 Α\u0888Σ ΑΣ\U0001e030 Α\U0001e030Σ :)\U00011f04 \U00011f04:) @\U00011f04 #\U0001e4d0 x\U0001e4f0:d",
]

# Pieces the fuzz strings are made of: rule fragments, apostrophes, spaces, scripts, marks.
PIECES = (list("abcdxyopABCDXYOP0123_:;=()[]{}<>/\\|^-'\"@#&.!?,*+~`$%") + [
    " ", "  ", "\t", "\n", "\v", "\f", "\r", "\x1c", "\x85", "\u00a0", "\u2028", "\u3000", "\x00",
    "http://", "https://", "www.", "<br />", "<i>", "</3", "<3", ":)", ":(", ":'(", ":d", ":p", "xd", "^_^", "-_-",
    "&lt;", "&gt;", "&amp;", "&quot;", "&#39;", "&apos;", "sooo", "aaaa", "''", "\u2019", "\u2018", "\u02bc",
    "é", "É", "ß", "İ", "ı", "Σ", "σ", "Α", "ʰ", "\u0301", "\u0345", "\u0307", "\u0888", "ǅ", "ﬃ", "ª", "²", "½",
    "日本", "語", "ㅋ", "١", "بِ", "क्ष", "😀", "👍🏽", "\u200d", "\u200b", "\u200f", "\ufeff", "\U00010570",
    "\U00011f04", "\U0001e4f0", "\U00031350", "\ue000", "\ue001",
])

# The code points of a sweep go into these texts: within a word, alone, in an apostrophe, between
# spaces, around Σ (ICU's final sigma asks whether a neighbour is cased or case-ignorable), and
# around the tweet rules' boundaries.
CONTEXTS = ["a{c}b", "{c}{c}{c}", "don{c}t", " {c} ", "\u0391{c}\u03a3", "\u0391\u03a3{c}", "{c}\u03a3",
            "{c}:d{c}#{c}@{c}"]


def assert_same_tokens(texts, normalize):
    expected = tokenize_batch(texts, normalize)
    got = pytokens.tokens(texts, normalize)
    differ = [(text, want, have) for text, want, have in zip(texts, expected, got) if want != have]
    assert not differ, f"{len(differ)} of {len(texts)} texts differ ({normalize}), e.g. {differ[:3]!r}"


def sweep(step: int, normalize: str):
    chars = [chr(c) for c in range(0, 0x110000, step) if not 0xD800 <= c <= 0xDFFF]
    for context in CONTEXTS:
        for start in range(0, len(chars), 1 << 16):
            assert_same_tokens([context.format(c=c) for c in chars[start:start + (1 << 16)]], normalize)


@pytest.mark.parametrize("normalize", NORMALIZATIONS)
def test_crafted_texts_give_the_tensorflow_tokens(normalize):
    assert_same_tokens(CRAFTED, normalize)


@pytest.mark.parametrize("normalize", NORMALIZATIONS)
def test_fuzzed_texts_give_the_tensorflow_tokens(normalize):
    rng = random.Random(7)
    texts = ["".join(rng.choices(PIECES, k=rng.randint(1, 14))) for _ in range(6000)]
    assert_same_tokens(texts, normalize)


@pytest.mark.parametrize("normalize", NORMALIZATIONS)
def test_every_97th_code_point_gives_the_tensorflow_tokens(normalize):
    sweep(97, normalize)


@pytest.mark.slow
@pytest.mark.parametrize("normalize", NORMALIZATIONS)
def test_every_code_point_gives_the_tensorflow_tokens(normalize):
    sweep(1, normalize)


@pytest.mark.slow
def test_the_benchmark_corpora_give_the_tensorflow_tokens():
    from sentiment_cli.data import read_labeled, read_records, read_unlabeled

    if not all((DATA / name / "training_label.txt.gz").exists() for name in ("tweets", "imdb")):
        pytest.skip(f"benchmark data not found at {DATA} (see docs/benchmarks.md, 'Running the benchmarks')")
    corpora = {
        "tweets": read_labeled(DATA / "tweets" / "training_label.txt.gz").texts
        + [r.text for r in read_records(DATA / "tweets" / "testing_data.txt.gz", "test")],
        "imdb": read_labeled(DATA / "imdb" / "training_label.txt.gz").texts
        + [r.text for r in read_records(DATA / "imdb" / "testing_data.txt.gz", "test")]
        + read_unlabeled(DATA / "imdb" / "training_nolabel.txt.gz"),
    }
    assert [len(texts) for texts in corpora.values()] == [100_000, 100_000]
    for texts in corpora.values():
        for normalize in NORMALIZATIONS:
            assert_same_tokens(texts, normalize)


def test_the_rules_are_textops_rules():
    """pytokens runs textops' rules (both take them from tokenrules, which imports nothing)."""
    from sentiment_cli import textops

    for name in ("_WORD", "_SPACES", "_BOUNDARIES", "_AFTER", "_NOSE", "_ENTITIES", "_RULES"):
        assert getattr(pytokens, name) == getattr(textops, name), name
    assert list(pytokens._tweet_rules()) == textops._TWEET_RULES
    # RE2's global replace and Python's re.sub differ only after an empty match, which no rule makes
    entities, rules = pytokens._tweet_regexes()
    regexes = [regex for regex, _ in entities] + [regex for _, regex, *_ in rules] + pytokens._APOSTROPHES
    assert not any(regex.fullmatch("") for regex in regexes + [pytokens._HTML_TAG, pytokens._SQUEEZE])


# The ops textops runs, as pytokens replays them. A change there must be replayed in pytokens
# (then record the new digest here).
TEXTOPS_DIGEST = "56b201b1da2c3744a01b1494ea72a30b4654c1fcbdf899d36461a20a70604f49"


def test_textops_ops_are_the_ones_pytokens_replays():
    from sentiment_cli import textops

    source = "".join(inspect.getsource(f) for f in (textops._tweets, textops._squeeze_elongations, textops.tokens))
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == TEXTOPS_DIGEST, (f"textops' ops changed (sha256 {digest}): replay the change in pytokens, "
                                      "then record the digest in TEXTOPS_DIGEST")


def test_the_tables_come_from_the_installed_tensorflow():
    import tensorflow as tf

    from sentiment_cli import _pytokens_tables

    assert _pytokens_tables.TENSORFLOW == tf.__version__, "run tools/pytokens_tables.py, then this file's tests"


def test_what_pytokens_takes_for_ascii_is_in_the_tables():
    from sentiment_cli import _pytokens_tables as tables

    def ascii_part(table):
        return [(a, min(b, 0x7F)) for a, b in pytokens._ranges(table) if a < 0x80]

    assert ascii_part(tables.LETTERS) == [(0x41, 0x5A), (0x61, 0x7A)]
    assert ascii_part(tables.NUMBERS) == [(0x30, 0x39)]
    assert ascii_part(tables.MARKS) == [] and ascii_part(tables.SEPARATORS) == [(0x20, 0x20)]
    assert pytokens._ASCII_CLASSES == {"L": "A-Za-z", "N": "0-9", "M": ""}


def test_tensorflow_quirks_are_replayed():
    """Measured on TensorFlow 2.21, not guessed: the text ends at a NUL (ICU reads a C string),
    Σ ends a word as ς, İ lower-cases to i and a dot, a capital of Unicode 14 stays (ICU has 13),
    \\v is no RE2 space (its own token, which the split then drops)."""
    texts = ["Good\x00 bad", "ΟΔΟΣ Σ", "İ", "\U00010570", "a\vb", "x\x1cy"]
    assert pytokens.tokens(texts) == [["good"], ["οδος", "σ"], ["i\u0307"], ["\U00010570"], ["a", "b"], ["x", "y"]]


def test_bad_input_fails_as_tensorflow_does():
    with pytest.raises(ValueError, match="unknown normalization 'emoji'"):
        pytokens.tokens(["x"], "emoji")
    with pytest.raises(ValueError):
        tokenize_batch(["a\ud800b"])
    with pytest.raises(ValueError):  # a lone surrogate cannot be UTF-8
        pytokens.tokens(["a\ud800b"])


def test_pytokens_does_not_import_tensorflow():
    probe = ("import sys; from sentiment_cli import pytokens; "
             "print(pytokens.tokens(['Héllo :) @x', 'ΑΣ'], 'tweets')); "
             "print(sorted({'tensorflow', 'keras'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[['héllo', '_smile_', '_user_'], ['ας']]", "[]"]
