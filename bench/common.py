"""Shared helpers of the benchmarks: where the IMDB data is, and how to skip without it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

IMDB = Path(os.environ.get("SENTIMENT_IMDB_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"))


def imdb_file(name: str, folder: Path = IMDB) -> Path:
    """Path of a benchmark file (IMDB's, or another folder's of ../shared/data); exits 0 with a
    clear message when the data is absent."""
    path = folder / name
    if not path.exists():
        print(f"SKIPPED: {path} not found. The benchmarks live in ../shared/data/ (IMDB: or set "
              "SENTIMENT_IMDB_DIR).", file=sys.stderr)
        sys.exit(0)
    return path


def read_test_labels(path) -> dict[str, str]:
    from sentiment_cli.data import read_lines

    lines = read_lines(path)
    next(lines)  # header id,label
    return dict(line.split(",", 1) for _, line in lines if line)


def first_lines(path, n: int, dest: Path) -> Path:
    """dest holding the first n lines of path (a labeled file, gzip or not), for a run on fewer reviews."""
    from sentiment_cli.data import read_lines

    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as f:
        for number, line in read_lines(path):
            if number > n:
                break
            f.write(line + "\n")
    return dest


def train_saved(models_dir, name: str, config, train_path, unlabeled_path=None, progress: bool = True,
                split_from: str | None = None, folds: str | int = "off"):
    """`sentiment-cli train NAME --overwrite` in-process: models_dir/NAME from the labeled file train_path
    (and more text for the vocabulary and Word2Vec; split_from: --split-from; folds: --folds, "off"
    by default as in 0.6.1, where the command's default is "auto"); returns (path, metrics)."""
    from sentiment_cli.data import DataSpec
    from sentiment_cli.training import RunOptions, TrainJob, train_run

    job = TrainJob(str(models_dir), name, config, DataSpec(str(train_path)),
                   DataSpec(str(unlabeled_path)) if unlabeled_path else None, split_from=split_from, folds=folds)
    return train_run(job, RunOptions(overwrite=True, progress=progress))


def run_split(run, texts: list[str], y):
    """The run's training and validation rows of texts (a Split), as `semi` rebuilds them: the rows
    whose text is one of the run's validation texts (its split.json) validate; for a run made before
    runs recorded their split, the split is drawn again from the file's order and the run's seed."""
    from sentiment_cli import runs
    from sentiment_cli.encoding import split_by_hashes, stratified_split, text_hash

    path = run.path / runs.SPLIT_FILE
    if path.exists():
        return split_by_hashes(texts, runs.read_json(path)["validation"])
    _, val_idx = stratified_split(y, run.config.val_ratio, run.config.seed)  # as semi redraws it
    return split_by_hashes(texts, {text_hash(texts[i]) for i in val_idx})


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


def train_fasttext(token_lists, labels, minn: int = 0, maxn: int = 0):
    """The fastText peer (0.9: bigrams, 10 epochs, 2 threads, seed 1234) trained on texts already
    split into tokens, with their labels as given (predictions come back as "__label__LABEL").
    minn, maxn: its subword features, character n-grams of each word (0, 0: none, fastText's
    supervised default)."""
    import tempfile

    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        with open(path, "w", encoding="utf-8") as f:
            for tokens, label in zip(token_lists, labels):
                f.write(f"__label__{label} {' '.join(tokens)}\n")
        return fasttext.train_supervised(str(path), wordNgrams=2, epoch=10, thread=2, seed=1234, verbose=0,
                                         minn=minn, maxn=maxn)
