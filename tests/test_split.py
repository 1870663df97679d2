"""The validation split: drawn among distinct texts, class by class; a recorded split is kept."""

import json

import numpy as np
import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import runs, training
from sentiment_cli.encoding import draw_split, split_by_hashes, stratified_split, text_hash
from sentiment_cli.errors import DataError

SMALL = ["--vocab-size", "60", "--ngram-buckets", "256", "--seed", "7", "-q", "--folds", "off"]  # one split


def row_drawn(texts, y, val_ratio, seed, *_):
    """The split as 0.6.1 drew it: rows by stratified_split, widened to every copy of a drawn text."""
    _, val_idx = stratified_split(np.asarray(y), val_ratio, seed)
    return split_by_hashes(texts, {text_hash(texts[i]) for i in val_idx})


def forty_lines(path):
    """Two distinct texts per class, ten copies of each, interleaved."""
    texts = {"1": ["a wonderful film", "great fun all day"], "0": ["a terrible film", "boring and sad all day"]}
    path.write_text("".join(f"{label} +++$+++ {t}\n" for _ in range(10) for label in ("1", "0") for t in texts[label]))
    return path, texts


def test_a_class_of_two_texts_with_ten_copies_each_trains(tmp_path):
    """0.6.1 drew 4 of the 40 rows: copies of both texts of a class validated, and '1' had none to train."""
    path, texts = forty_lines(tmp_path / "train.txt")
    result = invoke("train", "forty", "--train", path, "--models-dir", tmp_path / "m", "--model", "ngram", *SMALL)
    assert result.exit_code == 0, result.output
    validation = set(json.loads((tmp_path / "m" / "forty" / runs.SPLIT_FILE).read_text())["validation"])
    for label, pair in texts.items():  # one text of each class validates (all its copies), the other trains
        assert sorted(text_hash(t) in validation for t in pair) == [False, True], label


def _copies_file(seed):
    """Distinct texts of three classes, each with 1 to 12 copies, in a shuffled order; one text
    carries two labels (its copies: 3 x '0', 1 x '1')."""
    rng = np.random.default_rng(seed)
    texts, y = [], []
    for cls, n in ((0, 30), (1, 12), (2, 4)):
        for i in range(n):
            k = int(rng.integers(1, 13))
            texts += [f"class {cls} text {i}"] * k
            y += [cls] * k
    texts += ["a text of two labels"] * 4
    y += [0, 0, 1, 0]
    order = rng.permutation(len(y))
    return [texts[i] for i in order], np.array(y)[order]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_copies_never_straddle_and_every_class_trains_and_validates(seed):
    texts, y = _copies_file(seed)
    split = draw_split(texts, y, 0.1, seed)
    assert sorted(np.concatenate([split.train, split.val]).tolist()) == list(range(len(y)))
    train_hashes = {text_hash(texts[i]) for i in split.train}
    val_hashes = {text_hash(texts[i]) for i in split.val}
    assert not train_hashes & val_hashes and val_hashes == set(split.hashes)
    for cls in range(3):  # at least one distinct text of each class on each side
        assert len({texts[i] for i in split.train if y[i] == cls}) >= 1
        assert len({texts[i] for i in split.val if y[i] == cls}) >= 1
    # the share is of distinct texts: round(0.1 x 31) + 1 + 1: the two-label text counts once, as a "0"
    assert len(split.hashes) == 5
    # the draw follows the texts, not the file's order, and is seeded
    order = np.random.default_rng(99).permutation(len(y))
    again = draw_split([texts[i] for i in order], y[order], 0.1, seed)
    assert again.hashes == split.hashes
    assert draw_split(texts, y, 0.1, seed + 10).hashes != split.hashes
    # the one grouping (also the label-issue folds'): the two-label text is one group, dealt as '0'
    from sentiment_cli.encoding import text_groups

    groups = text_groups(texts, y)
    mixed = groups.of_row[texts.index("a text of two labels")]
    assert groups.label[mixed] == 0 and groups.per_class(3).tolist() == [31, 12, 4]


