"""Our JSON tokenizer against Keras 3's TextVectorization on the IMDB training reviews.

    python bench/tokenizer.py

Prints, for each: seconds to build a 20,000-token vocabulary, texts/s to encode all 25,000
reviews, and (ours) whether a JSON round trip gives identical ids.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import imdb_file  # noqa: E402


def main():
    from sentiment_cli.data import DataManager
    from sentiment_cli.tokenizer import Tokenizer

    texts = DataManager.read_labeled(imdb_file("training_label.txt.gz")).texts
    rows = []

    t = time.perf_counter()
    ours = Tokenizer.fit(texts, 20000)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    ids = ours.encode_batch(texts)
    enc_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        ours.save(Path(tmp) / "t.json")
        same = Tokenizer.load(Path(tmp) / "t.json").encode_batch(texts) == ids
    rows.append(("sentiment-cli Tokenizer (Python, JSON)", fit_s, len(texts) / enc_s, f"identical ids: {same}"))

    import keras
    import tensorflow as tf

    layer = keras.layers.TextVectorization(max_tokens=20000, output_mode="int")
    t = time.perf_counter()
    layer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(1024))
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, len(texts), 1024):
        layer(tf.constant(texts[start:start + 1024]))
    enc_s = time.perf_counter() - t
    rows.append(("Keras TextVectorization (TF string ops)", fit_s, len(texts) / enc_s,
                 "vocabulary saved with the layer's config"))

    print(f"\nTokenizers on {len(texts)} IMDB reviews, vocabulary 20,000, {os.cpu_count()} cores")
    print("| tokenizer | vocabulary s | encode texts/s | note |")
    print("|---|---|---|---|")
    for name, fit_s, speed, note in rows:
        print(f"| {name} | {fit_s:.1f} | {speed:.0f} | {note} |")


if __name__ == "__main__":
    main()
