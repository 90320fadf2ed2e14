"""The data each app reads (embedded sources or the user's own), and model-ready batches.

    splits = load_text_data("vader")                  # or "sms-spam", or "reviews.csv"
    splits = load_image_data("fashion-mnist", config) # or "digits", or a class-per-folder dir
    splits = load_audio_data("speech", config, keywords=["yes", "no"])  # or a folder
    x = model_inputs("audio", splits.inputs("test"), config)

Images are brought to the encoder's image size and channels here, once (with the same
antialiased resize the encoder graph uses), so the TFLite model, which takes images at that
size, sees exactly what the SavedModel sees. Audio is cut/zero-padded to the encoder's
`max_audio_seconds`, with the true lengths alongside.
"""

import os

import numpy as np

TEXT_SOURCES = ("vader", "sms-spam")
IMAGE_SOURCES = ("fashion-mnist", "digits")
AUDIO_SOURCES = ("speech",)
SPLITS = ("train", "validation", "test")


def _check_splits(splits, where):
    empty = [name for name in SPLITS if len(splits.inputs(name)) == 0]
    if empty:
        raise ValueError(
            f"{where} gives no examples to the {empty} split(s) ({splits!r}); the splits are "
            "80/10/10 by a stable hash, so give it more examples (a few dozen per class at least)."
        )
    return splits


# === Text ===


def load_text_data(data="vader", text_column=None, label_column=None, seed=0):
    """`vader` (movie-review sentences), `sms-spam`, or a CSV/TSV path with text and label."""
    from mmpretrain import data as datasets
    from mmpretrain.data.data_splits import build_splits
    from mmpretrain.data.splits import DEFAULT_FRACTIONS

    data = os.fspath(data)
    if data == "vader":
        return datasets.load_vader_sentiment(seed=seed)
    if data == "sms-spam":
        return datasets.load_sms_spam(seed=seed)
    if os.path.isfile(data) or data.lower().endswith((".csv", ".tsv")):
        from mmpretrain.apps_support.labels import read_labeled_table

        texts, names = read_labeled_table(data, text_column, label_column)
        class_names = sorted(set(names))
        labels = [class_names.index(n) for n in names]
        splits = build_splits(texts, texts, "text", seed, DEFAULT_FRACTIONS, labels=labels,
                              class_names=class_names, counts={"file": data, "rows": len(texts)})
        return _check_splits(splits, f"Table {data!r}")
    raise ValueError(
        f"Unknown text data {data!r}. Accepted: {list(TEXT_SOURCES)} (embedded) or the path of a "
        ".csv/.tsv file with a header row and a text and a label column."
    )


# === Images ===


def conform_images(images, image_size, channels):
    """uint8 [H, W, C] images (array or list) -> uint8 [N, S, S, channels], as the encoder sees them."""
    import tensorflow as tf

    out = []
    for image in (images if isinstance(images, list) else list(images)):
        x = tf.constant(np.asarray(image, np.uint8))
        if x.shape.rank == 2:
            x = x[..., tf.newaxis]
        if x.shape[-1] == 4:
            x = x[..., :3]
        if x.shape[-1] != channels:
            x = tf.cast(x, tf.float32) / 255.0
            x = tf.tile(x, [1, 1, 3]) if channels == 3 else tf.image.rgb_to_grayscale(x)
            x = tf.cast(tf.round(tf.clip_by_value(x, 0.0, 1.0) * 255.0), tf.uint8)
        if tuple(x.shape[:2]) != (image_size, image_size):
            x = tf.image.resize(tf.cast(x, tf.float32), (image_size, image_size), antialias=True)
            x = tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8)
        out.append(x.numpy())
    if not out:
        return np.zeros([0, image_size, image_size, channels], np.uint8)
    return np.stack(out)


def load_image_data(data, config, seed=0):
    """`fashion-mnist`, `digits`, or a folder of CLASS/*.png|jpg, at the encoder's size and channels."""
    from mmpretrain import data as datasets
    from mmpretrain.data.data_splits import DataSplits

    data = os.fspath(data)
    size, channels = int(config["image_size"]), int(config["image_channels"])
    if data == "fashion-mnist":
        splits = datasets.load_fashion_mnist(seed=seed)
    elif data == "digits":
        splits = datasets.load_digits_splits(seed=seed)
    elif os.path.isdir(data):
        splits = _check_splits(
            datasets.load_image_folder(data, image_size=(size, size), channels=channels, seed=seed),
            f"Image folder {data!r}",
        )
    else:
        raise ValueError(
            f"Unknown image data {data!r}. Accepted: {list(IMAGE_SOURCES)} (embedded) or a folder "
            "with one sub-folder of .png/.jpg images per class."
        )
    names = splits.split_names
    inputs = {name: conform_images(splits.inputs(name), size, channels) for name in names}
    labels = {name: splits.labels(name) for name in names}
    return DataSplits(inputs, "image", labels=labels, class_names=splits.class_names,
                      counts=splits.counts, metadata=splits.metadata)


