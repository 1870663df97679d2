"""train --strategy: MirroredStrategy over two logical CPUs, and two workers as two local processes.

The strategies start TensorFlow's runtime their own way (logical devices, a gRPC server), so
each training runs in a process of its own; reading the run back runs in the tests' process.
"""

import csv
import json
import math
import os
import socket
import subprocess
import sys

import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import runs
from sentiment_cli.distribute import CPU_DEVICES_ENV, Distribution, read_tf_config
from sentiment_cli.errors import ConfigError, SentimentError

TIMEOUT = 120  # seconds a training process may take before the test gives up on it (and kills it)
TIMINGS = {"train_seconds", "fit_seconds", "examples_per_second", "seconds_by_stage"}


def train_command(models, train, *extra, quiet=True):
    tiny = TINY if quiet else [arg for arg in TINY if arg != "-q"]
    return [sys.executable, "-m", "sentiment_cli", "train", "demo", "--train", str(train), "--models-dir", str(models),
            *tiny, "--json", *extra]


def environment(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", CPU_DEVICES_ENV)}
    env.update(changes)
    return env


def assert_test_reads(models, tmp_path):
    """`test` on the run writes one row per input line, and the run has learned its training texts."""
    texts = ["i love it", "awful boring movie", "so good", "hate this place", "happy happy day"]
    src, out = tmp_path / "in.txt", tmp_path / "out.csv"
    src.write_text("\n".join(texts) + "\n")
    result = invoke("test", "demo", "--input", src, "--output", out, "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["id", "label"] and len(table) == 1 + len(texts)
    assert all(row[1] in ("0", "1") for row in table[1:])
    # all but "so good" are texts of the training file (write_labeled): the run gives them their labels
    labels = dict(zip(texts, (row[1] for row in table[1:])))
    assert [labels[t] for t in ("i love it", "awful boring movie", "hate this place", "happy happy day")] == \
        ["1", "0", "0", "1"]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def finish(processes):
    """(returncode, stdout, stderr) of each process; any still running after TIMEOUT is killed."""
    results = []
    try:
        for p in processes:
            out, err = p.communicate(timeout=TIMEOUT)
            results.append((p.returncode, out, err))
    except subprocess.TimeoutExpired:
        for p in processes:
            p.kill()
            p.communicate()
        pytest.fail(f"a training process did not end within {TIMEOUT} s")
    return results


def test_mirrored_over_two_logical_cpus(tmp_path):
    models, train = tmp_path / "models", write_labeled(tmp_path / "train.txt")
    done = subprocess.run(train_command(models, train, "--strategy", "mirrored", quiet=False), capture_output=True,
                          text=True, cwd=tmp_path, env=environment(**{CPU_DEVICES_ENV: "2"}), timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["run"] == str(models / "demo")
    record = json.loads((models / "demo" / runs.CONFIG_FILE).read_text())
    assert record["strategy"] == {"name": "mirrored", "replicas": 2, "workers": 1}
    # --batch-size 8 is the global batch: an epoch takes as many steps as on one device, each
    # step 4 examples on each replica
    steps = math.ceil(summary["metrics"]["train_examples"] / 8)
    assert f"{steps}/{steps} - " in done.stderr
    assert_test_reads(models, tmp_path)


def test_two_workers_train_in_step_and_only_the_chief_writes_the_run(tmp_path):
    models, train = tmp_path / "models", write_labeled(tmp_path / "train.txt")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    processes = [
        subprocess.Popen(train_command(models, train, "--strategy", "multi-worker"), cwd=tmp_path, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=environment(TF_CONFIG=json.dumps({"cluster": cluster,
                                                               "task": {"type": "worker", "index": i}})))
        for i in range(2)
    ]
    (chief_rc, chief_out, chief_err), (other_rc, other_out, other_err) = finish(processes)
    assert chief_rc == 0, chief_err
    assert other_rc == 0, other_err
    chief, other = json.loads(chief_out), json.loads(other_out)
    assert chief["run"] == str(models / "demo") and other["run"] is None
    # every step's gradients are summed over both workers: they end with the same network
    assert {k: v for k, v in chief["metrics"].items() if k not in TIMINGS} == \
        {k: v for k, v in other["metrics"].items() if k not in TIMINGS}
    record = json.loads((models / "demo" / runs.CONFIG_FILE).read_text())
    assert record["strategy"] == {"name": "multi-worker", "replicas": 2, "workers": 2}
    assert [p.name for p in models.iterdir()] == ["demo"]  # no resume directory, lock or partial run of worker 1
    assert_test_reads(models, tmp_path)


def test_multi_worker_without_tf_config_exits_1(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = invoke("train", "demo", "--train", write_labeled(tmp_path / "train.txt"), "--models-dir",
                    tmp_path / "models", *TINY, "--strategy", "multi-worker")
    assert result.exit_code == 1
    assert "Error: --strategy multi-worker needs the environment variable TF_CONFIG, which is not set" in result.output
    assert '"task": {"type": "worker", "index": 0}' in result.output  # an example to copy
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', 'TF_CONFIG needs a "cluster" and a "task" object'),
    ('{"cluster": {"worker": "127.0.0.1:1"}, "task": {"type": "worker", "index": 0}}', 'lists the workers as'),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}', "names no task"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}', "names no task"),
])
def test_malformed_tf_config_is_explained(text, message):
    with pytest.raises(SentimentError, match=message):
        read_tf_config(text)


def test_tf_config_places_this_worker():
    cluster = '"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}'
    assert read_tf_config('{%s, "task": {"type": "chief", "index": 0}}' % cluster) == (3, 0)
    assert read_tf_config('{%s, "task": {"type": "worker", "index": 1}}' % cluster) == (3, 2)


def test_multi_worker_refuses_resume(tmp_path):
    import tensorflow as tf

    from sentiment_cli.training import RunOptions, resume_run

    write_labeled(tmp_path / "train.txt")
    distribution = Distribution("multi-worker", tf.distribute.get_strategy(), workers=2, worker=0)
    with pytest.raises(ConfigError, match="--resume"):
        resume_run(tmp_path / "models", "demo", {}, RunOptions(progress=False, distribution=distribution))
    assert not (tmp_path / "models").exists()
