"""Do `explain`'s weights point at the words that decide? Deletion test against random words.

    python bench/explain.py [--data imdb tweets] [--run PATH] [-n 300] [--steps 48]
    python bench/explain.py --data sample --tiny     # smoke test on the repo's data/ (seconds)

For each data set: a run (--run PATH reuses a run directory, e.g. bench/out/speed/imdb; else one
trained with the defaults into bench/out/explain/DATA, or reused from there), and the first N
test texts. For k in 1, 3, 5: remove from each text's token ids the k words with the largest
weight toward its predicted label (`explain`'s total: n-grams plus network), or k words drawn at
random (mean over --draws draws), and measure |change in the probability of the predicted label|.
Texts of k tokens or fewer are left out at that k. Prints the mean change of both and their ratio
per data set (the target: top-k moves the probability at least 2x more than random); writes the
figures to bench/out/explain/DATA.json.

Removing ids (not re-tokenized text) keeps every other token as the model saw it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import imdb_file, train_saved  # noqa: E402

REPO = BENCH.parent
SHARED = BENCH.parents[1] / "shared" / "data"
OUT = BENCH / "out" / "explain"
NORMALIZE = {"imdb": "none", "tweets": "tweets", "sample": "none"}
KS = (1, 3, 5)


def test_texts(data: str, n: int) -> list[str]:
    if data == "sample":
        path = REPO / "data" / "testing_data.txt"
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
    else:
        path = imdb_file("testing_data.txt.gz", SHARED / data)
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = [line.rstrip("\n") for _, line in zip(range(n + 1), f)][1:]
    return [line.split(",", 1)[1] for line in lines[:n] if "," in line]


def get_run(data: str, run_path: str | None, tiny: bool):
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.runs import load_run

    if run_path:
        return load_run(".", run_path if "/" in run_path else f"./{run_path}")
    name = data + ("-tiny" if tiny else "")
    if not (OUT / name / "config.json").exists():
        train_file = REPO / "data" / "training_label.txt" if data == "sample" else \
            imdb_file("training_label.txt.gz", SHARED / data)
        settings = dict(vocab_size=2000, embedding_dim=16, hidden_size=8, epochs=2, ngram_buckets=4096,
                        pretrain_embeddings=False) if tiny else {}
        print(f"training {name} (defaults{' made tiny' if tiny else ''}) into {OUT / name}", file=sys.stderr)
        train_saved(OUT, name, TrainConfig(normalize=NORMALIZE[data], **settings), train_file, progress=not tiny)
    return load_run(OUT, name)


def deletion_test(run, texts: list[str], steps: int, draws: int, seed: int = 0) -> dict:
    from sentiment_cli.explain import Explainer
    from sentiment_cli.model import predict_proba

    explainer = Explainer(run, steps)
    start = time.perf_counter()
    explanations = explainer.explain(texts)
    seconds = time.perf_counter() - start
    seqs = explainer.encoder.sequences(texts)
    labels = run.config.labels
    predicted = np.array([labels.index(e.label) for e in explanations])
    base = predict_proba(run.model, seqs, explainer.encoder.features)[np.arange(len(texts)), predicted]
    rng = np.random.default_rng(seed)
    figures = {"texts": len(texts), "explain_seconds": seconds, "k": {}}
    for k in KS:
        kept = [i for i, s in enumerate(seqs) if len(s) > k]
        top_cut, random_cut, owner = [], [], []
        for i in kept:
            e = explanations[i]
            # toward the predicted label: a binary run's weights point at label 1
            sign = -1.0 if len(labels) == 2 and predicted[i] == 0 else 1.0
            weights = sign * np.array([w.total for w in e.words])
            top_cut.append(np.delete(seqs[i], np.argsort(-weights, kind="stable")[:k]))
            for _ in range(draws):
                random_cut.append(np.delete(seqs[i], rng.choice(len(seqs[i]), k, replace=False)))
                owner.append(i)
        if not kept:
            continue
        p_top = predict_proba(run.model, top_cut, explainer.encoder.features)[np.arange(len(kept)), predicted[kept]]
        p_random = predict_proba(run.model, random_cut, explainer.encoder.features)[np.arange(len(owner)),
                                                                                   predicted[owner]]
        top = float(np.mean(np.abs(base[kept] - p_top)))
        random = float(np.mean(np.abs(base[owner] - p_random)))
        figures["k"][k] = {"texts": len(kept), "top": top, "random": random, "ratio": top / random if random else None}
    figures["mean_gap"] = float(np.mean([abs(e.gap) for e in explanations]))
    figures["mean_abs_logit"] = float(np.mean([abs(e.logit) for e in explanations]))
    return figures


def report(data: str, run, f: dict) -> None:
    print(f"\n## {data}: {run.path} ({run.config.model}), {f['texts']} test texts, explained in "
          f"{f['explain_seconds']:.1f} s")
    print("| k | texts | mean abs change, top-k | random k | ratio |")
    print("|---|---|---|---|---|")
    for k, row in f["k"].items():
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"
        print(f"| {k} | {row['texts']} | {row['top']:.4f} | {row['random']:.4f} | {ratio} |")
    print(f"integrated gradients' mean |gap| {f['mean_gap']:.4f} (mean |logit| {f['mean_abs_logit']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", choices=["imdb", "tweets", "sample"], default=["imdb", "tweets"])
    parser.add_argument("--run", help="a run directory to explain (one data set only); default: train or reuse "
                                      "bench/out/explain/DATA")
    parser.add_argument("-n", type=int, default=300, help="test texts per data set")
    parser.add_argument("--steps", type=int, default=48, help="integrated gradients' path points")
    parser.add_argument("--draws", type=int, default=3, help="random deletions per text and k")
    parser.add_argument("--tiny", action="store_true", help="train a tiny run (smoke test)")
    args = parser.parse_args()
    if args.run and len(args.data) > 1:
        parser.error("--run explains one data set: give --data too")

    from sentiment_cli.threads import configure_threads

    configure_threads()
    OUT.mkdir(parents=True, exist_ok=True)
    for data in args.data:
        texts = test_texts(data, args.n)
        run = get_run(data, args.run, args.tiny)
        figures = deletion_test(run, texts, args.steps, args.draws)
        figures.update(run=str(run.path), steps=args.steps, draws=args.draws)
        (OUT / f"{data}{'-tiny' if args.tiny else ''}.json").write_text(json.dumps(figures, indent=2) + "\n")
        report(data, run, figures)


if __name__ == "__main__":
    main()
