"""What each lever of the network half costs and buys, on IMDB or the tweets.

    python bench/levers.py speed --data imdb [--rows 4000] [--variant NAME:key=value,... ...]
    python bench/levers.py accuracy --data tweets [--variant NAME:key=value,... ...]
    python bench/levers.py predict --data imdb --models-dir bench/out/speed [--rows 3000]

`speed` times one epoch of the network half alone (the first batches, where tracing happens,
excluded) for each variant on the first --rows training rows: rows per second, same threads for
all. `accuracy` reads the whole training file, draws the split a default run draws, builds the
vocabulary, the Word2Vec vectors and the n-gram half once, and then for each variant trains the
network half, fits the mix and prints the hybrid's validation accuracy (out of fold, as `train`
reports it), the network half's own, its epochs and its seconds. A variant is TrainConfig
overrides (``batch_size=256,lr=0.002``) plus ``jit=1`` for XLA (speed only) and ``w2v_epochs=N``,
``w2v_sg=0`` (CBOW) for the word vectors; variants that change the
vocabulary or the n-gram half are not levers of this bench. Test data is never read there.

`predict` takes the run named like the data in --models-dir (bench/speed.py leaves them there)
and prints (1) how many validation texts could skip the network half if its logits were clipped
to a bound B: those where the n-gram half's mixed logit alone exceeds what the clipped network
could add (scale x B), for B at quantiles of the network's |logits| on validation, with the mix
refitted on the clipped logits and the labels that clipping changes; (2) the seconds of each
stage of prediction on the first --rows test texts (tokenizing, the n-gram half, the network
half: each timed on its own, second pass); (3) rows/s of the whole model by batch size and
token budget per batch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import parse_overrides  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {"imdb": SHARED / "imdb" / "training_label.txt.gz", "tweets": SHARED / "tweets" / "training_label.txt.gz"}
NORMALIZE = {"imdb": "none", "tweets": "tweets"}

SPEED_VARIANTS = [
    "lstm64:", "lstm256:batch_size=256", "gru64:cell=gru", "gru256:cell=gru,batch_size=256",
    "lstm256-200:batch_size=256,max_length=200", "lstm64-jit:jit=1", "lstm256-jit:batch_size=256,jit=1",
]


def parse_variant(text: str) -> tuple[str, dict, bool]:
    name, _, rest = text.partition(":")
    pairs = [p for p in rest.split(",") if p]
    jit = any(p in ("jit=1", "jit=true") for p in pairs)
    w2v = {k: int(v) for k, _, v in (p.partition("=") for p in pairs) if k in ("w2v_epochs", "w2v_sg")}
    return name, parse_overrides([p for p in pairs if p.partition("=")[0] not in ("jit", "w2v_epochs", "w2v_sg")]), \
        jit, w2v


def read(data: str, rows: int | None):
    from sentiment_cli.data import read_labeled

    path = FILES[data]
    if not path.exists():
        print(f"SKIPPED: {path} not found (../shared/data/{data}/, see its README).", file=sys.stderr)
        sys.exit(0)
    labeled = read_labeled(str(path))
    texts, labels = labeled.texts, labeled.labels
    return (texts[:rows], labels[:rows]) if rows else (texts, labels)


def setup(data: str, rows: int | None):
    """Encoder, split, TrainData and train/val Rows of a default run on the data."""
    from sentiment_cli.config import TrainConfig
    from sentiment_cli.data import sort_labels
    from sentiment_cli.encoding import Encoder, draw_split
    from sentiment_cli.training import TrainData

    texts, labels = read(data, rows)
    config = TrainConfig(normalize=NORMALIZE[data])
    encoder = Encoder.from_config(config)
    encoder.labels = sort_labels(set(labels))
    config.labels = list(encoder.labels)
    y = encoder.encode_labels(labels)
    split = draw_split(texts, y, config.val_ratio, config.seed)
    td = TrainData([texts[i] for i in split.train], y[split.train], [texts[i] for i in split.val], y[split.val])
    encoder.fit(td.train_texts, config.vocab_size)
    return config, encoder, td, encoder.rows(td.train_texts, td.train_y), encoder.rows(td.val_texts, td.val_y)


def variant_config(base, overrides: dict):
    from sentiment_cli.config import TrainConfig

    return TrainConfig.from_dict({**base.to_dict(), **overrides})


def compiled(model, config, jit: bool):
    import keras

    from sentiment_cli.model import half_model

    half = half_model(model, "rnn_logits")
    loss = "binary_crossentropy" if config.num_classes == 2 else "sparse_categorical_crossentropy"
    half.compile(optimizer=keras.optimizers.Adam(config.lr), loss=loss, metrics=["accuracy"],
                 jit_compile=jit)
    return half


def speed(args) -> None:
    import numpy as np

    from sentiment_cli.encoding import keep_tokens
    from sentiment_cli.fit.network import make_dataset
    from sentiment_cli.model import build_model

    base, encoder, _, train, _ = setup(args.data, args.rows)
    print(f"{args.data}: {len(train.seqs)} training rows, mean length {np.mean([len(s) for s in train.seqs]):.0f} tokens")
    print(f"{'variant':<18} {'rows/s':>8} {'epoch s (this many rows)':>26}")
    for text in args.variant or SPEED_VARIANTS:
        name, overrides, jit, _ = parse_variant(text)
        config = variant_config(base, {**overrides, "model": "rnn", "pretrain_embeddings": False})
        seqs = keep_tokens(train.seqs, config.max_length, config.truncating)
        half = compiled(build_model(config, len(encoder.tokenizer)), config, jit)
        y = train.y.astype(np.float32)
        warm = make_dataset(seqs[:config.batch_size * 3], y[:config.batch_size * 3], config.batch_size,
                            np.random.default_rng(0))
        half.fit(warm, epochs=1, verbose=0)  # tracing, and XLA's compiles of the commonest shapes
        ds = make_dataset(seqs, y, config.batch_size, np.random.default_rng(1))
        start = time.perf_counter()
        half.fit(ds, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
        print(f"{name:<18} {len(seqs) / seconds:>8.0f} {seconds:>26.1f}", flush=True)


def accuracy(args) -> None:
    from sentiment_cli.fit import FitOptions
    from sentiment_cli.fit.mix import fit_mix_on_validation
    from sentiment_cli.fit.network import fit_network_half
    from sentiment_cli.fit.ngram import fit_ngram_half, ngram_buckets_for
    from sentiment_cli.model import build_model
    from sentiment_cli.embeddings import pretrain_word2vec
    from sentiment_cli.training import seed_everything

    t0 = time.perf_counter()
    base, encoder, td, train, val = setup(args.data, args.rows)
    t1 = time.perf_counter()
    vectors = {}
    buckets = ngram_buckets_for(train.seqs, base)
    seed_everything(base.seed)
    ngram_model = build_model(variant_config(base, {"model": "ngram"}), len(encoder.tokenizer), ngram_buckets=buckets)
    t2 = time.perf_counter()
    found = fit_ngram_half(ngram_model, base, train, val, progress=False)
    ngram_weights = ngram_model.get_layer("ngrams").get_weights()
    t3 = time.perf_counter()
    print(f"{args.data}: {len(train.seqs)} training rows, {len(val.seqs)} validation; reading + vocabulary + "
          f"encoding {t1 - t0:.0f} s, n-gram half {t3 - t2:.0f} s (val {found['ngram_val_accuracy']:.4f}, "
          f"C {found['ngram_c']})", flush=True)
    print(f"{'variant':<22} {'hybrid val':>10} {'net val':>8} {'epochs':>7} {'best':>5} {'w2v s':>6} "
          f"{'net s':>7} {'s/epoch':>8}")
    for text in args.variant:
        name, overrides, jit, w2v = parse_variant(text)
        config = variant_config(base, overrides)
        key = (config.pretrain_embeddings, config.embedding_dim, tuple(sorted(w2v.items())))
        w2v_seconds = 0.0
        if config.pretrain_embeddings and key not in vectors:
            start = time.perf_counter()
            vectors[key] = pretrain_word2vec(td.train_texts, encoder.tokenizer, config.embedding_dim, config.seed,
                                             epochs=w2v.get("w2v_epochs", 5), sg=w2v.get("w2v_sg", 1))[0]
            w2v_seconds = time.perf_counter() - start
        seed_everything(config.seed)
        model = build_model(config, len(encoder.tokenizer), embeddings=vectors.get(key), ngram_buckets=buckets)
        model.get_layer("ngrams").set_weights(ngram_weights)
        if jit:
            raise SystemExit("jit=1 is a lever of `speed` only")
        start = time.perf_counter()
        net, history = fit_network_half(model, "rnn_logits", config, train, val, FitOptions(progress=False))
        seconds = time.perf_counter() - start
        mix = fit_mix_on_validation(model, encoder, val, config.seed)
        print(f"{name:<22} {mix['val_accuracy_out_of_fold']:>10.4f} {net['rnn_val_accuracy']:>8.4f} "
              f"{net['epochs_run']:>7} {net['best_epoch']:>5} {w2v_seconds:>6.0f} {seconds:>7.0f} "
              f"{seconds / max(net['epochs_run'], 1):>8.1f}", flush=True)


def predict(args) -> None:
    import gzip

    import keras
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import run_split

    from sentiment_cli.calibration import fit_mix
    from sentiment_cli.data import read_labeled
    from sentiment_cli.encoding import Encoder, length_batches
    from sentiment_cli.model import halves_logits, inference_function, predict_proba
    from sentiment_cli.runs import load_run

    run = load_run(args.models_dir, args.data)
    encoder = Encoder.from_config(run.config, run.tokenizer)
    labeled = read_labeled(str(FILES[args.data]))
    y = encoder.encode_labels(labeled.labels)
    split = run_split(run, labeled.texts, y)
    logits = halves_logits(run.model, encoder.sequences([labeled.texts[i] for i in split.val]), encoder.features)
    val_y = y[split.val]
    ngram, net = logits[:, 0, 0], logits[:, 1, 0]
    scale, bias = run.model.get_layer("mix").scale.numpy(), run.model.get_layer("mix").bias.numpy()
    stored = (scale[0] * ngram + scale[1] * net + bias[0] > 0).astype(int)
    print(f"{args.data}: {len(val_y)} validation texts, accuracy {np.mean(stored == val_y):.4f}")
    print(f"{'bound at quantile':>18} {'B':>6} {'accuracy':>9} {'labels changed':>15} {'could skip':>11}")
    for q in (0.9, 0.95, 0.99, 1.0):
        bound = float(np.quantile(np.abs(net), q))
        clipped = logits.copy()
        clipped[:, 1, 0] = np.clip(net, -bound, bound)
        s_n, s_r, b = fit_mix(clipped, val_y)
        z = s_n * ngram + s_r * clipped[:, 1, 0] + b
        skip = np.abs(s_n * ngram + b) > abs(s_r) * bound
        print(f"{q:>18} {bound:>6.2f} {np.mean((z > 0) == val_y):>9.4f} {np.mean((z > 0) != stored):>15.4f} "
              f"{skip.mean():>11.3f}")

    with gzip.open(SHARED / args.data / "testing_data.txt.gz", "rt", encoding="utf-8") as f:
        texts = [line.rstrip("\n").split(",", 1)[1] for line in f][1:args.rows + 1]
    start = time.perf_counter()
    seqs = encoder.sequences(texts)
    print(f"\nstages on {len(texts)} test texts: tokenizing {time.perf_counter() - start:.2f} s", end="")
    for layer in ("ngrams", "rnn_logits"):
        part = keras.Model(run.model.input, run.model.get_layer(layer).output)
        for second in (False, True):
            start = time.perf_counter()
            for idx in length_batches(seqs, 512, max_tokens=8192):
                x = encoder.features([seqs[i] for i in idx])
                inference_function(part, x.ndim, x.dtype)(x)
        print(f", {'n-gram' if layer == 'ngrams' else 'network'} half {time.perf_counter() - start:.2f} s", end="")
    print()
    for rows, tokens in ((512, 8192), (1024, 16384), (2048, 32768), (4096, 65536), (512, 32768)):
        predict_proba(run.model, seqs[:1000], encoder.features, rows, tokens)
        start = time.perf_counter()
        predict_proba(run.model, seqs, encoder.features, rows, tokens)
        print(f"whole model, batches of at most {rows} rows and {tokens} tokens: "
              f"{len(seqs) / (time.perf_counter() - start):,.0f} rows/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["speed", "accuracy", "predict"])
    parser.add_argument("--models-dir", default=str(Path(__file__).resolve().parent / "out" / "speed"))
    parser.add_argument("--data", choices=sorted(FILES), default="imdb")
    parser.add_argument("--rows", type=int, default=None, help="first N labeled rows only (speed: default 4000)")
    parser.add_argument("--variant", action="append", help="NAME:key=value,... (repeatable)")
    args = parser.parse_args()
    if args.mode == "speed":
        args.rows = args.rows or 4000
        speed(args)
    elif args.mode == "predict":
        args.rows = args.rows or 3000
        predict(args)
    else:
        if not args.variant:
            parser.error("accuracy needs at least one --variant")
        accuracy(args)


if __name__ == "__main__":
    main()
