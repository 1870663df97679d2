import gzip

import pytest

from sentiment_cli.data import Columns, read_labeled, read_records, read_unlabeled, sort_labels
from sentiment_cli.errors import DataError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_classic_labeled(tmp_path):
    path = write(tmp_path / "a.txt", "1 +++$+++ good film\n0 +++$+++ bad +++$+++ film\n\n")
    data = read_labeled(path)
    assert data.labels == ["1", "0"]
    # Only the first separator splits; the rest is text.
    assert data.texts == ["good film", "bad +++$+++ film"]
    assert data.lines == [1, 2]


def test_bom_crlf_and_no_trailing_newline(tmp_path):
    path = write(tmp_path / "a.txt", "\ufeff1 +++$+++ good\r\n0 +++$+++ bad")
    data = read_labeled(path)
    assert data.labels == ["1", "0"]
    assert data.texts == ["good", "bad"]


def test_gzip(tmp_path):
    path = tmp_path / "a.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("1 +++$+++ good\n0 +++$+++ bad\n")
    assert read_labeled(path).texts == ["good", "bad"]


def test_csv_with_quotes_commas_and_named_columns(tmp_path):
    path = write(tmp_path / "r.csv", 'stars,body\npositive,"great, really ""great"""\nnegative,"two\nlines"\n')
    data = read_labeled(path, columns=Columns(text="body", label="stars"))
    assert data.texts == ['great, really "great"', "two\nlines"]
    assert data.labels == ["positive", "negative"]


def test_tsv_and_jsonl(tmp_path):
    tsv = write(tmp_path / "r.tsv", "label\ttext\n1\tgood\n0\tbad\n")
    assert read_labeled(tsv).texts == ["good", "bad"]
    jsonl = write(tmp_path / "r.jsonl", '{"text": "good", "label": 1}\n\n{"text": "bad", "label": 0}\n')
    data = read_labeled(jsonl)
    assert data.labels == ["1", "0"]


def test_idtext_keeps_everything_after_first_comma(tmp_path):
    path = write(tmp_path / "t.txt", 'id,text\n1,a, b, "c"\n2,\n2,"unclosed\n3,x\n')
    records = list(read_records(path, "test"))
    assert [(r.id, r.text) for r in records] == [("1", 'a, b, "c"'), ("2", ""), ("2", '"unclosed'), ("3", "x")]


def test_plain_lines_are_numbered(tmp_path):
    path = write(tmp_path / "t.txt", "first\n\nthird\n")
    records = list(read_records(path, "test"))
    assert [(r.id, r.text) for r in records] == [("1", "first"), ("2", ""), ("3", "third")]
    assert read_unlabeled(path) == ["first", "third"]


