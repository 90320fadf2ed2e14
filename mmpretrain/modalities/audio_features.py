"""Log-mel features in TF ops: float waveforms [B, T] -> dB spectrograms [B, frames, n_mels].

Three layers, from low to high:

- `resample` / `load_audio` (numpy, librosa, soundfile): get any file or array to mono float32 at
  16 kHz. They run in Python, outside graphs.
- `log_mel_spectrogram` (TF ops only): [B, T] -> [B, frames, n_mels] in dB, matching
  `librosa.power_to_db(librosa.feature.melspectrogram(..., center=True, pad_mode="constant"),
  ref=1.0, amin=1e-10, top_db=80.0)` to ~1e-5 relative. Runs eagerly, in `tf.data`, in a
  `tf.function` with unknown T, and converts to TFLite with builtin ops only.
- `AudioPreprocessor` (a `tf.Module`, see modalities/README.md): log-mel -> normalised ->
  non-overlapping patches + `padding_mask`.

How the STFT is computed: the signal is zero-padded by n_fft // 2 on both sides (librosa's
center=True, pad_mode="constant"), cut into frames with `tf.signal.frame` (frames = 1 + T // hop),
and the windowed DFT is ONE matmul against a constant [n_fft, 2 * (n_fft // 2 + 1)] matrix that
holds periodic-Hann-window * cos and -window * sin (built in float64, stored as float32). Power is
re^2 + im^2; the mel filterbank is `librosa.filters.mel(...)` embedded as a constant matrix.
Why not `tf.signal.stft`/`tf.signal.rfft`: with fft_length=400 they are exact in TensorFlow, but
TFLite's RFFT2D kernel only accepts power-of-two lengths (it fails at run time: "IsPowerOfTwo
(fft_length) was not true"), and the default fft_length of `tf.signal.stft` rounds 400 up to 512,
which changes the frequency bins. The matmul DFT is exact, builtin-only (FULLY_CONNECTED /
BATCH_MATMUL) and costs ~0.16 MFLOP per frame at n_fft=400 (~0.3 GFLOP for 10 s of audio).
`tf.signal.linear_to_mel_weight_matrix` is not used: it differs from librosa's filterbank by
~1.6e-2 relative.
"""

import functools
import math

import numpy as np
import tensorflow as tf

from mmpretrain.modalities.audio_io import SAMPLE_RATE, int_pcm_message

# AudioPreprocessor normalisation: features = (dB + DB_OFFSET) / DB_SCALE. Speech at full scale
# peaks around +10..+30 dB and the top_db floor sits 80 dB below the clip's peak, so features
# land roughly in [-1.5, 1.75] (about [-0.75, 1.25] for a typical clip).
DB_OFFSET = 40.0
DB_SCALE = 40.0

_AMIN = 1e-10  # power floor before the log, as librosa.power_to_db(amin=1e-10)
_LARGE_NEGATIVE = -1e30  # stands in for -inf when masking frames out of a max


# ----------------------------------------------------------------------------------------------
# Constant matrices (numpy, cached; never mutate the returned arrays).
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _windowed_dft_matrix(n_fft):
    """Periodic Hann window folded into a real DFT: [n_fft, 2 * K] float32, K = n_fft // 2 + 1.

    frames @ matrix = [re_0 .. re_{K-1}, im_0 .. im_{K-1}] of rfft(window * frame).
    """
    import librosa

    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float64)  # [n_fft]
    n = np.arange(n_fft, dtype=np.float64)
    k = np.arange(n_fft // 2 + 1, dtype=np.float64)
    angle = 2.0 * np.pi * np.outer(n, k) / n_fft  # [n_fft, K]
    cos = window[:, None] * np.cos(angle)
    sin = -window[:, None] * np.sin(angle)
    return np.concatenate([cos, sin], axis=1).astype(np.float32)  # [n_fft, 2K]


@functools.lru_cache(maxsize=8)
def _mel_matrix(sample_rate, n_fft, n_mels, fmin, fmax):
    """librosa's (Slaney-normalised) mel filterbank, transposed: [K, n_mels] float32."""
    import librosa

    fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return np.ascontiguousarray(fb.T, dtype=np.float32)  # [K, M]


# ----------------------------------------------------------------------------------------------
# Input validation (shared by log_mel_spectrogram and AudioPreprocessor).
# ----------------------------------------------------------------------------------------------


def _to_float_tensor(waveforms):
    """Any array-like -> float32 tf.Tensor; ValueError for integer, bool, complex or string data."""
    if isinstance(waveforms, (tf.Tensor, tf.Variable)) or tf.is_tensor(waveforms):
        dtype = tf.as_dtype(waveforms.dtype)
        if dtype.is_integer:
            raise ValueError(int_pcm_message(dtype.name, dtype.size * 8))
        if not dtype.is_floating:
            raise ValueError(
                f"Waveforms must be float32 samples in [-1, 1]; received a tensor of dtype "
                f"{dtype.name}. Accepted: float32 (float16/float64 are cast)."
            )
        return tf.cast(waveforms, tf.float32)
    array = np.asarray(waveforms)
    if np.issubdtype(array.dtype, np.integer):
        raise ValueError(int_pcm_message(array.dtype.name, array.dtype.itemsize * 8))
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"Waveforms must be float32 samples in [-1, 1]; received an array of dtype "
            f"{array.dtype} (shape {array.shape}). Accepted: float32 (float16/float64 are cast); "
            "for audio files use mmpretrain.modalities.audio.load_audio(path)."
        )
    return tf.convert_to_tensor(array.astype(np.float32, copy=False))


