"""Does `check --label-issues` find wrong labels, and does leaving them out help? IMDB and the tweets.

    python bench/label_issues.py [--data imdb|tweets|both] [--model ngram|hybrid] [--noise 0.1]
                                 [--seed 1234] [--rows N] [--test-rows N]
    python bench/label_issues.py --small [--data both] [--draw-rows 200] [--seeds 5-9] [--noise 0.1]

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
--small: the analyst's case, a few hundred hand-labeled rows. For each seed S of --seeds and each
data set, draw --draw-rows (200) rows of the training file at random (seed S), flip --noise (10%) of
their labels (seed S too), and run `find_label_issues` as `check --label-issues` does (its
defaults: 5 folds, seed 1234; --normalize tweets on the tweets); print per data set the rows
flagged, the precision among the top 10 (`label_issues.LISTED`, the rows the text report lists),
the precision over all flagged rows and their recall, each as mean and standard deviation over the
draws, and the share of real issues among all rows shown, pooled over the draws (the figure behind
`label_issues.EXPECTED_TOP_PRECISION`). No training, no test file: the n-gram half only, minutes on
2 cores. The out-of-fold probabilities of each draw go to bench/out/label_issues/small/ (npz: p,
y, flipped), so that a rule can be compared on them without fitting again. The rule was chosen on
seeds 0-4; the figures to quote are of seeds 5-9 (the default).

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

SHARED = IMDB.parent  # ../shared/data, or beside SENTIMENT_IMDB_DIR
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


def seed_list(text: str) -> list[int]:
    """'5-9' or '0,3,4' -> the seeds."""
    seeds = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def small_draws(data: str, args) -> list[dict]:
    """The figures of each --small draw of this data set (see the module's docstring)."""
    import numpy as np

    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import LabeledData, read_labeled
    from sentiment_cli.label_issues import LISTED, find_label_issues

    folder = IMDB if data == "imdb" else SHARED / data
    every = read_labeled(imdb_file("training_label.txt.gz", folder))
    out = OUT / "small"
    out.mkdir(parents=True, exist_ok=True)
    draws = []
    for seed in seed_list(args.seeds):
        rows = np.sort(np.random.default_rng(seed).choice(len(every.texts), args.draw_rows, replace=False))
        texts, labels = [every.texts[i] for i in rows], [every.labels[i] for i in rows]
        noisy, flipped = flip(labels, args.noise, seed)
        is_flipped = np.zeros(len(texts), dtype=bool)
        is_flipped[flipped] = True
        # as `check --label-issues` with its defaults: TrainConfig's seed, 5 folds (fewer for a rare class)
        found = find_label_issues(LabeledData(texts, noisy, [int(i) + 1 for i in rows], f"{data}-draw-{seed}"),
                                  TrainConfig(normalize=NORMALIZE[data]), args.folds)
        index = {label: k for k, label in enumerate(found.labels)}
        np.savez(out / f"{data}-{args.draw_rows}-seed{seed}.npz", p=found.probabilities,
                 y=np.array([index[label] for label in noisy]), flipped=is_flipped)
        shown, flagged = found.index[:LISTED], found.index
        draw = {"seed": seed, "weak": found.weak, "accuracy": found.accuracy, "flipped": len(flipped), "flagged": len(flagged), "shown": len(shown),
                "real_shown": int(is_flipped[shown].sum()), "real_flagged": int(is_flipped[flagged].sum()),
                "precision_top": float(is_flipped[shown].mean()) if len(shown) else float("nan"),
                "precision": float(is_flipped[flagged].mean()) if len(flagged) else float("nan"),
                "recall": float(is_flipped[flagged].sum() / len(flipped))}
        print(f"{data} seed {seed}: {draw['flagged']} flagged, {draw['real_shown']} of the top {draw['shown']} "
              f"flipped, recall {draw['recall']:.2f}; out-of-fold accuracy {found.accuracy:.2f} against "
              f"{found.majority:.2f}{' (weak)' if found.weak else ''}", file=sys.stderr)
        draws.append(draw)
    return draws


def small_report(results: dict, args) -> None:
    import numpy as np

    from sentiment_cli import __version__
    from sentiment_cli.label_issues import LISTED

    def spread(values) -> str:
        values = np.array([v for v in values if not math.isnan(v)])
        return f"{values.mean():.2f} ± {values.std():.2f}" if len(values) else "-"

    print(f"\nlabel issues on small data: {args.draw_rows}-row draws, {args.noise:.0%} of the labels flipped, "
          f"seeds {args.seeds}; sentiment-cli {__version__}; mean ± sd over draws\n")
    print(f"| data | draws | flipped | flagged | precision top {LISTED} | precision flagged | recall flagged "
          f"| real among all shown (pooled) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    pooled = {}
    for data, draws in list(results.items()) + ([("both", sum(results.values(), []))] if len(results) > 1 else []):
        shown, real = sum(d["shown"] for d in draws), sum(d["real_shown"] for d in draws)
        pooled[data] = real / shown if shown else float("nan")
        print(f"| {data} | {len(draws)} | {spread([d['flipped'] for d in draws])} | "
              f"{spread([d['flagged'] for d in draws])} | {spread([d['precision_top'] for d in draws])} | "
              f"{spread([d['precision'] for d in draws])} | {spread([d['recall'] for d in draws])} | "
              f"{pooled[data]:.2f} ({real} of {shown}) |")
    print("\nthe share of real issues among the rows listed, pooled, by the model's strength "
          "(label_issues.EXPECTED_TOP_PRECISION):\n")
    print("| data | strong draws: real among shown | weak draws: real among shown |")
    print("|---|---:|---:|")
    for data, draws in list(results.items()) + ([("both", sum(results.values(), []))] if len(results) > 1 else []):
        cells = []
        for weak in (False, True):
            some = [d for d in draws if d["weak"] == weak]
            shown, real = sum(d["shown"] for d in some), sum(d["real_shown"] for d in some)
            cells.append(f"{real / shown:.2f} ({real} of {shown}; {len(some)} draws)" if shown else f"- ({len(some)} draws)")
        print(f"| {data} | {cells[0]} | {cells[1]} |")
    empty = sum(d["flagged"] == 0 for draws in results.values() for d in draws)
    if empty:
        print(f"\n{empty} draw(s) flagged nothing (left out of the precision means)")
    print(f"target: precision >= 0.7 among the top {LISTED}")


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
    parser.add_argument("--small", action="store_true",
                        help="small data: precision and recall on --draw-rows draws, no training (see above)")
    parser.add_argument("--draw-rows", type=int, default=200, help="--small: rows of each draw")
    parser.add_argument("--seeds", default="5-9",
                        help="--small: the draws' seeds, '5-9' or '0,2' (the rule was chosen on 0-4; quote 5-9)")
    args = parser.parse_args()
    from sentiment_cli.threads import configure_threads

    configure_threads()  # as the CLI does
    if args.small:
        small_report({data: small_draws(data, args) for data in
                      (["imdb", "tweets"] if args.data == "both" else [args.data])}, args)
        return
    results = {}
    for data in (["imdb", "tweets"] if args.data == "both" else [args.data]):
        results[data] = bench(data, args)
    report(results, args)


if __name__ == "__main__":
    main()
