"""Tiny data and a CLI runner shared by the tests."""

from click.testing import CliRunner

from sentiment_cli.cli import cli

# Tiny models: the suite tests behaviour, not accuracy.
TINY = ["--vocab-size", "60", "--max-length", "8", "--ngram-buckets", "256", "--embedding-dim", "4", "--hidden-size", "4",
        "--epochs", "2", "--batch-size", "8", "--seed", "7", "-q"]

POSITIVE = ["great fun movie", "i love it", "wonderful and happy", "best day ever", "so good , love it",
            "amazing song", "nice and fun", "happy happy day", "love this place", "great great great"]
NEGATIVE = ["awful boring movie", "i hate it", "terrible and sad", "worst day ever", "so bad , hate it",
            "horrible song", "dull and sad", "bad bad day", "hate this place", "awful awful awful"]


def write_labeled(path, copies: int = 2):
    """copies x 20 classic-format lines, two classes."""
    lines = [f"1 +++$+++ {t}" for t in POSITIVE] + [f"0 +++$+++ {t}" for t in NEGATIVE]
    path.write_text("\n".join(lines * copies) + "\n", encoding="utf-8")
    return path


def invoke(*args, input=None):
    """Run the CLI in-process; exceptions that escape it fail the test with their traceback."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)