_NON_FINITE_MESSAGE = (
    "Waveforms must be finite; received NaN or Inf samples. Accepted: finite float32 samples "
    "(padding included; pad with zeros). Fix the source, e.g. np.nan_to_num(waveform), or drop "
    "the clip."
)
_EMPTY_MESSAGE = (
    "Received a zero-length clip (0 samples); accepted: clips with at least 1 sample. Drop empty "
    "clips before preprocessing."
)
_LENGTHS_MESSAGE = (
    "lengths must give each row's number of valid samples, 1 <= lengths[i] <= T (the padded "
    "width of `waveforms`)."
)


def _prepare(waveforms, lengths):
    """Validates and batches. Returns (x float32 [B, T], lengths int32 [B], was_rank_1).

    Eagerly every check raises ValueError; in a graph the value checks are tf.debugging
    assertions carrying the same message (InvalidArgumentError at run time).
    """
    x = _to_float_tensor(waveforms)
    rank = x.shape.rank
    if rank is None or rank not in (1, 2):
        shape = "of unknown rank" if rank is None else str(x.shape.as_list())
        raise ValueError(
            f"Waveforms must have shape [T] (one clip) or [B, T] (a padded batch); received shape "
            f"{shape}. Mix multichannel audio to mono first (load_audio does), and in a "
            "tf.function give the input_signature a known rank, e.g. tf.TensorSpec([None, None], "
            "tf.float32)."
        )
    was_rank_1 = rank == 1
    if was_rank_1:
        x = tf.expand_dims(x, 0)  # [1, T]
    eager = tf.executing_eagerly()
    if x.shape[1] == 0:
        raise ValueError(_EMPTY_MESSAGE + f" Received waveforms of shape {x.shape.as_list()}.")
    batch, width = tf.shape(x)[0], tf.shape(x)[1]

    if lengths is None:
        lengths = tf.fill([batch], width)  # [B]
    else:
        if tf.is_tensor(lengths):
            if not tf.as_dtype(lengths.dtype).is_integer:
                raise ValueError(
                    f"lengths must be integers (valid samples per row); received dtype "
                    f"{tf.as_dtype(lengths.dtype).name}."
                )
        else:
            lengths = np.asarray(lengths)
            if not np.issubdtype(lengths.dtype, np.integer):
                raise ValueError(
                    f"lengths must be integers (valid samples per row); received {lengths!r} "
                    f"of dtype {lengths.dtype}."
                )
        lengths = tf.cast(lengths, tf.int32)
        if was_rank_1 and lengths.shape.rank == 0:
            lengths = tf.expand_dims(lengths, 0)
        if lengths.shape.rank != 1:
            raise ValueError(
                f"lengths must have shape [B] (one count per row); received shape "
                f"{lengths.shape.as_list() if lengths.shape.rank is not None else 'unknown'}."
            )
        if eager:
            got = lengths.numpy()
            if got.shape[0] != x.shape[0]:
                raise ValueError(
                    f"lengths must have one entry per batch row; received {got.shape[0]} lengths "
                    f"for waveforms of shape {x.shape.as_list()}."
                )
            if (got <= 0).any():
                rows = np.flatnonzero(got <= 0).tolist()
                raise ValueError(
                    _EMPTY_MESSAGE + f" Received lengths {got.tolist()} (rows {rows})."
                )
            if (got > x.shape[1]).any():
                raise ValueError(
                    _LENGTHS_MESSAGE + f" Received lengths {got.tolist()} for T={x.shape[1]}."
                )

    if eager:
        finite = tf.math.is_finite(x).numpy()
        if not finite.all():
            values = x.numpy()
            rows = np.flatnonzero(~finite.all(axis=1)).tolist()
            raise ValueError(
                _NON_FINITE_MESSAGE
                + f" Received {int(np.isnan(values).sum())} NaN and {int(np.isinf(values).sum())} "
                f"Inf sample(s) in batch row(s) {rows}."
            )
        return x, lengths, was_rank_1

    checks = [
        tf.debugging.assert_positive(width, message=_EMPTY_MESSAGE),
        tf.debugging.assert_equal(tf.shape(lengths)[0], batch, message=_LENGTHS_MESSAGE),
        tf.debugging.assert_positive(lengths, message=_EMPTY_MESSAGE),
        tf.debugging.assert_less_equal(lengths, width, message=_LENGTHS_MESSAGE),
    ]
    with tf.control_dependencies(checks):
        x = tf.debugging.assert_all_finite(x, _NON_FINITE_MESSAGE)
        lengths = tf.identity(lengths)
    return x, lengths, was_rank_1


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; received {value!r}.")
    return int(value)


