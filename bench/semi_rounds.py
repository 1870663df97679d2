"""semi's rounds on IMDB scenario (b), every round kept: does each help, and what does validation see?

    python bench/semi_rounds.py [cotrain|rank]   (after python bench/imdb_semi.py --scenario b --start-unlabeled)

From bench/out/models/imdb-b-start, three rounds of `semi --select cotrain` (or rank), none
rolled back. After each round it prints the accuracy on the 24,000 reviews of the training
file that serve as unlabeled text (their labels are known here, never to the model: the
development figure) and on the test reviews (reported), and the paired statistic on the 100
validation rows that semi's rule reads (mean log-loss gain, its standard error, rows right).
Session 6 ran it with the rule function of commit a665f0a (better_by_more_than_noise, whose
verdict it printed as "rule says"); the statistic is computed here, the same then and now.
"""
import math
import os
import sys
sys.path.insert(0, "bench")
import numpy as np
from common import imdb_file, read_test_labels
from sentiment_cli.threads import configure_threads
configure_threads()
from sentiment_cli import semi, runs
from sentiment_cli.config import SemiConfig
from sentiment_cli.data import read_lines, read_records
from sentiment_cli.model import predict_proba

MODELS = "bench/out/models"
if not os.path.isdir(f"{MODELS}/imdb-b-start"):
    print("SKIPPED: run python bench/imdb_semi.py --scenario b --start-unlabeled first (from the repository root)",
          file=sys.stderr)
    sys.exit(0)
start = runs.load_run(MODELS, "imdb-b-start")
from sentiment_cli.data import DataManager
dm = DataManager.from_config(start.config, start.tokenizer)
rows = [l.partition("+++$+++") for n, l in read_lines(imdb_file("training_label.txt.gz")) if n > 1000]
dev_seqs = dm.sequences([r[2].strip() for r in rows]); dev_y = dm.encode_labels([r[0].strip() for r in rows])
truth = read_test_labels(imdb_file("testing_label.csv.gz"))
test = list(read_records(imdb_file("testing_data.txt.gz"), "test"))
test_seqs = dm.sequences([r.text for r in test]); test_y = dm.encode_labels([truth[r.id] for r in test])

def report(tag, model):
    d = float(np.mean(predict_proba(model, dev_seqs, dm.features).argmax(1) == dev_y))
    t = float(np.mean(predict_proba(model, test_seqs, dm.features).argmax(1) == test_y))
    print(f"{tag}: dev {d:.4f} test {t:.4f}", flush=True)

report("start", start.model)
real_rule = semi.worse_beyond_noise
def rule(new, old, y):
    rows = np.arange(len(y))
    gain = -np.log(np.clip(old[rows, y], 1e-7, 1)) + np.log(np.clip(new[rows, y], 1e-7, 1))
    se = gain.std(ddof=1) / math.sqrt(len(y))
    print(f"rule: mean gain {gain.mean():.4f} se {se:.4f} t {gain.mean() / se:.2f} right new {int((new.argmax(1) == y).sum())} old {int((old.argmax(1) == y).sum())} -> worse beyond noise: {real_rule(new, old, y)}", flush=True)
    return False
semi.worse_beyond_noise = rule
real_round = semi._train_round
count = [0]
def wrapped(*a):
    result = real_round(*a)
    count[0] += 1
    report(f"round {count[0]}", result.model)
    return result
semi._train_round = wrapped
semi.self_train(MODELS, "imdb-b-start", "imdb-b-rule", None, "bench/out/imdb_rest_nolabel.txt",
                SemiConfig(select=sys.argv[1] if len(sys.argv) > 1 else "cotrain", rounds=3), overwrite=True, verbose=0)
