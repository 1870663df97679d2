import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from helpers import TINY, write_labeled  # noqa: E402


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
    return write_labeled(tmp_path / "train.txt")


@pytest.fixture
def tiny_args():
    return list(TINY)
