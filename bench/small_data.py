"""Small data you can trust (issue 31): `train --folds auto` against `--folds off` on 200-row draws.

    python bench/small_data.py [--sets tweets,imdb] [--seeds 5] [--rows 200] [--test-rows 5000]
                               [--cost-rows 200,1000,5000] [--cost-sets tweets] [--no-cost]
                               [--folds auto|K] [--no-ngram]

For each set (../shared/data/tweets and ../shared/data/imdb; SENTIMENT_IMDB_DIR moves both) and
each seed 1..--seeds, draws --rows rows of the TRAINING file (seeded, stratified by label: each
label keeps its share of the file), writes the draw to bench/out/small_data/ (git-ignored) and
trains on it in-process, as `sentiment-cli train` would (the tweets with --normalize tweets):
- `--folds auto` (5 folds at 200 rows, then the final model on every row): its cross-validated
  accuracy (metrics.json "cross_validation" "accuracy_mean") and the final model's test accuracy;
- `--folds off` (0.6.1: a 10% validation split, 20 rows; the model trains on the other 180): its
  validation accuracy and its model's test accuracy;
- `--model ngram --folds auto`: its test accuracy.
Test accuracy is measured on a fixed random subset of the test file (--test-rows, seed 0, the
same rows for every draw) to keep prediction time small.

Prints a row per draw as it finishes, then the targets' table:
(1) the mean absolute error over draws of |CV accuracy - test accuracy|, against the same for the
    20-row validation accuracy (target: CV within 3 points on average);
(2) the mean test accuracy of the final all-rows model minus the 90%-split model's (target: at
    least +1 point), and minus `--model ngram`'s (target: not worse by more than the noise, here
    twice the standard error of the mean paired difference);
(3) the cost: wall seconds of the training call (in-process, TensorFlow already loaded) at
    --cost-rows rows with --folds auto against --folds off, one draw each (seed 1; the 200-row
    figures are those of the last draw above, since the process's first trainings also pay for
    tracing). Where auto takes one split (from 5,000 rows: 500 validation rows), it is the same
    training as off and is not timed twice.
Where the threshold of `--folds auto` lies (crossval.AUTO_MAX_VALIDATION: cross-validate while a
10% split would hold fewer than 500 rows): `--rows 2000 --folds 5 --no-ngram --no-cost` (and 5,000)
forces 5 folds above it and prints the same table (1)-(2) for larger draws; the table's "CV"
columns are then those of --folds K, and the "split val" column that of a 10% split of the draw.

Seconds come from a 2-core machine shared with other jobs: they are inflated, and only their
ratios say much. Label-issue precision is measured by bench/label_issues.py, not here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import IMDB, imdb_file, read_test_labels, test_accuracy, train_saved  # noqa: E402

DATA = {"imdb": IMDB, "tweets": IMDB.parent / "tweets"}
OUT = HERE / "out" / "small_data"
SEPARATOR = "+++$+++"
TEST_SEED = 0


def say(text: str = "") -> None:
    print(text, flush=True)


def read_training(path: Path) -> list[tuple[str, str]]:
    """(label, raw line) of each labeled line of a classic LABEL +++$+++ TEXT file."""
    from sentiment_cli.data import read_lines

    rows = []
    for _, line in read_lines(path):
        if SEPARATOR in line:
            rows.append((line.split(SEPARATOR, 1)[0].strip(), line))
    return rows


def draw(rows: list[tuple[str, str]], n: int, seed: int, dest: Path) -> Path:
    """dest holding n rows of rows drawn by seed, stratified: each label keeps its share (largest
    remainders), the file's own lines written unchanged, in the draw's shuffled order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.array([label for label, _ in rows])
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts / counts.sum() * n
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take))[: n - take.sum()]:
        take[i] += 1
    chosen = np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False)
                             for c, k in zip(classes, take)])
    rng.shuffle(chosen)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i in chosen:
            f.write(rows[i][1] + "\n")
    tmp.replace(dest)
    return dest


def test_subset(folder: Path, n: int) -> tuple[list[str], list[str]]:
    """n rows of the set's test file (seed TEST_SEED, the same for every draw) and their labels."""
    import numpy as np

    from sentiment_cli.data import read_records

    truth = read_test_labels(imdb_file("testing_label.csv.gz", folder))
    records = list(read_records(imdb_file("testing_data.txt.gz", folder), "test"))
    keep = np.sort(np.random.default_rng(TEST_SEED).choice(len(records), min(n, len(records)), replace=False))
    return [records[i].text for i in keep], [truth[records[i].id] for i in keep]


