"""Labeled data for fine-tuning: embedded sources or the user's own, and raw batches of it.

    splits = load_text_data("vader")                  # or "sms-spam", or "reviews.csv"
    splits = load_image_data("fashion-mnist", info)   # or "digits", or a class-per-folder dir
    splits = load_audio_data("speech", info, keywords=["yes", "no"])  # or a folder
    batch = raw_batch("audio", splits.inputs("test"), info)   # {"waveforms", "lengths"}
    dataset = labeled_dataset(batch, splits.labels("test"), batch_size=32)

`info` is the encoder's config.json. Images are brought to the encoder's image size and
channels here, once (with the same antialiased resize the encoder graph uses), so the TFLite
model, which takes images at that size, sees exactly what the SavedModel sees. A raw batch is
what the exported signature takes (`{"text": ...}`, `{"images": ...}`, `{"waveforms": ...,
"lengths": ...}`), made by the modality's record (`collate`); audio is cut/zero-padded to the
encoder's `max_audio_seconds`, one width for every batch.
"""

import csv
import os

import numpy as np

TEXT_SOURCES = ("vader", "sms-spam")
IMAGE_SOURCES = ("fashion-mnist", "digits")
AUDIO_SOURCES = ("speech",)
SPLITS = ("train", "validation", "test")
TEXT_COLUMNS = ("text", "sentence", "message", "review", "content", "document", "body")
LABEL_COLUMNS = ("label", "labels", "class", "sentiment", "category", "target", "y")


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


def _delimiter(path, sample):
    if path.lower().endswith((".tsv", ".tab")):
        return "\t"
    if path.lower().endswith(".csv"):
        return ","
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def _column(header, wanted, defaults, path, role, flag):
    names = [h.strip() for h in header]
    if wanted is None:
        for candidate in defaults:
            for i, name in enumerate(names):
                if name.lower() == candidate:
                    return i, name
        raise ValueError(
            f"{path!r}: no {role} column found in the header {names}; expected one named "
            f"{list(defaults)}. Name it with {flag} COLUMN (a header name or a 0-based index)."
        )
    if isinstance(wanted, int) or str(wanted).isdigit():
        index = int(wanted)
        if not 0 <= index < len(names):
            raise ValueError(f"{path!r}: {flag} {index} is out of range; the header has {len(names)} columns {names}.")
        return index, names[index]
    for i, name in enumerate(names):
        if name == str(wanted).strip():
            return i, name
    raise ValueError(f"{path!r}: {flag} {wanted!r} is not in the header {names}; pass one of those or a 0-based index.")


