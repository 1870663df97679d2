import json

from helpers import invoke

from sentiment_cli.checks import duplicate_warnings
from sentiment_cli.encoding import hash_set, normalize, text_hash, text_hashes

TRAIN = "\n".join([
    "1 +++$+++ Great movie!!",
    "0 +++$+++ dull plot",
    "1 +++$+++ great   movie",   # near-duplicate of line 1
    "1 +++$+++ Great movie!!",   # exact duplicate of line 1
    "0 +++$+++ fine acting",
    "1 +++$+++ fine acting",     # conflicts with line 5
    "0 +++$+++ never again",
]) + "\n"


def test_normalization_joins_near_duplicates_only():
    assert normalize("Great  MOVIE!!") == normalize("great movie") == "great movie"
    assert normalize("Ｇｒｅａｔ movie") == "great movie"  # full-width letters (NFKC)
    assert normalize("great movie") != normalize("great movies")
    assert text_hash("Great movie!") == text_hash("great movie") != text_hash("bad movie")
    record = text_hashes(["a b", "A  b!", "c"])
    assert len(record["hashes"]) == 2 and hash_set(record) == {text_hash("a b"), text_hash("c")}
    assert hash_set({**record, "normalization": "another"}) is None


def test_check_reports_duplicates_conflicts_and_overlap(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text(TRAIN)
    test = tmp_path / "test.txt"
    test.write_text("id,text\n1,great movie\n2,Great movie!!\n3,something new\n")
    result = invoke("check", "--train", train, "--test", test, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    part = report["train"]
    assert part["rows"] == 7
    assert part["duplicates"]["exact"] == 2 and part["duplicates"]["normalized"] == 3  # lines 4, 6; and 3
    assert part["duplicates"]["examples"] == [{"line": 3, "repeats_line": 1}, {"line": 4, "repeats_line": 1},
                                              {"line": 6, "repeats_line": 5}]
    assert part["conflicts"]["texts"] == 1 and part["conflicts"]["rows"] == 2
    assert part["conflicts"]["examples"][0]["labels"] == {"0": [5], "1": [6]}
    assert part["labels"] == {"0": {"rows": 3, "share": 0.4286}, "1": {"rows": 4, "share": 0.5714}}
    overlap = report["test"]["overlap"]
    assert overlap["exact"] == 1 and overlap["normalized"] == 2 and report["test"]["labeled"] is False
    assert len(report["findings"]) == 3
    strict = invoke("check", "--train", train, "--test", test, "--strict")
    assert strict.exit_code == 1 and "2 test rows are also in the training file (1 exactly)" in strict.output


def test_check_counts_unknown_tokens_and_long_texts(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("label,text\n1,good good good good\n0,bad bad\n1,good bad\n")
    test = tmp_path / "test.csv"
    test.write_text("label,text\n1,good unseen\n")  # a labeled test file is read with its labels
    result = invoke("check", "--train", train, "--test", test, "--vocab-size", "3", "--max-length", "3",
                    "--json", "--strict")
    assert result.exit_code == 0, result.output  # nothing to find: unique texts, one label each, no overlap
    report = json.loads(result.stdout)
    # --vocab-size 3 is padding, unknown and one word, 'good': the three 'bad' are unknown
    assert report["train"]["unknown_token_share"] == round(3 / 8, 4)
    assert report["train"]["over_max_length"] == round(1 / 3, 4)
    assert report["test"]["unknown_token_share"] == 0.5 and report["test"]["labels"]["1"]["rows"] == 1


def test_bad_files_are_named(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text\nno labels here\n")
    result = invoke("check", "--train", train)
    assert result.exit_code == 1
    assert f"{train}, line 1: no column 'label' (the header has: text)" in result.output


def test_train_warns_in_words_with_lines():
    texts = ["good", "Good!", "bad", "bad"]
    warnings = duplicate_warnings(texts, ["1", "1", "0", "1"], [1, 2, 3, 4], "t.txt")
    assert warnings[0].startswith("t.txt: 2 of 4 rows repeat an earlier text (line 2 repeats line 1, "
                                  "line 4 repeats line 3)")
    assert "1 texts have more than one label (2 rows; for example '0' on line 3 and '1' on line 4)" in warnings[1]
    assert duplicate_warnings(["a", "b"], ["0", "1"], [1, 2], "t.txt") == []


def test_an_unlabeled_test_file_with_a_blank_first_line_is_read_as_unlabeled(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text(TRAIN)
    test = tmp_path / "plain.txt"
    test.write_text("\nGreat movie!!\nsomething else\n")
    result = invoke("check", "--train", train, "--test", test, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["test"]
    assert report["labeled"] is False and report["overlap"]["exact"] == 1


def test_check_finds_labels_that_differ_only_in_case(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("label,text\nPOS,good\nneg,bad\npos,fine\nPOS,great\n")
    result = invoke("check", "--train", train)
    assert result.exit_code == 0, result.output
    said = ("labels 'POS' (2 rows, first on line 2) and 'pos' (1 row, first on line 4) differ only in case and train "
            "as 2 separate classes; to make them one, write them alike in the file (for example every one as 'POS')")
    assert f"  - {said}" in result.stdout
    report = json.loads(invoke("check", "--train", train, "--json").stdout)
    assert report["train"]["label_variants"] == [[{"label": "POS", "rows": 2, "first_line": 2},
                                                  {"label": "pos", "rows": 1, "first_line": 4}]]
    assert said in report["findings"]
    assert invoke("check", "--train", train, "--strict").exit_code == 1
