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
# Decoded-pixel bound for every entry point (pipelines, load(), data loaders, server): a 24 KB
# PNG can declare 14000 x 14000 pixels. 4096 x 4096 is far above what the models read.
MAX_IMAGE_PIXELS = 4096 * 4096
CHANNEL_COUNTS = (1, 2, 3, 4)  # gray, gray + alpha, RGB, RGBA


IMAGE_ACCEPTED = (
    "an image file path (png/jpg/bmp/gif/webp/tiff), encoded image bytes, a PIL image, a uint8 "
    "numpy array [H, W] or [H, W, C] (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; channels last), "
    "a batch [N, H, W, C], or a list of these"
)


class ImageTooLargeError(ValueError):
    """An image whose header declares more pixels than the caller accepts (nothing decoded)."""


def check_pixel_count(size, what, max_pixels):
    """ImageTooLargeError when a header's (width, height) declares more than `max_pixels`."""
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{what} is a {width}x{height} image ({width * height} pixels); at most "
            f"{max_pixels} pixels are accepted. Downscale it first."
        )


def decode_image(source, what, channels, max_pixels=None):
    """A file path or file object -> uint8 [H, W, channels] (channels 1, 3 or 4: L, RGB, RGBA).

    `max_pixels`: refuse (ImageTooLargeError, a ValueError naming the size and the limit) an
    image whose header declares more pixels, before its pixels are decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as image:  # reads the header only
            check_pixel_count(image.size, what, max_pixels)
            image.load()
            image = image.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
            array = np.asarray(image, np.uint8)
    except ImageTooLargeError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(
            f"{what} is too large to decode ({err}); at most {max_pixels or MAX_IMAGE_PIXELS} "
            "pixels are accepted. Downscale it first."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        detail = type(err).__name__ if isinstance(source, io.BytesIO) else f"{type(err).__name__}: {err}"
        raise ValueError(
            f"Cannot read {what} as an image ({detail}); the file is corrupt or "
            f"not an image. Accepted: {IMAGE_ACCEPTED}."
        ) from None
    return array[..., None] if array.ndim == 2 else array


def convert_image_array(array, what, channels):
    """uint8 [H, W] or [H, W, C] -> uint8 [H, W, channels]; alpha is dropped, gray <-> RGB."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        hint = " Convert floats in [0, 1] with (x * 255).round().astype(np.uint8)." if np.issubdtype(
            array.dtype, np.floating) else ""
        raise ValueError(f"{what} is {describe(array)}; images must be uint8 (0..255).{hint}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim == 3 and 0 in array.shape:
        raise ValueError(
            f"{what} is an empty image: shape {list(array.shape)} has 0 pixels. Accepted: [H, W] "
            f"or [H, W, C] with H, W >= 1 and C in {list(CHANNEL_COUNTS)} (channels last)."
        )
    if array.ndim != 3 or array.shape[-1] not in CHANNEL_COUNTS or 0 in array.shape:
        raise ValueError(
            f"{what} has shape {list(array.shape)}; accepted: [H, W] or [H, W, C] with C in "
            f"{list(CHANNEL_COUNTS)} (channels last).{channels_first_hint(array.shape)}"
        )
    if array.shape[-1] in (2, 4):  # gray + alpha, RGBA: drop alpha
        array = array[..., :-1]
    if array.shape[-1] != channels:
        if channels == 3:
            array = np.repeat(array, 3, axis=-1)
        else:  # luma, as tf.image.rgb_to_grayscale
            luma = array.astype(np.float32) @ np.array([0.2989, 0.587, 0.114], np.float32)
            array = np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]
    return array


def channels_first_hint(shape):
    """' It looks channels-first: ...' for a [C, H, W] / [N, C, H, W] shape, else ''."""
    if len(shape) in (3, 4) and shape[-3] in CHANNEL_COUNTS and shape[-1] not in CHANNEL_COUNTS:
        order = "(1, 2, 0)" if len(shape) == 3 else "(0, 2, 3, 1)"
        return f" It looks channels-first: pass np.transpose(x, {order})."
    return ""


def _check_array_layout(array, task):
    """Refuses arrays whose layout is ambiguous instead of guessing (one image = one answer)."""
    if array.dtype != np.uint8:
        return
    if array.ndim == 3 and array.shape[-1] not in CHANNEL_COUNTS:
        raise ValueError(
            f"{task} received a uint8 array of shape {list(array.shape)}: its last axis is not a "
            f"channel count {list(CHANNEL_COUNTS)}, so it is either a channels-first image or a "
            "batch of gray images. Accepted: one image [H, W] or [H, W, C] (channels last), or a "
            "batch [N, H, W, C]; for a batch of gray images pass x[..., None]."
            + channels_first_hint(array.shape)
        )
    if array.ndim == 4 and array.shape[-1] not in CHANNEL_COUNTS:
        raise ValueError(
            f"{task} received a uint8 array of shape {list(array.shape)}; a batch must be "
            f"[N, H, W, C] with C in {list(CHANNEL_COUNTS)} (channels last)."
            + channels_first_hint(array.shape)
        )
    if array.ndim > 4:
        raise ValueError(
            f"{task} received a uint8 array of shape {list(array.shape)}; accepted: [H, W], "
            "[H, W, C] or a batch [N, H, W, C]."
        )


def images(inputs, task, channels, max_pixels=MAX_IMAGE_PIXELS):
    """-> ([uint8 [H, W, channels]], single). Files and bytes declaring more than `max_pixels`
    pixels are refused before decoding (ImageTooLargeError)."""
    def is_single(x):
        if isinstance(x, np.ndarray):
            return x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in CHANNEL_COUNTS)
        return isinstance(x, (str, bytes, pathlib.PurePath)) or type(x).__module__.startswith("PIL.")

    if isinstance(inputs, np.ndarray):
        _check_array_layout(inputs, task)
    items, single = listify(inputs, is_single, task, IMAGE_ACCEPTED)
    out = []
    for i, item in enumerate(items):
        what = f"{task}: input {i}"
        if isinstance(item, (str, pathlib.PurePath)):
            path = os.fspath(item)
            if not os.path.isfile(path):
                raise ValueError(f"{what}: no file at {path!r}. Accepted: {IMAGE_ACCEPTED}.")
            out.append(decode_image(path, f"file {path!r}", channels, max_pixels))
        elif isinstance(item, (bytes, bytearray)):
            if not item:
                raise ValueError(f"{what} is empty bytes. Accepted: {IMAGE_ACCEPTED}.")
            out.append(decode_image(io.BytesIO(item), f"{what} ({len(item)} bytes)", channels, max_pixels))
        elif isinstance(item, np.ndarray) or type(item).__module__.startswith("PIL."):
            if isinstance(item, np.ndarray) and item.ndim == 3:
                _check_array_layout(item, what)
            out.append(convert_image_array(np.asarray(item), what, channels))
        else:
            raise ValueError(f"{what} is {describe(item)}. Accepted: {IMAGE_ACCEPTED}.")
    return out, single
