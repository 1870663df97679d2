"""Shared helpers of the benchmarks: where the IMDB data is, and how to skip without it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

IMDB = Path(os.environ.get("SENTIMENT_IMDB_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"))


def imdb_file(name: str) -> Path:
    """Path of an IMDB benchmark file; exits 0 with a clear message when the data is absent."""
    path = IMDB / name
    if not path.exists():
        print(f"SKIPPED: {path} not found. The IMDB benchmark lives in ../shared/data/imdb/ "
              "(or set SENTIMENT_IMDB_DIR).", file=sys.stderr)
        sys.exit(0)
    return path


def read_test_labels(path) -> dict[str, str]:
    from sentiment_cli.data import read_lines

    lines = read_lines(path)
    next(lines)  # header id,label
    return dict(line.split(",", 1) for _, line in lines if line)


def parse_overrides(pairs: list[str]) -> dict:
    """--set name=value pairs, typed like the TrainConfig defaults."""
    from sentiment_cli.config import TrainConfig

    defaults = TrainConfig()
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        current = getattr(defaults, name)
        out[name] = (value.lower() in ("1", "true", "yes")) if isinstance(current, bool) else type(current)(value)
    return out


def test_accuracy(run, texts: list[str], labels: list[str]) -> float:
    """Accuracy of a loaded run's decisions on texts (binary runs: their validation threshold)."""
    import numpy as np

    from sentiment_cli.predict import Predictor, decide

    probs = Predictor([run]).probabilities(texts)
    pred = decide(probs, run.threshold if probs.shape[1] == 2 else None)
    return float(np.mean(np.array(run.config.labels)[pred] == np.array(labels)))
