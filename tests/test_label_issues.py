"""check --label-issues: confident learning over out-of-fold n-gram probabilities."""

import csv
import json

import numpy as np
from helpers import NEGATIVE, NEUTRAL, POSITIVE, invoke, write_labeled

from sentiment_cli.config import TrainConfig
from sentiment_cli.data import LabeledData
from sentiment_cli.label_issues import (
    CSV_COLUMNS, confident_issues, default_folds, find_label_issues, out_of_fold, stratified_folds,
)

SMALL = TrainConfig(vocab_size=60, ngram_buckets=256, ngram_min_count=1)


def flipped(path, lines: list[int], copies: int = 4):
    """The tiny labeled file with the labels of these (1-based) lines flipped."""
    write_labeled(path, copies)
    rows = path.read_text().splitlines()
    for n in lines:
        label, rest = rows[n - 1].split(" ", 1)
        rows[n - 1] = f"{1 - int(label)} {rest}"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_confident_learning_on_given_probabilities():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    p = np.array([[.9, .05, .05], [.8, .1, .1], [.1, .8, .1],   # row 2: labeled 0, clearly 1
                  [.1, .8, .1], [.2, .7, .1], [.5, .45, .05],   # row 5: labeled 1, p0 .5 under t_0 (.6)
                  [.1, .1, .8], [.4, .2, .4]])                  # row 7: p2 .4 under t_2 (.6), p0 .4 under t_0
    ranked, suggested, thresholds = confident_issues(p, y)
    assert np.allclose(thresholds, [0.6, (.8 + .7 + .45) / 3, 0.6])
    assert ranked.tolist() == [2]
    assert suggested[2] == 1 and suggested[5] == -1 and suggested[7] == -1  # 5, 7: none reaches its threshold
    p[7] = [.7, .25, .05]  # t_2 falls to .425, t_0 stays .6
    p[5] = [.65, .3, .05]  # t_1 falls to .6
    ranked, suggested, _ = confident_issues(p, y)
    assert ranked.tolist() == [7, 2, 5] and suggested[7] == 0 and suggested[5] == 0  # by the given label's p
    # two classes reach their thresholds: the likeliest of them, not the one furthest above its own
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[.3, .35, .35], [.3, .35, .35], [.2, .5, .3], [.2, .5, .3], [.1, .1, .8], [.45, .52, .03]])
    ranked, suggested, thresholds = confident_issues(p, y)
    assert np.allclose(thresholds, [.3, .5, .415]) and ranked.tolist() == [5]
    assert suggested.tolist() == [0, 0, 1, 1, 2, 1]


def test_folds_are_stratified_seeded_and_sized_by_the_data():
    y = np.array([0] * 13 + [1] * 7)
    fold = stratified_folds(y, 5, seed=3)
    for k in range(5):
        assert np.sum(fold == k) == 4 and 1 <= np.sum((fold == k) & (y == 1)) <= 2
    assert (fold == stratified_folds(y, 5, seed=3)).all() and (fold != stratified_folds(y, 5, seed=4)).any()
    assert default_folds(y) == 5 and default_folds(np.array([0, 0, 0, 1, 1, 1])) == 3
    assert default_folds(np.array([0, 1, 1, 1])) == 2


def test_a_flipped_label_is_found_and_ranked_first(tmp_path):
    path = flipped(tmp_path / "train.txt", [3, 55])  # 'wonderful and happy' as 0, 'so bad , hate it today' as 1
    out = tmp_path / "issues.csv"
    result = invoke("check", "--train", path, "--label-issues", "--output", out)
    assert result.exit_code == 0, result.output
    assert "label issues: 2 of 80 rows have a label that the out-of-fold n-gram model contradicts" in result.stdout
    assert f"all 2 written to {out}" in result.stdout
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == CSV_COLUMNS
    assert sorted((r[1], r[2], r[3], r[6]) for r in rows[1:]) == [
        ("3", "0", "1", "wonderful and happy"), ("55", "1", "0", "so bad , hate it today")]
    for r in rows[1:]:
        assert float(r[4]) > 0.5 > float(r[5]) and abs(float(r[4]) + float(r[5]) - 1) < 1e-5
    assert float(rows[1][5]) <= float(rows[2][5])  # least self-confident first


