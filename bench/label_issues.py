"""Does `check --label-issues` find wrong labels, and does leaving them out help? IMDB and the tweets.

    python bench/label_issues.py [--data imdb|tweets|both] [--model ngram|hybrid] [--noise 0.1]
                                 [--seed 1234] [--rows N] [--test-rows N]

For each data set: flip --noise (10%) of the training labels, rows drawn at random by --seed; run
the label-issue finder (`label_issues.find_label_issues`, the same call as `check --label-issues`,
with --normalize tweets on the tweets) on the noisy file; print
- precision at the top 5% of rows ranked (the rows found, least self-confident first, then the
  rest by self-confidence): the share of them whose label was flipped;
- precision and recall of all the rows flagged, against the flipped rows;
- test accuracy (the data set's test file) of `sentiment-cli train --model MODEL` (default ngram,
  for speed) trained in-process on the clean file, on the noisy file, and on the noisy file less
  every row flagged, and the share of the accuracy lost to the noise that leaving them out recovers.
The targets: precision >= 0.8 at the top 5%; at least half the lost accuracy recovered.

The tweets' labels come from emoticons (Sentiment140) and are noisy before any flip: a flagged row
that was not flipped counts against precision here, even where its original label is wrong.
--rows takes the first N training rows (and --test-rows the first N test rows), for a quick try;
the figures to quote are of the whole files. Files derived from the benchmark (the noisy and clean
files, the runs) go to bench/out/label_issues/ (git-ignored).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import IMDB, imdb_file, read_test_labels, test_accuracy, train_saved  # noqa: E402

SHARED = HERE.parents[1] / "shared" / "data"
OUT = HERE / "out" / "label_issues"
NORMALIZE = {"imdb": "none", "tweets": "tweets"}


def write_labeled(path: Path, texts: list[str], labels: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for text, label in zip(texts, labels):
            f.write(f"{label} +++$+++ {text}\n")
    return path


def flip(labels: list[str], share: float, seed: int) -> tuple[list[str], "np.ndarray"]:
    """labels with a share of them, drawn by the seed, changed to another label (drawn, for more
    than two); and the flipped rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(labels), round(share * len(labels)), replace=False))
    classes = sorted(set(labels))
    noisy = list(labels)
    for i in rows:
        noisy[i] = rng.choice([c for c in classes if c != labels[i]])
    return noisy, rows


def ranking(found, given: list[str]) -> "np.ndarray":
    """Every row, ranked: the rows found (least self-confident first), then the rest by self-confidence."""
    import numpy as np

    index = {label: k for k, label in enumerate(found.labels)}
    y = np.array([index[label] for label in given])
    self_confidence = found.probabilities[np.arange(found.rows), y]
    rest = np.setdiff1d(np.arange(found.rows), found.index)
    return np.concatenate([found.index, rest[np.argsort(self_confidence[rest], kind="stable")]])


