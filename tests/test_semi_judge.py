"""semi --judge cv: the out-of-fold comparison of two sets of pseudo-labels on the labeled training rows."""

import json

import numpy as np
import pytest
from helpers import invoke

from sentiment_cli import runs
from sentiment_cli.config import SemiConfig, TrainConfig
from sentiment_cli.encoding import Encoder
from sentiment_cli.errors import ConfigError
from sentiment_cli.semi import acceptance, rounds

NOUNS = ["film", "plot", "cast", "song", "end", "day", "show", "book", "art", "play", "tale", "act"]
GOOD, BAD = ["good", "superb", "fine", "great"], ["bad", "dreadful", "poor", "awful"]


def judge_data(tmp_path):
    """Labeled rows of one sentiment word and a noun (every word in several rows), and unlabeled
    texts of two sentiment words, a noun and a number: the labels teach the words, the unlabeled
    text holds them in other company."""
    labeled = tmp_path / "train.txt"
    labeled.write_text("".join(f"1 +++$+++ {w} {n}\n0 +++$+++ {v} {n}\n"
                               for i, n in enumerate(NOUNS) for w, v in [(GOOD[i % 4], BAD[i % 4]),
                                                                         (GOOD[(i + 1) % 4], BAD[(i + 1) % 4])]))
    unlabeled = tmp_path / "nolabel.txt"
    unlabeled.write_text("".join(f"{GOOD[k % 4]} {GOOD[(k + 1) % 4]} {n} {k}\n{BAD[k % 4]} {BAD[(k + 1) % 4]} {n} {k}\n"
                                 for n in NOUNS for k in range(4)))
    return labeled, unlabeled


def test_cross_validation_finds_inverted_pseudo_labels_worse_and_correct_ones_not(tmp_path):
    from sentiment_cli.ngrams import NGramLogits

    labeled, unlabeled = judge_data(tmp_path)
    rows = [line.split(" +++$+++ ") for line in labeled.read_text().splitlines()]
    texts, y = [t for _, t in rows], np.array([int(label) for label, _ in rows])
    others = unlabeled.read_text().splitlines()
    truth = np.array([int(t.split()[0] in GOOD) for t in others], dtype=np.int8)
    config = TrainConfig(model="ngram", ngram=1, ngram_min_count=1, vocab_size=60, seed=7)
    encoder = Encoder.from_config(config)
    encoder.fit(texts + others, config.vocab_size)
    layer = NGramLogits(len(encoder.tokenizer), 1, ngram=1, buckets=256)
    folds = acceptance.labeled_folds(layer, config, texts, encoder.rows(texts, y), others, encoder.sequences(others))
    assert len(np.unique(folds.fold)) == 5 and (folds.unlabeled_fold == -1).all()  # no unlabeled text is labeled

    none = acceptance.cross_validated(folds, np.full(len(others), -1, dtype=np.int8), c=1.0)
    right = acceptance.cross_validated(folds, truth, c=1.0)
    inverted = acceptance.cross_validated(folds, 1 - truth, c=1.0)
    assert not acceptance.worse_beyond_noise(right, none, y)
    assert acceptance.worse_beyond_noise(inverted, none, y)
    assert acceptance.worse_beyond_noise(inverted, right, y)
    assert np.mean(inverted.argmax(axis=1) == y) < 0.5 < np.mean(right.argmax(axis=1) == y)
    # the same set with the same C is fitted once (the kept round's set is compared again next round)
    assert acceptance.cross_validated(folds, truth, c=1.0) is right


def test_a_labeled_text_among_the_pseudo_labels_is_left_out_of_its_own_fold():
    """A pseudo-labeled copy of a held-out text would carry its pseudo-label into its prediction."""
    from sentiment_cli.ngrams import NGramLogits

    texts = [f"row{i}" for i in range(40)]  # a word of its own each: the other rows cannot predict a row
    y = np.arange(40) % 2
    config = TrainConfig(model="ngram", ngram=1, ngram_min_count=1, vocab_size=60, seed=7)
    encoder = Encoder.from_config(config)
    encoder.fit(texts, config.vocab_size)
    layer = NGramLogits(len(encoder.tokenizer), 1, ngram=1, buckets=256)
    copies = [t.upper() for t in texts]  # the same texts, by text_hash
    folds = acceptance.labeled_folds(layer, config, texts, encoder.rows(texts, y), copies, encoder.sequences(copies))
    assert (folds.unlabeled_fold == folds.fold).all()
    # every copy pseudo-labeled with its row's true class: a leak would get every row right
    probs = acceptance.cross_validated(folds, y.astype(np.int8), c=1.0)
    assert np.mean(probs.argmax(axis=1) == y) <= 0.6