# ----------------------------------------------------------------------------------------------
# Log-mel spectrogram (TF ops).
# ----------------------------------------------------------------------------------------------


def _log_mel(x, lengths, sample_rate, n_fft, hop_length, n_mels, fmin, fmax, top_db):
    """Core, no validation. x: float32 [B, T]; lengths: int32 [B] or None -> dB [B, F, M]."""
    k = n_fft // 2 + 1
    if lengths is not None:
        # Zero the padding so each row equals its unpadded clip followed by silence: frames that
        # overlap the clip's end then match librosa on the clip alone.
        valid = tf.sequence_mask(lengths, tf.shape(x)[1])  # [B, T]
        x = tf.where(valid, x, tf.zeros_like(x))
    pad = n_fft // 2
    x = tf.pad(x, [[0, 0], [pad, pad]])  # [B, T + 2 * pad], center=True, pad_mode="constant"
    frames = tf.signal.frame(x, n_fft, hop_length, axis=-1)  # [B, F, n_fft], F = 1 + T // hop
    batch, num_frames = tf.shape(frames)[0], tf.shape(frames)[1]

    dft = tf.constant(_windowed_dft_matrix(n_fft))  # [n_fft, 2K]
    spectrum = tf.matmul(tf.reshape(frames, [-1, n_fft]), dft)  # [B*F, 2K]
    power = tf.square(spectrum[:, :k]) + tf.square(spectrum[:, k:])  # [B*F, K]
    mel_fb = tf.constant(_mel_matrix(int(sample_rate), n_fft, n_mels, float(fmin), float(fmax)))
    mel = tf.matmul(power, mel_fb)  # [B*F, M]
    mel = tf.reshape(mel, tf.stack([batch, num_frames, n_mels]))  # [B, F, M]

    # power_to_db with ref=1.0: 10 * log10(max(amin, S)) - 10 * log10(max(amin, ref)) = first term
    db = (10.0 / math.log(10.0)) * tf.math.log(tf.maximum(mel, _AMIN))  # [B, F, M]
    if top_db is None:
        return db
    if lengths is None:
        peak = tf.reduce_max(db, axis=[1, 2], keepdims=True)  # [B, 1, 1]
    else:
        frame_valid = tf.sequence_mask(1 + lengths // hop_length, num_frames)  # [B, F]
        low = tf.fill(tf.shape(db), _LARGE_NEGATIVE)
        masked = tf.where(tf.expand_dims(frame_valid, -1), db, low)  # [B, F, M]
        peak = tf.reduce_max(masked, axis=[1, 2], keepdims=True)  # [B, 1, 1]
    return tf.maximum(db, peak - float(top_db))  # [B, F, M]


def log_mel_spectrogram(
    waveforms,
    sample_rate=SAMPLE_RATE,
    n_fft=400,
    hop_length=160,
    n_mels=64,
    fmin=0.0,
    fmax=8000.0,
    top_db=80.0,
    lengths=None,
):
    """Log-mel spectrogram in dB, in TF ops, equal to librosa's (see the module docstring).

    Matches, per clip, `librosa.power_to_db(librosa.feature.melspectrogram(y=clip, sr=sample_rate,
    n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax, center=True,
    pad_mode="constant", power=2.0), ref=1.0, amin=1e-10, top_db=top_db).T`.

    Args:
        waveforms: float32 [B, T] (or one clip [T]); numpy or tf. Not resampled: `sample_rate`
            only shapes the mel filterbank.
        sample_rate, n_fft, hop_length, n_mels, fmin, fmax: as in librosa.
        top_db: per-example floor: each clip is clipped at (its peak dB over its valid frames)
            - top_db. None disables the floor.
        lengths: optional int [B], valid samples per row (the rest is padding and is zeroed);
            row i then has 1 + lengths[i] // hop_length valid frames, equal to librosa on
            clip[:lengths[i]], and its top_db floor is taken over those frames only. Later
            frames are those of the clip followed by zeros: silence at the row's floor once a
            frame starts past the clip's end.

    Returns:
        float32 [B, 1 + T // hop_length, n_mels] ([frames, n_mels] for a [T] input).
    """
    n_fft = _check_positive_int("n_fft", n_fft)
    hop_length = _check_positive_int("hop_length", hop_length)
    n_mels = _check_positive_int("n_mels", n_mels)
    sample_rate = _check_positive_int("sample_rate", sample_rate)
    if top_db is not None and top_db < 0:
        raise ValueError(f"top_db must be >= 0 or None; received {top_db!r}.")
    if not 0.0 <= fmin < fmax <= sample_rate / 2.0:
        raise ValueError(
            f"Need 0 <= fmin < fmax <= sample_rate / 2; received fmin={fmin}, fmax={fmax}, "
            f"sample_rate={sample_rate}."
        )
    given_lengths = lengths is not None
    x, lengths, was_rank_1 = _prepare(waveforms, lengths)
    lengths = lengths if given_lengths else None
    db = _log_mel(x, lengths, sample_rate, n_fft, hop_length, n_mels, fmin, fmax, top_db)
    return db[0] if was_rank_1 else db
