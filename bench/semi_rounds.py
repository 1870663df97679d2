"""semi's rounds, every one kept: does each help, and which judge would have rolled it back?

    python bench/semi_rounds.py [cotrain|rank] [--rounds N] [--scenario b|c | --start NAME]
                                [--pseudo-labels accumulate|replace]

It starts from a start run that ``bench/imdb_semi.py`` made, with the files it wrote beside it:
(b) IMDB, 1,000 labels: imdb-1000-first-start, after python bench/imdb_semi.py --scenario b --start-unlabeled
(c) tweets, 2,000 labels: tweets-2000-first-start, after python bench/imdb_semi.py --scenario c --start-unlabeled
--start NAME takes another of its (b) or (c) start runs in bench/out/models (--draw, --labels or
--set made it: tweets-2000-draw1-start, imdb-1000-first-start-pretrain-lm, ...).

From it, N rounds (default 3) of `semi --select cotrain` (or rank) with --judge cv, none rolled
back. After each round it prints the truth, accuracy on the rows of the training file that serve
as unlabeled text (their labels are known here, never to the model: the development figure), and
on the test set (reported); then each judge's paired statistic (acceptance.worse_beyond_noise:
mean log-loss gain of the round over the kept model, its standard error, rows right) and its
verdict: validation, on the start run's validation rows, and cv, the n-gram half fitted out of
fold on the labeled training rows with the round's pseudo-labels against the previous round's
(acceptance.cross_validated); and agreement, the issue's other suggestion: the share of held-out
unlabeled texts (--held-out N rows of the unlabeled file, drawn by seed 0 and never given to
semi, which reads the rest from bench/out/NAME-nolabel-rounds.txt) on which the two halves
predict the same class, against the previous round's, a round rolled back when the texts the
halves stop agreeing on outnumber those they start agreeing on by more than twice that count's
noise (c - b > 2 sqrt(b + c), as acceptance's rows-right test). At the end, one table: round,
the change in development accuracy (a good round raises it), and each judge's verdict.

Its run of 2026-11-23 (bench/RESULTS.md, commit 9a02979) started from imdb-b-start, as
bench/imdb_semi.py then named scenario (b)'s start, and used the rule function of commit a665f0a
(better_by_more_than_noise, whose verdict it printed as "rule says"); validation's statistic is
computed here the same then and now.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import IMDB, imdb_file, read_test_labels  # noqa: E402
from imdb_semi import MODELS, OUT, labeled_rows, scenario_name  # noqa: E402

STARTS = {"b": scenario_name("b", 1000, None) + "-start", "c": scenario_name("c", 2000, None) + "-start"}
START_NAME = re.compile(r"(?P<file>(?P<corpus>imdb|tweets)-(?P<n>\d+)-(first|draw(?P<draw>\d+)))-start")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("select", nargs="?", default="cotrain", choices=("cotrain", "rank"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pseudo-labels", choices=("accumulate", "replace"),
                        help="what a round's picks do to the earlier rounds' (semi --pseudo-labels; default: "
                             "accumulate with cotrain, replace with rank; 0.7.0 up to commit f81ec77 replaced)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scenario", choices=sorted(STARTS), default="b",
                       help=f"the start run: (b) {STARTS['b']}, (c) {STARTS['c']}")
    where.add_argument("--start", metavar="NAME", help="another start run of bench/imdb_semi.py (b) or (c)")
    parser.add_argument("--held-out", type=int, default=5000, metavar="N",
                        help="unlabeled texts kept from semi for the agreement judge (default 5,000)")
    args = parser.parse_args()
    start_name = args.start or STARTS[args.scenario]
    found = START_NAME.match(start_name)
    if not found:
        parser.error(f"--start {start_name}: not a start run of bench/imdb_semi.py (b) or (c), whose names are "
                     "imdb-N-first-start or tweets-N-drawSEED-start, and so on")
    labeled_path, unlabeled_path = OUT / f"{found['file']}.txt", OUT / f"{found['file']}-nolabel.txt"
    if not (MODELS / start_name).is_dir() or not labeled_path.exists() or not unlabeled_path.exists():
        scenario = "b" if found["corpus"] == "imdb" else "c"
        print(f"SKIPPED: {MODELS / start_name}, {labeled_path.name} or {unlabeled_path.name} is missing: run python "
              f"bench/imdb_semi.py --scenario {scenario} --start-unlabeled (with the --labels, --draw or --set that "
              f"made {start_name}; --reuse-start keeps a start run that is there) first", file=sys.stderr)
        sys.exit(0)
    data_dir = IMDB if found["corpus"] == "imdb" else IMDB.parent / "tweets"

    import numpy as np

    from sentiment_cli.threads import configure_threads

    configure_threads()
    from sentiment_cli import runs
    from sentiment_cli.config import SemiConfig
    from sentiment_cli.data import DataSpec, read_lines, read_records
    from sentiment_cli.encoding import Encoder
    from sentiment_cli.model import halves_logits, predict_proba
    from sentiment_cli.semi import acceptance
    from sentiment_cli.semi import rounds as semi

    start = runs.load_run(MODELS, start_name)
    encoder = Encoder.from_config(start.config, start.tokenizer)
    lines = [line for _, line in read_lines(imdb_file("training_label.txt.gz", data_dir))]
    labeled = labeled_rows(len(lines), int(found["n"]), int(found["draw"]) if found["draw"] else None)
    rows = [line.partition("+++$+++") for i, line in enumerate(lines) if i not in labeled]
    dev_seqs = encoder.sequences([r[2].strip() for r in rows])
    dev_y = encoder.encode_labels([r[0].strip() for r in rows])
    truth = read_test_labels(imdb_file("testing_label.csv.gz", data_dir))
    test = list(read_records(imdb_file("testing_data.txt.gz", data_dir), "test"))
    test_seqs, test_y = encoder.sequences([r.text for r in test]), encoder.encode_labels([truth[r.id] for r in test])
    unlabeled = [text for _, text in read_lines(unlabeled_path)]
    held = set(np.random.default_rng(0).choice(len(unlabeled), min(args.held_out, len(unlabeled) // 2),
                                                replace=False).tolist())
    given_path = OUT / f"{found['file']}-nolabel-rounds.txt"
    given_path.write_text("".join(text + "\n" for i, text in enumerate(unlabeled) if i not in held), encoding="utf-8")
    held_seqs = encoder.sequences([unlabeled[i] for i in sorted(held)])
    print(f"{start_name}: {len(labeled)} labeled rows, {len(rows)} development rows (the unlabeled text, labels "
          f"known here), {len(test)} test rows; {len(unlabeled) - len(held)} unlabeled texts given to semi, "
          f"{len(held)} held out for the agreement judge; {args.rounds} rounds of {args.select}, none rolled back",
          flush=True)

    dev_accuracy, verdicts = [], []  # by round, 0 the start; by round from 1, {judge: (t, worse)}
    agreeing = []  # by round, 0 the start: whether the halves agree on each held-out text
    agreement_verdicts = []  # by round from 1: (t, worse) of the agreement judge

    def report(tag, model):
        dev = float(np.mean(predict_proba(model, dev_seqs, encoder.features).argmax(1) == dev_y))
        accuracy = float(np.mean(predict_proba(model, test_seqs, encoder.features).argmax(1) == test_y))
        dev_accuracy.append(dev)
        logits = halves_logits(model, held_seqs, encoder.features)  # (n, 2 halves, outputs)
        classes = (logits[..., 0] > 0).astype(int) if logits.shape[-1] == 1 else logits.argmax(-1)
        agreeing.append(classes[:, 0] == classes[:, 1])
        print(f"{tag}: dev {dev:.4f} test {accuracy:.4f} halves agree on {agreeing[-1].mean():.4f} of the "
              f"held-out texts", flush=True)
        if len(agreeing) > 1:
            new, old = agreeing[-1], agreeing[-2]
            b, c = int(np.sum(new & ~old)), int(np.sum(old & ~new))
            diff = new.astype(float) - old.astype(float)
            se = diff.std(ddof=1) / math.sqrt(len(diff))
            worse = c - b > 2.0 * math.sqrt(b + c)
            agreement_verdicts.append((diff.mean() / se if se > 0 else 0.0, worse))
            print(f"  agreement ({len(new)} held-out texts): start agreeing {b}, stop agreeing {c} "
                  f"-> worse beyond noise: {worse}", flush=True)

    real_round, real_comparisons = semi._train_round, semi._comparisons

    def train_round(*arguments):
        result = real_round(*arguments)
        report(f"round {len(dev_accuracy)}", result.model)
        return result

    def comparisons(*arguments):
        """Prints each judge's statistic and verdict (the real rule's), and keeps them for the table."""
        evidence = real_comparisons(*arguments)
        verdicts.append({})
        for name, (new, old, y) in evidence.items():
            gain = acceptance.row_log_loss(old, y) - acceptance.row_log_loss(new, y)  # what the rule reads
            se = gain.std(ddof=1) / math.sqrt(len(y))
            t = gain.mean() / se if se > 0 else 0.0
            worse = acceptance.worse_beyond_noise(new, old, y)
            verdicts[-1][name] = (t, worse)
            print(f"  {name} ({len(y)} rows): mean gain {gain.mean():.4f} se {se:.4f} t {t:.2f} "
                  f"right new {int((new.argmax(1) == y).sum())} old {int((old.argmax(1) == y).sum())} "
                  f"-> worse beyond noise: {worse}", flush=True)
        return evidence

    # the names the rounds call; every round is kept (semi/rounds.py imports the rule from acceptance.py)
    semi._train_round, semi._comparisons = train_round, comparisons
    semi.worse_beyond_noise = lambda *arguments: False
    report("start", start.model)
    semi.semi_run(semi.SemiJob(str(MODELS), start_name, f"{start_name}-judged",
                               SemiConfig(select=args.select, rounds=args.rounds, judge="cv",
                                          pseudo_labels=args.pseudo_labels),
                               DataSpec(str(given_path))), overwrite=True, progress=False)
    for judged, agreement in zip(verdicts, agreement_verdicts):
        judged["agreement"] = agreement
    print_table(start_name, args, dev_accuracy, verdicts)


def print_table(start_name, args, dev_accuracy, verdicts):
    """Round by round: the truth (the change in development accuracy) beside each judge's verdict."""
    print(f"\n{start_name}, {args.select}, pseudo-labels {args.pseudo_labels or 'by default'}, {args.rounds} rounds, "
          f"every one kept; {os.cpu_count()} cores\n")
    judges = ("validation", "cv", "agreement")
    print("| round | dev acc | dev change (truth) | " + " | ".join(f"{name} t | {name} says" for name in judges) + " |")
    print("|---|---|---|" + "---|---|" * len(judges))
    good = []
    for r, judged in enumerate(verdicts, 1):
        change = dev_accuracy[r] - dev_accuracy[r - 1]
        good.append(change > 0)
        cells = [f"{judged[name][0]:.2f} | {'roll back' if judged[name][1] else 'keep'}"
                 for name in judges]
        print(f"| {r} | {dev_accuracy[r]:.4f} | {change:+.4f} ({'good' if change > 0 else 'bad'}) | "
              f"{' | '.join(cells)} |")
    for name in judges:
        kept = [not judged[name][1] for judged in verdicts]
        print(f"\n{name}: kept {sum(k and g for k, g in zip(kept, good))} of {sum(good)} good rounds, rolled back "
              f"{sum(not k and not g for k, g in zip(kept, good))} of {len(good) - sum(good)} bad ones", end="")
    print()


if __name__ == "__main__":
    main()
