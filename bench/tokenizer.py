"""Tokenizers on the IMDB training reviews: ours (TensorFlow string ops, the rules every saved
model starts with), the Python regex tokenizer of sentiment-cli 0.1, and Keras 3's
TextVectorization with its default rules.

    python bench/tokenizer.py

Prints, for each: seconds to build a 20,000-token vocabulary and texts/s to encode all 25,000
reviews (batches of 1,024, one process, sentiment-cli's thread settings for all three), and for
ours whether a JSON round trip gives identical ids and whether the model's own layer agrees.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import imdb_file  # noqa: E402

# sentiment-cli 0.1's rules (tokenizer version 2), for comparison
_BREAKS = re.compile(r"</?[a-z]+\s*/?>", re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_TOKENS = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")


def python_tokenize(text: str) -> list[str]:
    text = text.lower()
    if "<" in text:
        text = _BREAKS.sub(" ", text)
    text = text.translate(_APOSTROPHES)
    return _TOKENS.findall(_ELONGATED.sub(r"\1\1", text))


def main():
    import numpy as np

    from sentiment_cli.data import read_labeled
    from sentiment_cli.threads import configure_threads
    from sentiment_cli.tokenizer import Tokenizer, tokenize_batch

    configure_threads()
    texts = read_labeled(imdb_file("training_label.txt.gz")).texts
    rows = []

    t = time.perf_counter()
    ours = Tokenizer.fit(texts, 20000)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    ids = ours.encode_arrays(texts, 400)
    enc_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        ours.save(Path(tmp) / "t.json")
        back = Tokenizer.load(Path(tmp) / "t.json").encode_arrays(texts, 400)
        same = all(np.array_equal(a, b) for a, b in zip(back, ids))
    layer = ours.layer(400)
    agree = True
    for start in range(0, len(texts), 1024):
        padded = layer(np.array(texts[start:start + 1024], dtype=object)).numpy()
        agree &= all(np.array_equal(row[:len(s)], s) and not row[len(s):].any()
                     for row, s in zip(padded, ids[start:start + 1024]))
    rows.append(("sentiment-cli 0.2 (TensorFlow string ops, in the model; vocabulary in JSON)", fit_s,
                 len(texts) / enc_s, f"JSON round trip identical: {same}; the model's layer agrees: {agree}"))

    t = time.perf_counter()
    counts = Counter()
    for text in texts:
        counts.update(python_tokenize(text))
    words = [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:19998]]
    fit_s = time.perf_counter() - t
    index = {w: i for i, w in enumerate(["", "[UNK]"] + words)}
    t = time.perf_counter()
    old = [[index.get(w, 1) for w in python_tokenize(text)][-400:] for text in texts]
    enc_s = time.perf_counter() - t
    differ = sum(1 for text, new in zip(texts[:5000], tokenize_batch(texts[:5000])) if python_tokenize(text) != new)
    rows.append(("sentiment-cli 0.1 (Python regex, outside the model)", fit_s, len(texts) / enc_s,
                 f"tokens differ from 0.2's in {differ} of the first 5,000 reviews"))
    del old

    import keras
    import tensorflow as tf

    vectorizer = keras.layers.TextVectorization(max_tokens=20000, output_mode="int")
    t = time.perf_counter()
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(1024))
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, len(texts), 1024):
        vectorizer(tf.constant(texts[start:start + 1024]))
    enc_s = time.perf_counter() - t
    rows.append(("Keras TextVectorization (default rules: strip punctuation, split on spaces)", fit_s,
                 len(texts) / enc_s, "fewer rules: no tags, punctuation dropped, no elongations"))

    print(f"\nTokenizers on {len(texts)} IMDB reviews, vocabulary 20,000, {os.cpu_count()} cores")
    print("| tokenizer | vocabulary s | encode texts/s | note |")
    print("|---|---|---|---|")
    for name, fit_s, speed, note in rows:
        print(f"| {name} | {fit_s:.1f} | {speed:.0f} | {note} |")


if __name__ == "__main__":
    main()
