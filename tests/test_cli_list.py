import json

from helpers import invoke

from sentiment_cli import runs
from sentiment_cli.tokenizer import Tokenizer


def fake_run(models, name, labels):
    """The JSON files `list` reads, without a model (it loads none)."""
    path = models / name
    path.mkdir(parents=True)
    (path / runs.CONFIG_FILE).write_text(json.dumps({"hyperparameters": {"labels": labels, "model": "ngram"},
                                                     "created": "2026-11-30T10:00:00"}))
    (path / runs.METRICS_FILE).write_text(json.dumps({"best_val_accuracy": 0.875}))
    Tokenizer(["", "[UNK]", "good"]).save(path / runs.TOKENIZER_FILE)


def test_list_cuts_long_label_sets_with_an_ellipsis(tmp_path):
    fake_run(tmp_path, "many", ["anger", "disgust", "fear", "joy", "sadness", "surprise"])
    fake_run(tmp_path, "two", ["0", "1"])
    result = invoke("list", "--models-dir", tmp_path)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "anger,disgust,fear,…" in lines["many"] and "joy" not in lines["many"]
    assert lines["many"].split()[1] == "anger,disgust,fear,…" and len(lines["many"].split()[1]) == 20
    assert lines["two"].split()[1] == "0,1"
    listed = json.loads(invoke("list", "--models-dir", tmp_path, "--json").stdout)
    assert listed[0]["labels"] == ["anger", "disgust", "fear", "joy", "sadness", "surprise"]  # JSON: whole
