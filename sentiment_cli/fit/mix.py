"""The mix of the halves: fitted on the validation rows' logits, which calibrates the model."""

from __future__ import annotations

import numpy as np

from sentiment_cli.calibration import expected_calibration_error, fit_mix, out_of_fold
from sentiment_cli.calibration import probabilities as mix_probabilities
from sentiment_cli.encoding import Rows
from sentiment_cli.model import halves_logits


def fit_mix_on_validation(model, encoder, val: Rows, seed: int) -> dict:
    """Fit the mix of the halves on validation logits; report it and its calibration.

    The accuracy and calibration error after the fit are out-of-fold (each validation row
    scored by a mix fitted on the others), since the same rows chose the halves' best epochs.
    """
    logits = halves_logits(model, val.seqs, encoder.features)
    val_y = val.y
    unit = np.concatenate([np.ones(logits.shape[1]), np.zeros(logits.shape[2])])
    params = fit_mix(logits, val_y)
    layer = model.get_layer("mix")
    layer.set_weights([params[:logits.shape[1]].astype(np.float32), params[logits.shape[1]:].astype(np.float32)])
    before = mix_probabilities(logits, unit)
    oof = out_of_fold(logits, val_y, seed=seed)
    return {
        "mix_scales": [round(float(v), 6) for v in params[:logits.shape[1]]],
        "mix_bias": [round(float(v), 6) for v in params[logits.shape[1]:]],
        "val_accuracy_unit_sum": float(np.mean(before.argmax(axis=1) == val_y)),
        "val_accuracy_out_of_fold": float(np.mean(oof.argmax(axis=1) == val_y)),
        "ece_before": round(expected_calibration_error(before, val_y), 6),
        "ece_after": round(expected_calibration_error(oof, val_y), 6),
    }

