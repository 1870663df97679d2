"""semi's rounds on IMDB scenario (b), every round kept: does each help, and what does validation see?

    python bench/semi_rounds.py [cotrain|rank] [--rounds N]   (after python bench/imdb_semi.py --scenario b --start-unlabeled)

From bench/out/models/imdb-b-start, N rounds (default 3) of `semi --select cotrain` (or rank),
none rolled back. After each round it prints the accuracy on the 24,000 reviews of the
training file that serve as unlabeled text (their labels are known here, never to the model:
the development figure) and on the test reviews (reported), and the paired statistic on the
100 validation rows that semi's rule reads (mean log-loss gain, its standard error, rows
right). Its run of 2026-11-23 (bench/RESULTS.md, commit 9a02979) used the rule function of
commit a665f0a (better_by_more_than_noise, whose verdict it printed as "rule says"); the
statistic is computed here, the same then and now.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import imdb_file, read_test_labels  # noqa: E402

MODELS = Path(__file__).resolve().parent / "out" / "models"
UNLABELED = Path(__file__).resolve().parent / "out" / "imdb_rest_nolabel.txt"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("select", nargs="?", default="cotrain", choices=("cotrain", "rank"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (MODELS / "imdb-b-start").is_dir() or not UNLABELED.exists():
        print("SKIPPED: run python bench/imdb_semi.py --scenario b --start-unlabeled first", file=sys.stderr)
        sys.exit(0)

    import numpy as np

    from sentiment_cli.threads import configure_threads

    configure_threads()
    from sentiment_cli import runs
    from sentiment_cli.config import SemiConfig
    from sentiment_cli.data import DataSpec, read_lines, read_records
    from sentiment_cli.encoding import Encoder
    from sentiment_cli.model import predict_proba
    from sentiment_cli.semi import acceptance
    from sentiment_cli.semi import rounds as semi

    start = runs.load_run(MODELS, "imdb-b-start")
    encoder = Encoder.from_config(start.config, start.tokenizer)
    rows = [line.partition("+++$+++") for n, line in read_lines(imdb_file("training_label.txt.gz")) if n > 1000]
    dev_seqs = encoder.sequences([r[2].strip() for r in rows])
    dev_y = encoder.encode_labels([r[0].strip() for r in rows])
    truth = read_test_labels(imdb_file("testing_label.csv.gz"))
    test = list(read_records(imdb_file("testing_data.txt.gz"), "test"))
    test_seqs, test_y = encoder.sequences([r.text for r in test]), encoder.encode_labels([truth[r.id] for r in test])

    def report(tag, model):
        dev = float(np.mean(predict_proba(model, dev_seqs, encoder.features).argmax(1) == dev_y))
        accuracy = float(np.mean(predict_proba(model, test_seqs, encoder.features).argmax(1) == test_y))
        print(f"{tag}: dev {dev:.4f} test {accuracy:.4f}", flush=True)

    real_rule, real_round, done = semi.worse_beyond_noise, semi._train_round, [0]

    def rule(new, old, y):
        """Prints the statistic and the real rule's verdict, then keeps the round."""
        gain = acceptance.row_log_loss(old, y) - acceptance.row_log_loss(new, y)  # what the rule itself reads
        se = gain.std(ddof=1) / math.sqrt(len(y))
        print(f"rule: mean gain {gain.mean():.4f} se {se:.4f} t {gain.mean() / se:.2f} "
              f"right new {int((new.argmax(1) == y).sum())} old {int((old.argmax(1) == y).sum())} "
              f"-> worse beyond noise: {real_rule(new, old, y)}", flush=True)
        return False

    def train_round(*arguments):
        result = real_round(*arguments)
        done[0] += 1
        report(f"round {done[0]}", result.model)
        return result

    # the names the rounds call (semi/rounds.py imports the rule from acceptance.py)
    semi.worse_beyond_noise, semi._train_round = rule, train_round
    report("start", start.model)
    semi.semi_run(semi.SemiJob(str(MODELS), "imdb-b-start", "imdb-b-rule", SemiConfig(select=args.select,
                                                                                     rounds=args.rounds),
                               DataSpec(str(UNLABELED))), overwrite=True, progress=False)


if __name__ == "__main__":
    main()
