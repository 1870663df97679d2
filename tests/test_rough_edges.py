"""The rough edges of issue 31's hour with small data (0.6.1, 2026-12-07): each command's message,
exactly, and its exit code."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from helpers import NEGATIVE, POSITIVE, TINY, invoke, texts, write_labeled

from sentiment_cli import workspace
from sentiment_cli.cli import cli


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """One tiny hybrid run trained on a table with its own column names (review, sentiment)."""
    root = tmp_path_factory.mktemp("edges")
    positive, negative = texts(2)
    table = root / "reviews.csv"
    with open(table, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "review", "sentiment"])
        writer.writerows([i, t, "pos"] for i, t in enumerate(positive))
        writer.writerows([100 + i, t, "neg"] for i, t in enumerate(negative))
    models = root / "models"
    result = invoke("train", "shop", "--train", table, "--text-column", "review", "--label-column", "sentiment",
                    "--models-dir", models, *TINY)
    assert result.exit_code == 0, result.output
    return root, models


def test_explain_offers_the_on_bad_lines_its_message_names(shop, tmp_path):
    _, models = shop
    rows = tmp_path / "rows.csv"
    rows.write_text("id,review\n1,i love it\n2,\n", encoding="utf-8")
    refused = invoke("explain", "shop", "--input", rows, "--models-dir", models)
    assert refused.exit_code == 1
    assert refused.stderr == (f"Error: {rows}, line 3: an empty text. Fix or remove the line, or pass "
                              "--on-bad-lines warn (or skip) to leave it out\n")
    result = invoke("explain", "shop", "--input", rows, "--models-dir", models, "--on-bad-lines", "warn", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"warning: {rows}, line 3: an empty text; line skipped\n"
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["i love it"]


def test_test_says_which_rows_it_labeled_without_a_word(shop, tmp_path):
    _, models = shop
    rows = tmp_path / "rows.csv"
    rows.write_text("id,review\n1,i love it\n2,\n3,   \n4,awful\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = invoke("test", "shop", "--input", rows, "--output", out, "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    labeled = list(csv.reader(out.open(encoding="utf-8")))
    assert [row[0] for row in labeled] == ["id", "1", "2", "3", "4"]  # every row keeps its place
    assert labeled[2][1] == labeled[3][1]
    assert result.stderr == (f"warning: 2 rows of {rows} have no text (the first on line 3), labeled "
                             f"{labeled[2][1]!r}: the label the model gives a text without words, not a prediction\n")


def test_a_comma_file_read_as_tsv_is_told_its_format(shop, tmp_path):
    _, models = shop
    rows = tmp_path / "rows.csv"
    rows.write_text("id,review\n1,i love it\n", encoding="utf-8")
    result = invoke("test", "shop", "--input", rows, "--format", "tsv", "--output", tmp_path / "o.csv",
                    "--models-dir", models)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {rows}, line 1: no column 'review': read as TSV, the header 'id,review' is "
                             "one field, and commas separate its names. Pass --format csv\n")


def test_a_huge_epoch_count_is_refused_at_the_door_with_trains_usage(tmp_path):
    args = ["train", "big", "--train", write_labeled(tmp_path / "train.txt"), "--epochs", "1000000000",
            "--models-dir", tmp_path / "m"]
    result = CliRunner().invoke(cli, [str(a) for a in args], prog_name="sentiment-cli", catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == ("Usage: sentiment-cli train [OPTIONS] RUN\n"
                             "Try 'sentiment-cli train --help' for help.\n\n"
                             "Error: Invalid value for '--epochs': 1000000000 is not in the range 1<=x<=10000.\n")
    assert not (tmp_path / "m").exists()


def test_an_interrupted_run_is_listed_and_named_with_its_resume_command(shop, tmp_path, monkeypatch):
    from sentiment_cli.workspace import Workspace

    _, trained = shop
    models = tmp_path / "models"
    real, calls = Workspace.commit, []

    def ctrl_c_after_the_first(self, state):
        real(self, state)
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "commit", ctrl_c_after_the_first)
    stopped = invoke("train", "cut", "--train", write_labeled(tmp_path / "train.txt"), "--models-dir", models,
                     *TINY, "--no-pretrain-embeddings")
    assert stopped.exit_code == 1 and calls == [1]
    monkeypatch.setattr(Workspace, "commit", real)
    # a semi and a tune run with a committed step, made as they make theirs
    semi = Workspace.start(models, "cut-semi", "semi", False)
    semi.record_inputs({"base": {"path": str(trained / "shop")}})
    semi.commit({"rounds": []})
    Workspace.start(models, "best", "tune", False).commit({})

    resume = {"cut": f"sentiment-cli train cut --resume --models-dir {models}",
              "cut-semi": f"sentiment-cli semi {trained / 'shop'} --output-run cut-semi --resume --models-dir {models}",
              "best": f"sentiment-cli tune best --resume --models-dir {models}"}
    for name, command in resume.items():
        for args in (["info", name], ["info", name, "--json"], ["test", name, "--input", tmp_path / "train.txt"]):
            result = invoke(*args, "--models-dir", models)
            assert result.exit_code == 1, (args, result.output)
            assert result.stderr == f"Error: {name} is interrupted: resume it with `{command}`\n", args
    listed = invoke("list", "--models-dir", models)
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[1:] == [
        f"{'best':<24} (tune) interrupted: resume it with `{resume['best']}`",
        f"{'cut':<24} (train) interrupted: resume it with `{resume['cut']}`",
        f"{'cut-semi':<24} (semi) interrupted: resume it with `{resume['cut-semi']}`"]
    rows = json.loads(invoke("list", "--models-dir", models, "--json").stdout)
    assert [(r["run"], r["kind"], r["state"], r["command"]) for r in rows] == [
        (name, kind, "interrupted", resume[name]) for name, kind in (("best", "tune"), ("cut", "train"),
                                                                    ("cut-semi", "semi"))]
    # and the command it names does resume it
    resumed = invoke("train", "cut", "--resume", "--models-dir", models, "-q")
    assert resumed.exit_code == 0, resumed.output
    assert workspace.work_path(models, "cut").exists() is False


def test_a_class_with_one_row_is_refused(tmp_path):
    train = write_labeled(tmp_path / "train.txt")
    with open(train, "a", encoding="utf-8") as f:
        f.write("2 +++$+++ it was a film\n")
    result = invoke("train", "one", "--train", train, "--models-dir", tmp_path / "m", *TINY, "--model", "ngram")
    assert result.exit_code == 1
    # the split is drawn among distinct texts (encoding.draw_split), which refuses it first
    assert result.stderr == (f"Error: {train}: label '2' has only one distinct text, and the validation split needs "
                             "two of each class, one to train and one to validate. Add other texts of that class "
                             "(better: dozens), or leave its rows out\n")
    assert list((tmp_path / "m").iterdir()) == []


def test_semi_prints_no_tensorflow_retracing_warning(shop, tmp_path):
    """In a process of its own: TensorFlow logs at most a few such warnings per process, on the
    stderr it found at its start (CliRunner's would not see them)."""
    models = tmp_path / "models"
    shutil.copytree(shop[1], models)
    unlabeled = tmp_path / "nolabel.txt"
    unlabeled.write_text("\n".join(f"{t} indeed" for t in POSITIVE + NEGATIVE) + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "sentiment_cli", "semi", "shop", "--unlabeled", str(unlabeled),
                             "--rounds", "2", "--epochs-per-round", "1", "--output-run", "semi", "--models-dir",
                             str(models), "-q", "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["run"] == str(models / "semi")
    assert "retracing" not in result.stderr


def test_tune_says_the_few_validation_rows_once(tmp_path):
    result = invoke("tune", "t", "--train", write_labeled(tmp_path / "train.txt"), "--budget", "5m", "--trials", "2",
                    "--models-dir", tmp_path / "m", *TINY, "--model", "ngram", "--json")
    assert result.exit_code == 0, result.output
    warning = ("warning: validation holds only 4 rows: its accuracy moves in steps of 25% and says little; give "
               "more data or a larger --val-ratio\n")
    assert result.stderr.count(warning) == 1


def test_suggest_writes_the_runs_column_names(shop, tmp_path):
    _, models = shop
    unlabeled = tmp_path / "nolabel.txt"
    unlabeled.write_text("what a fun day\nso dull and sad\n", encoding="utf-8")
    out = tmp_path / "to_label.csv"
    result = invoke("suggest", "shop", "--unlabeled", unlabeled, "--format", "lines", "--output", out,
                    "--models-dir", models, "-q")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines()[0] == \
        "sentiment,review,line,predicted,probability,uncertainty,disagreement,score"


def test_export_keeps_the_version_folder_a_savedmodel(shop, tmp_path):
    import tensorflow as tf

    _, models = shop
    out = tmp_path / "exported" / "shop" / "1"
    result = invoke("export", "shop", out, "--models-dir", models)
    assert result.exit_code == 0, result.output
    info = out / "assets.extra" / "sentiment-cli.json"
    assert result.stdout == f"SavedModel written to {out}\nlabels and threshold: {info}\n"
    assert sorted(p.name for p in out.iterdir()) == ["assets", "assets.extra", "fingerprint.pb", "saved_model.pb",
                                                     "variables"]
    assert json.loads(info.read_text())["labels"] == ["neg", "pos"]
    assert tf.saved_model.contains_saved_model(str(out))
    assert os.listdir(out.parent) == ["1"]  # TF Serving's base path: versions only
    again = invoke("export", "shop", out, "--models-dir", models, "--overwrite")
    assert again.exit_code == 0, again.output


def test_a_tiny_training_side_is_pointed_out(tmp_path):
    result = invoke("train", "v", "--train", write_labeled(tmp_path / "train.txt"), "--val-ratio", "0.99",
                    "--models-dir", tmp_path / "m", *TINY, "--model", "ngram")
    assert result.exit_code == 0, result.output
    assert ("warning: training holds only 2 of 40 rows, validation 38: the model learns from 2 examples; a smaller "
            "--val-ratio (0.1 to 0.2 is usual) trains on more\n") in result.stderr


@pytest.mark.parametrize("header, fix", [
    ("id,review", "Give its labels with --gold FILE (a CSV 'id,label', joined by id)"),
    ("id,review,stars", "Give its labels with --gold FILE (a CSV 'id,label', joined by id), or name the label "
                        "column with --label-column"),
])
def test_evaluate_on_a_file_without_labels_suggests_gold(shop, tmp_path, header, fix):
    _, models = shop
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{header}\n1,i love it{',5' if 'stars' in header else ''}\n", encoding="utf-8")
    result = invoke("evaluate", "shop", "--input", rows, "--models-dir", models, "-q")
    assert result.exit_code == 1
    listed = ", ".join(header.split(","))
    assert result.stderr == f"Error: {rows}, line 1: no column 'sentiment' (the header has: {listed}). {fix}\n"


def test_check_and_semi_check_their_sizes_at_the_door(tmp_path):
    train = write_labeled(tmp_path / "train.txt")
    result = invoke("check", "--train", train, "--vocab-size", "5000000")
    assert result.exit_code == 2
    assert "Invalid value for '--vocab-size': 5000000 is not in the range 3<=x<=1000000." in result.stderr
    result = invoke("semi", "base", "--epochs-per-round", "1000000000", "--models-dir", tmp_path / "m")
    assert result.exit_code == 2
    assert "Invalid value for '--epochs-per-round': 1000000000 is not in the range 1<=x<=10000." in result.stderr


def test_the_resume_command_of_an_interrupted_overwrite_says_overwrite(tmp_path):
    """An interrupted `train demo --overwrite` leaves the finished demo in place: its resume needs --overwrite."""
    models = tmp_path / "m"
    work = models / ".demo.work"
    work.mkdir(parents=True)
    assert "--overwrite" not in workspace._resume_command(models, "demo", work, "train")
    (models / "demo").mkdir()
    assert workspace._resume_command(models, "demo", work, "train").startswith(
        "sentiment-cli train demo --resume --overwrite")
