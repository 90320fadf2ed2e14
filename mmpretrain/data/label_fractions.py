"""Label fractions: class-stratified, deterministic subsets of a labeled split.

    pool, picked = training_subset(labels, fraction=0.1, limit=4000, seed=0)

`stratified_subset` takes a share of every class (at least one example of each); a smaller
fraction picks a subset of a larger one's examples, so "10% of the labels" is part of "100%",
the same for every run with the same seed (pretrained and scratch runs see the same examples).
"""

import numpy as np


def check_fraction(fraction, what="label_fraction"):
    """`fraction` as a float in (0, 1], or a ValueError naming `what`."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{what} must be in (0, 1], e.g. 0.1 for 10% of the labels; received {fraction!r}.")
    return value


def stratified_subset(labels, fraction=1.0, limit=None, seed=0):
    """Sorted indices of a class-stratified, deterministic subset of `labels`.

    Takes `fraction` of each class (at least one example of every class present), then, if
    `limit` is set and still exceeded, scales every class down to fit `limit` in total. The
    same labels, fraction, limit and seed always give the same indices; a smaller fraction
    gives a subset of a larger one's picks (each class is ranked once by a seeded shuffle).
    """
    labels = np.asarray(labels).reshape(-1)
    fraction = check_fraction(fraction)
    if limit is not None and int(limit) < 1:
        raise ValueError(f"The example limit must be a positive integer; received {limit!r}.")
    classes, counts = np.unique(labels, return_counts=True)
    share = fraction
    if limit is not None and fraction * len(labels) > int(limit):
        share = int(limit) / len(labels)
    picked = []
    for cls, count in zip(classes, counts):
        members = np.flatnonzero(labels == cls)
        rng = np.random.default_rng([int(seed), int(np.searchsorted(classes, cls))])
        order = members[rng.permutation(count)]
        take = max(1, int(round(share * count)))
        picked.append(order[:take])
    return np.sort(np.concatenate(picked)) if picked else np.zeros([0], np.int64)


def training_subset(labels, fraction=1.0, limit=None, seed=0):
    """(pool, picked) indices into `labels`: the pool is capped at `limit` (stratified), and
    `picked` is `fraction` of the pool (stratified): the labels a run with that fraction uses."""
    labels = np.asarray(labels).reshape(-1)
    pool = stratified_subset(labels, 1.0, limit=limit, seed=seed)
    return pool, pool[stratified_subset(labels[pool], fraction, seed=seed)]
