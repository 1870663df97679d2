import csv
import json

import numpy as np
import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli.suggest import interleave, ranking, scores, spread_out

# Texts the tiny runs never saw, some sentiment-laden, some neutral, all distinct.
POOL = ["love love happy fun", "awful hate sad bad", "the place today", "a day here", "great but awful",
        "fun and sad", "happy ending ever", "bad dull song", "love it here now", "movie song day",
        "hate it again too", "wonderful happy best", "then there here", "worst awful horrible", "nice song"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("suggest")
    labeled = write_labeled(root / "train.txt", copies=3)
    models = root / "models"
    for name, model in [("hybrid", "hybrid"), ("ngram", "ngram")]:
        result = invoke("train", name, "--train", labeled, "--models-dir", models, "--model", model, *TINY)
        assert result.exit_code == 0, result.output
    pool = root / "pool.txt"
    pool.write_text("\n".join(POOL) + "\n", encoding="utf-8")
    return root, models, labeled, pool


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_halves_that_disagree_rank_above_halves_that_agree():
    # both texts mix to p = 0.5; in the first the halves pull hard apart, in the second neither pulls
    logits = np.array([[[3.0], [-3.0]], [[0.0], [0.0]], [[2.0], [2.0]]])
    params = np.array([1.0, 1.0, 0.0])
    probs, uncertainty, disagreement = scores(logits, params)
    np.testing.assert_allclose(probs[:2, 1], 0.5)
    np.testing.assert_allclose(uncertainty[:2], 1.0)
    assert disagreement[0] > 0.9 and disagreement[1] == 0.0
    total = uncertainty + disagreement
    assert list(np.argsort(-total)) == [0, 1, 2]


def test_each_ranking_puts_its_own_measure_first():
    uncertainty = np.array([0.9, 0.2, 0.5, 0.5])
    disagreement = np.array([0.0, 0.8, 0.1, 0.1])
    assert list(ranking(uncertainty, disagreement, "both")[1]) == [1, 0, 2, 3]
    assert list(ranking(uncertainty, disagreement, "uncertainty")[1]) == [0, 2, 3, 1]
    assert list(ranking(uncertainty, disagreement, "disagreement")[1]) == [1, 2, 3, 0]


def test_interleave_deals_the_classes_in_turn_best_class_first():
    order = np.array([5, 4, 3, 2, 1, 0])
    predicted = np.array([0, 0, 0, 1, 1, 1])
    assert interleave(order, predicted).tolist() == [5, 2, 4, 1, 3, 0]


def test_near_duplicates_are_spread_out():
    texts = ["the film was long and the ending was sad", "the film was long and the ending was so sad",
             "a bright happy song"]
    assert spread_out(np.arange(3), texts, 2, 0.7) == ([0, 2], 1)
    assert spread_out(np.arange(3), texts, 2, 1.0) == ([0, 1], 0)


def test_one_half_run_suggests_the_texts_it_is_least_sure_of(setup, tmp_path):
    root, models, _, pool = setup
    out = tmp_path / "to_label.csv"
    result = invoke("suggest", "ngram", "--unlabeled", pool, "--models-dir", models, "-n", "5",
                    "--similarity", "1", "--output", out, "-q")
    assert result.exit_code == 0, result.output
    picked = [row["text"] for row in read_csv(out)]
    assert len(picked) == 5
    # the model's own probabilities, by `test`: the 5 texts suggested are the 5 nearest 0.5
    probs_csv = tmp_path / "probs.csv"
    assert invoke("test", "ngram", "--input", pool, "--models-dir", models, "--output", probs_csv,
                  "--probabilities", "-q").exit_code == 0
    p = np.array([float(row["p_1"]) for row in read_csv(probs_csv)])
    nearest = [POOL[i] for i in np.argsort(np.abs(p - 0.5), kind="stable")[:5]]
    assert sorted(picked) == sorted(nearest)
    margins = {POOL[i]: abs(p[i] - 0.5) for i in range(len(POOL))}
    assert [margins[t] for t in picked] == sorted(margins[t] for t in picked)


def test_texts_the_run_was_trained_on_are_left_out(setup, tmp_path):
    root, models, labeled, pool = setup
    trained = [line.split(" +++$+++ ", 1)[1] for line in labeled.read_text().splitlines()]
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("\n".join(trained[:10] + POOL[:3] + POOL[:1]) + "\n", encoding="utf-8")
    out = tmp_path / "s.csv"
    result = invoke("suggest", "hybrid", "--unlabeled", mixed, "--models-dir", models, "-n", "50",
                    "--output", out, "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["labeled_already"] == 10 and summary["repeated"] == 1 and summary["suggested"] == 3
    assert sorted(row["text"] for row in read_csv(out)) == sorted(POOL[:3])


def test_the_filled_csv_trains(setup, tmp_path):
    root, models, _, pool = setup
    out = tmp_path / "to_label.csv"
    assert invoke("suggest", "hybrid", "--unlabeled", pool, "--models-dir", models, "-n", "12",
                  "--output", out, "-q").exit_code == 0
    rows = read_csv(out)
    assert rows[0].keys() >= {"label", "text", "predicted", "probability", "disagreement"}
    assert all(row["label"] == "" for row in rows)
    # an unfilled row is an error that names its line
    result = invoke("train", "more", "--train", out, "--models-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 1 and "line 2" in result.output and "empty label" in result.output
    for i, row in enumerate(rows):
        row["label"] = "1" if any(w in row["text"] for w in ("love", "happy", "fun", "great", "nice", "wonderful")) \
            else "0" if i % 2 else "1"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = invoke("train", "more", "--train", out, "--models-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.output


def test_bad_input_gets_one_line_errors(setup, tmp_path):
    root, models, _, pool = setup
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    result = invoke("suggest", "hybrid", "--unlabeled", empty, "--models-dir", models, "--output", tmp_path / "o.csv")
    assert result.exit_code == 1 and "the file is empty" in result.output
    assert not (tmp_path / "o.csv").exists()
    result = invoke("suggest", "nosuch", "--unlabeled", pool, "--models-dir", models)
    assert result.exit_code == 1 and "Traceback" not in result.output
    result = invoke("suggest", "hybrid", "--unlabeled", pool, "--models-dir", models, "--output", "-", "--json")
    assert result.exit_code == 2
    taken = tmp_path / "filled.csv"
    taken.write_text("label,text\n1,mine\n", encoding="utf-8")
    result = invoke("suggest", "hybrid", "--unlabeled", pool, "--models-dir", models, "--output", taken)
    assert result.exit_code == 1 and "--overwrite" in result.output and "Traceback" not in result.output
    assert taken.read_text(encoding="utf-8") == "label,text\n1,mine\n"
    assert invoke("suggest", "hybrid", "--unlabeled", pool, "--models-dir", models, "--output", taken,
                  "--overwrite", "-q").exit_code == 0
    assert taken.read_text(encoding="utf-8").startswith("label,text,line")
