import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

TINY = ["--vocab-size", "60", "--max-length", "8", "--embedding-dim", "4", "--hidden-size", "4",
        "--epochs", "2", "--batch-size", "8", "--seed", "7", "-q"]

POSITIVE = ["great fun movie", "i love it", "wonderful and happy", "best day ever", "so good , love it",
            "amazing song", "nice and fun", "happy happy day", "love this place", "great great great"]
NEGATIVE = ["awful boring movie", "i hate it", "terrible and sad", "worst day ever", "so bad , hate it",
            "horrible song", "dull and sad", "bad bad day", "hate this place", "awful awful awful"]


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run the slow tests on ../shared/data/imdb")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def labeled_file(tmp_path):
    """40 classic-format lines, two classes."""
    path = tmp_path / "train.txt"
    lines = [f"1 +++$+++ {t}" for t in POSITIVE] + [f"0 +++$+++ {t}" for t in NEGATIVE]
    path.write_text("\n".join(lines * 2) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_args():
    return list(TINY)