def read_labeled_table(path, text_column=None, label_column=None):
    """A CSV/TSV with a header row -> (texts, label strings), one pair per data row.

    Columns are found by header name (text: TEXT_COLUMNS, label: LABEL_COLUMNS,
    case-insensitive) or given as a name or 0-based index. The delimiter comes from the
    extension (.csv comma, .tsv tab) or is sniffed. Rows with an empty text or label are an
    error naming their line numbers (nothing is silently dropped).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Table {path!r} does not exist. Pass a .csv or .tsv file with a header row, e.g. text,label.")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            content = f.read()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path!r} is not UTF-8 text (byte {err.start}); save it as UTF-8.") from None
    rows = list(csv.reader(content.splitlines(), delimiter=_delimiter(path, content[:4096])))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ValueError(f"{path!r} has no data rows; expected a header row (e.g. text,label) and one row per example.")
    header, body = rows[0], rows[1:]
    text_index, text_name = _column(header, text_column, TEXT_COLUMNS, path, "text", "--text-column")
    label_index, label_name = _column(header, label_column, LABEL_COLUMNS, path, "label", "--label-column")
    texts, labels, no_label, no_text = [], [], [], []
    for line, row in enumerate(body, start=2):
        text = row[text_index].strip() if text_index < len(row) else ""
        label = row[label_index].strip() if label_index < len(row) else ""
        if not label:
            no_label.append(line)
        if not text:
            no_text.append(line)
        texts.append(text)
        labels.append(label)
    for missing, role, name in ((no_label, "label", label_name), (no_text, "text", text_name)):
        if missing:
            raise ValueError(
                f"{path!r}: {len(missing)} of {len(body)} rows have no {role} in column {name!r} "
                f"(lines {missing[:10]}{' ...' if len(missing) > 10 else ''}). Every row needs a "
                f"{role}: fill those in or delete the rows."
            )
    if len(set(labels)) < 2:
        raise ValueError(
            f"{path!r}: column {label_name!r} holds one label only ({sorted(set(labels))}); a "
            "classifier needs at least two classes."
        )
    return texts, labels


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


def load_image_data(data, info, seed=0):
    """`fashion-mnist`, `digits`, or a folder of CLASS/*.png|jpg, at the encoder's size and channels."""
    from mmpretrain import data as datasets
    from mmpretrain.data.data_splits import DataSplits

    data = os.fspath(data)
    size, channels = int(info["image_size"]), int(info["image_channels"])
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
    return DataSplits(inputs, splits.kind, labels=labels, class_names=splits.class_names,
                      counts=splits.counts, metadata=splits.metadata)


# === Audio ===


HELD_OUT_ENGINE = "flite"


def load_audio_data(data, info, keywords=None, voices=None, seed=0, progress=True,
                    held_out_engine=HELD_OUT_ENGINE):
    """`speech` (keywords spoken by espeak-ng/flite voices, voice-disjoint splits) or a folder.

    With `speech`, `keywords` picks the words (a new list synthesizes new clips, cached);
    `voices` optionally limits the voices (ids like "en-us+f3", "flite:slt"). By default
    (`voices` None) the voices of `held_out_engine` are kept out of train/validation/test and
    form one more split, `test_<engine>`: a synthesizer fine-tuning never hears (None: every
    engine's voices share the splits).
    """
    from mmpretrain import data as datasets

    data = os.fspath(data)
    max_seconds = float(info["max_audio_seconds"])
    if data == "speech":
        words = list(keywords) if keywords else list(datasets.DEFAULT_KEYWORDS)
        held_out = []
        if voices is None and held_out_engine:
            every = datasets.default_voices()
            held_out = [v for v in every if v.engine == held_out_engine]
            voices = [v for v in every if v.engine != held_out_engine] if held_out else None
        splits = _check_splits(
            datasets.load_spoken_keywords(keywords=words, voices=voices, seed=seed, progress=progress),
            f"Keywords {words} with {len(voices) if voices else 'all'} voices",
        )
        if held_out:
            other = datasets.load_spoken_keywords(keywords=words, voices=held_out, seed=seed, progress=progress)
            splits = with_split(splits, f"test_{held_out_engine}", other)
        return splits
    if os.path.isdir(data):
        return _check_splits(datasets.load_audio_folder(data, max_seconds=max_seconds, seed=seed),
                             f"Audio folder {data!r}")
    raise ValueError(
        f"Unknown audio data {data!r}. Accepted: {list(AUDIO_SOURCES)} (synthesized keywords, "
        "see --keywords) or a folder with one sub-folder of .wav/.flac/.ogg files per class."
    )


def with_split(splits, name, other):
    """`splits` plus one split `name` holding every example of `other` (same kind and classes)."""
    from mmpretrain.data.data_splits import DataSplits

    if list(other.class_names) != list(splits.class_names):
        raise ValueError(f"Split {name!r} has classes {other.class_names}; expected {splits.class_names}.")
    inputs = {s: splits.inputs(s) for s in splits.split_names}
    labels = {s: np.asarray(splits.labels(s)) for s in splits.split_names}
    inputs[name] = [x for s in other.split_names for x in other.inputs(s)]
    labels[name] = np.concatenate([np.asarray(other.labels(s)) for s in other.split_names]).astype(np.int32)
    metadata = None
    if splits.metadata is not None and other.metadata is not None:
        metadata = {s: splits.metadata[s] for s in splits.split_names}
        metadata[name] = [m for s in other.split_names for m in other.metadata[s]]
    counts = dict(splits.counts or {})
    if isinstance(counts.get("voices"), dict) and isinstance((other.counts or {}).get("voices"), dict):
        counts["voices"] = dict(counts["voices"], **{name: sorted(v for vs in other.counts["voices"].values() for v in vs)})
    return DataSplits(inputs, splits.kind, labels=labels, class_names=splits.class_names, counts=counts,
                      metadata=metadata)


# === Raw batches ===


def take(items, indices):
    """items[indices] for arrays, lists and dicts of arrays."""
    if isinstance(items, dict):
        return {k: take(v, indices) for k, v in items.items()}
    if isinstance(items, np.ndarray):
        return items[np.asarray(indices, np.int64)]
    return [items[i] for i in indices]


def raw_batch(modality, items, info):
    """Examples of one modality -> ONE raw batch {signature input name: numpy array}.

    Made by the modality's record (`collate`) with `fixed_width` (audio: every batch padded to
    the encoder's `max_audio_seconds`). The examples must stack into one batch (images of one
    size, as `load_image_data` gives them).
    """
    from mmpretrain.modalities import get_modality

    groups = get_modality(modality).collate(list(items), dict(info, fixed_width=True))
    if len(groups) != 1:
        raise ValueError(
            f"The {modality} examples do not stack into one batch ({len(groups)} groups of "
            "different shapes); bring them to one size first (e.g. load_image_data does)."
        )
    return groups[0][1]


def labeled_dataset(batch, labels=None, batch_size=32, shuffle_seed=None, augment=None):
    """tf.data of a raw batch (dicts of tensors), paired with int32 labels when given;
    reshuffled every epoch (seeded) when `shuffle_seed` is set. `augment(inputs, seed)` (see
    `mmpretrain.modalities.augmentations.compose`) changes each example anew every epoch, with
    seeds drawn from `shuffle_seed` (or 0)."""
    import tensorflow as tf

    from mmpretrain.modalities.modality import signature_arguments

    inputs = signature_arguments(batch)
    data = inputs if labels is None else (inputs, tf.constant(np.asarray(labels), tf.int32))
    ds = tf.data.Dataset.from_tensor_slices(data)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=int(shuffle_seed), reshuffle_each_iteration=True)
    if augment is not None:
        seeds = tf.data.Dataset.random(seed=int(shuffle_seed or 0), rerandomize_each_iteration=True)
        seeds = seeds.batch(2).map(lambda s: tf.cast(s % (2**31 - 1), tf.int32))
        ds = tf.data.Dataset.zip((ds, seeds))
        if labels is None:
            ds = ds.map(lambda x, s: augment(x, s), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            ds = ds.map(lambda xy, s: (augment(xy[0], s), xy[1]), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
    return ds.batch(int(batch_size)).prefetch(2)
