"""Audio I/O, defined once: the sample rate, decoding files and bytes, resampling, batching.

Every clip leaves here as float32 mono [T] at `SAMPLE_RATE` (16 kHz). Used by the data
loaders, the pipelines, `load()`, the REST server and the export checks alike. Everything runs
in Python/numpy (librosa, soundfile), outside graphs.
"""

import io
import math
import os
import pathlib

import numpy as np

from mmpretrain.modalities.inputs import describe, listify

SAMPLE_RATE = 16000
SERVING_RATE_RANGE = (1000, 384000)  # file sample rates (Hz) a server accepts; others are absurd
ACCEPTED_FILE_FORMATS = ("wav", "flac", "ogg")
AUDIO_EXTENSIONS = tuple(f".{f}" for f in ACCEPTED_FILE_FORMATS)


def int_pcm_message(dtype_name, bits):
    if dtype_name in ("int16", "int32"):
        fix = f"`waveform.astype(np.float32) / {2 ** (bits - 1)}`"
    else:
        fix = "scaling to float32 in [-1, 1] (16-bit PCM: `waveform.astype(np.float32) / 32768`)"
    return (
        f"Waveforms must be floating point samples in [-1, 1]; received integer samples "
        f"(dtype {dtype_name}). Accepted dtypes: float32 (float16/float64 are cast). Convert by "
        f"{fix}, or load the file with mmpretrain.modalities.audio.load_audio(path)."
    )




def resample(waveform, orig_sr, target_sr=SAMPLE_RATE, clip=False):
    """Resamples along the last axis with librosa (soxr_hq). Returns np.float32 [..., T'].

    T' = ceil(T * target_sr / orig_sr). Integer PCM is refused (divide by 32768 first).
    `clip=True` clips the result to [-1, 1] (resampling can overshoot a full-scale clip).
    """
    if hasattr(waveform, "numpy"):  # a tf.Tensor
        waveform = waveform.numpy()
    array = np.asarray(waveform)
    if np.issubdtype(array.dtype, np.integer):
        raise ValueError(int_pcm_message(array.dtype.name, array.dtype.itemsize * 8))
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"resample needs float samples; received dtype {array.dtype}.")
    for name, rate in (("orig_sr", orig_sr), ("target_sr", target_sr)):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) or rate <= 0:
            raise ValueError(f"{name} must be a positive sample rate in Hz; received {rate!r}.")
    if array.ndim == 0 or array.shape[-1] == 0:
        raise ValueError(
            f"Cannot resample an empty clip; received shape {array.shape}. Accepted: [..., T] "
            "with T >= 1."
        )
    array = array.astype(np.float32, copy=False)
    if orig_sr == target_sr:
        return array.copy()
    import librosa

    out = librosa.resample(array, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq", axis=-1)
    out = np.asarray(out, dtype=np.float32)
    return np.clip(out, -1.0, 1.0) if clip else out


def _frames_within(rate, max_seconds):
    """Samples in the first `max_seconds` at `rate` (-1: all of them)."""
    return -1 if max_seconds is None else max(1, int(math.ceil(float(max_seconds) * rate)))


def _in_range(rate, rate_range):
    return rate_range is None or rate_range[0] <= rate <= rate_range[1]


def _read_bounded(f, rate_range, max_seconds):
    """(samples float32 [T, C], rate) of an open `soundfile.SoundFile`, reading only its first
    `max_seconds`; samples is None (nothing read) when the header's rate is outside `rate_range`."""
    rate = f.samplerate
    if not _in_range(rate, rate_range):
        return None, rate
    return f.read(_frames_within(rate, max_seconds), dtype="float32", always_2d=True), rate


def load_audio(path, target_sr=SAMPLE_RATE, rate_range=None, max_seconds=None):
    """Reads wav/flac/ogg with soundfile, mixes to mono, resamples. Returns np.float32 [T].

    `max_seconds`: decode only the first `max_seconds` (cropped BEFORE resampling: a long file
    costs no more than what is kept).

    Raises ValueError for a missing, unreadable or empty file; `AudioLimitError` (a ValueError)
    for a readable file that is refused: a header sample rate outside `rate_range` (default
    `FILE_RATE_RANGE`; checked before any sample is decoded: a header claiming 8 Hz would be
    resampled x2000) or NaN/Inf samples (float WAV/FLAC files can hold them).
    """
    import soundfile

    accepted = ", ".join(ACCEPTED_FILE_FORMATS)
    rate_range = FILE_RATE_RANGE if rate_range is None else rate_range
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(
            f"could not decode {path!r}: no such file; accepted: {accepted} files "
            "(anything libsndfile reads)."
        )
    try:
        with soundfile.SoundFile(path) as f:
            data, sr = _read_bounded(f, rate_range, max_seconds)  # [T, C] or None
    except (RuntimeError, TypeError, ValueError) as err:  # LibsndfileError is a RuntimeError
        raise ValueError(
            f"could not decode {path!r} ({err}); accepted: {accepted}. Convert other formats, "
            "e.g. `sox in.mp3 -r 16000 -c 1 out.wav`."
        ) from err
    if data is None:
        raise AudioLimitError(
            f"{path!r} is sampled at {sr} Hz (its header); accepted: {rate_range[0]} to "
            f"{rate_range[1]} Hz. Nothing was decoded."
        )
    if data.shape[0] == 0:
        raise ValueError(
            f"{path!r} decodes to 0 samples; accepted: audio with at least 1 sample."
        )
    check_finite_samples(data, repr(path))
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]  # [T]
    return resample(mono, sr, target_sr)


