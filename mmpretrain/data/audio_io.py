"""Audio helpers shared by synthesized speech and user folders: decode, resample, add noise.

Every clip leaves here as float32 mono `[T]` at 16 kHz in [-1, 1].
"""

import numpy as np

SAMPLE_RATE = 16000


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


def resample(audio, sample_rate, target_rate=SAMPLE_RATE):
    """float32 `[T]` resampled from `sample_rate` to `target_rate` (soxr, high quality)."""
    audio = np.asarray(audio, np.float32)
    if sample_rate == target_rate or audio.size == 0:
        return audio
    import librosa

    out = librosa.resample(audio, orig_sr=sample_rate, target_sr=target_rate, res_type="soxr_hq")
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def load_audio_file(path, target_rate=SAMPLE_RATE):
    """A wav/flac/ogg file as float32 mono `[T]` at `target_rate` (channels averaged).

    Raises whatever soundfile raises for a file it cannot decode (the caller decides to skip).
    """
    import soundfile

    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate, target_rate)


def mix_noise(audio, snr_db, rng):
    """`audio` plus white Gaussian noise at `snr_db` dB below the clip's mean power.

    The clip's power is measured over its samples louder than 1% of its peak (so leading and
    trailing silence do not lower it). A silent clip is returned unchanged.
    """
    audio = np.asarray(audio, np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio
    voiced = audio[np.abs(audio) > 0.01 * peak]
    signal_power = float(np.mean(voiced.astype(np.float64) ** 2))
    noise_power = signal_power / (10.0 ** (float(snr_db) / 10.0))
    noise = rng.standard_normal(audio.shape) * np.sqrt(noise_power)
    return np.clip(audio + noise, -1.0, 1.0).astype(np.float32)
