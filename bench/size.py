"""How big a run is, and what storing its n-gram half compact costs: one run per data set.

    python bench/size.py [--data imdb,tweets] [--limit N]

Trains the defaults (in-process, as `train` does), then saves the model twice: as runs store it
(model.stored_form) and in the full form (every hash row's weight and ratio and the word vectors
in float32, as 0.2.0 stored them). --reuse stores the full form of an earlier call anew, as this
version stores a run, without training again. Prints, per data set:
the run directory's size and its files, both model files' sizes, and on the validation and test
rows the accuracy of each form and the number of labels that differ between them. Data comes from
../shared/data/{imdb,tweets}/ (skipped with a message when absent); files go to bench/out/size/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "size"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="imdb,tweets", help="comma-separated: imdb, tweets")
    parser.add_argument("--limit", type=int, help="train on the first N labeled rows only (a quick look)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the runs a previous call trained (bench/out/size/) without training them again")
    args = parser.parse_args()
    rows = []
    for name in args.data.split(","):
        directory = SHARED / name
        if not (directory / "training_label.txt.gz").exists():
            print(f"SKIPPED {name}: {directory} not found (the benchmark data lives in ../shared/data/)",
                  file=sys.stderr)
            continue
        rows.append(measure(name, directory, args.limit, args.reuse))
    for row in rows:
        print(f"\n== {row['data']} ({row['train_rows']:,} training rows, {row['seconds']:.0f} s to train)")
        print(f"run directory {row['run_bytes'] / 1e6:.1f} MB: " +
              ", ".join(f"{k} {v / 1e6:.2f}" for k, v in sorted(row["files"].items(), key=lambda kv: -kv[1])))
        print(f"best.keras    stored (compact n-grams, float16) {row['compact_bytes'] / 1e6:.1f} MB; "
              f"full table (float32) {row['full_bytes'] / 1e6:.1f} MB")
        print(f"n-gram rows   {row['kept']:,} of {row['rows']:,} stored")
        for split in ("validation", "test"):
            figures = row[split]
            if figures:
                print(f"{split:<13} accuracy full {figures['full']:.4f}, stored {figures['stored']:.4f}; labels that "
                      f"differ: {figures['differ']} of {figures['n']:,}; largest |p difference| {figures['max_p']:.2e}")


def measure(name: str, directory: Path, limit: int | None, reuse: bool) -> dict:
    run_dir, full_path = OUT / name, OUT / f"{name}-full.keras"
    if not (reuse and full_path.exists() and (run_dir / "config.json").exists()):
        train_run_here(name, directory, limit)
    return compare(name, directory)


def train_run_here(name: str, directory: Path, limit: int | None) -> None:
    """Train the defaults into OUT/NAME (a run directory) and OUT/NAME-full.keras (the full form)."""
    from sentiment_cli import runs
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import read_labeled
    from sentiment_cli.encoding import Encoder, draw_split, text_hashes
    from sentiment_cli.fit import FitOptions
    from sentiment_cli.model import text_model
    from sentiment_cli.training import TrainData, save_run, train

    path = directory / "training_label.txt.gz"
    data = read_labeled(path, progress=True)
    texts, labels = (data.texts[:limit], data.labels[:limit]) if limit else (data.texts, data.labels)
    config = TrainConfig(normalize="tweets") if name == "tweets" else TrainConfig()
    encoder = Encoder.from_config(config)
    encoder.labels = config.labels = sorted(set(labels))
    y = encoder.encode_labels(labels)
    split = draw_split(texts, y, config.val_ratio, config.seed)
    run_dir = OUT / name
    run_dir.mkdir(parents=True, exist_ok=True)
    result = train(config, TrainData([texts[i] for i in split.train], y[split.train],
                                     [texts[i] for i in split.val], y[split.val]), run_dir, encoder,
                   options=FitOptions(progress=True))
    save_run(run_dir, config, result, {"train": str(path), "limit": limit}, None)
    runs.write_json(run_dir / runs.TEXTS_FILE, text_hashes(texts))
    runs.write_json(run_dir / runs.SPLIT_FILE, split.record())
    text_model(result.fitted, encoder.tokenizer, config).save(OUT / f"{name}-full.keras")  # the 0.2.0 form


def compare(name: str, directory: Path) -> dict:
    """The run stored anew from its full form (as this version stores a run), and both forms'
    decisions on the validation and test rows."""
    import numpy as np

    from common import read_test_labels
    from sentiment_cli import runs
    from sentiment_cli.data import read_labeled, read_records
    from sentiment_cli.encoding import Encoder, split_by_hashes
    from sentiment_cli.model import predict_proba

    run_dir, full_path = OUT / name, OUT / f"{name}-full.keras"
    run = runs.load_run(OUT, name, with_model=False)
    full = runs.load_model(full_path)
    runs.save_model(run_dir / runs.MODEL_FILE, full, run.tokenizer, run.config)
    stored = runs.load_model(run_dir / runs.MODEL_FILE)
    encoder = Encoder.from_config(run.config, run.tokenizer)
    data = read_labeled(directory / "training_label.txt.gz")
    limit = run.record.get("data", {}).get("limit")
    texts, labels = (data.texts[:limit], data.labels[:limit]) if limit else (data.texts, data.labels)
    split = split_by_hashes(texts, runs.read_json(run_dir / runs.SPLIT_FILE)["validation"])
    y = encoder.encode_labels(labels)

    def decisions(texts_, y_):
        seqs = encoder.sequences(texts_)
        a = predict_proba(full, seqs, encoder.features)
        b = predict_proba(stored, seqs, encoder.features)
        return {"n": len(y_), "full": float(np.mean(a.argmax(1) == y_)), "stored": float(np.mean(b.argmax(1) == y_)),
                "differ": int(np.sum(a.argmax(1) != b.argmax(1))), "max_p": float(np.abs(a - b).max())}

    test = None
    if (directory / "testing_data.txt.gz").exists():
        records = list(read_records(directory / "testing_data.txt.gz", "test"))
        gold = read_test_labels(directory / "testing_label.csv.gz")
        test = decisions([r.text for r in records], encoder.encode_labels([gold[r.id] for r in records]))
    files = {p.name: p.stat().st_size for p in run_dir.iterdir() if p.is_file()}
    seconds = runs.read_json(run_dir / runs.METRICS_FILE)["train_seconds"]  # train(): all of it
    layer = stored.get_layer("ngrams")
    return {"data": name, "train_rows": len(split.train), "seconds": seconds, "run_bytes": sum(files.values()),
            "files": files, "compact_bytes": files[runs.MODEL_FILE], "full_bytes": full_path.stat().st_size,
            "kept": layer.kept, "rows": layer.rows, "validation": decisions([texts[i] for i in split.val], y[split.val]),
            "test": test}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
