"""Benchmark of `semi` on IMDB and the tweets: test accuracy of the supervised start and after relabeling.

    python bench/imdb_semi.py --scenario a|b|c [--draw SEED] [--rounds N] [--set pretrain=lm] ...

(a) IMDB: the 25,000 labeled reviews + the 50,000 unlabeled ones; the supervised start is
    bench/out/models/START (--start, default imdb-default) when ``bench/imdb.py --save-run
    imdb-default`` left it there, else trained here with the defaults and --set.
(b) IMDB with 1,000 labels (--labels): the other 24,000 reviews, labels dropped, and with
    --all-unlabeled the 50,000 unlabeled reviews too, are the unlabeled text.
(c) the tweets (../shared/data/tweets) with 2,000 labels (--labels): the other 78,000, labels
    dropped, are the unlabeled text.
(b) and (c) take the first N labeled lines, or with --draw SEED N lines drawn at random by that
seed (another draw of the same size). Files derived from the benchmark go to bench/out/
(git-ignored). Prints the rounds, then one table: scenario, supervised test accuracy, semi test
accuracy, seconds, and the scikit-learn peers of bench/imdb.py (TF-IDF + LR, NBSVM-style LR)
trained on the same labeled training rows (--no-peers leaves them out).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import IMDB, imdb_file, parse_overrides, read_test_labels, run_split, test_accuracy, train_saved  # noqa: E402

OUT = HERE / "out"
MODELS = OUT / "models"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["a", "b", "c"], required=True)
    parser.add_argument("--labels", type=int, help="(b, c) labeled rows kept (default 1,000 and 2,000)")
    parser.add_argument("--draw", type=int, help="(b, c) draw the labeled rows at random by this seed")
    parser.add_argument("--all-unlabeled", action="store_true", help="(b) the 50,000 unlabeled reviews too")
    from sentiment_cli.config import SemiConfig

    parser.add_argument("--rounds", type=int, default=SemiConfig.rounds)
    parser.add_argument("--epochs-per-round", type=int, default=SemiConfig.epochs_per_round)
    parser.add_argument("--max-per-round", type=int)
    parser.add_argument("--select", choices=["rank", "threshold", "cotrain"], default=SemiConfig.select)
    parser.add_argument("--share", type=float, default=SemiConfig.share)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--band", help="LOW,HIGH instead of --threshold (see semi --help)")
    parser.add_argument("--balance", action="store_true")
    parser.add_argument("--pseudo-labels", choices=["accumulate", "replace"],
                        help="what a round's picks do to the earlier rounds' (see semi --help; default: by --select)")
    parser.add_argument("--pretrain-embeddings", action="store_true", help="semi's round 0 (see semi --help)")
    parser.add_argument("--start", default="imdb-default", help="(a) the saved supervised run to start from")
    parser.add_argument("--set", action="append", default=[], help="hyperparameter override of the start")
    parser.add_argument("--no-peers", action="store_true", help="skip the scikit-learn peers")
    parser.add_argument("--start-unlabeled", action="store_true",
                        help="(b) the start's Word2Vec also learns from the unlabeled text (train --unlabeled)")
    parser.add_argument("--reuse-start", action="store_true",
                        help="(b) start from bench/out/models/imdb-b-start as an earlier run left it instead of "
                             "training it again; refused if its hyperparameters differ from --set's (whether "
                             "it used --start-unlabeled is not recorded: give the same)")
    args = parser.parse_args()
    data_dir = IMDB if args.scenario != "c" else IMDB.parent / "tweets"
    train_file = imdb_file("training_label.txt.gz", data_dir)
    nolabel_file = imdb_file("training_nolabel.txt.gz") if args.scenario != "c" else None
    test_file = imdb_file("testing_data.txt.gz", data_dir)
    truth = read_test_labels(imdb_file("testing_label.csv.gz", data_dir))

    from sentiment_cli.config import SemiConfig, TrainConfig
    from sentiment_cli.data import DataSpec, read_lines, read_records
    from sentiment_cli.semi.rounds import SemiJob, semi_run

    OUT.mkdir(exist_ok=True)
    test = list(read_records(test_file, "test"))
    texts, labels = [r.text for r in test], [truth[r.id] for r in test]
    overrides = parse_overrides(args.set)
    if args.scenario == "c":
        overrides.setdefault("normalize", "tweets")

    if args.scenario == "a":
        labeled_path, unlabeled_path, base = train_file, nolabel_file, args.start
        if args.set or not (MODELS / base).exists():
            base = "imdb-a-start"
            train_saved(MODELS, base, TrainConfig(**overrides), labeled_path)
    else:
        n = args.labels or (1000 if args.scenario == "b" else 2000)
        name = scenario_name(args.scenario, n, args.draw)
        labeled_path, unlabeled_path = OUT / f"{name}.txt", OUT / f"{name}-nolabel.txt"
        base = f"{name}-start" + "".join(f"-{k}-{v}" for k, v in sorted(parse_overrides(args.set).items()))
        lines = [line for _, line in read_lines(train_file)]
        keep = labeled_rows(len(lines), n, args.draw)
        with open(labeled_path, "w", encoding="utf-8") as lab, open(unlabeled_path, "w", encoding="utf-8") as unl:
            for i, line in enumerate(lines):
                if i in keep:
                    lab.write(line + "\n")
                else:
                    unl.write(line.partition("+++$+++")[2].strip() + "\n")
            if args.all_unlabeled and nolabel_file is not None:
                for _, line in read_lines(nolabel_file):
                    unl.write(line.strip() + "\n")
        if args.reuse_start and (MODELS / base).exists():
            from sentiment_cli import runs

            stored = runs.load_run(MODELS, base, with_model=False).config.to_dict()
            wanted = TrainConfig(**overrides).to_dict()
            differ = [name for name in wanted if name != "labels" and stored.get(name) != wanted[name]]
            if differ:
                sys.exit(f"--reuse-start: {MODELS / base} was trained with another {', '.join(differ)}; "
                         "run without --reuse-start")
        else:
            train_saved(MODELS, base, TrainConfig(**overrides), labeled_path,
                        unlabeled_path if args.start_unlabeled else None)

    from sentiment_cli import runs

    start_accuracy = test_accuracy(runs.load_run(MODELS, base), texts, labels)
    band = tuple(float(v) for v in args.band.split(",")) if args.band else None
    semi = SemiConfig(rounds=args.rounds, select=args.select, share=args.share, threshold=args.threshold, band=band,
                      epochs_per_round=args.epochs_per_round,
                      max_per_round=args.max_per_round, balance=args.balance,
                      pretrain_embeddings=args.pretrain_embeddings, pseudo_labels=args.pseudo_labels)
    started = time.perf_counter()
    output = f"{base}-semi"
    _, metrics = semi_run(SemiJob(str(MODELS), base, output, semi, DataSpec(str(unlabeled_path))), overwrite=True)
    seconds = time.perf_counter() - started
    semi_accuracy = test_accuracy(runs.load_run(MODELS, output), texts, labels)
    rounds = metrics["rounds"][1:]
    start_seconds = runs.load_run(MODELS, base, with_model=False).metrics["train_seconds"]

    print(f"\nsemi on {'the tweets' if args.scenario == 'c' else 'IMDB'}, scenario ({args.scenario}), "
          f"labeled rows {args.labels or 'default'}, draw {args.draw}, --set {' '.join(args.set)}; rounds {args.rounds}, select {args.select}, share {args.share}, "
          f"threshold {args.threshold}, "
          f"band {args.band}, epochs/round {args.epochs_per_round}, max/round {args.max_per_round}, balance {args.balance}, "
          f"start's Word2Vec on unlabeled text too: {args.start_unlabeled}; "
          f"round 0 with Word2Vec on all text: {args.pretrain_embeddings}; "
          f"{os.cpu_count()} cores\n")
    print("| round | pseudo-labels | agreement | val acc | kept | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rounds:
        print(f"| {r['round']} | {r['pseudo_labels']} | {r['agreement']} | {float(r['val_accuracy']):.4f} | "
              f"{r['accepted']} | {float(r['seconds']):.0f} |")
    if metrics.get("stopped"):
        print(f"\nstopped: {metrics['stopped']}")
    peers = [] if args.no_peers else peer_rows(runs.load_run(MODELS, base, with_model=False),
                                               labeled_path, texts, labels,
                                               unlabeled_path if args.scenario != "a" else None)
    print("\n| scenario | supervised val acc | semi val acc | supervised test acc | semi test acc | s/round "
          "| train s + semi s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| ({args.scenario}) | {metrics['start_val_accuracy']:.4f} | {metrics['best_val_accuracy']:.4f} | "
          f"{start_accuracy:.4f} | {semi_accuracy:.4f} | {seconds / max(len(rounds), 1):.0f} | "
          f"{start_seconds:.0f} + {seconds:.0f} = {start_seconds + seconds:.0f} |")
    for name, val_acc, test_acc, train_seconds, _ in peers:
        print(f"| ({args.scenario}) peer: {name} | {val_acc:.4f} | | {test_acc:.4f} | | | {train_seconds:.0f} |")


def scenario_name(scenario: str, n: int, draw: int | None) -> str:
    """(b, c) the name of the labeled file (bench/out/NAME.txt, its other rows in NAME-nolabel.txt);
    its start run is NAME-start, followed by the --set overrides."""
    return f"{'imdb' if scenario == 'b' else 'tweets'}-{n}-{'first' if draw is None else f'draw{draw}'}"


def labeled_rows(lines: int, n: int, draw: int | None) -> set[int]:
    """(b, c) which lines of the training file keep their labels: the first n, or n drawn by the
    seed draw; the others are the unlabeled text."""
    import numpy as np

    return set(range(n)) if draw is None else set(np.random.default_rng(draw).choice(lines, n, replace=False).tolist())


def peer_rows(run, labeled_path, test_texts, test_labels, unlabeled_path):
    """The peers of bench/imdb.py on the run's own training split, and with unlabeled_path (scenario
    b; scenario a's 50,000 reviews would take many GB) the NBSVM-style one again with its n-gram
    vocabulary counted on the unlabeled text too."""
    import numpy as np

    from imdb import nb_lr, tfidf_lr
    from sentiment_cli.data import read_labeled, read_unlabeled

    config = run.config
    data = read_labeled(labeled_path)
    y = np.array([config.labels.index(label) for label in data.labels])
    split = run_split(run, data.texts, y)
    train_idx, val_idx = split.train, split.val
    y_test = np.array([config.labels.index(label) for label in test_labels])
    args = ([data.texts[i] for i in train_idx], y[train_idx], [data.texts[i] for i in val_idx], y[val_idx],
            test_texts, y_test)
    rows = [tfidf_lr(*args), nb_lr(*args)]
    if unlabeled_path is not None:
        rows.append(nb_lr(*args, unlabeled_texts=read_unlabeled(unlabeled_path)))
    return rows


if __name__ == "__main__":
    main()
