"""Raw user inputs (strings, file paths, bytes, numpy arrays, lists of them) -> checked examples.

Each function returns `(items, single)`: a non-empty list of examples and whether the caller
passed one example (so the answer is not wrapped in a list). Bad input is a ValueError that says
which item was wrong, what was received and what is accepted.
"""

import io
import os
import pathlib

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def _listify(inputs, is_single, task, accepted):
    if is_single(inputs):
        return [inputs], True
    if isinstance(inputs, np.ndarray) and inputs.ndim >= 1:
        items = list(inputs)
    elif isinstance(inputs, (list, tuple)):
        items = list(inputs)
    else:
        raise ValueError(f"{task} received {_describe(inputs)}. Accepted: {accepted}.")
    if not items:
        raise ValueError(f"{task} received an empty list. Pass at least one input: {accepted}.")
    return items, False


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"a numpy array of dtype {value.dtype} and shape {list(value.shape)}"
    if isinstance(value, (str, bytes)):
        return f"{type(value).__name__} {value[:40]!r}"
    return f"a value of type {type(value).__name__}"


# === Text ===

TEXT_ACCEPTED = "a string, UTF-8 bytes, or a list / 1-D numpy array of them"


def texts(inputs, task):
    """-> ([str], single). Empty or whitespace-only strings are refused."""
    items, single = _listify(inputs, lambda x: isinstance(x, (str, bytes, np.str_, np.bytes_)), task, TEXT_ACCEPTED)
    out = []
    for i, item in enumerate(items):
        if isinstance(item, (bytes, np.bytes_)):
            try:
                item = bytes(item).decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{task}: input {i} is bytes that are not valid UTF-8 (byte {err.start}: "
                    f"{bytes(item)[err.start:err.start + 4]!r}). Decode it with the right encoding "
                    "and pass a str, or pass UTF-8 bytes."
                ) from None
        if not isinstance(item, str):
            raise ValueError(f"{task}: input {i} is {_describe(item)}. Accepted: {TEXT_ACCEPTED}.")
        if not item.strip():
            raise ValueError(f"{task}: input {i} is an empty string; pass some text to classify or embed.")
        out.append(str(item))
    return out, single


# === Images ===

IMAGE_ACCEPTED = (
    "an image file path (png/jpg/bmp/gif/webp/tiff), encoded image bytes, a PIL image, a uint8 "
    "numpy array [H, W], [H, W, C] or a batch [N, H, W, C], or a list of these"
)


def _decode_image(source, what, channels):
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


def _image_array(array, what, channels):
    array = np.asarray(array)
    if array.dtype != np.uint8:
        hint = " Convert floats in [0, 1] with (x * 255).round().astype(np.uint8)." if np.issubdtype(
            array.dtype, np.floating) else ""
        raise ValueError(f"{what} is {_describe(array)}; images must be uint8 (0..255).{hint}")
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

    items, single = _listify(inputs, is_single, task, IMAGE_ACCEPTED)
    out = []
    for i, item in enumerate(items):
        what = f"{task}: input {i}"
        if isinstance(item, (str, pathlib.PurePath)):
            path = os.fspath(item)
            if not os.path.isfile(path):
                raise ValueError(f"{what}: no file at {path!r}. Accepted: {IMAGE_ACCEPTED}.")
            out.append(_decode_image(path, f"file {path!r}", channels))
        elif isinstance(item, (bytes, bytearray)):
            if not item:
                raise ValueError(f"{what} is empty bytes. Accepted: {IMAGE_ACCEPTED}.")
            out.append(_decode_image(io.BytesIO(item), f"{what} ({len(item)} bytes)", channels))
        elif isinstance(item, np.ndarray) or type(item).__module__.startswith("PIL."):
            out.append(_image_array(np.asarray(item), what, channels))
        else:
            raise ValueError(f"{what} is {_describe(item)}. Accepted: {IMAGE_ACCEPTED}.")
    return out, single


# === Audio ===

AUDIO_ACCEPTED = (
    "an audio file path (wav/flac/ogg), encoded audio bytes, a float numpy array [T] of samples "
    "in [-1, 1] at 16 kHz, a dict {'array': samples, 'sampling_rate': rate}, or a list of these"
)


def _decode_audio(source, what, sample_rate):
    import soundfile

    from mmpretrain.data.audio_io import resample

    try:
        audio, rate = soundfile.read(source, dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types for unreadable data
        detail = type(err).__name__ if isinstance(source, io.BytesIO) else f"{type(err).__name__}: {err}"
        raise ValueError(
            f"Cannot read {what} as audio ({detail}); the file is corrupt or not "
            f"wav/flac/ogg. Accepted: {AUDIO_ACCEPTED}."
        ) from None
    return resample(audio.mean(axis=1), rate, sample_rate)


def _check_waveform(array, what):
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{what} is {_describe(array)}: integer PCM. Accepted: float samples in [-1, 1]; convert "
            "16-bit PCM with x.astype(np.float32) / 32768.")
    if not np.issubdtype(array.dtype, np.floating) or array.ndim != 1:
        raise ValueError(f"{what} is {_describe(array)}. Accepted: {AUDIO_ACCEPTED}.")
    if array.size == 0:
        raise ValueError(f"{what} has 0 samples; pass a clip of at least one sample.")
    if not np.isfinite(array).all():
        raise ValueError(
            f"{what} has {int(np.sum(~np.isfinite(array)))} NaN/Inf samples; pass finite samples "
            "(e.g. np.nan_to_num(x)).")
    return array.astype(np.float32, copy=False)


def waveforms(inputs, task, sample_rate=16000):
    """-> ([float32 [T] at `sample_rate`], single)."""
    from mmpretrain.data.audio_io import resample

    def is_single(x):
        if isinstance(x, np.ndarray):
            return x.ndim == 1
        return isinstance(x, (str, bytes, dict, pathlib.PurePath))

    items, single = _listify(inputs, is_single, task, AUDIO_ACCEPTED)
    out = []
    for i, item in enumerate(items):
        what = f"{task}: input {i}"
        if isinstance(item, (str, pathlib.PurePath)):
            path = os.fspath(item)
            if not os.path.isfile(path):
                raise ValueError(f"{what}: no file at {path!r}. Accepted: {AUDIO_ACCEPTED}.")
            clip = _decode_audio(path, f"file {path!r}", sample_rate)
        elif isinstance(item, (bytes, bytearray)):
            clip = _decode_audio(io.BytesIO(item), f"{what} ({len(item)} bytes)", sample_rate)
        elif isinstance(item, dict):
            array = item.get("array", item.get("raw"))
            rate = item.get("sampling_rate")
            if array is None or not isinstance(rate, (int, np.integer)) or rate <= 0:
                raise ValueError(
                    f"{what} is a dict with keys {sorted(item)}; accepted: {{'array': float samples, "
                    "'sampling_rate': positive int}.")
            clip = resample(_check_waveform(array, what), int(rate), sample_rate)
        elif isinstance(item, np.ndarray):
            clip = item
        else:
            raise ValueError(f"{what} is {_describe(item)}. Accepted: {AUDIO_ACCEPTED}.")
        out.append(_check_waveform(clip, what))
    return out, single
