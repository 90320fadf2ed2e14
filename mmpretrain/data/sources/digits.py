"""scikit-learn's bundled 8x8 digits (1,797 images): the tiny real image fixture for tests.

Pixel values 0..16 are scaled to uint8 0..255 (`round(v * 255 / 16)`); images are `[8, 8, 1]`.
Splits are by the stable hash of each image's bytes and label with the seed.
"""

import numpy as np

from mmpretrain.data.data_splits import build_splits
from mmpretrain.data.fetch import PythonPackage
from mmpretrain.data.splits import DEFAULT_FRACTIONS

PACKAGE = PythonPackage("digits", "sklearn", "scikit-learn", "datasets/data/digits.csv.gz")
CLASS_NAMES = tuple(str(d) for d in range(10))


def read_digits():
    """(images uint8 [1797, 8, 8, 1], labels int32 [1797])."""
    PACKAGE.locate()
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, bunch.target.astype(np.int32)


def load_digits_splits(seed=0, fractions=DEFAULT_FRACTIONS, labeled=True):
    """The digits as a `DataSplits` of uint8 `[8, 8, 1]` images (and int32 labels 0..9)."""
    images, labels = read_digits()
    keys = [image.tobytes() + bytes([label]) for image, label in zip(images, labels)]
    return build_splits(
        images,
        keys,
        "image",
        seed,
        fractions,
        labels=labels if labeled else None,
        class_names=CLASS_NAMES if labeled else None,
    )
