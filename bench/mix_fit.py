"""The mix's penalty: on raw logits (sentiment-cli 0.4.0) or on standardised ones (since), compared.

    python bench/mix_fit.py RUN_DIR[:DATA] ...

For each run (a directory; DATA is the labeled file it was trained on, default: IMDB's training
file), its validation rows are rebuilt from split.json, the halves' logits computed, and each
fit scored out of fold (5 folds): accuracy, log-loss and calibration error. 0.4.0's penalty is
copied here, as it was.
"""

import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import IMDB, run_split  # noqa: E402

from sentiment_cli import calibration  # noqa: E402
from sentiment_cli.data import read_labeled  # noqa: E402
from sentiment_cli.encoding import Encoder  # noqa: E402
from sentiment_cli.model import halves_logits  # noqa: E402
from sentiment_cli.runs import load_run  # noqa: E402


def raw_fit(logits, y):
    """0.4.0's fit_mix for binary runs: L2 on the raw scales and the bias, towards 0."""
    n, halves, outputs = logits.shape
    target = (y == 1).astype(float)[:, None]

    def f(params):
        p = calibration.probabilities(logits, params)[:, 1:]
        loss = -np.mean(target * np.log(np.clip(p, 1e-12, 1)) + (1 - target) * np.log(np.clip(1 - p, 1e-12, 1)))
        r = (p - target) / n
        g = np.concatenate([np.einsum("no,nho->h", r, logits), r.sum(axis=0)])
        return loss + 0.5 * params @ params / n, g + params / n

    return minimize(f, np.concatenate([np.ones(halves), np.zeros(outputs)]), jac=True, method="L-BFGS-B").x


def out_of_fold(logits, y, fit, folds=5, seed=0):
    order = np.random.default_rng(seed).permutation(len(y))
    out = np.empty((len(y), 2))
    for k in range(folds):
        held = order[k::folds]
        rest = np.setdiff1d(order, held)
        out[held] = calibration.probabilities(logits[held], fit(logits[rest], y[rest]))
    return out


def main():
    for arg in sys.argv[1:]:
        path, _, data = arg.partition(":")
        run = load_run(".", path)
        labeled = read_labeled(data or str(IMDB / "training_label.txt.gz"))
        split = run_split(run, labeled.texts, labeled.labels)
        texts = [labeled.texts[i] for i in split.val]
        y = np.array([run.config.labels.index(labeled.labels[i]) for i in split.val])
        encoder = Encoder.from_config(run.config, run.tokenizer)
        logits = halves_logits(run.model, encoder.sequences(texts), encoder.features)
        for name, fit in [("raw (0.4.0)", raw_fit), ("standardised", calibration.fit_mix)]:
            p = out_of_fold(logits, y, fit)
            loss = -np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)))
            print(f"{path}, {len(y)} validation rows, {name}: accuracy {np.mean(p.argmax(1) == y):.4f}, "
                  f"log-loss {loss:.4f}, calibration error {calibration.expected_calibration_error(p, y):.4f}")


if __name__ == "__main__":
    main()
