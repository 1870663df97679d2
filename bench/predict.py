"""Speed and memory of `sentiment-cli test` against the naive way, on IMDB.

    python bench/predict.py [--run NAME --models-dir DIR] [--lines 1000000]

Two inputs: the 25,000 IMDB test reviews, and a file of short lines (IMDB training sentences
of 3 to 30 words, repeated up to --lines) that the bench writes to bench/out/. For each, two
ways, each in a fresh process so that peak resident memory (getrusage) is its own:
  streaming: sentiment-cli's predict_file (chunks, length-sorted batches, CSV written as it goes)
  naive:     read every text, pad every text to the longest one (at most the run's --max-length,
             as keras' pad_sequences does), one model.predict
Without --run, the bench trains the default architecture for one epoch on 2,000 reviews
(speed does not depend on the weights) into bench/out/models.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import first_lines, imdb_file, train_saved  # noqa: E402

OUT = HERE / "out"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args):
    """One measurement in this process; prints a JSON line."""
    from sentiment_cli.threads import configure_threads
    from sentiment_cli.runs import load_run

    if args.worker == "streaming":
        configure_threads()  # as `sentiment-cli test` does

    run = load_run(args.models_dir, args.run)
    base_rss = peak_rss_mb()
    start = time.perf_counter()
    if args.worker == "streaming":
        from sentiment_cli.data import DataSpec
        from sentiment_cli.predict import PredictOptions, predict_file

        stats = predict_file([run], DataSpec(args.input), OUT / f"pred-{Path(args.input).stem}.csv",
                             PredictOptions(progress=False))
        rows = stats["rows"]
    else:
        import numpy as np

        from sentiment_cli.data import read_records
        from sentiment_cli.encoding import Encoder, pad

        encoder = Encoder.from_config(run.config, run.tokenizer)
        records = list(read_records(args.input, "test"))
        x = pad(encoder.sequences([r.text for r in records]))  # sequences are already cut to max_length
        probs = run.model.predict(x, batch_size=1024, verbose=0)
        labels = (probs[:, 0] >= run.threshold).astype(np.int64)
        with open(OUT / f"naive-{Path(args.input).stem}.csv", "w") as f:
            f.write("id,label\n")
            f.writelines(f"{r.id},{run.config.labels[l]}\n" for r, l in zip(records, labels))
        rows = len(records)
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds,
                      "peak_rss_mb": peak_rss_mb(), "rss_after_load_mb": base_rss}))


def short_lines(path: Path, n: int) -> Path:
    if path.exists() and sum(1 for _ in open(path, encoding="utf-8")) == n:
        return path
    from sentiment_cli.data import read_labeled

    texts = read_labeled(imdb_file("training_label.txt.gz")).texts
    splitter = re.compile(r"<br\s*/?>|(?<=[.!?])\s+")
    sentences = [s.strip() for t in texts for s in splitter.split(t) if 3 <= len(s.split()) <= 30]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(sentences[i % len(sentences)] + "\n")
    return path


def ensure_run(models_dir: Path) -> str:
    if (models_dir / "bench").exists():
        return "bench"
    from sentiment_cli.config import TrainConfig

    print("training the default architecture for 1 epoch on 2,000 reviews ...", file=sys.stderr)
    limited = first_lines(imdb_file("training_label.txt.gz"), 2000, OUT / "train2000.txt")
    train_saved(models_dir, "bench", TrainConfig(epochs=1), limited, progress=False)
    return "bench"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run")
    parser.add_argument("--models-dir", type=Path, default=OUT / "models")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--ways", default="streaming,naive")
    parser.add_argument("--worker", choices=["streaming", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.worker:
        return worker(args)

    run = args.run or ensure_run(args.models_dir)
    inputs = {"IMDB test reviews": imdb_file("testing_data.txt.gz"),
              f"{args.lines:,} short lines": short_lines(OUT / f"short_lines_{args.lines}.txt", args.lines)}
    results = []
    for name, path in inputs.items():
        for way in args.ways.split(","):
            cmd = [sys.executable, __file__, "--worker", way, "--input", str(path), "--run", run,
                   "--models-dir", str(args.models_dir)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{way} on {name} failed")
            stats = json.loads(done.stdout.strip().splitlines()[-1])
            results.append((name, way, stats))
            print(f"{name} / {way}: {stats}", file=sys.stderr)
    print(f"\n`sentiment-cli test` speed and memory, run {run!r}, {os.cpu_count()} cores\n")
    print("| input | way | rows | seconds | rows/s | peak RSS MB | RSS after loading MB |")
    print("|---|---|---|---|---|---|---|")
    for name, way, s in results:
        print(f"| {name} | {way} | {s['rows']} | {s['seconds']:.1f} | {s['rows_per_second']:.0f} | "
              f"{s['peak_rss_mb']:.0f} | {s['rss_after_load_mb']:.0f} |")


if __name__ == "__main__":
    main()
