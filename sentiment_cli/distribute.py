"""tf.distribute strategies for `train --strategy`: one device, the local GPUs, or several workers.

TensorFlow is imported inside the functions, so that the command line's --help stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass

from sentiment_cli.errors import SentimentError

STRATEGIES = ("default", "mirrored", "multi-worker")

# Splits the CPU into this many logical devices before TensorFlow starts, so that `mirrored`
# has more than one replica on a machine without GPUs (the tests; trying it out). Not needed
# with GPUs: MirroredStrategy takes them all.
CPU_DEVICES_ENV = "SENTIMENT_CLI_CPU_DEVICES"

TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


@dataclass
class Distribution:
    """A strategy and where this process stands in it."""

    name: str  # one of STRATEGIES
    strategy: object  # tf.distribute.Strategy
    workers: int = 1
    worker: int = 0  # this process's place among them (0 is the chief)

    @property
    def replicas(self) -> int:
        """Replicas in sync, over all workers: each step splits a global batch among them."""
        return int(self.strategy.num_replicas_in_sync)

    @property
    def is_chief(self) -> bool:
        """The worker that writes the run (Keras' convention: the others train, and save nothing)."""
        return self.worker == 0

    def record(self) -> dict:
        """What config.json says about how the run was trained."""
        return {"name": self.name, "replicas": self.replicas, "workers": self.workers}


def make_distribution(name: str = "default") -> Distribution:
    """The strategy called ``name``; call it right after TensorFlow is imported (threads.configure_threads)
    and before anything runs on a device: the logical CPUs and the multi-worker runtime are set up
    only before TensorFlow's runtime starts.

    default: TensorFlow's default strategy (one device, as without --strategy). mirrored:
    MirroredStrategy over all local GPUs, or without GPUs over the logical CPU devices
    (one, unless SENTIMENT_CLI_CPU_DEVICES splits the CPU). multi-worker:
    MultiWorkerMirroredStrategy over the cluster that TF_CONFIG describes.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise SentimentError(f"unknown strategy {name!r}: use one of {', '.join(STRATEGIES)}")
    split_cpu()
    if name == "default":
        return Distribution(name, tf.distribute.get_strategy())
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return Distribution(name, tf.distribute.MirroredStrategy([d.name for d in devices]))
    workers, worker = read_tf_config(os.environ.get("TF_CONFIG"))
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as exc:
        raise SentimentError(f"--strategy multi-worker could not start from TF_CONFIG ({exc}). Start each "
                             "worker's sentiment-cli train in a fresh process, with its own TF_CONFIG") from None
    return Distribution(name, strategy, workers, worker)


@contextlib.contextmanager
def lost_worker_errors(distribution: Distribution | None):
    """The error a worker gets from TensorFlow when another worker stops (a closed socket, an
    aborted collective op) as a SentimentError that says so, instead of a traceback."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError) as exc:
        if distribution is None or distribution.workers < 2:
            raise
        reason = re.sub(r"\{\{.*?\}\}\s*", "", (exc.message or type(exc).__name__).splitlines()[0])  # op names
        raise SentimentError(f"worker {distribution.worker} of {distribution.workers} lost touch with the others "
                             f"({reason}): one of them stopped (its own output says why). Start every worker "
                             "again") from None


def split_cpu() -> None:
    """SENTIMENT_CLI_CPU_DEVICES=N: N logical CPU devices instead of one (before TensorFlow starts)."""
    import tensorflow as tf

    value = os.environ.get(CPU_DEVICES_ENV)
    if not value:
        return
    if not value.isdigit() or int(value) < 1:
        raise SentimentError(f"{CPU_DEVICES_ENV}={value!r}: give a number of logical CPU devices, 1 or more")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(value))
    except RuntimeError:  # the runtime is already up: the devices are what they are
        pass


def read_tf_config(text: str | None) -> tuple[int, int]:
    """(workers, this worker's index among them) from TF_CONFIG's JSON, checked before
    MultiWorkerMirroredStrategy reads it, so that a mistake is named with its fix. A "chief"
    task counts as worker 0 and the "worker" tasks follow it."""
    fix = f"Set it on every worker, each with its own task, for example {TF_CONFIG_EXAMPLE} on the first"
    if not text:
        raise SentimentError("--strategy multi-worker needs the environment variable TF_CONFIG, which is not set. "
                             + fix)
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SentimentError(f"TF_CONFIG is not valid JSON ({exc.msg} at character {exc.pos}). {fix}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise SentimentError(f'TF_CONFIG needs a "cluster" and a "task" object. {fix}')
    chiefs, workers = cluster.get("chief", []), cluster.get("worker", [])
    if not isinstance(chiefs, list) or not isinstance(workers, list) or len(chiefs) > 1 or not chiefs + workers \
            or not all(isinstance(address, str) and ":" in address for address in chiefs + workers):
        raise SentimentError('TF_CONFIG\'s "cluster" lists the workers as "worker": ["HOST:PORT", ...] (and at '
                             f'most one "chief": ["HOST:PORT"]). {fix}')
    kind, index = task.get("type"), task.get("index", 0)
    tasks = {"chief": chiefs, "worker": workers}
    if kind not in tasks or not isinstance(index, int) or not 0 <= index < len(tasks[kind]):
        raise SentimentError(f'TF_CONFIG\'s "task" {json.dumps(task)} names no task of its "cluster": give '
                             f'"type" "worker" (or "chief") and an "index" among its {len(tasks.get(kind) or [])} '
                             f"addresses. {fix}")
    return len(chiefs) + len(workers), index + (len(chiefs) if kind == "worker" else 0)