# === Audio ===


def load_audio_data(data, config, keywords=None, voices=None, seed=0, progress=True):
    """`speech` (keywords spoken by espeak-ng/flite voices, voice-disjoint splits) or a folder.

    With `speech`, `keywords` picks the words (a new list synthesizes new clips, cached);
    `voices` optionally limits the voices (ids like "en-us+f3", "flite:slt").
    """
    from mmpretrain import data as datasets

    data = os.fspath(data)
    max_seconds = float(config["max_audio_seconds"])
    if data == "speech":
        words = list(keywords) if keywords else list(datasets.DEFAULT_KEYWORDS)
        return _check_splits(
            datasets.load_spoken_keywords(keywords=words, voices=voices, seed=seed, progress=progress),
            f"Keywords {words} with {len(voices) if voices else 'all'} voices",
        )
    if os.path.isdir(data):
        return _check_splits(datasets.load_audio_folder(data, max_seconds=max_seconds, seed=seed),
                             f"Audio folder {data!r}")
    raise ValueError(
        f"Unknown audio data {data!r}. Accepted: {list(AUDIO_SOURCES)} (synthesized keywords, "
        "see --keywords) or a folder with one sub-folder of .wav/.flac/.ogg files per class."
    )


def audio_batch(clips, max_samples, fixed_width=False):
    """float32 clips [T_i] -> {"waveforms": [N, T], "lengths": [N]}, cut to `max_samples`.

    T is the longest clip, or `max_samples` with `fixed_width` (one shape for every batch, so
    Keras traces its functions once).
    """
    clips = [np.asarray(c, np.float32).reshape(-1)[:max_samples] for c in clips]
    width = max_samples if fixed_width else max([len(c) for c in clips] + [1])
    waveforms = np.zeros([len(clips), width], np.float32)
    for i, clip in enumerate(clips):
        waveforms[i, : len(clip)] = clip
    lengths = np.asarray([max(len(c), 1) for c in clips], np.int32)
    return {"waveforms": waveforms, "lengths": lengths}


# === Model inputs ===


def max_audio_samples(config):
    return int(round(float(config["max_audio_seconds"]) * int(config["sample_rate"])))


def model_inputs(modality, items, config):
    """Split items -> what the Keras app model and its SavedModel take."""
    import tensorflow as tf

    if modality == "text":
        return tf.constant([t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in items], tf.string)
    if modality == "image":
        return np.asarray(items, np.uint8)
    return audio_batch(items, max_audio_samples(config), fixed_width=True)


def take(items, indices):
    """items[indices] for arrays, lists and dicts of arrays."""
    if isinstance(items, dict):
        return {k: take(v, indices) for k, v in items.items()}
    if isinstance(items, np.ndarray):
        return items[np.asarray(indices, np.int64)]
    import tensorflow as tf

    if tf.is_tensor(items):
        return tf.gather(items, np.asarray(indices, np.int64))
    return [items[i] for i in indices]


def count(items):
    if isinstance(items, dict):
        return len(next(iter(items.values())))
    return int(items.shape[0]) if hasattr(items, "shape") else len(items)


def keras_inputs(modality, config):
    import keras

    if modality == "text":
        return keras.Input((), dtype="string", name="text")
    if modality == "image":
        return keras.Input((None, None, int(config["image_channels"])), dtype="uint8", name="images")
    return {"waveforms": keras.Input((None,), dtype="float32", name="waveforms"),
            "lengths": keras.Input((), dtype="int32", name="lengths")}


def signature_spec(modality, config):
    """The app SavedModel's input spec: the encoder's raw inputs."""
    import tensorflow as tf

    if modality == "text":
        return tf.TensorSpec([None], tf.string, name="text")
    if modality == "image":
        return tf.TensorSpec([None, None, None, int(config["image_channels"])], tf.uint8, name="images")
    return {"waveforms": tf.TensorSpec([None, None], tf.float32, name="waveforms"),
            "lengths": tf.TensorSpec([None], tf.int32, name="lengths")}


def numpy_inputs(modality, inputs):
    """Model inputs -> numpy (object bytes array for text), e.g. for a TFLite runner."""
    if modality == "text":
        return {"text": np.asarray([bytes(t) for t in inputs.numpy()], dtype=object)}
    if modality == "image":
        return {"images": np.asarray(inputs, np.uint8)}
    return {"waveforms": np.asarray(inputs["waveforms"], np.float32),
            "lengths": np.asarray(inputs["lengths"], np.int32)}
