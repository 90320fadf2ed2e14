"""Image inputs: files, bytes, PIL images and uint8 arrays -> uint8 [H, W, C] examples.

One place for image decoding and channel conversion (gray <-> RGB, RGBA drops alpha), used
by the pipelines, `load()`, the data loaders and the REST server.
"""

import io
import os
import pathlib

import numpy as np

from mmpretrain.modalities.inputs import describe, listify

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


IMAGE_ACCEPTED = (
    "an image file path (png/jpg/bmp/gif/webp/tiff), encoded image bytes, a PIL image, a uint8 "
    "numpy array [H, W], [H, W, C] or a batch [N, H, W, C], or a list of these"
)


def decode_image(source, what, channels):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as image:
            image.load()
            image = image.convert("L" if channels == 1 else "RGB")
            array = np.asarray(image, np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        detail = type(err).__name__ if isinstance(source, io.BytesIO) else f"{type(err).__name__}: {err}"
        raise ValueError(
            f"Cannot read {what} as an image ({detail}); the file is corrupt or "
            f"not an image. Accepted: {IMAGE_ACCEPTED}."
        ) from None
    return array[..., None] if array.ndim == 2 else array


def convert_image_array(array, what, channels):
    array = np.asarray(array)
    if array.dtype != np.uint8:
        hint = " Convert floats in [0, 1] with (x * 255).round().astype(np.uint8)." if np.issubdtype(
            array.dtype, np.floating) else ""
        raise ValueError(f"{what} is {describe(array)}; images must be uint8 (0..255).{hint}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or 0 in array.shape:
        raise ValueError(f"{what} has shape {list(array.shape)}; accepted: [H, W], [H, W, C] with C in 1, 3, 4.")
    if array.shape[-1] == 4:
        array = array[..., :3]
    if array.shape[-1] != channels:
        if channels == 3:
            array = np.repeat(array, 3, axis=-1)
        else:  # luma, as tf.image.rgb_to_grayscale
            luma = array.astype(np.float32) @ np.array([0.2989, 0.587, 0.114], np.float32)
            array = np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]
    return array


def images(inputs, task, channels):
    """-> ([uint8 [H, W, channels]], single)."""
    def is_single(x):
        if isinstance(x, np.ndarray):
            return x.ndim in (2, 3) and not (x.ndim == 3 and x.shape[-1] not in (1, 3, 4))
        return isinstance(x, (str, bytes, pathlib.PurePath)) or type(x).__module__.startswith("PIL.")

    items, single = listify(inputs, is_single, task, IMAGE_ACCEPTED)
    out = []
    for i, item in enumerate(items):
        what = f"{task}: input {i}"
        if isinstance(item, (str, pathlib.PurePath)):
            path = os.fspath(item)
            if not os.path.isfile(path):
                raise ValueError(f"{what}: no file at {path!r}. Accepted: {IMAGE_ACCEPTED}.")
            out.append(decode_image(path, f"file {path!r}", channels))
        elif isinstance(item, (bytes, bytearray)):
            if not item:
                raise ValueError(f"{what} is empty bytes. Accepted: {IMAGE_ACCEPTED}.")
            out.append(decode_image(io.BytesIO(item), f"{what} ({len(item)} bytes)", channels))
        elif isinstance(item, np.ndarray) or type(item).__module__.startswith("PIL."):
            out.append(convert_image_array(np.asarray(item), what, channels))
        else:
            raise ValueError(f"{what} is {describe(item)}. Accepted: {IMAGE_ACCEPTED}.")
    return out, single
