"""One JSON value of a predict request -> a numpy instance of the signature input's spec.

The dispatch is on the input's TensorSpec (dtype and rank), never on a modality, so a new
modality's signature (say float32 [B, T, C]) is served as nested lists with no edit here:

    string            a UTF-8 JSON string, checked by `mmpretrain.modalities.text_io` as the
                      pipelines check text (no lone surrogate, not empty or only whitespace),
                      or {"b64": bytes} (the model checks UTF-8)
    uint8 [B, H, W, C]  nested lists of 0..255 with exactly C channels (channels last), or
                      {"b64": an encoded image file}, decoded by
                      `mmpretrain.modalities.image_io` to C channels; the header's pixel count
                      is checked against `DecodeLimits.max_image_pixels` BEFORE decoding
    float [B, T]      nested lists of finite numbers (all-integer values beyond [-1, 1] are
                      integer PCM: refused with the /32768 fix), or {"b64": a WAV, FLAC or OGG file},
                      decoded by `mmpretrain.modalities.audio_io` to mono at the model's sample
                      rate; absurd file rates are refused and only the model's maximum duration
                      is decoded (cropped before resampling)
    any other         nested lists of numbers of the spec's dtype and rank
"""

import base64
import binascii
import dataclasses
import io

import numpy as np

from mmpretrain.serving.errors import RequestError

DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS")


def _bad(message):
    return RequestError(400, message)


@dataclasses.dataclass(frozen=True)
class DecodeLimits:
    """What b64 file values decode to, and the bounds applied before decoding them.

    Attributes:
        max_image_pixels: largest width * height of a b64 image (read from its header).
        sample_rate: the rate b64 audio is resampled to (the model's, default 16 kHz).
        max_audio_seconds: only this much of a b64 audio file is decoded (None: all of it).
    """

    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    sample_rate: int = None
    max_audio_seconds: float = None

    @classmethod
    def for_model(cls, info, max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS):
        """Limits from a model's assets config (config.json or app.json; may be empty)."""
        from mmpretrain.modalities import audio_io

        seconds = info.get("max_audio_seconds")
        return cls(max_image_pixels=max_image_pixels,
                   sample_rate=int(info.get("sample_rate") or audio_io.SAMPLE_RATE),
                   max_audio_seconds=float(seconds) if seconds else None)


def spec_text(spec):
    dims = ", ".join("?" if d is None else str(d) for d in spec.shape.as_list())
    return f"{spec.dtype.name} [{dims}]"