def trained(name: str, config, path: Path, folds, test) -> dict:
    """Train models_dir/NAME (timed: the training call's wall seconds) and score it on test."""
    from sentiment_cli import runs

    start = time.perf_counter()
    _, metrics = train_saved(OUT / "models", name, config, path, progress=False, folds=folds)
    seconds = time.perf_counter() - start
    cv = metrics.get("cross_validation")
    out = {"seconds": seconds, "val": metrics.get("best_val_accuracy"), "val_rows": metrics.get("val_examples"),
           "cv": cv["accuracy_mean"] if cv else None, "cv_sd": cv["accuracy_sd"] if cv else None,
           "folds": cv["folds"] if cv else 0}
    if test is not None:
        out["test"] = test_accuracy(runs.load_run(OUT / "models", name), *test)
    return out


def summarize(rows: list[dict]) -> dict:
    import numpy as np

    cv_err = np.array([abs(r["auto"]["cv"] - r["auto"]["test"]) for r in rows])
    val_err = np.array([abs(r["off"]["val"] - r["off"]["test"]) for r in rows])
    gain = np.array([r["auto"]["test"] - r["off"]["test"] for r in rows])
    ngram = np.array([r["auto"]["test"] - r["ngram"]["test"] for r in rows if r["ngram"]]) if rows[0]["ngram"] \
        else np.array([float("nan")])
    se = lambda v: float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")  # noqa: E731
    return {"draws": len(rows), "cv_mae": float(cv_err.mean()), "val_mae": float(val_err.mean()),
            "gain": float(gain.mean()), "gain_se": se(gain), "ngram": float(ngram.mean()), "ngram_se": se(ngram),
            "ngram_worst": float(np.nanmin(ngram)) if not np.isnan(ngram).all() else float("nan")}


def pts(x: float, sign: bool = False) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else (f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="tweets,imdb", help="comma-separated: tweets, imdb")
    parser.add_argument("--seeds", type=int, default=5, help="draws per set (seeds 1..N)")
    parser.add_argument("--rows", type=int, default=200, help="rows per draw")
    parser.add_argument("--test-rows", type=int, default=5000, help="rows of the test file scored (seed 0)")
    parser.add_argument("--cost-rows", default="200,1000,5000", help="sizes timed with --folds auto and off")
    parser.add_argument("--cost-sets", default="tweets", help="sets timed (comma-separated)")
    parser.add_argument("--no-cost", action="store_true", help="skip the cost table")
    parser.add_argument("--folds", default="auto",
                        help="the cross-validated side's --folds (auto, or K to force K folds at any size)")
    parser.add_argument("--no-ngram", action="store_true", help="skip the `--model ngram` training of each draw")
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    cost_sets = [] if args.no_cost else [s for s in args.cost_sets.split(",") if s]
    for name in set(sets) | set(cost_sets):
        if name not in DATA:
            parser.error(f"unknown set {name!r}: choose among {', '.join(sorted(DATA))}")
        imdb_file("training_label.txt.gz", DATA[name])  # exits 0 with a clear message when absent

    from sentiment_cli.config import TrainConfig
    from sentiment_cli.crossval import AUTO_MAX_VALIDATION, parse_folds
    from sentiment_cli.threads import configure_threads

    folds = parse_folds(args.folds)
    configure_threads()  # as the CLI does
    say(f"small data: {args.rows}-row stratified draws (seeds 1-{args.seeds}) of each set's training file; "
        f"test accuracy on {args.test_rows} random rows of its test file (seed {TEST_SEED}, the same for every draw). "
        f"Seconds: a 2-core machine shared with other jobs, so inflated. Figures in points (%).")
    results, costs = {}, {}
    for set_name in sets:
        folder = DATA[set_name]
        training = read_training(folder / "training_label.txt.gz")
        test = test_subset(folder, args.test_rows)
        base = {"normalize": "tweets"} if set_name == "tweets" else {}
        hybrid, ngram = TrainConfig(**base), TrainConfig(**base, model="ngram")
        say(f"\n{set_name}: {len(training)} training rows, {len(test[0])} test rows scored\n")
        say("| set | seed | CV acc (sd) | CV final test | CV err | split val | 90% split test | val err "
            "| ngram test | s auto / off / ngram |")
        say("|---|---|---|---|---|---|---|---|---|---|")
        results[set_name] = []
        for seed in range(1, args.seeds + 1):
            path = draw(training, args.rows, seed, OUT / f"{set_name}-{args.rows}-seed{seed}.txt")
            tag = f"{set_name}-{args.rows}-s{seed}"
            row = {"seed": seed,
                   "auto": trained(f"{tag}-auto", hybrid, path, folds, test),
                   "off": trained(f"{tag}-off", hybrid, path, "off", test),
                   "ngram": None if args.no_ngram else trained(f"{tag}-ngram", ngram, path, folds, test)}
            results[set_name].append(row)
            a, o, g = row["auto"], row["off"], row["ngram"] or {"test": None, "seconds": float("nan")}
            say(f"| {set_name} | {seed} | {pts(a['cv'])} ({pts(a['cv_sd'])}, {a['folds']} folds) | {pts(a['test'])} "
                f"| {pts(abs(a['cv'] - a['test']))} | {pts(o['val'])} ({o['val_rows']} rows) | {pts(o['test'])} "
                f"| {pts(abs(o['val'] - o['test']))} | {pts(g['test'])} "
                f"| {a['seconds']:.0f} / {o['seconds']:.0f} / {g['seconds']:.0f} |")
            write_json(args, results, costs)

    for set_name in cost_sets:
        folder = DATA[set_name]
        training = read_training(folder / "training_label.txt.gz")
        config = TrainConfig(**({"normalize": "tweets"} if set_name == "tweets" else {}))
        costs[set_name] = {}
        for n in [int(v) for v in args.cost_rows.split(",")]:
            if n == args.rows and set_name in results and results[set_name]:
                # the last draw's: the first trainings of the process also pay for tracing
                last = results[set_name][-1]
                costs[set_name][n] = {"auto": last["auto"], "off": last["off"], "seed": last["seed"]}
            else:
                path = draw(training, n, 1, OUT / f"{set_name}-{n}-seed1.txt")
                off = trained(f"{set_name}-{n}-s1-off", config, path, "off", None)
                # auto takes one split where it would validate on AUTO_MAX_VALIDATION rows or more:
                # then it is the same training as --folds off, not timed twice
                single = round(n * config.val_ratio) >= AUTO_MAX_VALIDATION
                costs[set_name][n] = {"off": off, "auto": off if single else
                                      trained(f"{set_name}-{n}-s1-auto", config, path, "auto", None)}
            c = costs[set_name][n]
            say(f"cost: {set_name} {n} rows: --folds auto {c['auto']['seconds']:.0f} s "
                f"({c['auto']['folds'] or 'no'} folds), --folds off {c['off']['seconds']:.0f} s")
            write_json(args, results, costs)

    report(args, results, costs)
    return 0


