"""`DataSplits`: what every loader returns — in-memory examples per split plus tf.data views."""

import numpy as np

from mmpretrain.data.splits import SPLIT_NAMES


def _is_strings(items):
    if isinstance(items, np.ndarray):
        return items.dtype.kind in ("U", "S", "O")
    return isinstance(items[0], (str, bytes))


def _element(inputs):
    """How every split's examples look, read from the data: ("strings",) for text, or
    ("arrays", dtype, rank) -- decided by the first split that is an array or not empty, so
    that an empty split gets the same element spec as the others."""
    for items in inputs.values():
        if isinstance(items, np.ndarray) or len(items):
            if _is_strings(items):
                return ("strings",)
            if isinstance(items, np.ndarray):
                return ("arrays", items.dtype, items.ndim - 1)
            first = np.asarray(items[0])
            return ("arrays", first.dtype, first.ndim)
    return ("strings",)


def _flat_dataset(arrays, dtype, element_rank):
    """A Dataset over arrays of different shapes, stored as one flat buffer plus offsets."""
    import tensorflow as tf

    # arrays: n arrays of rank `element_rank`; flat: [sum of sizes]
    shapes = np.asarray([a.shape for a in arrays], np.int64).reshape(len(arrays), element_rank)
    sizes = np.asarray([a.size for a in arrays], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros([0], dtype)
    flat = tf.constant(flat.astype(dtype, copy=False))
    offsets = tf.constant(offsets)
    shapes = tf.constant(shapes)

    def take(i):
        x = flat[offsets[i] : offsets[i + 1]]
        return tf.reshape(x, shapes[i]) if element_rank > 1 else x

    return tf.data.Dataset.range(len(arrays)).map(take)


class DataSplits:
    """Examples of the train/validation/test splits (and extra ones, e.g. `test_amazon`).

    Args:
        inputs: split name -> examples. Text: list of str. Image: uint8 array `[N, H, W, C]` or a
            list of `[H, W, C]` arrays of different sizes. Audio: list of float32 `[T]` arrays
            at 16 kHz.
        kind: the modality of the examples: "text", "image", "audio" or another registered one.
            The tf.data views follow the data itself (strings, or arrays of one dtype and rank).
        labels: split name -> int32 `[N]`, or None for unlabeled data.
        class_names: label i is `class_names[i]`; None for unlabeled data.
        counts: facts about the source (sizes, dropped examples, skipped files...). The number
            of examples per split and per class is added here.
        metadata: split name -> one dict per example (e.g. the voice and text of a synthesized
            clip, the file of a user example), or None.

    `splits.train`, `.validation`, `.test` (or `splits.dataset(name)`) give a
    `tf.data.Dataset` of `text` (tf.string `[]`), `image` (uint8 `[H, W, C]`) or `audio`
    (float32 `[T]`), paired with an int32 label `[]` when labeled. `splits.inputs(name)`,
    `splits.labels(name)` and `splits.texts(name)` give the same data on the Python side.
    """

    def __init__(self, inputs, kind, labels=None, class_names=None, counts=None, metadata=None):
        if not isinstance(kind, str) or not kind.isidentifier():
            raise ValueError(
                f"Received kind={kind!r}. Expected the name of the examples' modality, e.g. "
                "'text', 'image' or 'audio'."
            )
        if labels is not None and set(labels) != set(inputs):
            raise ValueError(
                f"labels has splits {sorted(labels)} but inputs has {sorted(inputs)}; "
                "give a label array for every split."
            )
        self.kind = kind
        self._inputs = dict(inputs)
        self._labels = None
        if labels is not None:
            self._labels = {k: np.asarray(v, np.int32).reshape(-1) for k, v in labels.items()}
            for name in self._inputs:
                if len(self._labels[name]) != len(self._inputs[name]):
                    raise ValueError(
                        f"Split {name!r} has {len(self._inputs[name])} inputs but "
                        f"{len(self._labels[name])} labels."
                    )
        self._element = _element(self._inputs)
        self.metadata = dict(metadata) if metadata is not None else None
        self.class_names = list(class_names) if class_names is not None else None
        self.counts = dict(counts or {})
        self.counts.update({name: len(self._inputs[name]) for name in self.split_names})
        if self._labels is not None and self.class_names is not None:
            self.counts["per_class"] = {
                name: {
                    c: int(np.sum(self._labels[name] == i)) for i, c in enumerate(self.class_names)
                }
                for name in self.split_names
            }

    @property
    def split_names(self):
        ordered = [n for n in SPLIT_NAMES if n in self._inputs]
        return ordered + sorted(n for n in self._inputs if n not in SPLIT_NAMES)

    @property
    def labeled(self):
        return self._labels is not None

    def __len__(self):
        return sum(len(v) for v in self._inputs.values())

    def _check(self, split):
        if split not in self._inputs:
            raise ValueError(f"Received split={split!r}. Expected one of {self.split_names}.")

    def inputs(self, split):
        self._check(split)
        return self._inputs[split]

    def labels(self, split):
        self._check(split)
        if self._labels is None:
            raise ValueError("This data is unlabeled: it has inputs only.")
        return self._labels[split]

    def texts(self, split):
        """The Python strings of a text split."""
        if self._element[0] != "strings":
            raise ValueError(f"texts() is for text data; this data is {self.kind}.")
        return list(self.inputs(split))

    def dataset(self, split):
        """A `tf.data.Dataset` of the split: inputs, or (inputs, int32 label) when labeled."""
        import tensorflow as tf

        data = self.inputs(split)
        if self._element[0] == "strings":
            ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(data), dtype=tf.string))
        elif isinstance(data, np.ndarray):
            ds = tf.data.Dataset.from_tensor_slices(data)
        else:
            _, dtype, rank = self._element
            ds = _flat_dataset(data, dtype, element_rank=rank)
        if self._labels is None:
            return ds
        labels = tf.data.Dataset.from_tensor_slices(tf.constant(self._labels[split], tf.int32))
        return tf.data.Dataset.zip((ds, labels))

    @property
    def train(self):
        return self.dataset("train")

    @property
    def validation(self):
        return self.dataset("validation")

    @property
    def test(self):
        return self.dataset("test")

    def __repr__(self):
        sizes = ", ".join(f"{n}={len(self._inputs[n])}" for n in self.split_names)
        classes = f", classes={self.class_names}" if self.class_names else ""
        return f"DataSplits(kind={self.kind!r}, {sizes}{classes})"


def build_splits(
    examples, keys, kind, seed, fractions, labels=None, class_names=None, counts=None, metadata=None
):
    """Assigns `examples` (and `labels`, `metadata`) to splits by the stable hash of `keys`."""
    from mmpretrain.data.splits import split_indices

    indices = split_indices(keys, seed, fractions)
    inputs, split_labels, split_metadata = {}, {}, {}
    for name, idx in indices.items():
        if isinstance(examples, np.ndarray):
            inputs[name] = examples[idx]
        else:
            inputs[name] = [examples[i] for i in idx]
        if labels is not None:
            split_labels[name] = np.asarray(labels, np.int32)[idx]
        if metadata is not None:
            split_metadata[name] = [metadata[i] for i in idx]
    return DataSplits(
        inputs,
        kind,
        labels=split_labels if labels is not None else None,
        class_names=class_names,
        counts=counts,
        metadata=split_metadata if metadata is not None else None,
    )
