"""How strongly to shrink the subword vectors' fit: a decision measurement on validation rows only.

    python bench/subword_vectors.py --run RUN_DIR --data imdb|tweets [--damp 0.1,0.3,1,3,10]

RUN_DIR is a run trained with ``--subword-vectors``. After its network half trained, ``train``
fitted the spelling table to the trained word vectors (``embeddings.subword_table``); this refits
it with each ``--damp`` (LSQR's, whatever the vocabulary's size) on the same trained vectors and
reports, on the
run's own validation rows (its split.json), the network half's accuracy alone (its logit's sign)
and the hybrid's with the run's mix: on all rows, on those holding a word outside the
vocabulary, and on the rest. "none" puts the one unknown-word vector back for every unknown
token (the layer left out): how much the spelled vectors give the trained network. The test
files are never read. Binary runs only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import IMDB, imdb_file, run_split  # noqa: E402

DATA = {"imdb": IMDB, "tweets": IMDB.parent / "tweets"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", choices=sorted(DATA), required=True)
    parser.add_argument("--damp", default="none,0.1,0.3,1,3,10")
    args = parser.parse_args()

    import numpy as np

    from sentiment_cli import runs
    from sentiment_cli.calibration import probabilities
    from sentiment_cli.data import read_labeled
    from sentiment_cli.embeddings import subword_table
    from sentiment_cli.encoding import Encoder
    from sentiment_cli.model import halves, halves_logits, mix_params
    from sentiment_cli.rules import OOV_ID, words

    run = runs.load_run(args.run.parent, args.run.name)
    config, model = run.config, run.model
    if not config.subword_vectors:
        sys.exit(f"{args.run}: trained without --subword-vectors")
    data = read_labeled(imdb_file("training_label.txt.gz", DATA[args.data]))
    encoder = Encoder.from_config(config, run.tokenizer)
    y = encoder.encode_labels(data.labels)
    val = run_split(run, data.texts, y).val
    texts, y = [data.texts[i] for i in val], y[val]
    seqs = encoder.sequences(texts)
    unknown = np.array([bool(np.any(words(s) == OOV_ID)) for s in seqs])
    layer = model.get_layer("subword_vectors")
    stored = layer.get_weights()
    vectors = model.get_layer("embedding").get_weights()[0].astype(np.float32)
    names, mix = halves(model), mix_params(model)
    network = names.index("rnn_logits")
    print(f"{args.run.name}: {len(texts)} validation rows, {unknown.mean():.1%} with an unknown word", file=sys.stderr)
    print("| run | damp | network: all / unknown / rest | hybrid: all / unknown / rest |")
    print("|---|---|---|---|")
    for damp in args.damp.split(","):
        if damp == "none":  # every code dropped: the layer keeps each unknown token's vector
            run_seqs = [s[s >= -config.chars[1]] for s in seqs]  # the words and the n-gram half's characters
        else:
            words = len(run.tokenizer.vocabulary) - 2
            table, projection = subword_table(run.tokenizer.vocabulary, vectors, config.subword_ngrams,
                                              config.subword_buckets, config.subword_dim,
                                              ridge=float(damp) / words ** 0.5)
            layer.set_weights([table.astype(stored[0].dtype), projection.astype(stored[1].dtype)])
            run_seqs = seqs
        logits = halves_logits(model, run_seqs, encoder.features)
        alone = (logits[:, network, 0] > 0).astype(int) == y
        hybrid = probabilities(logits, mix).argmax(axis=1) == y
        print(f"| {args.run.name} | {damp} | {alone.mean():.4f} / {alone[unknown].mean():.4f} / "
              f"{alone[~unknown].mean():.4f} | {hybrid.mean():.4f} / {hybrid[unknown].mean():.4f} / "
              f"{hybrid[~unknown].mean():.4f} |", flush=True)
    layer.set_weights(stored)


if __name__ == "__main__":
    main()
