"""Do character n-grams help the n-gram half? A decision measurement on validation rows only.

    python bench/subword.py [--data imdb|tweets|both] [--limit N] [--vocab 20000]

For each data set: the training file, a seeded stratified 10% validation split as `train` draws
it (``encoding.draw_split``, seed 1234), our tokenizer's words (the tweets with ``normalize
tweets``), and the NBSVM-style model of the n-gram half fitted by scikit-learn: binarized
features scaled by naive Bayes log-count ratios (add-one), L2 logistic regression, C chosen on
the validation rows among 0.03, 0.1 and 0.3. The feature sets:

- words: 1-3 grams of words, a word outside the --vocab most frequent training words replaced by
  one unknown token, as the n-gram half sees ids (its own hashing aside);
- + char (all words): also each word's character 2-5 grams inside its boundaries (``<word>``,
  fastText's marks), for every word, known or not;
- + char (unknown words): the character n-grams of the unknown words only;
- --char-weight W scales the character n-grams' features by W (a stronger L2 penalty on them).

It prints validation accuracy, on the validation texts holding at least one unknown word and on
the rest, each set's share of such texts, and the seconds of each fit (features inside the
timer). The test files are never read.

    python bench/subword.py --run RUN_DIR --data imdb|tweets

reports instead a trained run on the set's test file: the share of test texts holding a word
outside the run's vocabulary (an unknown id after its tokenizer), and the run's test accuracy on
those texts and on the rest (the figures issue 33 asks for before and after); with --halves,
each half of the run alone too (its logit's sign), for the subword vectors of the network half.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import IMDB, imdb_file  # noqa: E402

DATA = {"imdb": IMDB, "tweets": IMDB.parent / "tweets"}
GRID = (0.03, 0.1, 0.3)
UNKNOWN = "\x00unk"


def char_grams(word: str, low: int = 2, high: int = 5) -> list[str]:
    marked = f"<{word}>"
    return ["\x01" + marked[i:i + n] for n in range(low, high + 1) for i in range(len(marked) - n + 1)]


def features(tokens: list[str], known: set, chars: str) -> list[str]:
    words = [t if t in known else UNKNOWN for t in tokens]
    out = [" ".join(words[i:i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)]
    if chars != "none":
        for token in set(tokens):
            if chars == "all" or token not in known:
                out.extend(char_grams(token))
    return out


def nb_fit(x_train, y_train, x_val, y_val, scale=None):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    p = np.asarray(x_train[y_train == 1].sum(axis=0)).ravel() + 1.0
    q = np.asarray(x_train[y_train == 0].sum(axis=0)).ravel() + 1.0
    r = np.log((p / p.sum()) / (q / q.sum()))
    if scale is not None:
        r = r * scale
    xt, xv = x_train.multiply(r).tocsr(), x_val.multiply(r).tocsr()
    best = None
    for c in GRID:
        clf = LogisticRegression(C=c, max_iter=1000).fit(xt, y_train)
        pred = clf.predict(xv)
        acc = float(np.mean(pred == y_val))
        if best is None or acc > best[0]:
            best = (acc, c, pred)
    return best


def measure(name: str, limit: int | None, vocab: int, variants=("none", "all", "unknown"),
            char_weight: float = 1.0) -> list[tuple]:
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    from sentiment_cli.data import read_labeled
    from sentiment_cli.encoding import draw_split
    from sentiment_cli.tokenizer import tokenize_batch

    data = read_labeled(imdb_file("training_label.txt.gz", DATA[name]))
    texts, labels = data.texts[:limit] if limit else data.texts, data.labels[:limit] if limit else data.labels
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    split = draw_split(texts, y, 0.1, 1234)
    tokens = tokenize_batch(texts, "tweets" if name == "tweets" else "none")
    train_tokens = [tokens[i] for i in split.train]
    val_tokens = [tokens[i] for i in split.val]
    counts = Counter(t for row in train_tokens for t in row)
    known = {t for t, _ in counts.most_common(vocab - 2)}  # ids 0 and 1: padding and unknown
    has_unknown = np.array([any(t not in known for t in row) for row in val_tokens])
    y_train, y_val = y[split.train], y[split.val]
    rows = []
    for chars in variants:
        start = time.perf_counter()
        vectorizer = CountVectorizer(analyzer=lambda row, c=chars: features(row, known, c), binary=True, min_df=2)
        x_train = vectorizer.fit_transform(train_tokens)
        x_val = vectorizer.transform(val_tokens)
        scale = None
        if chars != "none" and char_weight != 1.0:
            names = vectorizer.get_feature_names_out()
            scale = np.where(np.char.startswith(names.astype(str), "\x01"), char_weight, 1.0)
        acc, c, pred = nb_fit(x_train, y_train, x_val, y_val, scale)
        seconds = time.perf_counter() - start
        right = pred == y_val
        label = chars if chars == "none" or char_weight == 1.0 else f"{chars} x{char_weight:g}"
        rows.append((name, len(texts), label, acc, c, float(np.mean(has_unknown)),
                     float(np.mean(right[has_unknown])) if has_unknown.any() else float("nan"),
                     float(np.mean(right[~has_unknown])) if (~has_unknown).any() else float("nan"),
                     x_train.shape[1], seconds))
        print(f"{name} chars={chars}: val {acc:.4f} (C {c}), {seconds:.0f} s", file=sys.stderr)
    return rows


def report_run(run_dir: Path, name: str, halves: bool = False) -> None:
    import numpy as np

    from common import read_test_labels
    from sentiment_cli import runs
    from sentiment_cli.data import read_records
    from sentiment_cli.predict import Predictor, decide
    from sentiment_cli.rules import OOV_ID

    run = runs.load_run(run_dir.parent, run_dir.name)
    truth = read_test_labels(imdb_file("testing_label.csv.gz", DATA[name]))
    test = list(read_records(imdb_file("testing_data.txt.gz", DATA[name]), "test"))
    texts = [r.text for r in test]
    ids = run.tokenizer.encode_arrays(texts, engine="numpy")
    unknown = np.array([bool(np.any(row == OOV_ID)) for row in ids])
    probs = Predictor([run]).probabilities(texts)
    pred = np.array(run.config.labels)[decide(probs, run.threshold if probs.shape[1] == 2 else None)]
    y = np.array([truth[r.id] for r in test])
    right = pred == y
    print(f"| {name} | {run_dir.name} | {len(texts)} | {unknown.mean():.1%} | {right.mean():.4f} "
          f"| {right[unknown].mean():.4f} | {right[~unknown].mean():.4f} |")
    if halves:  # each half alone, by its own logit's sign (binary runs)
        from sentiment_cli.encoding import Encoder
        from sentiment_cli.model import halves as half_names, halves_logits

        encoder = Encoder.from_config(run.config, run.tokenizer)
        logits = halves_logits(run.model, encoder.sequences(texts), encoder.features)[:, :, 0]
        for h, half in enumerate(half_names(run.model)):
            right = np.array(run.config.labels)[(logits[:, h] > 0).astype(int)] == y
            print(f"| {name} | {run_dir.name}: {half} alone | {len(texts)} | {unknown.mean():.1%} "
                  f"| {right.mean():.4f} | {right[unknown].mean():.4f} | {right[~unknown].mean():.4f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=["imdb", "tweets", "both"], default="both")
    parser.add_argument("--limit", type=int, help="only the first N labeled texts of each set")
    parser.add_argument("--vocab", type=int, default=20000, help="the vocabulary size, as train's --vocab-size")
    parser.add_argument("--variants", default="none,all,unknown", help="which character n-gram sets (comma-separated)")
    parser.add_argument("--char-weight", type=float, default=1.0,
                        help="scale of the character n-grams' features against the words' (1: the same)")
    parser.add_argument("--run", type=Path, help="report this trained run on the set's test file instead")
    parser.add_argument("--halves", action="store_true", help="with --run: each half of a binary run alone too")
    args = parser.parse_args()
    if args.run:
        print("| data | run | test texts | with an unknown word | test acc | on them | on the rest |")
        print("|---|---|---|---|---|---|---|")
        return report_run(args.run, "imdb" if args.data == "both" else args.data, args.halves)
    rows = []
    for name in (["tweets", "imdb"] if args.data == "both" else [args.data]):
        rows.extend(measure(name, args.limit, args.vocab, args.variants.split(","), args.char_weight))
    print("\n| data | texts | character n-grams | val acc | C | val texts with an unknown word | acc on them "
          "| acc on the rest | features | fit s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, n, chars, acc, c, share, acc_unk, acc_rest, width, seconds in rows:
        print(f"| {name} | {n} | {chars} | {acc:.4f} | {c} | {share:.1%} | {acc_unk:.4f} | {acc_rest:.4f} "
              f"| {width} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
