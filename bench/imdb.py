"""IMDB benchmark of `train`: the defaults against TF-IDF + logistic regression, one run.

    python bench/imdb_train.py [--set name=value ...] [--limit N]

Trains the default configuration on ../shared/data/imdb/training_label.txt.gz (a seeded,
stratified validation split of it for early stopping), evaluates on the 25,000 test reviews,
and prints test accuracy, training seconds and examples per second; beside them, TF-IDF
(unigrams + bigrams) + logistic regression on the same training split.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import imdb_file, parse_overrides, read_test_labels  # noqa: E402

OUT_MODELS = Path(__file__).resolve().parent / "out" / "models"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], help="hyperparameter override name=value")
    parser.add_argument("--limit", type=int, help="use only the first N training reviews (quick checks)")
    parser.add_argument("--no-baseline", action="store_true", help="skip TF-IDF + logistic regression")
    parser.add_argument("--save-run", help="keep the trained run as bench/out/models/NAME (imdb_semi.py reuses it)")
    args = parser.parse_args()
    train_file = imdb_file("training_label.txt.gz")
    test_file = imdb_file("testing_data.txt.gz")
    label_file = imdb_file("testing_label.csv.gz")

    import numpy as np

    from sentiment_cli import runs
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import DataManager, read_records
    from sentiment_cli.predict import Predictor, decide
    from sentiment_cli.training import train_and_save

    config = TrainConfig(**parse_overrides(args.set))
    data = DataManager.read_labeled(train_file)
    if args.limit:
        data.texts, data.labels, data.lines = data.texts[:args.limit], data.labels[:args.limit], data.lines[:args.limit]
    truth = read_test_labels(label_file)
    test = list(read_records(test_file, "test"))
    test_texts = [r.text for r in test]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models_dir, name = (OUT_MODELS, args.save_run) if args.save_run else (tmp, "imdb")
        train_and_save(models_dir, name, config, data, {"train": str(train_file)}, overwrite=True, verbose=2)
        run = runs.load_run(models_dir, name)
    metrics = run.metrics
    t0 = time.perf_counter()
    probs = Predictor([run]).probabilities(test_texts)
    predict_seconds = time.perf_counter() - t0
    dm = DataManager.from_config(run.config, run.tokenizer)
    y_test = dm.encode_labels([truth[r.id] for r in test])
    pred = decide(probs, run.threshold if probs.shape[1] == 2 else None)
    rows.append((f"sentiment-cli {describe(config)}", metrics["best_val_accuracy"], float(np.mean(pred == y_test)),
                 metrics["train_seconds"], metrics["examples_per_second"]))
    print(f"sentiment-cli: epochs {metrics['epochs_run']} (best {metrics['best_epoch']}), threshold "
          f"{metrics.get('threshold')}, test prediction {len(test_texts) / predict_seconds:.0f} reviews/s",
          file=sys.stderr)

    if not args.no_baseline:
        rows.append(tfidf_baseline(data, dm, config, test_texts, y_test))

    print(f"\nIMDB, {len(data.texts)} labeled reviews (val ratio {config.val_ratio}), 25,000 test reviews; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| configuration | val acc | test acc | train s | train ex/s |")
    print("|---|---|---|---|---|")
    for name, val, test_acc, seconds, speed in rows:
        print(f"| {name} | {val:.4f} | {test_acc:.4f} | {seconds:.0f} | {speed:.0f} |")


def describe(config) -> str:
    if config.model == "bow":
        return f"bow {config.bow_mode} hidden {config.hidden_size}"
    kind = ("Bi" if config.bidirectional else "") + config.cell.upper()
    return (f"{kind}({config.hidden_size}) x{config.layers} {config.pooling}-pool emb {config.embedding_dim} "
            f"vocab {config.vocab_size} maxlen {config.max_length} batch {config.batch_size}")


def tfidf_baseline(data, dm, config, test_texts, y_test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    y = dm.encode_labels(data.labels)
    train_idx, val_idx = dm.split(y, config.val_ratio, config.seed)
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.95, sublinear_tf=True)
    x_train = vectorizer.fit_transform([data.texts[i] for i in train_idx])
    clf = LogisticRegression(C=4.0, max_iter=1000).fit(x_train, y[train_idx])
    seconds = time.perf_counter() - start
    val_acc = clf.score(vectorizer.transform([data.texts[i] for i in val_idx]), y[val_idx])
    test_acc = clf.score(vectorizer.transform(test_texts), y_test)
    return "TF-IDF 1-2 grams + logistic regression (scikit-learn)", val_acc, test_acc, seconds, len(train_idx) / seconds


if __name__ == "__main__":
    main()