def check_finite_samples(samples, what):
    """AudioLimitError when decoded samples hold NaN/Inf (float files can)."""
    bad = int(np.size(samples) - np.count_nonzero(np.isfinite(samples)))
    if bad:
        raise AudioLimitError(
            f"{what} has {bad} NaN/Inf samples; accepted: finite samples in [-1, 1]. Repair the "
            "file (e.g. np.nan_to_num on its samples) or remove it."
        )


def decode_wav_bytes(data):
    """(float32 mono samples, sample rate) of 16-bit PCM WAV bytes.

    Tolerates the placeholder sizes that espeak-ng writes to stdout (RIFF and data sizes of
    0x7ffff000 when it cannot seek back): the data chunk runs to the end of the bytes.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"Not a RIFF/WAVE stream (starts with {data[:12]!r}).")
    pos, channels, rate, bits = 12, None, None, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            fmt = int.from_bytes(data[body : body + 2], "little")
            channels = int.from_bytes(data[body + 2 : body + 4], "little")
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
            bits = int.from_bytes(data[body + 14 : body + 16], "little")
            if fmt != 1 or bits != 16:
                raise ValueError(f"Expected 16-bit PCM WAV; got format {fmt} with {bits} bits.")
        elif chunk == b"data":
            if rate is None:
                raise ValueError("WAV data chunk comes before its fmt chunk.")
            end = min(body + size, len(data))
            end -= (end - body) % (2 * channels)
            samples = np.frombuffer(data[body:end], dtype="<i2").astype(np.float32) / 32768.0
            return samples.reshape(-1, channels).mean(axis=1), rate
        pos = body + size + (size & 1)
    raise ValueError("WAV stream has no data chunk.")


def pad_batch(clips, max_samples=None, fixed_width=False):
    """float32 clips [T_i] -> {"waveforms": [N, T] zero-padded, "lengths": int32 [N]}.

    Clips are cut to `max_samples` (if given). T is the longest clip, or `max_samples` with
    `fixed_width` (one shape for every batch, so Keras traces its functions once).
    """
    clips = [np.asarray(c, np.float32).reshape(-1) for c in clips]
    if max_samples is not None:
        clips = [c[:max_samples] for c in clips]
    if fixed_width and max_samples is None:
        raise ValueError("pad_batch(fixed_width=True) needs max_samples.")
    width = max_samples if fixed_width else max([len(c) for c in clips] + [1])
    waveforms = np.zeros([len(clips), width], np.float32)
    for i, clip in enumerate(clips):
        waveforms[i, : len(clip)] = clip
    lengths = np.asarray([max(len(c), 1) for c in clips], np.int32)
    return {"waveforms": waveforms, "lengths": lengths}


AUDIO_ACCEPTED = (
    "an audio file path (wav/flac/ogg), encoded audio bytes, a float numpy array [T] of samples "
    "in [-1, 1] at 16 kHz (or [T, C] with C <= 8 channels, mixed to mono), a dict {'array': "
    "samples, 'sampling_rate': rate}, a batch [N, T] or a list of these"
)
# Sample rates accepted from files, bytes and {'array', 'sampling_rate'} dicts: a WAV header can
# claim 8 Hz, and resampling it x2000 to 16 kHz costs seconds of CPU and >100 MB per request.
FILE_RATE_RANGE = (1000, 384000)
MAX_CHANNELS = 8  # [T, C] arrays with C <= MAX_CHANNELS < T are one multichannel clip


class AudioLimitError(ValueError):
    """A readable audio file that is refused: an absurd sample rate, NaN/Inf samples."""


def decode_audio(source, what, sample_rate, max_seconds=None, rate_range=None):
    """A file path or file object -> float32 mono [T] at `sample_rate`.

    `max_seconds`: decode only the first `max_seconds` of the file (cropped BEFORE resampling,
    so a long upload costs no more than the model reads). `rate_range`: (low, high) file sample
    rates accepted, in Hz (e.g. `SERVING_RATE_RANGE`); outside it, AudioLimitError before any
    sample is decoded.
    """
    import soundfile

    try:
        with soundfile.SoundFile(source) as f:
            audio, rate = _read_bounded(f, rate_range, max_seconds)  # [T, C] or None
    except Exception as err:  # soundfile raises several types for unreadable data
        detail = type(err).__name__ if isinstance(source, io.BytesIO) else f"{type(err).__name__}: {err}"
        raise ValueError(
            f"Cannot read {what} as audio ({detail}); the file is corrupt or not "
            f"wav/flac/ogg. Accepted: {AUDIO_ACCEPTED}."
        ) from None
    if audio is None:
        raise AudioLimitError(
            f"{what} is sampled at {rate} Hz; accepted: {rate_range[0]} to {rate_range[1]} Hz."
        )
    if audio.shape[0] == 0:
        raise ValueError(f"{what} decodes to 0 samples; accepted: audio with at least 1 sample.")
    check_finite_samples(audio, what)
    return resample(audio.mean(axis=1), rate, sample_rate)


def check_waveform(array, what):
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{what} is {describe(array)}: integer PCM. Accepted: float samples in [-1, 1]; convert "
            "16-bit PCM with x.astype(np.float32) / 32768.")
    if not np.issubdtype(array.dtype, np.floating) or array.ndim != 1:
        raise ValueError(f"{what} is {describe(array)}. Accepted: {AUDIO_ACCEPTED}.")
    if array.size == 0:
        raise ValueError(f"{what} has 0 samples; pass a clip of at least one sample.")
    if not np.isfinite(array).all():
        raise ValueError(
            f"{what} has {int(np.sum(~np.isfinite(array)))} NaN/Inf samples; pass finite samples "
            "(e.g. np.nan_to_num(x)).")
    return array.astype(np.float32, copy=False)


def _is_multichannel(array):
    """[T, C] samples x channels (channels last), e.g. stereo [T, 2]: one clip."""
    return array.ndim == 2 and array.shape[1] <= MAX_CHANNELS < array.shape[0]


def _check_layout(array, what, verb="is"):
    """Refuses float arrays that are not one clip, a [T, C] clip or a batch [N, T]."""
    if array.ndim >= 3:
        hint = ""
        if array.ndim == 3:
            hint = (" For a batch of multichannel clips [N, T, C] pass a list of [T, C] arrays "
                    "(or x.mean(axis=-1) for mono [N, T]).")
            if array.shape[-1] in (1, 2, 3, 4):
                hint += (" If it is an image: images are uint8 arrays (convert floats in [0, 1] "
                         "with (x * 255).round().astype(np.uint8)), and load() embeds them as images.")
        raise ValueError(
            f"{what} {verb} {describe(array)}: neither an audio clip [T] or [T, C] (channels "
            f"last, C <= {MAX_CHANNELS}) nor a batch of clips [N, T].{hint}"
        )


def _crop(array, rate, max_seconds):
    """The first `max_seconds` of a clip at `rate` (before resampling: the cost stays bounded)."""
    return array if max_seconds is None else array[: _frames_within(rate, max_seconds)]


def claims(value):
    """True for values that can only be audio: float arrays, signed-integer PCM arrays (refused
    by `waveforms` with the /32768 fix) and {'array': ..., 'sampling_rate': ...} dicts."""
    if isinstance(value, np.ndarray):
        return np.issubdtype(value.dtype, np.floating) or (
            np.issubdtype(value.dtype, np.signedinteger) and value.ndim in (1, 2))
    return isinstance(value, dict) and ("array" in value or "raw" in value) and "sampling_rate" in value


def waveforms(inputs, task, sample_rate=SAMPLE_RATE, max_seconds=None, rate_range=FILE_RATE_RANGE):
    """-> ([float32 [T] at `sample_rate`], single).

    `max_seconds`: keep only the first `max_seconds` of each clip, cut BEFORE resampling.
    `rate_range`: the source sample rates accepted (files, bytes, dicts), in Hz.
    """
    def is_single(x):
        if isinstance(x, np.ndarray):
            return x.ndim == 1 or _is_multichannel(x)
        return isinstance(x, (str, bytes, dict, pathlib.PurePath))

    if isinstance(inputs, np.ndarray) and np.issubdtype(inputs.dtype, np.floating):
        _check_layout(inputs, task, verb="received")
    if isinstance(inputs, np.ndarray) and inputs.ndim == 3 and not np.issubdtype(inputs.dtype, np.floating):
        raise ValueError(f"{task} received {describe(inputs)}, which looks like an image [H, W, C], not audio. "
                         f"Accepted: {AUDIO_ACCEPTED}.")
    items, single = listify(inputs, is_single, task, AUDIO_ACCEPTED)
    out = []
    for i, item in enumerate(items):
        what = f"{task}: input {i}"
        if isinstance(item, (str, pathlib.PurePath)):
            path = os.fspath(item)
            if not os.path.isfile(path):
                raise ValueError(f"{what}: no file at {path!r}. Accepted: {AUDIO_ACCEPTED}.")
            clip = decode_audio(path, f"file {path!r}", sample_rate, max_seconds, rate_range)
        elif isinstance(item, (bytes, bytearray)):
            clip = decode_audio(io.BytesIO(item), f"{what} ({len(item)} bytes)", sample_rate,
                                max_seconds, rate_range)
        elif isinstance(item, dict):
            array = item.get("array", item.get("raw"))
            rate = item.get("sampling_rate")
            if array is None or isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
                received = f"keys {sorted(item)}" if array is None or "sampling_rate" not in item else (
                    f"sampling_rate={rate!r}")
                raise ValueError(
                    f"{what} is a dict with {received}; accepted: {{'array': float samples, "
                    "'sampling_rate': a positive int in Hz}, e.g. {'array': x, 'sampling_rate': 16000}.")
            if not _in_range(rate, rate_range):
                raise AudioLimitError(
                    f"{what} has sampling_rate={int(rate)} Hz; accepted: {rate_range[0]} to "
                    f"{rate_range[1]} Hz.")
            array = np.asarray(array)
            if _is_multichannel(array):
                array = array.mean(axis=1)
            clip = resample(_crop(check_waveform(array, what), int(rate), max_seconds), int(rate), sample_rate)
        elif isinstance(item, np.ndarray):
            if np.issubdtype(item.dtype, np.floating):
                _check_layout(item, what)
            else:
                check_waveform(item, what)  # integer PCM or non-numbers: refused with the reason
            clip = item.mean(axis=1) if _is_multichannel(item) else item
            clip = _crop(clip, sample_rate, max_seconds)
        else:
            raise ValueError(f"{what} is {describe(item)}. Accepted: {AUDIO_ACCEPTED}.")
        out.append(check_waveform(clip, what))
    return out, single
