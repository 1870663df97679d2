"""A trained run must have learned: far above chance on the shipped samples' test file.

With SCRAMBLE_LABELS=1 the training labels are shuffled first; the test then fails (tried by
hand: it does), which shows it can.
"""

import csv
import os
import random
from pathlib import Path

from helpers import invoke

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_trained_run_scores_far_above_chance(tmp_path):
    train = DATA / "training_label.txt"
    if os.environ.get("SCRAMBLE_LABELS"):
        lines = train.read_text().splitlines()
        labels = [line.split(" +++$+++ ")[0] for line in lines]
        random.Random(0).shuffle(labels)
        train = tmp_path / "scrambled.txt"
        train.write_text("\n".join(f"{l} +++$+++ {line.split(' +++$+++ ', 1)[1]}" for l, line in zip(labels, lines)))
    models = tmp_path / "models"
    result = invoke("train", "learn", "--train", train, "--models-dir", models, "--embedding-dim", "16",
                    "--hidden-size", "8", "--ngram-buckets", "4096", "--epochs", "3", "--seed", "1", "--folds", "off",
                    "-q")
    assert result.exit_code == 0, result.output
    out = tmp_path / "result.csv"
    assert invoke("test", "learn", "--input", DATA / "testing_data.txt", "--output", out, "--models-dir", models,
                  "-q").exit_code == 0
    predicted = {row["id"]: row["label"] for row in csv.DictReader(open(out))}
    truth = {row["id"]: row["label"] for row in csv.DictReader(open(DATA / "testing_label.csv"))}
    accuracy = sum(predicted[i] == truth[i] for i in truth) / len(truth)
    assert accuracy >= 0.85, accuracy
