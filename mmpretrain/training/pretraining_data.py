"""Raw pretraining data per modality: the embedded sources, or the user's own files."""

import numpy as np

from mmpretrain.training.config import MODALITIES


def text_chunks(documents, words_per_chunk):
    """Splits documents into chunks of at most `words_per_chunk` words (long paragraphs are
    otherwise mostly cut off by the sequence length)."""
    chunks = []
    for document in documents:
        words = document.split()
        for start in range(0, len(words), words_per_chunk):
            piece = " ".join(words[start : start + words_per_chunk])
            if len(piece) >= 8:
                chunks.append(piece)
    return chunks


def _take(items, limit, seed):
    """A deterministic random subset of `limit` items (all if limit is 0 or larger)."""
    if not limit or limit >= len(items):
        return items
    index = np.sort(np.random.default_rng(seed).choice(len(items), size=limit, replace=False))
    if isinstance(items, np.ndarray):
        return items[index]
    return [items[i] for i in index]


def _splits_for(modality, config, user, progress):
    from mmpretrain import data

    if modality == "text":
        if user.get("text"):
            return data.load_text_files(user["text"], seed=config.seed)
        return data.load_text_corpus(seed=config.seed)
    if modality == "image":
        if user.get("image"):
            return data.load_image_folder(user["image"], seed=config.seed)
        return data.load_fashion_mnist(labeled=False, seed=config.seed)
    if user.get("audio"):
        return data.load_audio_folder(user["audio"], seed=config.seed)
    total = config.audio_examples + config.validation_examples
    # Synthesized speech splits ~80/10/10: ask for enough sentences to fill train and validation.
    return data.load_spoken_sentences(
        num_sentences=int(total * 1.25), seed=config.seed, max_seconds=config.audio_seconds, progress=progress
    )


def pretraining_data(config, user=None, progress=True):
    """-> (train_raw, validation_raw): dicts modality -> list of str / uint8 array / list of clips.

    `user` maps a modality to the user's own data (text files or globs, an image folder, an
    audio folder); other modalities come from the embedded sources (`mmpretrain data list`).
    """
    user = user or {}
    unknown = sorted(set(user) - set(MODALITIES))
    if unknown:
        raise ValueError(f"Unknown modality {unknown} for user data; accepted: {list(MODALITIES)}.")
    limits = {"text": config.text_examples, "image": config.image_examples, "audio": config.audio_examples}
    train, validation = {}, {}
    for modality in config.modalities:
        splits = _splits_for(modality, config, user, progress)
        train_items, validation_items = splits.inputs("train"), splits.inputs("validation")
        if modality == "text":
            words = max(8, int(config.sequence_length * 0.6))
            train_items = text_chunks(train_items, words)
            validation_items = text_chunks(validation_items, words)
        if modality == "image" and isinstance(train_items, list):
            # Folders of differently sized images: the preprocessor resizes; stack per example.
            from mmpretrain.modalities.image import ImagePreprocessor

            pre = ImagePreprocessor(config.image_size, config.image_patch_size, config.image_channels)
            train_items = _resize_all(train_items, pre)
            validation_items = _resize_all(validation_items, pre)
        train[modality] = _take(train_items, limits[modality], config.seed)
        validation[modality] = _take(validation_items, config.validation_examples, config.seed + 1)
    return train, validation


def _resize_all(images, preprocessor):
    import tensorflow as tf

    size = preprocessor.image_size
    return np.stack(
        [tf.cast(tf.image.resize(np.asarray(im), (size, size), antialias=True), tf.uint8).numpy() for im in images]
    ) if images else np.zeros((0, size, size, preprocessor.channels), np.uint8)