def accuracy_of(name: str, config, train_path: Path, test_texts, test_labels) -> float:
    from sentiment_cli import runs

    start = time.perf_counter()
    train_saved(OUT / "models", name, config, train_path, progress=False)
    accuracy = test_accuracy(runs.load_run(OUT / "models", name), test_texts, test_labels)
    print(f"{name}: test accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return accuracy


def bench(data: str, args) -> dict:
    import numpy as np

    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import LabeledData, read_labeled, read_records
    from sentiment_cli.label_issues import find_label_issues

    folder = IMDB if data == "imdb" else SHARED / data
    train_file = imdb_file("training_label.txt.gz", folder)
    test_file, label_file = imdb_file("testing_data.txt.gz", folder), imdb_file("testing_label.csv.gz", folder)
    clean = read_labeled(train_file)
    texts, labels = clean.texts[:args.rows or None], clean.labels[:args.rows or None]
    truth = read_test_labels(label_file)
    test = list(read_records(test_file, "test"))[:args.test_rows or None]
    test_texts, test_labels = [r.text for r in test], [truth[r.id] for r in test]

    noisy_labels, flipped = flip(labels, args.noise, args.seed)
    tag = f"{data}{f'-{args.rows}' if args.rows else ''}"
    noisy_path = write_labeled(OUT / f"{tag}-noisy.txt", texts, noisy_labels)
    clean_path = write_labeled(OUT / f"{tag}-clean.txt", texts, labels) if args.rows else train_file

    config = TrainConfig(normalize=NORMALIZE[data])
    start = time.perf_counter()
    found = find_label_issues(LabeledData(texts, noisy_labels, list(range(1, len(texts) + 1)), str(noisy_path)),
                              config, args.folds, progress=True)
    seconds = time.perf_counter() - start
    is_flipped = np.zeros(len(texts), dtype=bool)
    is_flipped[flipped] = True
    top = ranking(found, noisy_labels)[:math.ceil(0.05 * len(texts))]
    flagged = found.index
    figures = {"rows": len(texts), "flipped": len(flipped), "flagged": len(flagged), "seconds": seconds,
               "folds": found.folds, "c": found.c, "top": len(top),
               "precision_top": float(is_flipped[top].mean()),
               "precision": float(is_flipped[flagged].mean()) if len(flagged) else float("nan"),
               "recall": float(is_flipped[flagged].sum() / len(flipped))}
    print(f"{data}: {len(flagged)} of {len(texts)} rows flagged in {seconds:.0f} s; precision at the top 5% "
          f"{figures['precision_top']:.3f}", file=sys.stderr)

    keep = np.setdiff1d(np.arange(len(texts)), flagged)
    cleaned_path = write_labeled(OUT / f"{tag}-noisy-less-flagged.txt", [texts[i] for i in keep],
                                 [noisy_labels[i] for i in keep])
    train_config = TrainConfig(model=args.model, normalize=NORMALIZE[data])
    for name, path in (("clean", clean_path), ("noisy", noisy_path), ("cleaned", cleaned_path)):
        figures[name] = accuracy_of(f"{tag}-{args.model}-{name}", train_config, path, test_texts, test_labels)
    lost = figures["clean"] - figures["noisy"]
    figures["recovered"] = (figures["cleaned"] - figures["noisy"]) / lost if lost > 0 else float("nan")
    figures["test_rows"] = len(test_texts)
    return figures


def report(results: dict, args) -> None:
    print(f"\nlabel issues: {args.noise:.0%} of the training labels flipped (seed {args.seed}); "
          f"models: --model {args.model}\n")
    print("| data | rows | flipped | flagged | precision top 5% | precision flagged | recall flagged | find s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for data, f in results.items():
        print(f"| {data} | {f['rows']:,} | {f['flipped']:,} | {f['flagged']:,} | {f['precision_top']:.3f} "
              f"({f['top']:,} rows) | {f['precision']:.3f} | {f['recall']:.3f} | {f['seconds']:.0f} |")
    print("\n| data | test rows | clean | noisy | noisy less flagged | lost accuracy recovered |")
    print("|---|---:|---:|---:|---:|---:|")
    for data, f in results.items():
        print(f"| {data} | {f['test_rows']:,} | {f['clean']:.4f} | {f['noisy']:.4f} | {f['cleaned']:.4f} | "
              f"{f['recovered']:.0%} |")
    print("\nfolds and C of each fold: " + "; ".join(f"{d} {f['folds']} folds, C {f['c']}" for d, f in results.items()))
    print("targets: precision >= 0.8 at the top 5%; at least 50% of the lost accuracy recovered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=["imdb", "tweets", "both"], default="both")
    parser.add_argument("--model", choices=["ngram", "hybrid"], default="ngram",
                        help="the model trained on the clean, noisy and cleaned files (default ngram: fast)")
    parser.add_argument("--noise", type=float, default=0.1, help="share of training labels flipped")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the rows flipped")
    parser.add_argument("--folds", type=int, help="folds of the finder (default: its own, 5)")
    parser.add_argument("--rows", type=int, help="only the first N training rows (a quick try)")
    parser.add_argument("--test-rows", type=int, help="only the first N test rows (a quick try)")
    args = parser.parse_args()
    from sentiment_cli.threads import configure_threads

    configure_threads()  # as the CLI does
    results = {}
    for data in (["imdb", "tweets"] if args.data == "both" else [args.data]):
        results[data] = bench(data, args)
    report(results, args)


if __name__ == "__main__":
    main()
