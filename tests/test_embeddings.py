import gzip

import numpy as np
import pytest
from click.testing import CliRunner

from sentiment_cli import runs
from sentiment_cli.cli import cli
from sentiment_cli.embeddings import load_vectors
from sentiment_cli.errors import DataError
from sentiment_cli.tokenizer import Tokenizer


def test_glove_and_word2vec_files_load_into_the_right_rows(tmp_path):
    tok = Tokenizer(["", "[UNK]", "love", "hate", "movie"])
    glove = tmp_path / "g.txt"
    glove.write_text("hate 0.5 0.25 -1\nunused 9 9 9\nLove 1 2 3\n")
    matrix, coverage = load_vectors(glove, tok)
    assert matrix.shape == (5, 3)
    assert matrix[2].tolist() == [1, 2, 3]  # matched after lower-casing
    assert matrix[3].tolist() == [0.5, 0.25, -1]
    assert not matrix[0].any()  # padding stays zero
    assert coverage == pytest.approx(2 / 3)
    w2v = tmp_path / "w.txt.gz"
    with gzip.open(w2v, "wt") as f:
        f.write("2 2\nmovie 4 5\nlove 6 7\n")
    matrix, coverage = load_vectors(w2v, tok)
    assert matrix[4].tolist() == [4, 5] and matrix[2].tolist() == [6, 7]


def test_given_vectors_are_weights_not_config(tmp_path):
    """The matrix must not be serialised into the .keras file's JSON config (it was: 55 MB on IMDB)."""
    import zipfile

    from sentiment_cli.config import TrainConfig
    from sentiment_cli.model import build_model

    matrix = np.random.default_rng(0).normal(size=(2000, 16)).astype("float32")
    model = build_model(TrainConfig(labels=["0", "1"], embedding_dim=16, hidden_size=4), 2000, embeddings=matrix)
    assert np.array_equal(model.get_layer("embedding").get_weights()[0], matrix)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert z.getinfo("config.json").file_size < 20_000


def test_bad_vectors_file(tmp_path):
    tok = Tokenizer(["", "[UNK]", "a"])
    bad = tmp_path / "b.txt"
    bad.write_text("a 1 2\nb 1\n")
    with pytest.raises(DataError, match="line 2: 1 fields where the vectors have 2 numbers"):
        load_vectors(bad, tok)


def test_words_with_spaces_take_the_last_fields_as_the_vector(tmp_path):
    tok = Tokenizer(["", "[UNK]", "a", ". . ."])
    vectors = tmp_path / "v.txt"
    vectors.write_text("a 1 2\n. . . 3 4\nb 5 6\n")  # GloVe 840B style: a word with spaces
    matrix, coverage = load_vectors(vectors, tok)
    assert matrix[3].tolist() == [3.0, 4.0] and matrix[2].tolist() == [1.0, 2.0]
    assert coverage == 1.0


def test_train_with_frozen_embeddings_file(tmp_path, labeled_file, tiny_args):
    vectors = tmp_path / "v.txt"
    vectors.write_text("love 1 2 3 4 5\nhate -1 -2 -3 -4 -5\n")
    models = tmp_path / "m"
    result = CliRunner().invoke(cli, ["train", "e", "--train", str(labeled_file), "--models-dir", str(models),
                                      "--embeddings", str(vectors), "--freeze-embeddings", *tiny_args])
    assert result.exit_code == 0, result.output
    run = runs.load_run(models, "e")
    assert run.config.embedding_dim == 5  # the file decides
    table = run.model.get_layer("embedding").get_weights()[0]
    assert table[run.tokenizer.encode("love")[0]].tolist() == [1, 2, 3, 4, 5]  # frozen: unchanged
    assert 0 < run.metrics["embeddings_coverage"] < 1


def test_word2vec_is_the_same_in_every_process():
    import subprocess
    import sys

    code = ("from sentiment_cli.embeddings import pretrain_word2vec\n"
            "from sentiment_cli.tokenizer import Tokenizer\n"
            "t = ['i love it a lot', 'i hate it a lot', 'love love hate'] * 20\n"
            "m, _ = pretrain_word2vec(t, Tokenizer.fit(t, 50), 8, seed=3)\n"
            "print(m.tobytes().hex())")
    # Python salts str hashes per process; gensim must not see that salt.
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")]
    assert outs[0] == outs[1] and len(outs[0]) > 100


def test_pretrained_word2vec_embeddings(tmp_path, labeled_file, tiny_args):
    models = tmp_path / "m"
    result = CliRunner().invoke(cli, ["train", "w", "--train", str(labeled_file), "--models-dir", str(models),
                                      "--pretrain-embeddings", *tiny_args])
    assert result.exit_code == 0, result.output
    run = runs.load_run(models, "w")
    assert run.metrics["embeddings_coverage"] > 0.5


def test_unlabeled_text_adds_its_words_to_the_vocabulary(tmp_path, labeled_file, tiny_args):
    """With few labels, a word only the unlabeled text has still gets an id (and a Word2Vec vector)."""
    unlabeled = tmp_path / "more.txt"
    unlabeled.write_text("a splendid film , splendid\nsplendid acting\n" * 5)
    models = tmp_path / "m"
    result = CliRunner().invoke(cli, ["train", "u", "--train", str(labeled_file), "--models-dir", str(models),
                                      "--unlabeled", str(unlabeled), *tiny_args, "--vocab-size", "200"])
    assert result.exit_code == 0, result.output
    run = runs.load_run(models, "u")
    assert "splendid" in run.tokenizer.vocabulary
    assert run.metrics["embeddings_coverage"] > 0.5
    without = CliRunner().invoke(cli, ["train", "v", "--train", str(labeled_file), "--models-dir", str(models),
                                       *tiny_args, "--vocab-size", "200"])
    assert without.exit_code == 0, without.output
    assert "splendid" not in runs.load_run(models, "v").tokenizer.vocabulary
