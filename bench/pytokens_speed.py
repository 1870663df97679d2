"""The tokenizer's rules in pure Python (pytokens) against the TensorFlow ops (tokenize_batch).

    python bench/pytokens_speed.py

Prints texts/s of each on 3,000 IMDB training reviews and 20,000 training tweets, for both
normalizations: TensorFlow after a first call that traces its function (warm), the best of three
runs each (one process, sentiment-cli's thread settings), and whether the tokens are the same.
Then the time a fresh interpreter takes to import pytokens, and to its first tokens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import IMDB, imdb_file  # noqa: E402

IMPORT_PROBE = """
import time
t = time.perf_counter()
import sentiment_cli.config
t1 = time.perf_counter()
from sentiment_cli import pytokens
t2 = time.perf_counter()
pytokens.tokens(["Great movie, I loved it :)"], "{normalize}")
t3 = time.perf_counter()
pytokens.tokens(["Un film génial, je l'ai adoré"], "{normalize}")
t4 = time.perf_counter()
print(f"config {{t1 - t:.3f}} s, pytokens {{t2 - t1:.3f}} s, first ASCII text {{t3 - t2:.3f}} s, "
      f"first non-ASCII text {{t4 - t3:.3f}} s")
"""


def best_of(runs: int, function, texts) -> tuple[float, list]:
    seconds = []
    for _ in range(runs):
        t = time.perf_counter()
        out = function(texts)
        seconds.append(time.perf_counter() - t)
    return min(seconds), out


def main():
    from sentiment_cli import pytokens
    from sentiment_cli.data import read_labeled
    from sentiment_cli.threads import configure_threads
    from sentiment_cli.tokenizer import tokenize_batch

    configure_threads()
    corpora = {"IMDB reviews": read_labeled(imdb_file("training_label.txt.gz")).texts[:3000],
               "tweets": read_labeled(imdb_file("training_label.txt.gz", IMDB.parent / "tweets")).texts[:20000]}
    print(f"{'texts':<14} {'normalize':<9} {'TensorFlow':>13} {'pytokens':>13} {'ratio':>6}  same")
    for name, texts in corpora.items():
        for normalize in ("none", "tweets"):
            tokenize_batch(texts[:100], normalize)  # traces the function
            tf_s, expected = best_of(3, lambda x: tokenize_batch(x, normalize), texts)
            py_s, got = best_of(3, lambda x: pytokens.tokens(x, normalize), texts)
            print(f"{name:<14} {normalize:<9} {len(texts) / tf_s:>9,.0f} t/s {len(texts) / py_s:>9,.0f} t/s "
                  f"{tf_s / py_s:>6.2f}  {expected == got}")
    for normalize in ("none", "tweets"):
        done = subprocess.run([sys.executable, "-c", IMPORT_PROBE.format(normalize=normalize)],
                              capture_output=True, text=True, check=True)
        print(f"fresh interpreter ({normalize}): {done.stdout.strip()}")


if __name__ == "__main__":
    main()
