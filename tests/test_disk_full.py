"""A full disk: train, semi, test and export stop with one line and leave what was there as it was.

The command runs in a subprocess whose files may not grow past a few KB (RLIMIT_FSIZE, with
SIGXFSZ ignored, so that a write fails with EFBIG as it fails with ENOSPC on a full disk instead
of killing the process).
"""

import resource
import shutil
import signal
import subprocess
import sys

import pytest
from helpers import NEGATIVE, POSITIVE, TINY, invoke, write_labeled

from sentiment_cli import workspace

NGRAM_RUN = 10_000  # bytes: below a tiny n-gram run's best.keras (about 30 KB), above its JSON files
HYBRID_EPOCH = 40_000  # above a tiny hybrid's epoch-N.npz (about 20 KB), below its best.keras (about 65 KB)


def run_on_a_full_disk(limit, *args, cwd):
    def no_room():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "sentiment_cli", *map(str, args)], preexec_fn=no_room, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def the_one_line(done, *words):
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Continue it with" not in done.stderr, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert "no room to write" in line and "Free space on the disk of" in line, line
    assert all(word in line for word in words), line
    return line


def snapshot(folder):
    """Every file under folder (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def before(tmp_path_factory):
    """An n-gram run, a semi run of it, a result file and an export: what a full disk must not touch."""
    root = tmp_path_factory.mktemp("full")
    labeled = write_labeled(root / "train.txt")
    unlabeled = root / "nolabel.txt"
    unlabeled.write_text("\n".join(POSITIVE + NEGATIVE) + "\n")
    models, out = root / "models", root / "out"
    out.mkdir()
    for args in (["train", "n", "--train", labeled, *TINY, "--model", "ngram"],
                 ["semi", "n", "--unlabeled", unlabeled, "--rounds", "1", "--select", "rank", "-q"],
                 ["test", "n", "--input", unlabeled, "--output", out / "result.csv", "-q"],
                 ["export", "n", out / "exported"]):
        result = invoke(*args, "--models-dir", models)
        assert result.exit_code == 0, result.output
    return root, labeled, unlabeled, models, out


def test_train_leaves_the_previous_run_and_says_how_to_go_on(before, tmp_path):
    root, labeled, _, models, _ = before
    models = shutil.copytree(models, tmp_path / "models")
    was = snapshot(models)
    # nothing committed (an n-gram run has no epochs): the work is discarded, "run again"
    done = run_on_a_full_disk(NGRAM_RUN, "train", "n", "--train", labeled, "--models-dir", models, *TINY,
                              "--model", "ngram", "--overwrite", cwd=root)
    assert "run again" in the_one_line(done, str(models))
    assert snapshot(models) == was
    # epochs committed, the run's model not written: the work stays, and the line says how to finish it
    done = run_on_a_full_disk(HYBRID_EPOCH, "train", "n", "--train", labeled, "--models-dir", models, *TINY,
                              "--overwrite", cwd=root)
    command = f"sentiment-cli train n --resume --models-dir {models} --overwrite"
    the_one_line(done, command, str(models / ".n.work"))
    assert {p.name for p in models.iterdir()} == {"n", "n-semi", ".n.work"}
    assert (models / ".n.work" / workspace.STATE_FILE).is_file()
    assert {k: v for k, v in snapshot(models).items() if not k.startswith(".n.work")} == was
    result = invoke(*command.split()[1:])  # the command it gave, once there is room
    assert result.exit_code == 0, result.output
    assert {p.name for p in models.iterdir()} == {"n", "n-semi"}


def test_semi_leaves_the_previous_run(before):
    root, _, unlabeled, models, _ = before
    was = snapshot(models)
    done = run_on_a_full_disk(NGRAM_RUN, "semi", "n", "--unlabeled", unlabeled, "--rounds", "1", "--select", "rank",
                              "--overwrite", "--models-dir", models, "-q", cwd=root)
    the_one_line(done, str(models), "run again")
    assert snapshot(models) == was


def test_test_leaves_the_previous_result(before):
    root, _, unlabeled, models, out = before
    was = snapshot(out)
    done = run_on_a_full_disk(150, "test", "n", "--input", unlabeled, "--output", out / "result.csv",
                              "--probabilities", "--models-dir", models, "-q", cwd=root)
    the_one_line(done, str(out / "result.csv"), str(out))
    assert snapshot(out) == was


def test_export_leaves_the_previous_export(before):
    root, _, _, models, out = before
    was = snapshot(out)
    done = run_on_a_full_disk(NGRAM_RUN, "export", "n", out / "exported", "--overwrite", "--models-dir", models,
                              cwd=root)
    the_one_line(done, str(out / "exported"))
    assert snapshot(out) == was
