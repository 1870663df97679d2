import csv
import gzip
import io
import json

import numpy as np
import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import predict, runs
from sentiment_cli.scoring import classification_report


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two tiny binary runs and a three-class run, trained once for the module."""
    root = tmp_path_factory.mktemp("predict")
    labeled = write_labeled(root / "train.txt")
    three = root / "three.csv"
    # distinct texts: a text repeated is on one side of the validation split only
    three.write_text("label,text\n" + "".join(f"{l},{l} words {i // 3}\n" for i, l in enumerate(["neg", "neu", "pos"] * 6)))
    models = root / "models"
    for name, path, seed in [("a", labeled, "1"), ("b", labeled, "2"), ("three", three, "1")]:
        args = [a if a != "7" else seed for a in TINY]
        result = invoke("train", name, "--train", path, "--models-dir", models, *args)
        assert result.exit_code == 0, result.output
    return models


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


TRICKY = ('id,text\r\n'
          '7,"quoted, with ""commas"", and more"\r\n'
          '3,\r\n'
          '3,duplicate id, love it\r\n'
          'x,"an unclosed quote, great\r\n'
          '5,last line without newline')


def test_count_order_and_ids_on_a_tricky_file(models, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(TRICKY.encode())
    out = tmp_path / "out.csv"
    result = invoke("test", "a", "--input", src, "--output", out, "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    table = rows(out)
    assert table[0] == ["id", "label"]
    assert [r[0] for r in table[1:]] == ["7", "3", "3", "x", "5"]
    out = tmp_path / "p.csv"
    invoke("test", "a", "--input", src, "--output", out, "--probabilities", "--models-dir", models, "-q")
    with_probs = rows(out)
    assert with_probs[0] == ["id", "label", "p_0", "p_1"]
    probs = np.array([[float(v) for v in r[2:]] for r in with_probs[1:]])
    assert np.isfinite(probs).all()  # the empty text too (a fully masked mean would be 0/0)
    # each row's label is the one its probabilities give (threshold 0.5), in both outputs
    assert [r[:2] for r in with_probs[1:]] == table[1:]
    assert [r[1] for r in table[1:]] == ["1" if p1 >= 0.5 else "0" for p1 in probs[:, 1]]


def test_output_matches_in_memory_prediction_whatever_the_chunking(models, tmp_path):
    texts = [f"{w} " * (i % 7) for i, w in enumerate(["love", "hate", "great", "awful", "fun"] * 9)]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(texts) + "\n")
    outs = []
    for chunk, batch in [(1, 1), (4, 3), (1000, 1000)]:
        out = tmp_path / f"out{chunk}.csv"
        assert invoke("test", "a", "--input", src, "--output", out, "--probabilities", "--chunk-size", chunk,
                      "--batch-size", batch, "--models-dir", models, "-q").exit_code == 0
        outs.append(rows(out))
    # ids and labels match exactly; probabilities to float32 rounding (TensorFlow's CPU kernels
    # round a row's last bit differently at different places in a batch)
    assert [r[:2] for r in outs[0]] == [r[:2] for r in outs[1]] == [r[:2] for r in outs[2]]
    for other in outs[1:]:
        assert np.allclose(np.array([r[2:] for r in other[1:]], dtype=float),
                           np.array([r[2:] for r in outs[0][1:]], dtype=float), atol=2e-6)
    run = runs.load_run(models, "a")
    expected = predict.Predictor([run]).probabilities(texts)
    got = np.array([[float(v) for v in r[2:]] for r in outs[0][1:]])
    assert got.shape == (45, 2)
    assert np.allclose(got, expected, atol=1e-5)
    assert [r[0] for r in outs[0][1:]] == [str(i) for i in range(1, 46)]  # plain lines: line numbers


def test_gzip_stdin_and_stdout(models, tmp_path):
    src = tmp_path / "in.txt.gz"
    with gzip.open(src, "wt") as f:
        f.write("id,text\n1,love it\n2,hate it\n")
    result = invoke("test", "a", "--input", src, "--output", "-", "--models-dir", models, "-q")
    assert result.exit_code == 0
    assert [r[0] for r in csv.reader(io.StringIO(result.stdout))] == ["id", "1", "2"]
    result = invoke("test", "a", "--input", "-", "--output", "-", "--models-dir", models, "-q",
                    input="love it\nhate it\n")
    assert [r[0] for r in csv.reader(io.StringIO(result.stdout))] == ["id", "1", "2"]


def test_a_classic_labeled_file_is_labeled_by_its_texts(models, tmp_path):
    """train's default layout given to test: the texts are labeled (the same as alone), not whole lines."""
    texts = ["great fun movie", "i hate it", "so good , love it", "awful boring movie"]
    classic = tmp_path / "labeled.txt"
    classic.write_text("".join(f"{i % 2} +++$+++ {t}\n" for i, t in enumerate(texts)))
    plain = tmp_path / "plain.txt"
    plain.write_text("".join(f"{t}\n" for t in texts))
    outs = {}
    for src, fmt in [(plain, "auto"), (classic, "auto"), (classic, "classic")]:
        out = tmp_path / f"{src.stem}-{fmt}.csv"
        result = invoke("test", "a", "--input", src, "--output", out, "--format", fmt, "--probabilities",
                        "--models-dir", models, "-q")
        assert result.exit_code == 0, result.output
        outs[src.stem, fmt] = rows(out)
        said = f"{src} is labeled (LABEL +++$+++ TEXT): its texts are read and its labels ignored"
        assert (said in result.stderr) == (src == classic), result.stderr
        assert result.stderr.count("labels ignored") == (src == classic)
    assert outs["plain", "auto"] == outs["labeled", "auto"] == outs["labeled", "classic"]
    assert [r[0] for r in outs["labeled", "auto"][1:]] == ["1", "2", "3", "4"]  # line numbers


