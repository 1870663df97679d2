"""Does `tune` beat the defaults? A search within a budget on the tweets and on 5,000 IMDB reviews.

    python bench/tune.py [--data tweets imdb] [--budget 20m] [--imdb-sample 5000] [--tweets-sample 0]
                         [--trials N] [--seed 1234] [--test-limit 0]

For each data set, `tune` (in-process, as the command runs it) searches on the training file's
validation split (10%, drawn by --seed) for --budget; trial 0 is the defaults. The tweets are
tuned with --normalize tweets pinned, as bench/speed.py trains them. The defaults are then
trained again as a normal run (same seed, so the same split and the same model as trial 0 up to
floating-point noise: the two validation accuracies are printed side by side), since `tune`
keeps only the best trial's run. Test accuracy of both, the defaults and the best, is read once,
at the end, on the data set's test file (--test-limit N: its first N texts, for a quick check):
the search never sees it.

Data: ../shared/data/tweets (80,000 training tweets; --tweets-sample N keeps the first N) and
../shared/data/imdb (its first --imdb-sample training reviews, 2,527 negative and 2,473 positive of
the first 5,000); a data set that is absent is skipped with a message. Files go to bench/out/tune/
and bench/out/models/ (git-ignored). The budget is the search's; the retrained defaults and the
test predictions come on top of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import IMDB, first_lines, read_test_labels, test_accuracy, train_saved  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
OUT_MODELS = OUT / "models"
SHARED = IMDB.parent
NORMALIZE = {"imdb": "none", "tweets": "tweets"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", choices=sorted(NORMALIZE), default=["tweets", "imdb"])
    parser.add_argument("--budget", default="20m", help="the search's time per data set (90s, 20m, 1h)")
    parser.add_argument("--trials", type=int, help="most trials per data set")
    parser.add_argument("--imdb-sample", type=int, default=5000, help="IMDB training reviews (the first N)")
    parser.add_argument("--tweets-sample", type=int, default=0, help="training tweets (the first N; 0: all)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--test-limit", type=int, default=0, help="test on the first N texts only (0: all)")
    args = parser.parse_args()

    from sentiment_cli.config import parse_duration
    from sentiment_cli.threads import configure_threads

    budget = parse_duration(args.budget)
    configure_threads()  # as the CLI does
    rows = []
    for data in args.data:
        files = data_files(data, args)
        if files is None:
            continue
        rows.append(bench_one(data, *files, budget, args))
    # test accuracy read once, at the end, for the runs already chosen on validation
    for row in rows:
        row.update(test_both(row))
    print_table(rows, args)


def data_files(data: str, args) -> tuple[Path, Path, Path] | None:
    folder = SHARED / data
    names = ("training_label.txt.gz", "testing_data.txt.gz", "testing_label.csv.gz")
    missing = [name for name in names if not (folder / name).exists()]
    if missing:
        print(f"SKIPPED {data}: {', '.join(str(folder / m) for m in missing)} not found (the benchmarks read "
              "../shared/data/)", file=sys.stderr)
        return None
    train, test, labels = (folder / name for name in names)
    sample = args.imdb_sample if data == "imdb" else args.tweets_sample
    if sample:
        train = first_lines(train, sample, OUT / "tune" / f"{data}_first{sample}.txt")
    return train, test, labels


def bench_one(data: str, train: Path, test: Path, labels: Path, budget: float, args) -> dict:
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import DataSpec
    from sentiment_cli.tune import TuneJob, TuneOptions, tune_run

    config = TrainConfig(normalize=NORMALIZE[data], seed=args.seed)
    name = f"tune-{data}"
    print(f"\n== {data}: tune {name} on {train}, budget {args.budget}", file=sys.stderr)
    start = time.perf_counter()
    job = TuneJob(str(OUT_MODELS), name, config, ("normalize", "seed"), DataSpec(str(train)), None, budget,
                  args.trials)
    path, summary = tune_run(job, TuneOptions(overwrite=True))
    tune_seconds = time.perf_counter() - start
    print(f"== {data}: the defaults again, as a normal run", file=sys.stderr)
    _, defaults_metrics = train_saved(OUT_MODELS, f"{name}-defaults", TrainConfig(normalize=NORMALIZE[data],
                                                                                  seed=args.seed), train)
    return {"data": data, "train": str(train), "test": test, "labels": labels, "run": name,
            "defaults_run": f"{name}-defaults", "summary": summary, "tune_seconds": round(tune_seconds, 1),
            "defaults_val_retrained": defaults_metrics["best_val_accuracy"], "limit": args.test_limit}


def test_both(row: dict) -> dict:
    from sentiment_cli import runs
    from sentiment_cli.data import read_records

    truth = read_test_labels(row["labels"])
    records = list(read_records(row["test"], "test"))
    if row.get("limit"):
        records = records[:row["limit"]]
    texts, gold = [r.text for r in records], [truth[r.id] for r in records]
    return {"test_rows": len(texts),
            "best_test": test_accuracy(runs.load_run(OUT_MODELS, row["run"]), texts, gold),
            "defaults_test": test_accuracy(runs.load_run(OUT_MODELS, row["defaults_run"]), texts, gold)}


def print_table(rows: list[dict], args) -> None:
    from sentiment_cli import __version__

    print(f"\nsentiment-cli {__version__} tune, budget {args.budget} per data set, seed {args.seed}, "
          f"{time.strftime('%Y-%m-%d')}; command: python bench/tune.py {' '.join(sys.argv[1:])}")
    header = ("data", "trials (complete/pruned/failed)", "defaults val (trial 0 / retrained)", "best val",
              "defaults test", "best test", "tune s")
    print(" | ".join(header))
    for row in rows:
        s, t = row["summary"], row["summary"]["trials"]
        defaults = s["defaults_val_accuracy"]
        print(" | ".join([
            row["data"], f"{t.get('complete', 0)}/{t.get('pruned', 0)}/{t.get('fail', 0)}",
            f"{defaults:.4f} / {row['defaults_val_retrained']:.4f}" if defaults is not None else "-",
            f"{s['best_val_accuracy']:.4f} (trial {s['best_trial']})",
            f"{row['defaults_test']:.4f}", f"{row['best_test']:.4f}", f"{row['tune_seconds']:.0f}",
        ]) + f"   [{row['test_rows']} test texts]")
        print(f"   best settings: {json.dumps(s['best_params'])}; stopped: {s['stopped_because']}")


if __name__ == "__main__":
    main()
