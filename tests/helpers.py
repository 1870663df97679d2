"""Tiny data and a CLI runner shared by the tests."""

from click.testing import CliRunner

from sentiment_cli.cli import cli

# Tiny models: the suite tests behaviour, not accuracy. One validation split (--folds off), as in
# 0.6.1: only tests/test_folds.py cross-validates.
TINY = ["--vocab-size", "60", "--max-length", "8", "--ngram-buckets", "256", "--embedding-dim", "4", "--hidden-size", "4",
        "--epochs", "2", "--batch-size", "8", "--seed", "7", "--folds", "off", "-q"]

POSITIVE = ["great fun movie", "i love it", "wonderful and happy", "best day ever", "so good , love it",
            "amazing song", "nice and fun", "happy happy day", "love this place", "great great great"]
NEGATIVE = ["awful boring movie", "i hate it", "terrible and sad", "worst day ever", "so bad , hate it",
            "horrible song", "dull and sad", "bad bad day", "hate this place", "awful awful awful"]


# Texts full of words no tiny vocabulary holds: misspellings, elongations, accents, an emoji, an
# empty text, tweet tokens (the subword tests read them with both engines)
UNKNOWN_HEAVY = ["wonderfull movie, sooo goood!!", "awfull and booring", "qwerty zxcv", "héllo wörld 😀",
                 "terible horible", "loveee itt", "", "#bestdayever @someone http://x.y"]

# Words that say nothing of the sentiment: each copy of the texts gets its own, so that no text
# repeats and no validation row is also a training row.
NEUTRAL = ["", "today", "again", "here", "now", "then", "there", "too"]


def texts(copies: int = 2) -> tuple[list[str], list[str]]:
    """copies x 10 distinct positive and negative texts."""
    return ([f"{t} {NEUTRAL[k]}".strip() for k in range(copies) for t in POSITIVE],
            [f"{t} {NEUTRAL[k]}".strip() for k in range(copies) for t in NEGATIVE])


def write_labeled(path, copies: int = 2):
    """copies x 20 classic-format lines, two classes, every text distinct."""
    positive, negative = texts(copies)
    lines = [f"1 +++$+++ {t}" for t in positive] + [f"0 +++$+++ {t}" for t in negative]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def invoke(*args, input=None):
    """Run the CLI in-process; exceptions that escape it fail the test with their traceback."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)
