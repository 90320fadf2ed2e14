"""Deterministic train/validation/test assignment by a stable hash of each example's key.

The key is something intrinsic to the example (its text, its file path relative to the data
folder, its voice), salted with the seed, so the split of an example does not depend on the
order in which examples are read, on which other examples exist, or on the Python process
(`hash()` is randomized per process; blake2b is not).
"""

import hashlib

import numpy as np

SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def check_fractions(fractions):
    """Returns `fractions` as a tuple of 3 floats (train, validation, test) summing to 1."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise ValueError(
            f"Received fractions={fractions!r}. Expected 3 non-negative numbers "
            "(train, validation, test) with train > 0 that sum to 1, e.g. (0.8, 0.1, 0.1)."
        )
    return values


def stable_hash(key, seed):
    """A 64-bit integer from `key` (str or bytes) and `seed`, identical across runs."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    digest = hashlib.blake2b(key, digest_size=8, salt=int(seed).to_bytes(8, "little", signed=True))
    return int.from_bytes(digest.digest(), "little")


def hash_fraction(key, seed):
    """`stable_hash` mapped to [0, 1)."""
    return stable_hash(key, seed) / 2.0**64


def assign_split(key, seed, fractions=DEFAULT_FRACTIONS):
    """The split name of one example: compares its hash fraction with the cumulative fractions."""
    train, validation, _ = check_fractions(fractions)
    u = hash_fraction(key, seed)
    if u < train:
        return "train"
    if u < train + validation:
        return "validation"
    return "test"


def split_indices(keys, seed, fractions=DEFAULT_FRACTIONS):
    """Indices of `keys` per split (each in the original order), by `assign_split`."""
    fractions = check_fractions(fractions)
    buckets = {name: [] for name in SPLIT_NAMES}
    for index, key in enumerate(keys):
        buckets[assign_split(key, seed, fractions)].append(index)
    return {name: np.asarray(idx, dtype=np.int64) for name, idx in buckets.items()}


def split_by_rank(keys, seed, fractions=DEFAULT_FRACTIONS):
    """Splits a small set of keys (e.g. voices) so that every split with a fraction > 0 gets one.

    Keys are ordered by their stable hash; the first `round(test * n)` (at least 1) go to test,
    the next `round(validation * n)` (at least 1) to validation, the rest to train. The order of
    `keys` does not matter. Needs at least one key per non-empty split.
    """
    _, validation, test = check_fractions(fractions)
    unique = sorted(set(keys), key=lambda k: (stable_hash(str(k), seed), str(k)))
    wanted = 1 + (validation > 0) + (test > 0)
    if len(unique) < wanted:
        raise ValueError(
            f"Received {len(unique)} distinct keys ({unique!r}) to split into {wanted} splits "
            f"with fractions={fractions!r}. Provide at least {wanted} (e.g. more voices), or "
            "set the validation/test fractions to 0."
        )
    n = len(unique)
    n_test = max(1, round(test * n)) if test > 0 else 0
    n_validation = max(1, round(validation * n)) if validation > 0 else 0
    n_test = min(n_test, n - n_validation - 1)
    return {
        "test": unique[:n_test],
        "validation": unique[n_test : n_test + n_validation],
        "train": unique[n_test + n_validation :],
    }
