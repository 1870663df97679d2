"""Which unlabeled texts become pseudo-labels in a round: by rank, by threshold, or co-training."""

from __future__ import annotations

import numpy as np

from sentiment_cli.calibration import probabilities
from sentiment_cli.config import SemiConfig
from sentiment_cli.errors import ConfigError


def check_selection(semi: SemiConfig, num_classes: int) -> None:
    """Refuse options that would select nothing, or that the run's labels cannot use."""
    if semi.max_per_round is not None and semi.max_per_round < num_classes:
        raise ConfigError(f"--max-per-round {semi.max_per_round} is less than one pseudo-label per class "
                          f"({num_classes} classes, each gets the same number): give at least {num_classes}")
    if semi.band is not None and num_classes != 2:
        raise ConfigError(f"--band is for runs of two classes (it bounds P(positive)); this run has {num_classes}: "
                          "use --confidence")


def select(probs: np.ndarray, semi: SemiConfig) -> tuple[np.ndarray, np.ndarray]:
    """The pseudo-labels a round keeps by the mix's probabilities, by the rule semi.select names."""
    if semi.select == "rank":
        return rank_pseudo_labels(probs, semi.share, semi.max_per_round)
    binary = probs.shape[1] == 2
    return select_pseudo_labels(probs[:, 1] if binary else probs, semi.threshold, semi.band, semi.balance,
                                semi.max_per_round)


