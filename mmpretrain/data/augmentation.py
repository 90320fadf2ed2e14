"""Data-side augmentation of decoded examples (numpy, outside graphs)."""

import numpy as np


def mix_noise(audio, snr_db, rng):
    """`audio` plus white Gaussian noise at `snr_db` dB below the clip's mean power.

    The clip's power is measured over its samples louder than 1% of its peak (so leading and
    trailing silence do not lower it). A silent clip is returned unchanged. The result is
    clipped to [-1, 1].
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
