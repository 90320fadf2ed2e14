"""Raw pretraining data per modality: the embedded sources, or the user's own files.

Each modality's record says where its data comes from (`default_pretraining_splits`,
`user_pretraining_splits`), how loaded items become examples (`pretraining_examples`: text is
cut into chunks, images resized) and how many the run keeps (`example_limit`).
"""

import numpy as np

from mmpretrain.modalities.registry import get_modality, modality_names
from mmpretrain.modalities.text import text_chunks  # noqa: F401  (imported from here by apps and benchmarks)


def _take(items, limit, seed):
    """A deterministic random subset of `limit` items (all if limit is 0 or larger)."""
    if not limit or limit >= len(items):
        return items
    index = np.sort(np.random.default_rng(seed).choice(len(items), size=limit, replace=False))
    if isinstance(items, np.ndarray):
        return items[index]
    return [items[i] for i in index]


def pretraining_splits(modality, config, user=None, progress=True):
    """The `DataSplits` of `modality`: the user's own data if `user` names some, else embedded."""
    record = get_modality(modality)
    if user:
        return record.user_pretraining_splits(user, config)
    return record.default_pretraining_splits(config, progress)


def pretraining_data(config, user=None, progress=True):
    """-> (train_raw, validation_raw): dicts modality -> examples (list of str / uint8 array /
    list of clips for text, image, audio).

    `user` maps a modality to the user's own data (text files or globs, an image folder, an
    audio folder); other modalities come from the embedded sources (`mmpretrain data list`).
    """
    user = user or {}
    unknown = sorted(set(user) - set(modality_names()))
    if unknown:
        raise ValueError(f"Unknown modality {unknown} for user data; accepted: {modality_names()}.")
    train, validation = {}, {}
    for modality in config.modalities:
        record = get_modality(modality)
        splits = pretraining_splits(modality, config, user.get(modality), progress)
        train_items = record.pretraining_examples(splits.inputs("train"), config)
        validation_items = record.pretraining_examples(splits.inputs("validation"), config)
        train[modality] = _take(train_items, record.example_limit(config), config.seed)
        validation[modality] = _take(validation_items, config.validation_examples, config.seed + 1)
    return train, validation
