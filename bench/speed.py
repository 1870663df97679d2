"""Fast and small: sentiment-cli with its defaults beside fastText and TF-IDF + logistic regression,
on IMDB and the tweets, in one run.

    python bench/speed.py [--data imdb tweets] [--short-lines 1000000] [--reuse]

Prints one table per data set, and what each timer timed:
- `train`: the whole `sentiment-cli train` process (Python start, TensorFlow import, reading, the
  vocabulary, Word2Vec, both halves, saving), wall seconds; its validation accuracy and where its
  seconds went (`seconds_by_stage` of metrics.json).
- `test`: the whole `sentiment-cli test` process over the test file (reading, tokenizing,
  predicting, writing the CSV), test rows per wall second, and its peak resident memory.
- one line: `echo TEXT | sentiment-cli test RUN --input - --output -`, the whole process, median of 3.
- `test`, one line and short lines are timed once per `--engine` (auto, numpy and tensorflow
  by default), on the same run and files, one after the other.
- short lines (tweets only): `test` over --short-lines lines (the tweets' test texts repeated),
  rows per second and peak memory of the whole process.
- fastText (0.9, bigrams, 10 epochs, 2 threads, through its Python API on our word splitting) and
  scikit-learn's TF-IDF (1-2 grams, min count 2, sublinear tf) + logistic regression (liblinear,
  one thread: it has no other; one fit on the training rows per C, the C that scores best on the
  validation rows `train` holds out kept, every fit inside the timer): in-process, our tokenizing inside their timers,
  reading outside. Their prediction rates are in-process (no Python or library start) and
  therefore flatter them against `test`'s whole process.
TensorFlow uses both cores; fastText is given 2 threads. The runs go to bench/out/speed/
(git-ignored); --reuse scores runs that are there instead of training them again.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SHARED = BENCH.parents[1] / "shared" / "data"
OUT = BENCH / "out" / "speed"
NORMALIZE = {"imdb": "none", "tweets": "tweets"}
ONE_LINE = "I loved every minute of it, the best film I have seen this year"


def cli() -> list[str]:
    """The `sentiment-cli` a user runs: the script installed beside this Python."""
    script = Path(sys.executable).parent / "sentiment-cli"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from sentiment_cli.cli import cli; cli()"]


def timed(cmd: list[str], stdin: bytes | None = None) -> tuple[float, int]:
    """Wall seconds and peak resident memory (bytes, by /usr/bin/time) of one whole process."""
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name] + cmd, input=stdin,
                              stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True)
        seconds = time.perf_counter() - start
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.decode(errors='replace')[-3000:]}")
        return seconds, int(report.read().strip().splitlines()[-1]) * 1024


def read_test(data: str) -> tuple[list[str], list[str], list[str]]:
    with gzip.open(SHARED / data / "testing_data.txt.gz", "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split(",", 1) for line in f][1:]
    with gzip.open(SHARED / data / "testing_label.csv.gz", "rt", encoding="utf-8") as f:
        gold = dict(line.strip().split(",", 1) for line in f if line.strip())
    ids = [r[0] for r in rows]
    return ids, [r[1] for r in rows], [gold[i] for i in ids]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def ours(data: str, reuse: bool, short_lines: int, engines: list[str]) -> dict:
    train_file = SHARED / data / "training_label.txt.gz"
    run = OUT / data
    figures = {}
    if not (reuse and (run / "metrics.json").exists()):
        seconds, rss = timed(cli() + ["train", data, "--train", str(train_file), "--models-dir", str(OUT),
                                             "--normalize", NORMALIZE[data], "--overwrite", "-q"])
        figures.update(train_seconds=seconds, train_rss=rss)
    saved = OUT / f"{data}-train.json"  # the whole process's figures, for a later --reuse
    if "train_seconds" in figures:
        saved.write_text(json.dumps(figures))
    elif saved.exists():
        figures.update(json.loads(saved.read_text()))
    metrics = json.loads((run / "metrics.json").read_text())
    figures["train_in_process"] = metrics["train_seconds"]
    figures.update(val=metrics["best_val_accuracy"], stages=metrics.get("seconds_by_stage"),
                   size=dir_size(run), epochs=(metrics.get("best_epoch"), metrics.get("epochs_run")))
    ids, texts, gold = read_test(data)
    for engine in engines:
        predictions = OUT / f"{data}-test-{engine}.csv"
        test = cli() + ["test", data, "--models-dir", str(OUT), "--engine", engine]
        seconds, rss = timed(test + ["--input", str(SHARED / data / "testing_data.txt.gz"), "--output", str(predictions),
                                     "-q"])
        with open(predictions, encoding="utf-8") as f:
            predicted = dict(line.strip().split(",", 1) for line in list(f)[1:])
        figures[engine] = {"test_accuracy": sum(predicted[i] == g for i, g in zip(ids, gold)) / len(ids),
                           "test_rate": len(ids) / seconds, "test_rss": rss, "labels": predicted}
        one = [timed(test + ["--input", "-", "--output", "-", "-q"], ONE_LINE.encode() + b"\n")[0] for _ in range(3)]
        figures[engine]["one_line"] = statistics.median(one)
        if short_lines and data == "tweets":
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "short.txt"
                with open(path, "w", encoding="utf-8") as f:
                    f.write("id,text\n")
                    for i in range(short_lines):
                        f.write(f"{i},{texts[i % len(texts)]}\n")
                seconds, rss = timed(test + ["--input", str(path), "--output", str(Path(tmp) / "out.csv"), "-q"])
            figures[engine].update(short_rate=short_lines / seconds, short_rss=rss)
    if len(engines) > 1:
        first = figures[engines[0]]["labels"]
        figures["engines_differ"] = sum(any(figures[e]["labels"][i] != first[i] for e in engines[1:]) for i in ids)
    return figures


def training_rows(data: str):
    """The training and validation rows of the run `train` made (its recorded split)."""
    sys.path.insert(0, str(BENCH))
    from common import run_split  # noqa: E402

    from sentiment_cli.data import read_labeled
    from sentiment_cli.runs import load_run

    labeled = read_labeled(str(SHARED / data / "training_label.txt.gz"))
    run = load_run(OUT, data, with_model=False)
    split = run_split(run, labeled.texts, labeled.labels)
    pick = lambda idx: ([labeled.texts[i] for i in idx], [labeled.labels[i] for i in idx])  # noqa: E731
    return pick(split.train), pick(split.val)


def peers(data: str) -> dict:
    sys.path.insert(0, str(BENCH))
    from common import train_fasttext  # noqa: E402

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from sentiment_cli.tokenizer import tokenize_batch

    (train_texts, train_y), (val_texts, val_y) = training_rows(data)
    _, test_texts, gold = read_test(data)
    normalize = NORMALIZE[data]
    figures = {}

    start = time.perf_counter()
    model = train_fasttext(tokenize_batch(train_texts, normalize), train_y)
    figures["fasttext_train"] = time.perf_counter() - start
    start = time.perf_counter()
    labels, _ = model.predict([" ".join(t) for t in tokenize_batch(test_texts, normalize)])
    figures["fasttext_rate"] = len(test_texts) / (time.perf_counter() - start)
    figures["fasttext_test"] = float(np.mean([label[0][len("__label__"):] == g for label, g in zip(labels, gold)]))

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer=lambda tokens: tokens + [" ".join(p) for p in zip(tokens, tokens[1:])],
                                 min_df=2, sublinear_tf=True)
    x_train = vectorizer.fit_transform(tokenize_batch(train_texts, normalize))
    x_val = vectorizer.transform(tokenize_batch(val_texts, normalize))
    best = max(((c, LogisticRegression(C=c, solver="liblinear").fit(x_train, train_y)) for c in (0.3, 1, 3, 10)),
               key=lambda cm: np.mean(cm[1].predict(x_val) == np.array(val_y)))
    figures["tfidf_train"] = time.perf_counter() - start
    figures["tfidf_c"] = best[0]
    start = time.perf_counter()
    predicted = best[1].predict(vectorizer.transform(tokenize_batch(test_texts, normalize)))
    figures["tfidf_rate"] = len(test_texts) / (time.perf_counter() - start)
    figures["tfidf_test"] = float(np.mean(predicted == np.array(gold)))
    return figures


def report(data: str, o: dict, p: dict, short_lines: int) -> None:
    mb = 1 << 20

    def peer(key: str, spec: str, suffix: str = "") -> str:
        return f"{p[key]:{spec}}{suffix}" if key in p else "not run"

    print(f"\n## {data}")
    print("| | sentiment-cli (defaults) | fastText | TF-IDF + LR |")
    print("|---|---|---|---|")
    train = f"{o['train_seconds']:.0f} s" if "train_seconds" in o else \
        f"not timed (reused run; {o['train_in_process']:.0f} s in-process, metrics.json's train_seconds)"
    c = f" (C {p['tfidf_c']:g})" if "tfidf_c" in p else ""
    print(f"| train: seconds (whole process) | {train} | {peer('fasttext_train', '.1f', ' s')} | "
          f"{peer('tfidf_train', '.1f', ' s')}{c} |")
    print(f"| validation accuracy | {o['val']:.4f} | - | - |")
    for engine in o["engines"]:
        e = o[engine]
        print(f"| test accuracy (`--engine {engine}`) | {e['test_accuracy']:.4f} | {peer('fasttext_test', '.4f')} | "
              f"{peer('tfidf_test', '.4f')} |")
        print(f"| test: rows/s (`--engine {engine}`) | {e['test_rate']:,.0f} (whole process, peak "
              f"{e['test_rss'] / mb:,.0f} MB) | {peer('fasttext_rate', ',.0f', ' (in-process)')} | "
              f"{peer('tfidf_rate', ',.0f', ' (in-process)')} |")
        if "short_rate" in e:
            print(f"| test on {short_lines:,} short lines: rows/s (`--engine {engine}`) | {e['short_rate']:,.0f} "
                  f"(whole process, peak {e['short_rss'] / mb:,.0f} MB) | - | - |")
        print(f"| one line from stdin, whole process (`--engine {engine}`) | {e['one_line']:.2f} s | - | - |")
    if "engines_differ" in o:
        print(f"| test labels that differ between the engines | {o['engines_differ']} of {len(o[o['engines'][0]]['labels'])} "
              "| - | - |")
    print(f"| run directory | {o['size'] / 1e6:.1f} MB | - | - |")
    if o.get("stages"):
        print("\ntrain's seconds by stage: " + ", ".join(f"{k} {v:.1f}" for k, v in o["stages"].items())
              + f"; network epochs: best {o['epochs'][0]} of {o['epochs'][1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", choices=["imdb", "tweets"], default=["imdb", "tweets"])
    parser.add_argument("--short-lines", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="score the runs in bench/out/speed/ without training")
    parser.add_argument("--engines", nargs="+", choices=["auto", "numpy", "tensorflow"],
                        default=["auto", "numpy", "tensorflow"],
                        help="test's --engine values to time, each on the same run and files")
    parser.add_argument("--no-peers", action="store_true", help="leave the peers out (they train in minutes)")
    args = parser.parse_args()
    for data in args.data:
        if not (SHARED / data / "training_label.txt.gz").exists():
            print(f"SKIPPED {data}: {SHARED / data} not found (see ../shared/data/README).", file=sys.stderr)
            continue
        o = ours(data, args.reuse, args.short_lines, args.engines)
        o["engines"] = args.engines
        p = peers(data) if not args.no_peers else {}
        report(data, o, p, args.short_lines)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