def test_a_wrong_label_copied_with_its_text_is_still_found(tmp_path):
    """Copies of a text share a fold: a twin in another fold would vouch for the wrong label."""
    path = flipped(tmp_path / "train.txt", [3])  # 'wonderful and happy' as 0
    path.write_text(path.read_text() + "0 +++$+++ wonderful and happy\n")
    result = invoke("check", "--train", path, "--label-issues", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["label_issues"]["issues"]
    assert sorted(issue["line"] for issue in found[:2]) == [3, 81]


def test_folds_keep_copies_together():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 1])
    groups = np.array(["a", "b", "c", "d", "e", "f", "g", "h", "a", "e"])
    fold = stratified_folds(y, 2, seed=0, groups=groups)
    assert fold[8] == fold[0] and fold[9] == fold[4]


def test_a_clean_file_yields_few_or_none(tmp_path):
    result = invoke("check", "--train", write_labeled(tmp_path / "train.txt", 4), "--label-issues", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["label_issues"]
    assert found["rows"] == 80 and found["found"] <= 1


def test_json_has_the_issues_and_strict_fails_on_them(tmp_path):
    path = flipped(tmp_path / "train.txt", [55])
    result = invoke("check", "--train", path, "--label-issues", "--json", "--folds", "3", "--seed", "5")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    found = report["label_issues"]
    assert found["folds"] == 3 and found["seed"] == 5 and len(found["c_by_fold"]) == 3 and found["output"] is None
    assert found["found"] == 1 and set(found["thresholds"]) == {"0", "1"}
    issue = found["issues"][0]
    assert {k: issue[k] for k in ("line", "given_label", "suggested_label", "text")} == {
        "line": 55, "given_label": "1", "suggested_label": "0", "text": "so bad , hate it today"}
    assert issue["confidence"] == round(1 - issue["given_label_probability"], 6)
    assert "1 training row has a label that the data contradicts (see label issues)" in report["findings"]
    assert invoke("check", "--train", path, "--label-issues", "--strict").exit_code == 1
    assert invoke("check", "--train", path, "--strict").exit_code == 0  # without it, nothing to find


def test_no_leak_a_rows_own_label_does_not_move_its_probability():
    """Flipping one row's label changes the other folds' fits, never that row's out-of-fold probability."""
    from sentiment_cli.encoding import Encoder, pad
    from sentiment_cli.ngrams import NGramLogits

    positive = [f"{t} {NEUTRAL[k]}".strip() for k in range(3) for t in POSITIVE]
    negative = [f"{t} {NEUTRAL[k]}".strip() for k in range(3) for t in NEGATIVE]
    texts, y = positive + negative, np.array([1] * 30 + [0] * 30)
    encoder = Encoder(max_length=50)
    encoder.fit(texts, 60)
    layer = NGramLogits(len(encoder.tokenizer), 1, 3, 256)
    layer.build(None)
    x = layer.matrix([pad(encoder.sequences(texts))])
    fold = stratified_folds(y, 5, seed=1)
    before, _ = out_of_fold(layer, x, y, fold, SMALL)
    noisy = y.copy()
    noisy[2] = 0
    after, _ = out_of_fold(layer, x, noisy, fold, SMALL)
    assert np.allclose(after[2], before[2], atol=1e-9)  # its own label is not used to predict it
    others = fold != fold[2]
    assert np.abs(after[others] - before[others]).max() > 1e-4  # but it is used for the other folds' rows


def test_three_classes(tmp_path):
    neutral = ["the bus is at noon", "a table and a chair", "it is tuesday", "the report is here",
               "ten pages long", "the shop opens at nine", "a train to the city", "rooms on the left",
               "the list has items", "a box of paper"]
    texts = POSITIVE * 2 + NEGATIVE * 2 + neutral * 2
    texts = [f"{t} {NEUTRAL[i // 30]}".strip() for i, t in enumerate(texts)]
    labels = ["pos"] * 20 + ["neg"] * 20 + ["neu"] * 20
    labels[0] = "neg"  # 'great fun movie'
    data = LabeledData(texts, labels, list(range(1, 61)), "train.txt")
    found = find_label_issues(data, SMALL)
    assert found.labels == ["neg", "neu", "pos"] and found.probabilities.shape == (60, 3)
    assert np.allclose(found.probabilities.sum(axis=1), 1)
    assert found.issues[0].line == 1 and found.issues[0].given == "neg" and found.issues[0].suggested == "pos"


def test_errors_are_one_line_with_the_fix(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("1 +++$+++ good\n1 +++$+++ great\n0 +++$+++ bad\n")
    result = invoke("check", "--train", one, "--label-issues")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {one}: label '0' has only one distinct text, and out-of-fold probabilities need two of each "
        "class: a class in one fold is never seen by the model that predicts it. Add other texts of that class "
        "(better: dozens), or leave its rows out")
    train = write_labeled(tmp_path / "train.txt", 1)  # 10 rows of each class
    result = invoke("check", "--train", train, "--label-issues", "--output", tmp_path / "no" / "issues.csv")
    assert result.exit_code == 1 and "its directory does not exist" in result.output
    assert "Traceback" not in result.output
    result = invoke("check", "--train", train, "--output", tmp_path / "issues.csv")
    assert result.exit_code == 2 and "--folds and --output go with --label-issues" in result.output
    result = invoke("check", "--train", "-", "--label-issues", input="1 +++$+++ good\n0 +++$+++ bad\n")
    assert result.exit_code == 2 and "give a file, not -" in result.output


def test_a_bad_line_stops_it_or_is_left_out_as_asked(tmp_path):
    path = write_labeled(tmp_path / "train.txt", 3)
    path.write_text(path.read_text() + "0 +++$+++ \n")
    result = invoke("check", "--train", path, "--label-issues")
    assert result.exit_code == 1 and "line 61: an empty text" in result.output and "--on-bad-lines" in result.output
    result = invoke("check", "--train", path, "--label-issues", "--on-bad-lines", "skip", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label_issues"]["rows"] == 60


def _with_a_third_class(path, *texts, copies):
    """The tiny file (20 distinct texts of '0' and of '1') and a class '2' of these texts, copied."""
    write_labeled(path, 2)
    path.write_text(path.read_text() + "".join(f"2 +++$+++ {t}\n" for t in texts for _ in range(copies)))
    return path


def test_a_class_of_one_text_is_refused_never_given_a_zero_threshold(tmp_path):
    """0.6.1 put the class's one text (10 rows) in one fold: held out, it was never seen, its
    out-of-fold probability was about 0, its threshold 0.0, and 18 rows of '0' and '1' were
    "issues" suggesting '2' at p < 0.01."""
    path = _with_a_third_class(tmp_path / "train.txt", "the bus is at noon", copies=10)
    result = invoke("check", "--train", path, "--label-issues", "--json")
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {path}: label '2' has only one distinct text (10 rows), and out-of-fold probabilities need two of "
        "each class: a class in one fold is never seen by the model that predicts it. Add other texts of that "
        "class (better: dozens), or leave its rows out")
    assert "Traceback" not in result.output


def test_fewer_distinct_texts_than_folds_give_fewer_folds_with_a_note(tmp_path):
    path = _with_a_third_class(tmp_path / "train.txt", "the bus is at noon", "the bus is late", copies=6)
    result = invoke("check", "--train", path, "--label-issues", "--json", "--folds", "5")
    assert result.exit_code == 0, result.output
    assert "note: label '2' has 2 distinct texts (copies share a fold): 2 folds, not 5" in result.stderr
    found = json.loads(result.stdout)["label_issues"]
    assert found["folds"] == 2 and len(found["c_by_fold"]) == 2
    assert min(found["thresholds"].values()) > 0.3, found["thresholds"]
    assert not [issue for issue in found["issues"] if issue["suggested_label"] == "2"]
    # counted in texts, not rows: 10 distinct texts of each class (no copies) allow 10 folds, not 11
    train = write_labeled(tmp_path / "one.txt", 1)
    result = invoke("check", "--train", train, "--label-issues", "--json", "--folds", "11")
    assert result.exit_code == 0, result.output
    assert "has 10 distinct texts (copies share a fold): 10 folds, not 11" in result.stderr
    assert json.loads(result.stdout)["label_issues"]["folds"] == 10


def test_folds_deal_a_text_by_its_most_frequent_label_and_hold_every_class():
    from sentiment_cli.label_issues import class_sizes

    # 'x' is labeled 1, 0, 0: one group, dealt as a 0 (with its '1' copy)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0])
    groups = np.array(["a", "b", "c", "d", "e", "f", "g", "h", "x", "x", "x"])
    assert class_sizes(y, groups).tolist() == [5, 4] and class_sizes(y).tolist() == [6, 5]
    assert default_folds(y, groups) == 4 and default_folds(y) == 5
    for seed in range(5):
        fold = stratified_folds(y, 4, seed, groups)
        assert fold[8] == fold[9] == fold[10]
        dealt_as = np.where(np.arange(11) == 8, 0, y)  # the '1' copy of 'x' goes with it, as a 0
        for k in range(4):  # each fold holds a text of each class, so no class is held out whole
            assert set(dealt_as[fold == k].tolist()) == {0, 1}


def test_a_row_whose_given_label_is_likeliest_is_not_flagged():
    """Since 0.7.0 the other label must be likelier than the given one, not only reach its threshold."""
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([[.9, .1], [.9, .1], [.55, .45],   # row 2: p1 .45 reaches t_1 (.4), p0 .55 misses t_0 (.78)
                  [.5, .5], [.5, .5], [.8, .2]])    # row 5: labeled 1, clearly 0
    ranked, suggested, thresholds = confident_issues(p, y)
    assert np.allclose(thresholds, [2.35 / 3, 0.4]) and suggested[2] == 1  # the threshold alone would flag it
    assert ranked.tolist() == [5]


def test_obviously_flipped_rows_come_first_and_the_report_says_how_sure(tmp_path):
    path = flipped(tmp_path / "train.txt", [3, 12, 55])  # 'wonderful and happy', 'i love it today' as 0; one as 1
    result = invoke("check", "--train", path, "--label-issues")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("label issues: 3 of 80 rows have a label that the out-of-fold n-gram model contradicts "
                        "(5 folds, seed 1234)")
    assert sorted(int(line.split("line ")[1].split(":")[0]) for line in lines[start + 1:start + 4]) == [3, 12, 55]
    accuracy = next(line for line in lines if "the out-of-fold model agrees with" in line)
    assert accuracy.endswith("of the given labels; the commonest label alone with 51%")  # 41 of 80 labeled 0
    assert ("  how sure: on 200-row draws of IMDB and the tweets with 10% of labels flipped, where the model agreed "
            "with 61-72% of the labels, about 3 of the first 10 listed were real issues (0.7.0; bench/RESULTS.md)"
            ) in lines
    assert "too weak" not in result.stdout


def test_a_model_at_chance_lists_rows_without_a_finding(tmp_path):
    """Labels drawn at random: the out-of-fold model cannot beat the commonest label by MIN_LIFT."""
    from sentiment_cli.label_issues import MIN_LIFT

    path = write_labeled(tmp_path / "train.txt", 4)
    rng = np.random.default_rng(0)
    rows = [f"{rng.integers(2)} {line.split(' ', 1)[1]}" for line in path.read_text().splitlines()]
    path.write_text("\n".join(rows) + "\n")
    result = invoke("check", "--train", path, "--label-issues", "--json", "--strict")
    assert result.exit_code == 0, result.output  # nothing counted as a finding
    found = json.loads(result.stdout)["label_issues"]
    assert found["weak"] and found["found"] > 0
    assert found["out_of_fold_accuracy"] < found["majority_share"] + MIN_LIFT
    assert found["expected_top_precision"] == 0.24
    text = invoke("check", "--train", path, "--label-issues").stdout
    assert "too weak on this data to tell a wrong label from a hard row: listed to look at, not counted as a finding" in text
    assert "where the model agreed with 50-63% of the labels, about 2 of the first 10 listed were real" in text


def test_a_large_file_quotes_the_whole_file_figures():
    from sentiment_cli.label_issues import SMALL_ROWS, LabelIssues, how_sure

    found = LabelIssues([], np.array([], dtype=int), SMALL_ROWS + 1, ["0", "1"], 5, 1, [1.0] * 5,
                        np.array([.5, .5]), np.zeros((SMALL_ROWS + 1, 2)), 0.9, 0.5)
    assert not found.weak and found.expected_top_precision() is None
    assert how_sure(found) == ("how sure: on the whole IMDB and tweet training files with 10% of labels flipped, "
                               "91% and 60% of the first 5% ranked were real issues (0.5.0; bench/RESULTS.md)")