def test_labels_and_threshold(models, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("love it\nhate it\nfun\n")
    out = tmp_path / "o.csv"
    for threshold, expected in [("0.000001", "1"), ("0.999999", "0")]:
        invoke("test", "a", "--input", src, "--output", out, "--threshold", threshold, "--models-dir", models, "-q")
        assert {r[1] for r in rows(out)[1:]} == {expected}
    result = invoke("test", "three", "--input", src, "--output", out, "--probabilities", "--models-dir", models, "-q")
    assert rows(out)[0] == ["id", "label", "p_neg", "p_neu", "p_pos"]
    assert {r[1] for r in rows(out)[1:]} <= {"neg", "neu", "pos"}
    result = invoke("test", "three", "--input", src, "--output", out, "--threshold", "0.3", "--models-dir", models)
    assert result.exit_code == 1 and "binary runs only" in result.output


def test_top_k_and_json_summary(models, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("neg words\npos words\nneu\n")
    out = tmp_path / "o.csv"
    result = invoke("test", "three", "--input", src, "--output", out, "--probabilities", "--top-k", "2", "--json",
                    "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 3 and summary["output"] == str(out) and summary["runs"] == ["three"]
    table = rows(out)
    assert table[0] == ["id", "label", "p_neg", "p_neu", "p_pos", "label_1", "p_1", "label_2", "p_2"]
    for row in table[1:]:
        p = dict(zip(["neg", "neu", "pos"], map(float, row[2:5])))
        assert row[5] == row[1] == max(p, key=p.get)  # the likeliest first, and it is the label
        assert float(row[6]) >= float(row[8]) and row[7] != row[5]
        assert float(row[8]) == pytest.approx(sorted(p.values())[-2], abs=1e-6)
    result = invoke("test", "a", "--input", src, "--output", out, "--top-k", "2", "--models-dir", models, "-q")
    assert result.exit_code == 2 and "more than two classes" in result.output
    result = invoke("test", "a", "--input", src, "--output", "-", "--json", "--models-dir", models, "-q")
    assert result.exit_code == 2 and "--output FILE" in result.output
    assert "--label-column" not in invoke("test", "--help").output  # test reads no labels


def test_failure_mid_stream_leaves_no_output(models, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"id,text\n" + b"".join(b"%d,fine text\n" % i for i in range(50)) + b"50,caf\xe9\n")
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")
    result = invoke("test", "a", "--input", src, "--output", out, "--chunk-size", "8", "--models-dir", models, "-q")
    assert result.exit_code == 1
    assert "line 52: bytes that are not UTF-8" in result.output
    assert out.read_text() == "previous results\n"  # untouched, and no temporary file beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.csv"]


def test_empty_input_is_an_error(models, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("id,text\n")
    result = invoke("test", "a", "--input", src, "--output", tmp_path / "o.csv", "--models-dir", models, "-q")
    assert result.exit_code == 1 and "no rows to predict" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_ensemble_averages_probabilities(models, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("love it\nhate it\nboring fun\n")
    out = {}
    for names in (["a"], ["b"], ["a", "b"]):
        path = tmp_path / f"{'-'.join(names)}.csv"
        extra = [x for n in names[1:] for x in ("--run", n)]
        assert invoke("test", names[0], *extra, "--input", src, "--output", path, "--probabilities",
                      "--models-dir", models, "-q").exit_code == 0
        out[tuple(names)] = np.array([[float(v) for v in r[2:]] for r in rows(path)[1:]])
    assert np.allclose(out[("a", "b")], (out[("a",)] + out[("b",)]) / 2, atol=2e-6)


def test_ensemble_with_different_labels_is_refused(models, tmp_path):
    result = invoke("test", "a", "three", "--models-dir", models, "--output", tmp_path / "o.csv")
    assert result.exit_code == 1
    assert "different label sets" in result.output


def test_foreign_tokenizer_is_refused_by_test(models, tmp_path):
    import shutil

    shutil.copytree(models / "a", tmp_path / "m" / "a")
    (tmp_path / "m" / "a" / runs.TOKENIZER_FILE).write_text((models / "three" / runs.TOKENIZER_FILE).read_text())
    result = invoke("test", "a", "--models-dir", tmp_path / "m", "--output", tmp_path / "o.csv")
    assert result.exit_code == 1
    assert "does not belong to the model" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_classification_report_by_hand():
    # true: 0 0 0 1 1 2 ; pred: 0 1 0 1 2 2
    report = classification_report(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2, 2]), ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    a, b, c = (report["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"]) == (1.0, pytest.approx(2 / 3))
    assert (b["precision"], b["recall"], b["f1"]) == (0.5, 0.5, 0.5)
    assert (c["precision"], c["recall"], c["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_evaluate_prints_saves_and_lists_errors(models, tmp_path):
    src = tmp_path / "eval.txt"
    src.write_text("1 +++$+++ love it\n0 +++$+++ hate it\n1 +++$+++ awful awful\n0 +++$+++ great fun\n")
    result = invoke("evaluate", "a", "--input", src, "--errors", "2", "--models-dir", models, "-q", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["examples"] == 4
    assert sum(map(sum, report["confusion_matrix"])) == 4
    wrong = 4 - round(report["accuracy"] * 4)
    assert len(report["errors"]) == min(wrong, 2)
    assert json.loads((models / "a" / runs.EVALUATION_FILE).read_text())["accuracy"] == report["accuracy"]
    result = invoke("evaluate", "a", "--input", src, "--models-dir", models, "-q")
    assert "accuracy" in result.output and "pred 1" in result.output


def test_evaluate_unknown_label(models, tmp_path):
    src = tmp_path / "eval.txt"
    src.write_text("1 +++$+++ love it\n7 +++$+++ hate it\n")
    result = invoke("evaluate", "a", "--input", src, "--models-dir", models, "-q")
    assert result.exit_code == 1
    assert "line 2: label '7' is not one the run knows (0, 1)" in result.output


CLASSIC_TEST = "id,text\n0,love it , great fun\n1,hate it , awful\n2,best day ever\n3,worst day ever\n"


def test_evaluate_joins_a_gold_file_by_id(models, tmp_path):
    src = tmp_path / "testing_data.txt"
    src.write_text(CLASSIC_TEST)
    gold = tmp_path / "testing_label.csv"
    gold.write_text("id,label\n3,0\n1,0\n0,1\n2,1\n9,1\n")  # another order, and one id the input lacks
    result = invoke("evaluate", "a", "--input", src, "--gold", gold, "--models-dir", models, "-q", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["examples"] == 4 and report["gold"] == str(gold)
    # the same figures as the labeled file with the same texts and labels
    labeled = tmp_path / "labeled.txt"
    labeled.write_text("1 +++$+++ love it , great fun\n0 +++$+++ hate it , awful\n1 +++$+++ best day ever\n"
                       "0 +++$+++ worst day ever\n")
    direct = json.loads(invoke("evaluate", "a", "--input", labeled, "--models-dir", models, "-q", "--json").stdout)
    assert report["confusion_matrix"] == direct["confusion_matrix"]
    assert "1 ids of" in result.stderr and "not in" in result.stderr
    # 'best day ever' and 'worst day ever' are training rows of run a
    assert report["rows_in_training_data"] == 2 and "2 of 4 rows of" in result.stderr

    gold.write_text("id,label\n0,1\n1,0\n2,1\n")
    result = invoke("evaluate", "a", "--input", src, "--gold", gold, "--models-dir", models, "-q")
    assert result.exit_code == 1
    assert f"{src}, line 5: id '3' has no label in {gold}" in result.output


def test_evaluate_scores_and_validates_a_predictions_file(models, tmp_path):
    src = tmp_path / "testing_data.txt"
    src.write_text(CLASSIC_TEST)
    gold = tmp_path / "testing_label.csv"
    gold.write_text("id,label\n0,1\n1,0\n2,1\n3,0\n")
    out = tmp_path / "result.csv"
    assert invoke("test", "a", "--input", src, "--output", out, "--probabilities", "--models-dir", models,
                  "-q").exit_code == 0
    scored = invoke("evaluate", "--predictions", out, "--gold", gold, "--json")
    assert scored.exit_code == 0, scored.output
    by_model = json.loads(invoke("evaluate", "a", "--input", src, "--gold", gold, "--models-dir", models,
                                 "-q", "--json").stdout)
    assert json.loads(scored.stdout)["confusion_matrix"] == by_model["confusion_matrix"]

    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\n0,1\n0,0\n7,1\n1,maybe\n2\n")
    result = invoke("evaluate", "--predictions", bad, "--gold", gold)
    assert result.exit_code == 1
    for problem in ["line 3: id '0' again (first on line 2)", "line 4: id '7' is not in",
                    "line 5: label 'maybe' is not one of 0, 1", "line 6: 1 fields where the header has 2",
                    "2 ids of", "have no prediction ('2', '3')"]:
        assert problem in result.output, problem
    bad.write_text("id,prediction\n0,1\n")
    result = invoke("evaluate", "--predictions", bad, "--gold", gold)
    assert result.exit_code == 1 and "line 1: no column 'label' (the header has: id, prediction)" in result.output
    assert invoke("evaluate", "--predictions", out).exit_code == 2  # --gold missing
    assert invoke("evaluate", "a", "--predictions", out, "--gold", gold).exit_code == 2


def test_a_predicted_class_the_gold_rows_lack_is_known_from_the_probability_columns(tmp_path):
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\n0,1\n1,1\n")
    predictions = tmp_path / "p.csv"
    predictions.write_text("id,label,p_0,p_1\n0,1,0.2,0.8\n1,0,0.7,0.3\n")
    result = invoke("evaluate", "--predictions", predictions, "--gold", gold, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accuracy"] == 0.5 and report["labels"] == ["0", "1"]
    predictions.write_text("id,label\n0,1\n1,0\n")  # no probability columns: '0' is unknown
    assert invoke("evaluate", "--predictions", predictions, "--gold", gold).exit_code == 1
