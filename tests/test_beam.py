"""`test --beam`: the same labels as plain `test`, through Apache Beam's in-process runner.

One tiny run (both halves: the network too, so that a worker process loads and computes it),
labeled files of a few rows; every job runs offline on the FnApiRunner (not the DirectRunner,
which first tries to download the PrismRunner's binary).
"""

import csv
import glob
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TINY, invoke, write_labeled

import sentiment_cli

beam = pytest.importorskip("apache_beam", reason="apache-beam is not installed (pip install '.[beam]', Python 3.11+)")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed (apache-beam brings it)")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam")
    result = invoke("train", "tiny", "--train", write_labeled(root / "train.txt"), "--models-dir", root / "models", *TINY)
    assert result.exit_code == 0, result.output
    return root / "models"


@pytest.fixture
def inputs(tmp_path):
    """A file with ids (CSV) and two without (plain lines, gzipped lines), matched by one glob."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text('id,text\nr1,i love it\nr2,"awful, boring movie"\nr3,great fun\n', encoding="utf-8")
    (folder / "b.txt").write_text("so bad , hate it\nnice and fun\nbest day ever\nhappy happy day\n", encoding="utf-8")
    (folder / "c.txt.gz").write_bytes(gzip.compress("dull and sad\nwonderful and happy\n".encode()))
    return folder


def plain(run, path, tmp_path, *options):
    """Plain `test`'s rows of one file: id -> (label, probabilities)."""
    out = tmp_path / f"plain-{Path(path).name}.csv"
    result = invoke("test", "tiny", "--models-dir", run, "--input", path, "--output", out, "--probabilities", "-q",
                    *options)
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def leftovers(folder) -> list[str]:
    return os.listdir(folder) if os.path.exists(folder) else []


def shards(prefix) -> list[str]:
    return sorted(glob.glob(f"{prefix}-*-of-*"))


