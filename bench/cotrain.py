"""Co-training on IMDB scenario (b): does each half learn from the other's surest labels? (issue 9)

    python bench/cotrain.py [--per-class N]      (after python bench/imdb_semi.py --scenario b --start-unlabeled)

The start is bench/out/models/imdb-b-start: the defaults trained on the first 1,000 labeled
reviews (100 of them validation), Word2Vec also on the other 24,000 reviews, whose labels are
dropped. The two halves make different mistakes, so each labels unlabeled text for the other
(Blum & Mitchell 1998): the n-gram half's N surest reviews per class become pseudo-labels for a
new recurrent half, the recurrent half's N surest per class for a new n-gram half; each is
trained on the labeled training rows plus those, with the start's vocabulary and validation
rows; the mix of the two new halves is fitted on the validation logits, as train does. Prints
one table: each half and the mix, before and after, validation (100 rows) and test (25,000).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import imdb_file, read_test_labels, run_split

OUT = Path(__file__).resolve().parent / "out"
MODELS = OUT / "models"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=3000, help="pseudo-labels per class for each half")
    args = parser.parse_args()
    labeled_path, unlabeled_path = OUT / "imdb_first1000.txt", OUT / "imdb_rest_nolabel.txt"
    if not (MODELS / "imdb-b-start").exists() or not labeled_path.exists():
        print("SKIPPED: run python bench/imdb_semi.py --scenario b --start-unlabeled first", file=sys.stderr)
        return 0
    truth = read_test_labels(imdb_file("testing_label.csv.gz"))

    from sentiment_cli.threads import configure_threads

    configure_threads()
    import numpy as np

    from sentiment_cli import runs
    from sentiment_cli.calibration import fit_mix, out_of_fold, probabilities
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import read_labeled, read_records, read_unlabeled
    from sentiment_cli.encoding import Encoder
    from sentiment_cli.fit import FitOptions
    from sentiment_cli.model import halves, halves_logits
    from sentiment_cli.training import TrainData, train

    start = runs.load_run(MODELS, "imdb-b-start")
    encoder = Encoder.from_config(start.config, start.tokenizer)
    data = read_labeled(labeled_path)
    unlabeled = read_unlabeled(unlabeled_path)
    test = list(read_records(imdb_file("testing_data.txt.gz"), "test"))
    y = encoder.encode_labels(data.labels)
    split = run_split(start, data.texts, y)  # the start's own training and validation rows
    train_idx, val_idx = split.train, split.val
    val_seqs, val_y = encoder.sequences([data.texts[i] for i in val_idx]), y[val_idx]
    test_seqs, test_y = encoder.sequences([r.text for r in test]), encoder.encode_labels([truth[r.id] for r in test])
    unl_seqs = encoder.sequences(unlabeled)

    names = halves(start.model)  # ["ngrams", "rnn_logits"]
    logits = halves_logits(start.model, unl_seqs, encoder.features)[:, :, 0]

    def surest(column: int) -> tuple[np.ndarray, np.ndarray]:
        """Each class's per_class surest unlabeled rows by one half's logit, and their labels."""
        order = np.argsort(logits[:, column])
        idx = np.concatenate([order[:args.per_class], order[-args.per_class:]])
        return idx, np.concatenate([np.zeros(args.per_class, int), np.ones(args.per_class, int)])

    unl_truth = None  # the unlabeled reviews' labels are known to the bench (not to the model): agreement only
    from sentiment_cli.data import read_lines

    labels_all = [line.partition("+++$+++")[0].strip() for n, line in read_lines(imdb_file("training_label.txt.gz"))
                  if n > 1000]
    if len(labels_all) == len(unlabeled):
        unl_truth = encoder.encode_labels(labels_all)

    rows, new_halves = [], {}
    t0 = time.perf_counter()
    for teacher, student, model in ((0, "rnn_logits", "rnn"), (1, "ngrams", "ngram")):
        idx, pseudo = surest(teacher)
        correct = f"{np.mean(unl_truth[idx] == pseudo):.3f}" if unl_truth is not None else "?"
        config = TrainConfig.from_dict({**start.config.to_dict(), "model": model})
        # the start's split; the pseudo-labels join the student half's training side only
        train_data = TrainData([data.texts[i] for i in train_idx], y[train_idx], [data.texts[i] for i in val_idx],
                               y[val_idx], extra={student: ([unlabeled[i] for i in idx], pseudo)},
                               unlabeled=unlabeled)
        with tempfile.TemporaryDirectory() as scratch:
            result = train(config, train_data, Path(scratch), Encoder.from_config(config, start.tokenizer),
                           options=FitOptions(progress=True))
        new_halves[student] = result.model
        print(f"{student} trained on the labeled rows + {len(idx)} pseudo-labels from {names[teacher]} "
              f"({correct} of them right)", file=sys.stderr)
    seconds = time.perf_counter() - t0

    def scored(label, val_logits, test_logits):
        oof = out_of_fold(val_logits, val_y)
        params = fit_mix(val_logits, val_y)
        test_acc = float(np.mean(probabilities(test_logits, params).argmax(axis=1) == test_y))
        rows.append((label, float(np.mean(oof.argmax(axis=1) == val_y)), test_acc))

    start_val = halves_logits(start.model, val_seqs, encoder.features)
    start_test = halves_logits(start.model, test_seqs, encoder.features)
    for h, name in enumerate(names):
        scored(f"start: {name} alone", start_val[:, h:h + 1], start_test[:, h:h + 1])
    scored("start: mix of the halves", start_val, start_test)
    new_val = np.concatenate([halves_logits(new_halves[n], val_seqs, encoder.features) for n in names], axis=1)
    new_test = np.concatenate([halves_logits(new_halves[n], test_seqs, encoder.features) for n in names], axis=1)
    for h, name in enumerate(names):
        scored(f"co-trained: {name} alone", new_val[:, h:h + 1], new_test[:, h:h + 1])
    scored("co-trained: mix of the new halves", new_val, new_test)

    print(f"\nCo-training on IMDB (b): 1,000 labeled (100 validation), {len(unlabeled)} unlabeled; "
          f"{args.per_class} pseudo-labels per class for each half; {seconds:.0f} s of training\n")
    print("| model | val acc (out-of-fold mix) | test acc |")
    print("|---|---|---|")
    for label, val, test_acc in rows:
        print(f"| {label} | {val:.4f} | {test_acc:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
