"""Which features close the n-gram half's gap to the NBSVM-style peer? Chosen without the test set.

    python bench/ngram_features.py cv      # 5-fold cross-validation on the 25,000 training reviews
    python bench/ngram_features.py few     # 300 and 1,000 labeled reviews, scored on 4,000 others

Every row fits the same model on different features: binarized n-grams scaled by their naive
Bayes log-count ratios (add-one smoothing, counted on the fold's training texts only), then
scikit-learn's L2 logistic regression at the C the row names. "min count 2" gives ratio 0 (so
weight 0) to the n-grams found in fewer than 2 of the fold's training texts, as
``--ngram-min-count 2`` does. Feature sets:

- peer tokens: scikit-learn's CountVectorizer 1-3 grams with bench/imdb.py's token pattern,
  every n-gram its own column (exact);
- ours: sentiment-cli's tokenizer (its vocabulary size), whole reviews (5,000 tokens), and the
  model's own ``NGramLogits`` rows (unigrams exact, 2-3 grams hashed into the named rows).

`cv` scores 25,000 held-out predictions per row (about as many as the test set; the test
reviews are never read). Its tokenizer vocabularies and CountVectorizer columns are counted on
all 25,000 texts, held-out folds included (no labels: the ratios and weights see only the
fold's training rows). `few` draws 4 disjoint labeled sets per size after 4,000 development
reviews from one permutation of the training file, and prints the mean development accuracy.
Its tables have the rows named (`train` would size so little data's table smaller, by
``ngram_buckets_for``): what it measures is the minimum count.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import imdb_file  # noqa: E402


# cv's rows of sentiment-cli's own features: vocabulary size (None: every word), hash rows,
# and the (C, min count) pairs fitted on them
OURS = [(20000, 2**21, [(0.1, 1), (0.1, 2), (0.3, 2)]),
        (None, 2**21, [(0.1, 1), (0.1, 2)]),
        (None, 2**23, [(0.1, 1), (0.1, 2), (0.3, 2)]),
        (20000, 2**23, [(0.1, 2)])]


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "cv"
    if mode not in ("cv", "few"):
        sys.exit("usage: python bench/ngram_features.py cv|few")
    train_file = imdb_file("training_label.txt.gz")
    from sentiment_cli.data import read_labeled

    data = read_labeled(train_file)
    (cross_validation if mode == "cv" else few_labels)(data)


def nb_scaled(x_train, y_train, min_count):
    """Naive Bayes log-count ratios of the training rows' columns; rarer than min_count: 0."""
    import numpy as np

    positive = np.asarray(x_train[y_train == 1].sum(0)).ravel()
    negative = np.asarray(x_train[y_train == 0].sum(0)).ravel()
    p, q = positive + 1.0, negative + 1.0
    ratio = np.log((p / p.sum()) / (q / q.sum()))
    ratio[(positive + negative) < min_count] = 0.0
    return ratio


def our_matrix(fit_texts, vocab_size, buckets, other_texts=()):
    """Binary matrix of NGramLogits' rows for fit_texts, then other_texts; the tokenizer's
    vocabulary is fitted on fit_texts only."""
    from sentiment_cli.encoding import pad
    from sentiment_cli.ngrams import NGramLogits
    from sentiment_cli.tokenizer import Tokenizer

    tokenizer = Tokenizer.fit(fit_texts, vocab_size)
    seqs = tokenizer.encode_arrays(list(fit_texts) + list(other_texts), 5000)
    layer = NGramLogits(len(tokenizer), 1, 3, buckets)
    layer.build(None)
    return layer.matrix(pad(seqs[i:i + 256]) for i in range(0, len(seqs), 256))


def cross_validation(data):
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, y = data.texts, np.array([int(label) for label in data.labels])
    folds = np.array_split(np.random.default_rng(0).permutation(len(y)), 5)

    def row(x, name, c, min_count):
        accuracies, started = [], time.perf_counter()
        for k in range(5):
            held = folds[k]
            fit = np.concatenate([folds[j] for j in range(5) if j != k])
            ratio = nb_scaled(x[fit], y[fit], min_count)
            model = LogisticRegression(C=c, max_iter=1000).fit(x[fit].multiply(ratio).tocsr(), y[fit])
            accuracies.append(model.score(x[held].multiply(ratio).tocsr(), y[held]))
        print(f"| {name} | {c} | {min_count} | {x.shape[1]} | {np.mean(accuracies):.4f} | "
              f"{' '.join(f'{a:.3f}' for a in accuracies)} | {time.perf_counter() - started:.0f} |", flush=True)

    print("| features | C | min count | columns | 5-fold accuracy | folds | s |")
    print("|---|---|---|---|---|---|---|")
    peer = CountVectorizer(ngram_range=(1, 3), binary=True, token_pattern=r"(?u)\b\w+\b|[^\w\s]").fit_transform(texts)
    row(peer, "peer tokens, exact 1-3 grams", 0.1, 1)
    row(peer, "peer tokens, exact 1-3 grams", 0.1, 2)
    del peer
    for vocabulary, rows, settings in OURS:
        x = our_matrix(texts, vocabulary or 10_000_000, rows)
        words = f"vocab {vocabulary}" if vocabulary else "every word"
        for c, min_count in settings:
            row(x, f"ours: {words}, 2**{rows.bit_length() - 1} rows", c, min_count)


def few_labels(data):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    texts, y = data.texts, np.array([int(label) for label in data.labels])
    order = np.random.default_rng(1).permutation(len(y))
    dev = order[:4000]
    print("| labeled | rows | min count | C | development accuracy | sets |")
    print("|---|---|---|---|---|---|")
    for labeled in (300, 1000):
        for buckets in (2**21, 2**23):
            scores = {}
            for s in range(4):
                fit = order[4000 + s * labeled: 4000 + (s + 1) * labeled]
                x = our_matrix([texts[i] for i in fit], 20000, buckets, [texts[i] for i in dev])
                x_fit, x_dev = x[:len(fit)], x[len(fit):]
                for min_count in (1, 2):
                    ratio = nb_scaled(x_fit, y[fit], min_count)
                    for c in (0.1, 0.3, 1.0):
                        model = LogisticRegression(C=c, max_iter=1000).fit(x_fit.multiply(ratio).tocsr(), y[fit])
                        scores.setdefault((min_count, c), []).append(model.score(x_dev.multiply(ratio).tocsr(),
                                                                                 y[dev]))
            for (min_count, c), values in sorted(scores.items()):
                print(f"| {labeled} | 2**{buckets.bit_length() - 1} | {min_count} | {c} | {np.mean(values):.4f} | "
                      f"{' '.join(f'{v:.3f}' for v in values)} |", flush=True)


if __name__ == "__main__":
    main()