def report(args, results: dict, costs: dict) -> None:
    done = {name: rows for name, rows in results.items() if rows}
    if done:
        say(f"\nTargets on {args.rows}-row draws (test: {args.test_rows} random test rows per set, the same for "
            "every draw). Noise: twice the standard error of the mean paired difference over draws.\n")
        say("| set | draws | (1) MAE CV vs test | MAE split val vs test | (2) all-rows minus 90% split "
            "| all-rows (hybrid) minus `--model ngram` (worst draw) |")
        say("|---|---|---|---|---|---|")
        groups = list(done.items()) + ([("both", [r for rows in done.values() for r in rows])] if len(done) > 1 else [])
        verdicts = []
        for name, rows in groups:
            s = summarize(rows)
            say(f"| {name} | {s['draws']} | {pts(s['cv_mae'])} | {pts(s['val_mae'])} "
                f"| {pts(s['gain'], True)} +- {pts(2 * s['gain_se'])} "
                f"| {pts(s['ngram'], True)} +- {pts(2 * s['ngram_se'])} ({pts(s['ngram_worst'], True)}) |")
            verdicts.append((name, s))
        say("")
        for name, s in verdicts:
            say(f"{name}: (1) CV within 3 points on average: {'met' if s['cv_mae'] <= 0.03 else 'missed'} "
                f"({pts(s['cv_mae'])} against the split figure's {pts(s['val_mae'])}); "
                f"(2) all-rows model >= +1 point over the 90% split: {'met' if s['gain'] >= 0.01 else 'missed'} "
                f"({pts(s['gain'], True)}); not worse than --model ngram beyond the noise: "
                f"{'not measured' if math.isnan(s['ngram']) else 'met' if not s['ngram'] < -2 * s['ngram_se'] else 'missed'} ({pts(s['ngram'], True)} "
                f"+- {pts(2 * s['ngram_se'])})")
    if costs:
        say("\n(3) Cost: wall seconds of the training call (in-process, TensorFlow loaded; one draw, seed 1; a "
            "2-core machine shared with other jobs, so inflated)\n")
        say("| set | rows | draw seed | --folds auto s (folds) | --folds off s | ratio |")
        say("|---|---|---|---|---|---|")
        for name, sizes in costs.items():
            for n, c in sizes.items():
                auto, off = c["auto"], c["off"]
                folds = f"{auto['folds']} folds" if auto["folds"] else "one split: the same training as off"
                say(f"| {name} | {n} | {c.get('seed', 1)} | {auto['seconds']:.0f} ({folds}) | {off['seconds']:.0f} "
                    f"| {auto['seconds'] / off['seconds']:.1f}x |")


def write_json(args, results: dict, costs: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / f"results-{args.rows}-folds-{args.folds}.json.tmp"
    tmp.write_text(json.dumps({"args": vars(args), "draws": results,
                               "cost": {k: {str(n): v for n, v in c.items()} for k, c in costs.items()}}, indent=1))
    tmp.replace(tmp.with_suffix(""))


if __name__ == "__main__":
    sys.exit(main())
