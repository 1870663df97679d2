"""Does `suggest` pick texts worth labeling? Labels chosen by it against labels chosen at random.

    python bench/suggest.py [--data imdb|tweets|both] [--start 500] [--step 250] [--rounds 4]
                            [--seeds 3] [--pool N] [--test-rows N] [--set name=value ...]

A simulation of a user labeling in rounds: from a random --start labels of the data set's
training file, --rounds times add --step labels (their true labels revealed) chosen either by
`suggest` (the latest model, on the not-yet-labeled rows of --pool) or at random, and train again
with the defaults (tweets: --normalize tweets). Both arms start from the same model and use the
same seed, pool and test rows; each seed draws another start. Prints the test accuracy of every
round (mean and spread over seeds) and suggest's gain over random, paired by seed.

The pool is --pool rows of the training file other than the start (default: all for tweets,
10,000 for IMDB, to keep scoring time down); test accuracy is on --test-rows rows of the test file
(default: all tweets, 10,000 IMDB reviews). Files go to bench/out/suggest/ (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import imdb_file, parse_overrides, test_accuracy, train_saved  # noqa: E402
from speed import NORMALIZE, SHARED, read_test  # noqa: E402

OUT = BENCH / "out" / "suggest"
POOL = {"imdb": 10_000, "tweets": None}
TEST_ROWS = {"imdb": 10_000, "tweets": None}


def write_labeled(path: Path, texts: list[str], labels: list[str]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["label", "text"])
        writer.writerows(zip(labels, texts))
    return path


def write_pool(path: Path, texts: list[str]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=["imdb", "tweets", "both"], default="both")
    parser.add_argument("--start", type=int, default=500)
    parser.add_argument("--step", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pool", type=int)
    parser.add_argument("--test-rows", type=int)
    parser.add_argument("--arms", default="random,both",
                        help="comma-separated: random, and suggest's rankings (both, uncertainty, disagreement), each "
                             "optionally with -balanced (the same number per predicted class)")
    parser.add_argument("--fixed-validation", action="store_true",
                        help="every retraining validates on the start's validation rows only (train --split-from "
                             "START: the rows added train): chosen texts are hard ones, and in a drawn 10%% they "
                             "bias validation")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="TrainConfig overrides")
    args = parser.parse_args()
    for data in (["imdb", "tweets"] if args.data == "both" else [args.data]):
        simulate(data, args)


def simulate(data: str, args) -> None:
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import DataSpec, read_labeled
    from sentiment_cli.runs import load_run
    from sentiment_cli.suggest import suggest

    labeled = read_labeled(str(imdb_file("training_label.txt.gz", SHARED / data)))
    _, test_texts, test_labels = read_test(data)
    rows = args.test_rows or TEST_ROWS[data]
    if rows and rows < len(test_texts):
        keep = np.random.default_rng(1234).permutation(len(test_texts))[:rows]
        test_texts, test_labels = [test_texts[i] for i in keep], [test_labels[i] for i in keep]
    texts, labels = labeled.texts, labeled.labels
    out = OUT / (data + ("-fixedval" if args.fixed_validation else ""))
    out.mkdir(parents=True, exist_ok=True)
    overrides = {"normalize": NORMALIZE[data], **parse_overrides(args.set)}
    sizes = [args.start + r * args.step for r in range(args.rounds + 1)]
    arms = args.arms.split(",")
    results = {arm: [] for arm in arms}
    print(f"# {data}: start {args.start}, {args.rounds} x {args.step}, {args.seeds} seeds, "
          + ("validation fixed to the start's rows, " if args.fixed_validation else "")
          + f"test rows {len(test_texts):,}, settings {overrides}", flush=True)
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(texts))
        start = list(order[:args.start])
        pool_size = args.pool or POOL[data]
        pool = list(order[args.start:args.start + pool_size] if pool_size else order[args.start:])
        config = TrainConfig(**{**overrides, "seed": seed})

        def train(name: str, chosen: list[int], split_from: str | None = None):
            path = write_labeled(out / f"{name}.csv", [texts[i] for i in chosen], [labels[i] for i in chosen])
            t = time.perf_counter()
            train_saved(out / "models", name, config, path, progress=False, split_from=split_from)
            run = load_run(out / "models", name)
            accuracy = test_accuracy(run, test_texts, test_labels)
            print(f"  {name}: {len(chosen)} labels, test accuracy {accuracy:.4f} ({time.perf_counter() - t:.0f} s)",
                  flush=True)
            return run, accuracy

        base, base_accuracy = train(f"s{seed}-start", start)
        split_from = str(base.path) if args.fixed_validation else None
        for arm in arms:
            chosen, run, curve = list(start), base, [base_accuracy]
            arm_rng = np.random.default_rng(1000 + seed)
            for r in range(1, args.rounds + 1):
                taken = set(chosen)
                left = [i for i in pool if i not in taken]
                if arm == "random":
                    picks = list(arm_rng.choice(left, size=args.step, replace=False))
                else:
                    t = time.perf_counter()
                    where = write_pool(out / "pool.csv", [texts[i] for i in left])
                    by, _, balanced = arm.partition("-")
                    found, _ = suggest(run, DataSpec(str(where)), args.step, by=by, balance=balanced == "balanced")
                    by_text = {}
                    for i in left:
                        by_text.setdefault(texts[i], i)
                    picks = [by_text[s.text] for s in found]
                    shares = np.mean([labels[i] == labels[start[0]] for i in picks])
                    print(f"  suggest ({arm}) round {r}: {len(picks)} picked in {time.perf_counter() - t:.0f} s "
                          f"(share of label {labels[start[0]]!r}: {shares:.2f})", flush=True)
                chosen += picks
                run, accuracy = train(f"s{seed}-{arm}-{r}", chosen, split_from)
                curve.append(accuracy)
            results[arm].append(curve)
    print(f"\n## {data}: test accuracy by labels (mean ± sd over {args.seeds} seeds)")
    others = [arm for arm in arms if arm != "random"]
    print("| labels | " + " | ".join(arms) + "".join(f" | {a} - random (paired)" for a in others if "random" in arms)
          + " |")
    print("|---" * (1 + len(arms) + (len(others) if "random" in arms else 0)) + "|")
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
    for j, n in enumerate(sizes):
        at = {arm: [c[j] for c in results[arm]] for arm in arms}
        cells = [f"{100 * np.mean(at[a]):.2f} ± {100 * sd(at[a]):.2f}" for a in arms]
        if "random" in arms:
            for a in others:
                diff = [s - r for s, r in zip(at[a], at["random"])]
                cells.append(f"{100 * np.mean(diff):+.2f} ± {100 * sd(diff):.2f}")
        print(f"| {n:,} | " + " | ".join(cells) + " |")
    print(flush=True)


if __name__ == "__main__":
    main()
