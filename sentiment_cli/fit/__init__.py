"""The fits of a model's parts: the n-gram half (convex), the network half (Keras epochs), the mix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class FitOptions:
    """How a training runs, not what it makes."""

    progress: bool = True  # progress and notes on stderr
    summary: bool = False  # print the model's summary first
    tensorboard: Path | None = None  # where Keras' TensorBoard callback writes the network's epochs
    strategy: object = None  # the tf.distribute strategy (default: the one in scope)
    workspace: object = None  # a workspace.Workspace: the network half's epochs are committed in it, and resumed
    # more Keras callbacks for the network half's fit, after EpochCommit (tune: pruning, time limit)
    callbacks: tuple = ()
    # cross-validation (training.cross_validate): the n-gram half leaves each C's logits of the
    # validation rows here, keyed by C, so that C is chosen on the pooled out-of-fold rows
    held_out: dict | None = None