def test_labels_sort_numerically_or_alphabetically():
    assert sort_labels(["10", "2", "1"]) == ["1", "2", "10"]
    assert sort_labels(["positive", "negative", "neutral"]) == ["negative", "neutral", "positive"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("a.txt", "1 +++$+++ ok\njust text\n", "a.txt, line 2: no '+++$+++' separator"),
        ("a.txt", "1 +++$+++ ok\npos +++$+++ text\n", "a.txt, line 2: label 'pos' is not a number"),
        ("a.txt", "", "a.txt: the file is empty"),
        ("a.txt", "\n\n", "a.txt: no labeled examples in the file"),
        ("a.txt", "1 +++$+++ a\n1 +++$+++ b\n", "a.txt: only one class ('1') in 2 examples"),
        ("a.txt", b"1 +++$+++ ok\n0 +++$+++ caf\xe9\n", "a.txt, line 2: bytes that are not UTF-8 (byte 14 of the line)"),
        ("a.csv", "label,body\n1,x\n", "a.csv, line 1: no column 'text' (the header has: label, body)"),
        ("a.csv", "label,text\n1,x\n0,y,z\n", "a.csv, line 3: 3 fields where the header has 2"),
        ("a.jsonl", '{"text": "x", "label": 1}\n{"text": "y"\n', "a.jsonl, line 2: not valid JSON"),
        ("a.jsonl", '{"text": "x", "label": 1}\n{"text": "y"}\n', "a.jsonl, line 2: no key 'label'"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as err:
        read_labeled(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))


def test_unknown_label_against_declared_set(tmp_path):
    path = write(tmp_path / "a.txt", "1 +++$+++ ok\n2 +++$+++ what\n")
    with pytest.raises(DataError, match=r"line 2: unknown label '2' \(expected one of: 0, 1\)"):
        read_labeled(path, allowed=["0", "1"])


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_labeled(tmp_path / "nope.txt")


def test_truncated_gzip(tmp_path):
    full = gzip.compress(("1 +++$+++ good\n0 +++$+++ bad\n" * 200).encode())
    path = write(tmp_path / "a.txt.gz", full[: len(full) // 2])
    with pytest.raises(DataError, match="cannot be read after line"):
        read_labeled(path)


def test_gzip_input_closes_its_file(tmp_path):
    import gc
    import gzip
    import warnings

    path = tmp_path / "t.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("1 +++$+++ good\n0 +++$+++ bad\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        data = read_labeled(path)
        gc.collect()
    assert data.labels == ["1", "0"]
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_classic_test_layout_saved_as_csv_names_the_idtext_format(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,text\n1,hello, world\n")
    with pytest.raises(DataError, match="line 2: .*classic test layout.*--format idtext"):
        list(read_records(path, "test"))
    assert [r.text for r in read_records(path, "test", "idtext")] == ["hello, world"]


def test_a_headerless_table_is_told_so(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,great movie\n2,awful\n")
    with pytest.raises(DataError, match="line 1: the first line looks like data, not a header"):
        list(read_records(path, "test"))


def test_a_test_file_given_as_training_data_is_recognised(tmp_path):
    path = tmp_path / "testing_data.txt"
    path.write_text("id,text\n1,great\n")
    with pytest.raises(DataError, match="looks like a test file"):
        read_labeled(path)


@pytest.mark.parametrize("policy", ["error", "warn", "skip"])
def test_empty_texts_and_nul_bytes(tmp_path, capsys, policy):
    path = tmp_path / "t.txt"
    path.write_text("1 +++$+++ good\n0 +++$+++ \n1 +++$+++ bad\x00byte\n0 +++$+++ awful\n")
    if policy == "error":
        with pytest.raises(DataError, match="line 2: an empty text.*--on-bad-lines"):
            read_labeled(path)
        return
    data = read_labeled(path, on_bad_lines=policy)
    assert data.texts == ["good", "awful"] and data.skipped == 2
    warned = capsys.readouterr().err
    assert ("line 3: a NUL byte" in warned) == (policy == "warn")


def test_a_classic_labeled_txt_is_read_as_texts_by_test(tmp_path, capsys):
    """The default training layout given to `test`: its texts, ids by line, the labels left out and said so once."""
    path = write(tmp_path / "t.txt", "1 +++$+++ good film\n\n0 +++$+++ bad film\n1 +++$+++ fun\n")
    records = list(read_records(path, "test"))
    assert [(r.id, r.text, r.label) for r in records] == [("1", "good film", None), ("3", "bad film", None),
                                                          ("4", "fun", None)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{path} is labeled" in err and "labels ignored" in err
    assert f"sentiment-cli evaluate RUN --input {path}" in err
    # named: the same, whatever the file is called
    other = write(tmp_path / "t.data", path.read_text())
    assert [r.text for r in read_records(other, "test", "classic")] == ["good film", "bad film", "fun"]
    assert [r.text for r in read_records(other, "test")][0] == "1 +++$+++ good film"  # not a .txt: plain lines


def test_a_plain_test_file_is_not_taken_for_classic(tmp_path, capsys):
    path = write(tmp_path / "t.txt", "a line with x+++$+++y inside\n")  # not ' +++$+++ ': not the layout
    assert [r.text for r in read_records(path, "test")] == ["a line with x+++$+++y inside"]
    assert capsys.readouterr().err == ""


def test_labels_that_differ_only_in_case_are_warned_of_with_counts(tmp_path, capsys):
    path = write(tmp_path / "t.txt", "pos +++$+++ good\nneg +++$+++ bad\nPOS +++$+++ fine\nPos  +++$+++ fun\n"
                                     "pos +++$+++ nice\n")
    data = read_labeled(path)
    assert data.labels == ["pos", "neg", "POS", "Pos", "pos"]  # read as written: the warning says how to merge
    err = capsys.readouterr().err
    assert err == (f"warning: {path}: labels 'pos' (2 rows, first on line 1), 'POS' (1 row, first on line 3) and "
                   "'Pos' (1 row, first on line 4) differ only in case and train as 3 separate classes; to make them "
                   "one, write them alike in the file (for example every one as 'pos')\n")
    read_labeled(write(tmp_path / "u.txt", "pos +++$+++ good\nneg +++$+++ bad\n"))
    assert capsys.readouterr().err == ""


def test_a_file_that_is_not_utf8_is_told_to_convert_from_windows_1252(tmp_path):
    # Windows-1252's curly quotes and dash: Latin-1 would read them as control characters
    raw = "0 +++$+++ \u201cdull\u201d \u2013 very".encode("cp1252")
    path = write(tmp_path / "a.txt", b"1 +++$+++ ok\n" + raw + b"\n")
    with pytest.raises(DataError) as err:
        read_labeled(path)
    assert "line 2: bytes that are not UTF-8" in str(err.value)
    assert "iconv -f cp1252 -t utf-8" in str(err.value) and "latin1" not in str(err.value)
    assert raw.decode("cp1252") == "0 +++$+++ \u201cdull\u201d \u2013 very"


def test_a_csv_separated_by_semicolons_is_read_so_and_said(tmp_path, capsys):
    path = write(tmp_path / "r.csv", 'text;label\ngood, really;pos\n"bad; awful";neg\n')
    data = read_labeled(path)
    assert data.texts == ["good, really", "bad; awful"] and data.labels == ["pos", "neg"]
    assert capsys.readouterr().err == f"note: {path}: fields separated by ';' (the header is 'text;label'): read with ';'\n"
    test = write(tmp_path / "t.csv", "id;text\n7;fine, thanks\n")
    assert [(r.id, r.text) for r in read_records(test, "test")] == [("7", "fine, thanks")]
    # a header of semicolons without the column asked for: the message says how it was read
    other = write(tmp_path / "o.csv", "review;stars\ngood;5\n")
    with pytest.raises(DataError) as err:
        read_labeled(other)
    assert str(err.value) == (f"{other}, line 1: no column 'text' (the header, read with ';' between fields, has: "
                              "review, stars). Name the text column with --text-column")
    data = read_labeled(write(tmp_path / "p.csv", "review;stars\ngood;5\nbad;1\n"),
                                    columns=Columns(text="review", label="stars"))
    assert data.texts == ["good", "bad"]
    # commas stay commas: a semicolon inside a comma header is part of a name
    assert read_labeled(write(tmp_path / "c.csv", "label,text\n1,a;b\n0,c\n")).texts == ["a;b", "c"]
