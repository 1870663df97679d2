"""Opt-in (pytest --run-slow): the readers on the real IMDB benchmark in ../shared/data/imdb."""

from pathlib import Path

import pytest

from sentiment_cli.data import read_labeled, read_records, read_unlabeled

IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"

pytestmark = pytest.mark.slow


@pytest.fixture
def imdb():
    if not (IMDB / "training_label.txt.gz").exists():
        pytest.skip(f"IMDB benchmark not found at {IMDB} (see docs/benchmarks.md, 'Running the benchmarks')")
    return IMDB


def test_imdb_files_read_completely(imdb):
    data = read_labeled(imdb / "training_label.txt.gz")
    assert len(data.texts) == 25000 and sorted(set(data.labels)) == ["0", "1"]
    test = list(read_records(imdb / "testing_data.txt.gz", "test"))
    assert len(test) == 25000 and len({r.id for r in test}) == 25000
    assert len(read_unlabeled(imdb / "training_nolabel.txt.gz")) == 50000