def test_frequent_texts_are_not_over_represented_in_validation():
    """Half the distinct texts have 10 copies, half one: drawn by row, a text of 10 copies validates
    with probability 1 - 0.9^10 = 0.65 and one of a single copy with 0.1, so that about 87% of the
    validation texts would be frequent ones; drawn by text, half of them are."""
    texts, y = [], []
    for cls in (0, 1):
        for i in range(100):
            copies = 10 if i % 2 else 1
            texts += [f"class {cls} text {i}"] * copies
            y += [cls] * copies
    y = np.array(y)
    frequent = {text_hash(t) for t in texts if texts.count(t) == 10}
    drawn = [h for seed in range(5) for h in draw_split(texts, y, 0.1, seed).hashes]
    share = sum(h in frequent for h in drawn) / len(drawn)
    assert 0.35 < share < 0.65, f"{share:.2f} of the validation texts have 10 copies"
    assert len(drawn) == 5 * 20  # 10% of each class's 100 distinct texts


def test_a_class_of_one_text_is_refused_with_the_fix():
    texts = ["good one", "good two", "bad"] * 3
    y = np.array([1, 1, 0] * 3)
    with pytest.raises(DataError) as error:
        draw_split(texts, y, 0.1, 0, "train.txt", ["0", "1"])
    assert str(error.value) == (
        "train.txt: label '0' has only one distinct text (3 rows), and the validation split needs two of each class, "
        "one to train and one to validate. Add other texts of that class (better: dozens), or leave its rows out")


def test_semi_keeps_the_split_its_base_run_recorded(tmp_path, monkeypatch):
    """A base run whose split.json was drawn by rows (as 0.6.1 drew it): semi validates on its texts,
    and never draws a split."""
    from sentiment_cli.semi import rounds

    labeled = write_labeled(tmp_path / "train.txt", copies=3)
    models = tmp_path / "models"
    monkeypatch.setattr(training, "draw_split", row_drawn)
    assert invoke("train", "quick", "--train", labeled, "--models-dir", models, *TINY, "--model", "ngram",
                  "--val-ratio", "0.25").exit_code == 0
    recorded = set(json.loads((models / "quick" / runs.SPLIT_FILE).read_text())["validation"])
    lines = [line.split(" +++$+++ ") for line in labeled.read_text().splitlines()]
    texts, y = [t for _, t in lines], np.array([int(label) for label, _ in lines])
    assert recorded != set(draw_split(texts, y, 0.25, 7).hashes)  # the new draw would differ

    def no_draw(*args):
        raise AssertionError("a recorded split was drawn again")

    monkeypatch.setattr(training, "draw_split", no_draw)
    monkeypatch.setattr("sentiment_cli.encoding.draw_split", no_draw)
    real, seen = rounds._train_round, []
    monkeypatch.setattr(rounds, "_train_round", lambda config, state, *a: seen.append(set(state.data.val_texts))
                        or real(config, state, *a))
    unlabeled = tmp_path / "nolabel.txt"
    unlabeled.write_text("great fun day\nawful sad day\nlove love it\nhate hate it\n")
    result = invoke("semi", "quick", "--unlabeled", unlabeled, "--models-dir", models, "--rounds", "1",
                    "--select", "rank", "-q")
    assert result.exit_code == 0, result.output
    assert seen and {text_hash(t) for t in seen[0]} == recorded


def test_train_resume_keeps_the_split_it_recorded(tmp_path, monkeypatch):
    """A training interrupted after its first epoch, its split drawn by rows (as 0.6.1 drew it):
    --resume rebuilds that split from inputs.json and never draws one."""
    from sentiment_cli.workspace import Workspace

    labeled = write_labeled(tmp_path / "train.txt", copies=2)
    monkeypatch.setattr(training, "draw_split", row_drawn)
    real_commit = Workspace.commit

    def stop(self, state):
        real_commit(self, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "commit", stop)
    args = ["--train", labeled, *TINY, "--model", "bow", "--epochs", "2", "--patience", "2", "--val-ratio", "0.25"]
    result = invoke("train", "resumed", *args, "--models-dir", tmp_path / "m")
    assert result.exit_code == 1 and "--resume" in result.output
    recorded = json.loads((tmp_path / "m" / ".resumed.work" / "inputs.json").read_text())["split"]["validation"]
    lines = [line.split(" +++$+++ ") for line in labeled.read_text().splitlines()]
    texts, y = [t for _, t in lines], np.array([int(label) for label, _ in lines])
    assert recorded == row_drawn(texts, y, 0.25, 7).hashes != draw_split(texts, y, 0.25, 7).hashes

    def no_draw(*args):
        raise AssertionError("a recorded split was drawn again")

    monkeypatch.setattr(Workspace, "commit", real_commit)
    monkeypatch.setattr(training, "draw_split", no_draw)
    result = invoke("train", "resumed", "--models-dir", tmp_path / "m", "--resume", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m" / "resumed" / runs.SPLIT_FILE).read_text())["validation"] == recorded
