"""The n-gram half against the NBSVM-style peer on 1,000 labeled IMDB reviews: how much of a text it reads.

    python bench/ngram_reading.py

The labeled set is the first 1,000 reviews of the IMDB training file, split as `train` splits
it (900 training, 100 validation); the other 24,000 reviews of the file are the development
set: their labels are known to this script, never to the models. The test reviews are not
read. For each C of the grid: sentiment-cli's n-gram model (``--model ngram``) reading 400
tokens of each review (the network's --max-length) and reading it whole (--ngram-max-length
5000), and scikit-learn's NB-scaled binarized 1-3 gram logistic regression (the peer of
bench/imdb.py) on the same 900 reviews. Prints one table of development accuracy. The n-gram
model has the defaults of the code it runs (the figures in bench/RESULTS.md, written down in
commit 9a02979 on 2026-11-23, are from before --ngram-min-count of commit 1c4e384, so every
n-gram weighed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import imdb_file  # noqa: E402

GRID = (0.03, 0.1, 0.3, 1.0)


def main():
    train_file = imdb_file("training_label.txt.gz")
    from sentiment_cli.threads import configure_threads

    configure_threads()
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import read_lines
    from sentiment_cli.encoding import Encoder, stratified_split
    from sentiment_cli.fit.ngram import ngram_buckets_for, ngram_matrix
    from sentiment_cli.model import build_model

    rows = [line.partition("+++$+++") for _, line in read_lines(train_file)]
    texts, labels = [r[2].strip() for r in rows], [r[0].strip() for r in rows]
    lengths = {}
    results = {}
    base = TrainConfig(model="ngram", labels=["0", "1"])
    y_all = np.array([int(v) for v in labels])
    train_idx, _ = stratified_split(y_all[:1000], base.val_ratio, base.seed)
    train_texts, y = [texts[i] for i in train_idx], y_all[train_idx]
    dev_texts, dev_y = texts[1000:], y_all[1000:]
    for reading in (400, 5000):
        config = TrainConfig(model="ngram", labels=["0", "1"], ngram_max_length=reading)
        encoder = Encoder.from_config(config)
        encoder.fit(train_texts, config.vocab_size)
        train_seqs, dev_seqs = encoder.sequences(train_texts), encoder.sequences(dev_texts)
        lengths[reading] = float(np.mean([len(s) for s in dev_seqs]))
        model = build_model(config, len(encoder.tokenizer), ngram_buckets=ngram_buckets_for(train_seqs, config))
        layer = model.get_layer("ngrams")
        x, x_dev = ngram_matrix(model, train_seqs), ngram_matrix(model, dev_seqs)
        layer.set_ratios(x, y, min_count=config.ngram_min_count)
        start = None
        for c in GRID:
            start = layer.fit_weights(x, y, c, start)
            logits = x_dev @ (layer.weight.numpy() * layer.ratio.numpy()) + layer.bias.numpy()
            results.setdefault(c, {})[f"sentiment-cli n-gram, {reading} tokens"] = float(
                np.mean((logits[:, 0] > 0) == dev_y))
    vectorizer = CountVectorizer(ngram_range=(1, 3), binary=True, min_df=1, token_pattern=r"(?u)\b\w+\b|[^\w\s]")
    x = vectorizer.fit_transform(train_texts)
    p = np.asarray(x[y == 1].sum(axis=0)).ravel() + 1.0
    q = np.asarray(x[y == 0].sum(axis=0)).ravel() + 1.0
    r = np.log((p / p.sum()) / (q / q.sum()))
    x_dev = vectorizer.transform(dev_texts).multiply(r).tocsr()
    for c in GRID:
        clf = LogisticRegression(C=c, max_iter=1000).fit(x.multiply(r).tocsr(), y)
        results[c]["scikit-learn NBSVM-style peer, whole text"] = float(clf.score(x_dev, dev_y))

    names = list(results[GRID[0]])
    print(f"\nn-gram model on 900 labeled IMDB reviews; accuracy on the other 24,000 of the training file "
          f"(mean tokens read per review: {lengths[400]:.0f} at 400, {lengths[5000]:.0f} whole)\n")
    print("| C | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for c in GRID:
        print(f"| {c:g} | " + " | ".join(f"{results[c][n]:.4f}" for n in names) + " |")


if __name__ == "__main__":
    main()