def rank_pseudo_labels(probs: np.ndarray, share: float, max_count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each class's surest predictions, the same number per class: share x n / K of them.

    Ranking by (calibrated) probability instead of a fixed threshold gives an unsure start its
    most certain examples too, and equal numbers per class keep the pseudo-labels from
    drifting to the class the model favours. Returns sorted indices and their class ids.
    """
    n, k = probs.shape
    predicted = probs.argmax(axis=1)
    per_class = int(share * n / k)
    if max_count is not None:
        per_class = min(per_class, max_count // k)
    ranked = []
    for c in range(k):
        members = np.flatnonzero(predicted == c)
        ranked.append(members[np.argsort(-probs[members, c], kind="stable")])
    per_class = min([per_class] + [len(r) for r in ranked])
    idx = np.sort(np.concatenate([r[:per_class] for r in ranked])) if per_class > 0 else np.zeros(0, np.int64)
    return idx, predicted[idx]


def cotrain_pseudo_labels(logits: np.ndarray, names: list[str], share: float,
                          max_count: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Co-training (Blum & Mitchell 1998): each half's surest texts, ranked by its own logits,
    the same number per class, become pseudo-labels for the other half.

    The n-gram half and the network read a text differently and make different mistakes, so
    each learns from the other what it does not already know; self-training a half on its own
    surest texts mostly repeats what it gets right. Returns, by the name of the half that
    learns from them, the indices and class ids (as ``rank_pseudo_labels``).
    """
    return {names[1 - h]: rank_pseudo_labels(own_probabilities(logits, h), share, max_count)
            for h in range(len(names))}


def own_probabilities(logits: np.ndarray, h: int) -> np.ndarray:
    """Half h's probabilities from its own logits (n, halves, K'), unmixed: what co-training ranks by."""
    return probabilities(logits[:, h:h + 1], np.concatenate([[1.0], np.zeros(logits.shape[2])]))


def accumulate(learned: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """What each half learns from after a round that adds its picks to the rounds' before it:
    Blum & Mitchell's labeled set, which grows. ``learned`` and ``picked``: a class id per half
    (the second last axis) and unlabeled text (the last), -1 where none; with cotrain half h's
    row holds the other half's picks.

    A text keeps the class it was first given: replaced round by round, a half's picks would come
    back to it two rounds later as the picks of the half it taught, so that each half learns its
    own state of two rounds before (on the tweets the rounds alternated good, bad, good, bad).
    Only where this round's teachers of every half picked a text, with one class, does that class
    replace an earlier one: two readings of the text now agree against one earlier reading.
    """
    merged = np.where(learned >= 0, learned, picked)
    agreed = (picked >= 0).all(axis=-2) & (picked == picked[..., :1, :]).all(axis=-2)
    return np.where(agreed[..., None, :], picked[..., :1, :], merged).astype(learned.dtype)


def union(picks, n: int) -> tuple[np.ndarray, np.ndarray]:
    """All texts picked by either half, with their class; one the halves label differently is left out."""
    labels = np.full(n, -1, dtype=np.int64)
    conflict = np.zeros(n, dtype=bool)
    for idx, pseudo in picks:
        conflict[idx] |= (labels[idx] >= 0) & (labels[idx] != pseudo)
        labels[idx] = pseudo
    labels[conflict] = -1
    idx = np.flatnonzero(labels >= 0)
    return idx, labels[idx]


def select_pseudo_labels(probs: np.ndarray, threshold: float = 0.1, band: tuple[float, float] | None = None,
                         balance: bool = False, max_count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and class ids of the predictions confident enough to serve as labels.

    Binary (probs of shape (n,) or (n, 1): probability of class 1): keep p > 1 - t as class 1
    and p < t as class 0, or, with band=(low, high), p >= high and p <= low. Multi-class
    (n, K): keep the rows whose top probability is >= 1 - t. balance keeps the same number per
    class (the most confident); max_count caps the total (the most confident first).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1:
        low, high = band if band is not None else (threshold, 1.0 - threshold)
        if band is None:
            positive, negative = probs > high, probs < low
        else:
            positive, negative = probs >= high, probs <= low
        keep = positive | negative
        labels = positive.astype(np.int64)
        confidence = np.where(positive, probs, 1.0 - probs)
        num_classes = 2
    else:
        labels = probs.argmax(axis=1)
        confidence = probs.max(axis=1)
        keep = confidence >= 1.0 - threshold
        num_classes = probs.shape[1]
    idx = np.flatnonzero(keep)
    # most confident first; ties keep input order
    idx = idx[np.argsort(-confidence[idx], kind="stable")]
    if balance:
        per_class = [idx[labels[idx] == c] for c in range(num_classes)]
        n = min(len(p) for p in per_class)
        if max_count is not None:
            n = min(n, max_count // num_classes)
        idx = np.concatenate([p[:n] for p in per_class])
    elif max_count is not None:
        idx = idx[:max_count]
    idx = np.sort(idx)
    return idx, labels[idx]


# how messages name the halves
HALF_NAMES = {"ngrams": "the n-gram half", "rnn_logits": "the network", "bow_logits": "the network"}


def why_none(probs: np.ndarray, semi: SemiConfig, logits: np.ndarray | None = None, names=()) -> str:
    """Why a selection kept no pseudo-label, and which option would change it, told with the
    scores it ranked by: the mix's probabilities, or with co-training each half's own (from
    ``logits``, the halves named by ``names``)."""
    if semi.select == "cotrain":
        counts = [np.bincount(own_probabilities(logits, h).argmax(axis=1), minlength=probs.shape[1])
                  for h in range(len(names))]
        told = "; ".join(f"{HALF_NAMES.get(name, name)} {', '.join(map(str, c))}" for name, c in zip(names, counts))
        if all((c > 0).all() for c in counts):
            return (f"each half picked its surest texts by its own logits (predicted per class: {told}), and the "
                    "halves gave a different class to every text both picked; --select rank picks by the mix")
        return (f"co-training ranks by each half's own logits, and a half predicts some class for none of the "
                f"texts (predicted per class: {told}), while each class gets the same number; a larger --share, "
                "more unlabeled text or --select rank (by the mix) would help")
    if semi.select == "rank":
        counts = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
        return (f"the model predicts some class for none of the texts (predicted per class: "
                f"{', '.join(map(str, counts))}), and each class gets the same number; a larger --share or "
                "more unlabeled text would help")
    if semi.band is not None:
        return (f"no P(positive) is outside the band {semi.band[0]:g},{semi.band[1]:g} (range "
                f"{probs[:, 1].min():.3f}-{probs[:, 1].max():.3f}); widen --band or use --select rank")
    return (f"no prediction is surer than {1 - semi.threshold:g} (the surest: {probs.max(axis=1).max():.3f}); "
            "use --select rank (keeps each class's surest --share) or a larger --confidence")