def decode_b64(value, where):
    text = value.get("b64")
    if len(value) != 1 or not isinstance(text, str):
        raise _bad(f"{where}: an object value must be exactly {{\"b64\": \"<base64 string>\"}}; received keys {sorted(value)}.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise _bad(f"{where}: the b64 value does not decode as base64 ({err}).") from None


def decode_image(data, spec, where, limits):
    """Encoded image bytes -> uint8 [H, W, C] with the input's channels (RGB when unknown)."""
    from mmpretrain.modalities import image_io

    channels = 1 if spec.shape[-1] == 1 else 3
    try:
        return image_io.decode_image(io.BytesIO(data), "the b64 image", channels,
                                     max_pixels=limits.max_image_pixels)
    except image_io.ImageTooLargeError as err:
        raise _bad(f"{where}: {err} (the server's --max-image-pixels)") from None
    except ValueError:
        raise _bad(
            f"{where}: the b64 bytes are not an image file that can be decoded; accepted: PNG, "
            "JPEG, GIF, BMP, WEBP or TIFF files."
        ) from None


def decode_audio(data, where, limits):
    """Encoded audio bytes -> float32 mono [T] at the model's sample rate."""
    from mmpretrain.modalities import audio_io

    if data[:4] not in AUDIO_MAGIC:
        raise _bad(f"{where}: the b64 bytes are not an audio file; accepted: WAV, FLAC or OGG files.")
    try:
        clip = audio_io.decode_audio(io.BytesIO(data), "the b64 audio", limits.sample_rate or audio_io.SAMPLE_RATE,
                                     max_seconds=limits.max_audio_seconds,
                                     rate_range=audio_io.SERVING_RATE_RANGE)
    except audio_io.AudioLimitError as err:
        raise _bad(f"{where}: {err}") from None
    except ValueError as err:
        raise _bad(f"{where}: could not decode the audio file ({str(err)[:200]}); accepted: WAV, FLAC or OGG.") from None
    return np.asarray(clip, np.float32)


def check_strings(value, where):
    """Nested lists of str / {"b64"} -> nested lists of bytes."""
    if isinstance(value, list):
        return [check_strings(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return decode_b64(value, where)
    if isinstance(value, str):
        from mmpretrain.modalities import text_io

        try:  # the text checks of the pipelines: no lone surrogate, not empty or only whitespace
            return text_io.check_text(value, where).encode("utf-8")
        except ValueError as err:
            raise _bad(str(err)) from None
    raise _bad(f"{where}: expected a string or {{\"b64\": ...}}; received {type(value).__name__} {value!r:.60}.")


def _numbers(value, spec, where):
    """Nested lists of numbers -> a checked numpy array of the spec's dtype."""
    import tensorflow as tf

    dtype = spec.dtype
    try:
        array = np.asarray(value)
    except ValueError:
        array = None
    if array is None or array.dtype == object:
        raise _bad(f"{where}: the nested lists are ragged or mixed; expected {spec_text(spec)} (without the batch axis).")
    if array.dtype.kind not in "biuf":
        received = "strings" if array.dtype.kind in "US" else f"dtype {array.dtype}"
        raise _bad(f"{where}: expected numbers for {spec_text(spec)}; received {received}.")
    if array.dtype.kind == "b" and dtype != tf.bool:
        raise _bad(f"{where}: expected numbers for {spec_text(spec)}; received booleans.")
    if dtype.is_integer:
        if array.dtype.kind == "f":
            if array.size and not np.all(np.isfinite(array) & (array == np.round(array))):
                raise _bad(f"{where}: expected integers for {spec_text(spec)}; received non-integral numbers.")
        if array.size and (array.min() < dtype.min or array.max() > dtype.max):
            raise _bad(
                f"{where}: values must lie in [{dtype.min}, {dtype.max}] for {spec_text(spec)}; "
                f"received [{array.min()}, {array.max()}]."
            )
    elif dtype.is_floating and array.size and not np.all(np.isfinite(array.astype(np.float64))):
        bad = int(np.sum(~np.isfinite(array.astype(np.float64))))
        raise _bad(
            f"{where}: values must be finite; received {bad} NaN or Inf value(s). Accepted: "
            f"finite numbers for {spec_text(spec)}."
        )
    _check_integer_pcm(array, spec, where)
    return array.astype(dtype.as_numpy_dtype)


def to_instance(value, spec, where, limits=None):
    """One instance (the input without its batch axis) -> a numpy array of the spec's dtype."""
    import tensorflow as tf

    limits = limits or DecodeLimits()
    rank = spec.shape.rank - 1
    dtype = spec.dtype
    if dtype == tf.string:
        array = np.array(check_strings(value, where), dtype=object)
    elif isinstance(value, dict):
        data = decode_b64(value, where)
        if dtype == tf.uint8 and rank == 3:
            array = decode_image(data, spec, where, limits)
        elif dtype.is_floating and rank == 1:
            array = decode_audio(data, where, limits)
        else:
            raise _bad(f"{where}: b64 values are accepted for strings, images and waveforms, not for {spec_text(spec)}.")
    else:
        array = _numbers(value, spec, where)
    if 0 in array.shape:
        raise _bad(f"{where}: received an empty value of shape {list(array.shape)}; accepted: at least one element per axis.")
    if array.ndim != rank:
        nested = " (nested lists deeper than the input's rank)" if array.ndim > rank else ""
        raise _bad(
            f"{where}: expected rank {rank} (shape {spec_text(spec)} without the batch axis); "
            f"received shape {list(array.shape)}{nested}."
        )
    for axis, (want, got) in enumerate(zip(spec.shape.as_list()[1:], array.shape)):
        if want is not None and want != got:
            if _is_image(spec) and axis == 2:
                from mmpretrain.modalities import image_io

                raise _bad(
                    f"{where}: axis 3 must have size {want} (the channels of input {spec_text(spec)}, "
                    f"channels last); received shape {list(array.shape)} with {got} channels."
                    + image_io.channels_first_hint(array.shape)
                    + " A b64 image file is converted to the model's channels."
                )
            raise _bad(
                f"{where}: axis {axis + 1} must have size {want} (input {spec_text(spec)}); received "
                f"shape {list(array.shape)}."
            )
    return array


def _is_image(spec):
    import tensorflow as tf

    return spec.dtype == tf.uint8 and spec.shape.rank == 4


def _check_integer_pcm(array, spec, where):
    """A waveform (float [B, T]) sent as JSON integers beyond [-1, 1] is integer PCM: refused
    with the fix, as the pipelines refuse int16 arrays (floats are never mistaken for it)."""
    if (spec.dtype.is_floating and spec.shape.rank == 2 and array.dtype.kind in "iu" and array.size
            and np.abs(array).max() > 1):
        raise _bad(
            f"{where}: received integer samples (largest magnitude {int(np.abs(array).max())}): "
            "integer PCM. Accepted: float samples in [-1, 1]; convert 16-bit PCM with "
            "x / 32768 (or send the WAV file as {\"b64\": ...})."
        )