def beam_rows(prefix, fmt="csv") -> list[dict]:
    rows = []
    for path in shards(prefix):
        if fmt == "csv":
            with open(path, newline="", encoding="utf-8") as f:
                rows += list(csv.DictReader(f))
        elif fmt == "jsonl":
            rows += [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
        else:
            rows += pq.read_table(path).to_pylist()
    return rows


def expected(run, inputs, tmp_path):
    """Plain `test`'s rows of both files, ids as `test --beam` gives them (FILE:LINE without ids)."""
    rows = plain(run, inputs / "a.csv", tmp_path)
    for name in ("b.txt", "c.txt.gz"):
        rows.update({f"{inputs / name}:{k}": v for k, v in plain(run, inputs / name, tmp_path).items()})
    return rows


def assert_same(got: list[dict], want: dict):
    ids = [row["id"] for row in got]
    assert sorted(ids) == sorted(want), "every input row exactly once"
    for row in got:
        other = want[row["id"]]
        assert row["label"] == other["label"], row
        for column in ("p_0", "p_1"):
            assert abs(float(row[column]) - float(other[column])) <= 1e-6 + 1e-9, (row, other)


def label(run, inputs, prefix, *options):
    return invoke("test", "tiny", "--models-dir", run, "--beam", "--input", inputs / "*", "--output", prefix,
                  "--probabilities", *options)


def test_a_glob_is_labeled_as_plain_test_labels_it(run, inputs, tmp_path):
    prefix = tmp_path / "out" / "labels"
    result = label(run, inputs, prefix)
    assert result.exit_code == 0, result.output
    assert "9 predictions written to 1 file" in result.stdout
    assert "3 files, 9 rows read, 9 labeled, 0 bad rows skipped" in result.stderr
    assert [Path(p).name for p in shards(prefix)] == ["labels-00000-of-00001.csv"]
    assert Path(shards(prefix)[0]).read_text().splitlines()[0] == "id,label,p_0,p_1"
    assert_same(beam_rows(prefix), expected(run, inputs, tmp_path))


def test_two_worker_processes_load_the_run_themselves(run, inputs, tmp_path, monkeypatch):
    # the workers are new Python processes: they import sentiment_cli from the same tree
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    prefix = tmp_path / "labels"
    result = label(run, inputs, prefix, "--", "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert result.exit_code == 0, result.output
    assert_same(beam_rows(prefix), expected(run, inputs, tmp_path))


def test_parquet_and_jsonl_in_and_out(run, tmp_path):
    import pyarrow as pa

    folder = tmp_path / "in"
    folder.mkdir()
    texts = ["i love it", "awful boring movie", "great fun", "so bad , hate it"]
    pq.write_table(pa.table({"review": texts[:2], "key": ["k1", "k2"]}), folder / "with-ids.parquet")
    pq.write_table(pa.table({"review": texts[2:]}), folder / "without-ids.parquet")
    (folder / "more.jsonl").write_text("".join(json.dumps({"key": f"j{i}", "review": t}) + "\n"
                                               for i, t in enumerate(texts)), encoding="utf-8")
    want = plain(run, folder / "more.jsonl", tmp_path, "--text-column", "review", "--id-column", "key")
    by_text = {t: want[f"j{i}"] for i, t in enumerate(texts)}
    names = {"k1": texts[0], "k2": texts[1], f"{folder / 'without-ids.parquet'}:1": texts[2],
             f"{folder / 'without-ids.parquet'}:2": texts[3], **{f"j{i}": t for i, t in enumerate(texts)}}
    for fmt in ("parquet", "jsonl"):
        prefix = tmp_path / fmt / "labels"
        result = label(run, folder, prefix, "--output-format", fmt, "--text-column", "review", "--id-column", "key")
        assert result.exit_code == 0, result.output
        assert all(path.endswith(f".{fmt}") for path in shards(prefix))
        assert_same(beam_rows(prefix, fmt), {key: by_text[text] for key, text in names.items()})


@pytest.mark.parametrize("policy", ["error", "warn", "skip"])
def test_a_bad_line_under_each_policy(run, inputs, tmp_path, policy):
    (inputs / "b.txt").write_text("so bad , hate it\n\nbest day ever\n", encoding="utf-8")
    prefix = tmp_path / "out" / "labels"
    result = label(run, inputs, prefix, "--on-bad-lines", policy)
    where = f"{inputs / 'b.txt'}, line 2: an empty text"
    if policy == "error":
        assert result.exit_code == 1
        assert result.output.strip().splitlines() == [f"Error: {where}. Fix or remove the line, or pass "
                                                      "--on-bad-lines warn (or skip) to leave it out"]
        assert leftovers(prefix.parent) == [], "a failed job leaves nothing, not even Beam's temporary files"
        return
    assert result.exit_code == 0, result.output
    assert (f"warning: {where}; line skipped" in result.stderr) == (policy == "warn")
    assert "3 files, 8 rows read, 7 labeled, 1 bad rows skipped" in result.stderr
    assert len(beam_rows(prefix)) == 7


def test_a_job_that_fails_while_writing_leaves_no_finished_file(run, inputs, tmp_path, monkeypatch):
    """Beam's sinks write shards into a temporary directory and rename them at the end: a job
    that fails after some rows reached the sink leaves no file named like its output, and the
    failure (not ours: the disk's) is one line."""
    from sentiment_cli import beam as beam_module

    rows_call, seen = beam_module.Rows.__call__, []

    def failing(self, element):
        seen.append(element)
        if len(seen) == 6:
            raise OSError(28, "No space left on device")
        return rows_call(self, element)

    monkeypatch.setattr(beam_module.Rows, "__call__", failing)
    prefix = tmp_path / "out" / "labels"
    result = label(run, inputs, prefix)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the Beam job failed: ") and "No space left on device" in lines[0], lines
    assert len(seen) == 6 and shards(prefix) == [] and leftovers(prefix.parent) == []


def test_earlier_output_is_refused_then_replaced_with_overwrite(run, inputs, tmp_path):
    prefix = tmp_path / "labels"
    stale = tmp_path / "labels-00002-of-00003.csv"
    stale.write_text("id,label\nold,0\n")
    result = label(run, inputs, prefix)
    assert result.exit_code == 1
    assert f"{prefix}: holds earlier output (1 files like {stale})" in result.output
    result = label(run, inputs, prefix, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and len(beam_rows(prefix)) == 9


def test_another_prefixs_shards_are_neither_earlier_output_nor_stale(run, inputs, tmp_path):
    # "labels-2024-00001-of-00002.csv" is a shard of the prefix labels-2024, not of labels
    prefix = tmp_path / "labels"
    other = tmp_path / "labels-2024-00001-of-00002.csv"
    other.write_text("id,label\nold,0\n")
    result = label(run, inputs, prefix)
    assert result.exit_code == 0, result.output
    result = label(run, inputs, prefix, "--overwrite")
    assert result.exit_code == 0, result.output
    assert other.read_text() == "id,label\nold,0\n"
    assert [Path(p).name for p in glob.glob(f"{prefix}-?????-of-?????.csv")] == ["labels-00000-of-00001.csv"]


def test_without_apache_beam_one_line_says_what_to_install(run, inputs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # `import apache_beam` raises ImportError
    monkeypatch.delitem(sys.modules, "sentiment_cli.beam", raising=False)
    monkeypatch.delattr(sentiment_cli, "beam", raising=False)  # `from sentiment_cli import beam` looks here first
    result = label(run, inputs, tmp_path / "labels")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("pip install 'sentiment-cli[beam]'"), lines


def test_plain_test_and_help_do_not_import_apache_beam():
    code = ("import sys; from click.testing import CliRunner; from sentiment_cli.cli import cli; "
            "r = CliRunner().invoke(cli, ['test', '--help']); assert r.exit_code == 0, r.output; "
            "assert '--beam' in r.output; print('apache_beam' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
