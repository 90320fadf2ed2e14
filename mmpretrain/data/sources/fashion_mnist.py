"""Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files, gzip).

Images are uint8 `[28, 28, 1]`. The official 10,000 test images are the test split; the 60,000
training images are split into train and validation by the stable hash of each image's bytes
with the seed (so identical images always land in the same split).
"""

import gzip
import pathlib

import numpy as np

from mmpretrain.data.data_splits import DataSplits
from mmpretrain.data.fetch import DebianPackage
from mmpretrain.data.splits import split_indices

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
PACKAGE = DebianPackage(
    "fashion-mnist",
    "dataset-fashion-mnist",
    tuple(f"{FASHION_MNIST_DIR}/{name}" for name in FILES.values()),
)
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX file (optionally gzip-compressed) as a numpy array of its declared shape."""
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    rank = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * rank :]
    if len(body) != expected:
        raise ValueError(f"{path}: header says {shape} ({expected} bytes), body has {len(body)}.")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def read_fashion_mnist(root=None):
    """(train_images [60000,28,28,1], train_labels, test_images [10000,28,28,1], test_labels)."""
    PACKAGE.locate()
    folder = pathlib.Path(FASHION_MNIST_DIR)
    arrays = {key: read_idx(folder / name) for key, name in FILES.items()}
    return (
        arrays["train_images"][..., None],
        arrays["train_labels"].astype(np.int32),
        arrays["test_images"][..., None],
        arrays["test_labels"].astype(np.int32),
    )


def load_fashion_mnist(labeled=True, seed=0, validation_fraction=0.1, root=None):
    """Fashion-MNIST as a `DataSplits` of uint8 `[28, 28, 1]` images (with int32 labels).

    Args:
        labeled: False gives images only (for pretraining), True pairs them with labels.
        seed: salts the hash that splits the official training set into train and validation.
        validation_fraction: share of the official training set that goes to validation.
    """
    if not 0 <= validation_fraction < 1:
        raise ValueError(
            f"Received validation_fraction={validation_fraction}. Expected a number in [0, 1)."
        )
    train_images, train_labels, test_images, test_labels = read_fashion_mnist(root)
    keys = [image.tobytes() for image in train_images]
    indices = split_indices(keys, seed, (1 - validation_fraction, validation_fraction, 0.0))
    inputs = {
        "train": train_images[indices["train"]],
        "validation": train_images[indices["validation"]],
        "test": test_images,
    }
    labels = {
        "train": train_labels[indices["train"]],
        "validation": train_labels[indices["validation"]],
        "test": test_labels,
    }
    return DataSplits(
        inputs,
        "image",
        labels=labels if labeled else None,
        class_names=CLASS_NAMES if labeled else None,
        counts={"official_train": len(train_images), "official_test": len(test_images)},
    )