@pytest.fixture
def few(tmp_path):
    """An n-gram run on judge_data's labels (its rounds are convex fits: seconds)."""
    labeled, unlabeled = judge_data(tmp_path)
    models = tmp_path / "models"
    args = ["--models-dir", models, "-q"]
    result = invoke("train", "few", "--train", labeled, "--unlabeled", unlabeled, "--model", "ngram", "--ngram", "1",
                    "--ngram-min-count", "1", "--seed", "7", "--folds", "off", *args)
    assert result.exit_code == 0, result.output
    return models, ["--unlabeled", unlabeled, "--rounds", "1", "--share", "1.0", *args]


def invert_pseudo_labels(monkeypatch):
    """Every pseudo-label of every round turned to the other class, for all the halves."""
    real = rounds._pick

    def inverted(*args):
        picks = real(*args)
        if picks is None:
            return None
        idx, pseudo, chosen = picks
        return idx, 1 - pseudo, {name: (i, 1 - p) for name, (i, p) in chosen.items()}

    monkeypatch.setattr(rounds, "_pick", inverted)


def test_judge_cv_rolls_back_a_round_of_inverted_pseudo_labels(few, monkeypatch):
    models, common = few
    kept = invoke("semi", "few", "--judge", "cv", "--output-run", "right", *common)
    assert kept.exit_code == 0, kept.output
    metrics = json.loads((models / "right" / runs.METRICS_FILE).read_text())
    assert metrics["kept_round"] == 1 and metrics["stopped"] is None  # right pseudo-labels are kept
    assert json.loads((models / "right" / runs.CONFIG_FILE).read_text())["semi"]["judge"] == "cv"

    invert_pseudo_labels(monkeypatch)
    # the 4 validation rows do not show the harm: validation alone keeps the round
    assert invoke("semi", "few", "--output-run", "blind", *common).exit_code == 0
    assert json.loads((models / "blind" / runs.METRICS_FILE).read_text())["kept_round"] == 1
    result = invoke("semi", "few", "--judge", "cv", "--output-run", "wrong", *common)
    assert result.exit_code == 0, result.output
    metrics = json.loads((models / "wrong" / runs.METRICS_FILE).read_text())
    assert metrics["kept_round"] == 0 and not metrics["rounds"][1]["accepted"]
    assert "rolled back (worse beyond noise on the labeled training rows out of fold)" in metrics["stopped"]
    base, final = (runs.load_run(models, name).model.get_weights() for name in ("few", "wrong"))
    assert all(np.array_equal(a, b) for a, b in zip(base, final))
    assert not list(models.glob(".wrong*"))


def test_judge_cv_compares_with_the_kept_round_s_pseudo_labels(few, monkeypatch):
    """Round 2 is judged against round 1's pseudo-labels (kept in the workspace), not against none."""
    models, common = few
    seen, real = [], acceptance.cross_validated

    def spy(folds, pseudo, c):
        seen.append(np.array(pseudo))
        return real(folds, pseudo, c)

    monkeypatch.setattr(rounds, "cross_validated", spy)
    monkeypatch.setattr(rounds, "worse_beyond_noise", lambda *args: False)  # both rounds kept
    result = invoke("semi", "few", "--judge", "cv", *[a if a != "1" else "2" for a in common])
    assert result.exit_code == 0, result.output
    assert len(seen) == 4  # each round: its own set, then the kept one's
    assert (seen[1] == -1).all()  # round 1 against the start, which learned from none
    assert np.array_equal(seen[3], seen[0])  # round 2 against round 1's
    assert not list(models.glob(".few-semi*"))


def test_a_run_records_its_judge_and_a_resume_with_another_is_refused(few, monkeypatch):
    models, common = few
    real = rounds._train_round

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(rounds, "_train_round", interrupt)
    assert invoke("semi", "few", "--judge", "cv", *common).exit_code == 1
    monkeypatch.setattr(rounds, "_train_round", real)
    result = invoke("semi", "few", "--resume", "--judge", "validation", "--models-dir", models, "-q")
    assert result.exit_code == 1 and "options.semi.judge: cv -> validation" in result.output
    result = invoke("semi", "few", "--resume", "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((models / "few-semi" / runs.CONFIG_FILE).read_text())["semi"]["judge"] == "cv"
    # by default validation judges, and the run says so
    assert invoke("semi", "few", "--output-run", "plain", *common).exit_code == 0
    assert json.loads((models / "plain" / runs.CONFIG_FILE).read_text())["semi"]["judge"] == "validation"


def test_runs_that_record_no_judge_were_judged_by_validation():
    assert SemiConfig.from_dict({"rounds": 2, "select": "rank"}).judge == "validation"
    with pytest.raises(ConfigError, match="judge must be one of validation, cv"):
        SemiConfig(judge="holdout")


def test_judge_cv_needs_an_n_gram_half(tmp_path):
    with pytest.raises(ConfigError, match="--judge cv fits the run's n-gram half out of fold, and this run has none"):
        SemiConfig(judge="cv").for_run(["rnn_logits"])
    assert SemiConfig(judge="cv").for_run(["ngrams", "rnn_logits"]).select == "cotrain"
    refused = invoke("semi", "any", "--judge", "holdout")
    assert refused.exit_code == 2 and "Invalid value for '--judge'" in refused.output
