"""AudioPreprocessor: 16 kHz waveforms -> normalised log-mel -> time x frequency patches.

See `mmpretrain.modalities.audio_features` for how the log-mel is computed.
"""

import numpy as np
import tensorflow as tf

from mmpretrain.modalities.audio_features import (
    _LARGE_NEGATIVE,
    DB_OFFSET,
    DB_SCALE,
    _check_positive_int,
    _log_mel,
    _mel_matrix,
    _prepare,
    _windowed_dft_matrix,
)
from mmpretrain.modalities.audio_io import SAMPLE_RATE

# ----------------------------------------------------------------------------------------------
# The preprocessor.
# ----------------------------------------------------------------------------------------------


class AudioPreprocessor(tf.Module):
    """float32 waveforms at 16 kHz [B, T] (or one [T]) -> `patches` [B, N, pf*pt] + `padding_mask`.

    Steps, all TF ops (eager, tf.data, exported graphs):

    1. Validate (ValueError eagerly; tf.debugging assertions with the same text in graphs).
    2. Crop: keep the first `max_seconds` of each clip (max_samples = round(max_seconds * sr));
       `lengths` are capped the same way. Shorter clips are not padded up to max_seconds.
    3. Log-mel in dB (`log_mel_spectrogram`, n_fft/hop/n_mels, fmin=0, fmax=sr/2, top_db=80,
       floor per clip over its valid frames): [B, F, M], F = 1 + T // hop_length.
    4. Normalise: (dB + 40) / 40 (DB_OFFSET, DB_SCALE), roughly unit scale. This is a fixed
       affine map, so loudness is kept: amplitudes outside [-1, 1] are accepted, and a gain g
       shifts every value by 20 * log10(g) / 40 (the top_db floor follows the clip's peak).
    5. Frames past a clip's valid frames (1 + lengths[i] // hop_length) and the frames added to
       reach a multiple of patch_time are set to that clip's minimum (its floor): they read as
       silence.
    6. Cut into non-overlapping patch_time x patch_frequency patches, time-major:
       patch index = t * (n_mels // patch_frequency) + f; inside a patch values are ordered
       [time, frequency] (frame-major). N = ceil(F / patch_time) * (n_mels // patch_frequency).

    `padding_mask[b, n]` is True for a real patch: one whose first frame t * patch_time is among
    clip b's valid frames. Every accepted clip has >= 1 sample, hence >= 1 real patch row.

    Args:
        sample_rate: the rate waveforms must already have (16000 for the shared models).
        n_mels, n_fft, hop_length: log-mel parameters (10 ms hop, 25 ms window at 16 kHz).
        patch_frequency: mel bins per patch; must divide n_mels.
        patch_time: frames per patch.
        max_seconds: longer clips are cropped to their first max_seconds; sets `max_patches`.
    """

    def __init__(
        self,
        sample_rate=SAMPLE_RATE,
        n_mels=64,
        n_fft=400,
        hop_length=160,
        patch_frequency=16,
        patch_time=16,
        max_seconds=10.0,
        name=None,
    ):
        super().__init__(name=name)
        self.sample_rate = _check_positive_int("sample_rate", sample_rate)
        self.n_mels = _check_positive_int("n_mels", n_mels)
        self.n_fft = _check_positive_int("n_fft", n_fft)
        self.hop_length = _check_positive_int("hop_length", hop_length)
        self.patch_frequency = _check_positive_int("patch_frequency", patch_frequency)
        self.patch_time = _check_positive_int("patch_time", patch_time)
        if self.n_mels % self.patch_frequency:
            raise ValueError(
                f"n_mels must be divisible by patch_frequency; received n_mels={n_mels}, "
                f"patch_frequency={patch_frequency}. Pick e.g. n_mels="
                f"{(self.n_mels // self.patch_frequency + 1) * self.patch_frequency} or a "
                f"patch_frequency that divides {n_mels}."
            )
        if not (isinstance(max_seconds, (int, float, np.number)) and max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number; received {max_seconds!r}.")
        self.max_seconds = float(max_seconds)
        self.max_samples = int(round(self.max_seconds * self.sample_rate))
        if self.max_samples < 1:
            raise ValueError(
                f"max_seconds={max_seconds} keeps less than one sample at {sample_rate} Hz."
            )
        # Build (and check) the constant matrices now rather than at the first call.
        _windowed_dft_matrix(self.n_fft)
        _mel_matrix(self.sample_rate, self.n_fft, self.n_mels, 0.0, self.sample_rate / 2.0)

    # --- sizes ---

    @property
    def frequency_patches(self):
        """Patches along the mel axis: n_mels // patch_frequency."""
        return self.n_mels // self.patch_frequency

    @property
    def patch_dim(self):
        return self.patch_frequency * self.patch_time

    @property
    def max_frames(self):
        """Frames of a max_seconds clip: 1 + max_samples // hop_length."""
        return 1 + self.max_samples // self.hop_length

    @property
    def max_patches(self):
        """Patches of a max_seconds clip (and the most any clip yields after cropping)."""
        return -(-self.max_frames // self.patch_time) * self.frequency_patches

    def num_patches(self, num_samples):
        """Patches produced for a (padded) width of `num_samples` samples (Python ints)."""
        frames = 1 + min(int(num_samples), self.max_samples) // self.hop_length
        return -(-frames // self.patch_time) * self.frequency_patches

    # --- the transform ---

    def __call__(self, waveforms, lengths=None, sample_rate=SAMPLE_RATE):
        """Returns {"patches": float32 [B, N, pf*pt], "padding_mask": bool [B, N]}.

        Args:
            waveforms: float32 [B, T] (zero-padded batch) or [T]; numpy or tf.
            lengths: optional int [B]: valid samples per row (default: all T).
            sample_rate: the rate of `waveforms`; must equal the preprocessor's (16000).
        """
        if sample_rate != self.sample_rate:
            raise ValueError(
                f"Waveforms must be sampled at {self.sample_rate} Hz; received "
                f"sample_rate={sample_rate!r}. Resample first: "
                f"mmpretrain.modalities.audio.resample(waveform, orig_sr={sample_rate!r}, "
                f"target_sr={self.sample_rate}), or load files with "
                f"mmpretrain.modalities.audio.load_audio(path, target_sr={self.sample_rate})."
            )
        x, lengths, _ = _prepare(waveforms, lengths)  # x: [B, T], lengths: [B]
        x = x[:, : self.max_samples]
        lengths = tf.minimum(lengths, self.max_samples)
        db = _log_mel(
            x, lengths, self.sample_rate, self.n_fft, self.hop_length, self.n_mels,
            0.0, self.sample_rate / 2.0, 80.0,
        )  # [B, F, M]
        features = (db + DB_OFFSET) / DB_SCALE  # [B, F, M]

        pt = self.patch_time
        num_frames = tf.shape(features)[1]
        time_patches = (num_frames + pt - 1) // pt
        valid_frames = 1 + lengths // self.hop_length  # [B]
        features = tf.pad(features, [[0, 0], [0, time_patches * pt - num_frames], [0, 0]])
        frame_valid = tf.sequence_mask(valid_frames, time_patches * pt)  # [B, Fp]
        frame_valid = tf.expand_dims(frame_valid, -1)  # [B, Fp, 1]
        floor = tf.reduce_min(
            tf.where(frame_valid, features, tf.fill(tf.shape(features), -_LARGE_NEGATIVE)),
            axis=[1, 2], keepdims=True,
        )  # [B, 1, 1]
        features = tf.where(frame_valid, features, tf.broadcast_to(floor, tf.shape(features)))

        patches = self.patchify(features)  # [B, N, pt*pf]
        valid_rows = tf.sequence_mask((valid_frames + pt - 1) // pt, time_patches)  # [B, nt]
        mask = tf.broadcast_to(
            tf.expand_dims(valid_rows, -1),
            tf.stack([tf.shape(valid_rows)[0], time_patches, self.frequency_patches]),
        )  # [B, nt, nf]
        mask = tf.reshape(mask, tf.shape(patches)[:2])  # [B, N]
        return {"patches": patches, "padding_mask": mask}

    def patchify(self, features):
        """[B, nt*pt, M] -> [B, nt*nf, pt*pf], time-major patches, [time, freq] inside a patch."""
        pt, pf, nf = self.patch_time, self.patch_frequency, self.frequency_patches
        batch = tf.shape(features)[0]
        time_patches = tf.shape(features)[1] // pt
        x = tf.reshape(features, tf.stack([batch, time_patches, pt, nf, pf]))  # [B, nt, pt, nf, pf]
        x = tf.transpose(x, [0, 1, 3, 2, 4])  # [B, nt, nf, pt, pf]
        return tf.reshape(x, tf.stack([batch, time_patches * nf, pt * pf]))

    def unpatchify(self, patches):
        """Inverse of `patchify`: [B, nt*nf, pt*pf] -> [B, nt*pt, M] (normalised log-mel)."""
        pt, pf, nf = self.patch_time, self.patch_frequency, self.frequency_patches
        batch = tf.shape(patches)[0]
        time_patches = tf.shape(patches)[1] // nf
        x = tf.reshape(patches, tf.stack([batch, time_patches, nf, pt, pf]))  # [B, nt, nf, pt, pf]
        x = tf.transpose(x, [0, 1, 3, 2, 4])  # [B, nt, pt, nf, pf]
        return tf.reshape(x, tf.stack([batch, time_patches * pt, self.n_mels]))

    # --- config ---

    def embedding_config(self):
        return {"patch_dim": self.patch_dim, "max_patches": self.max_patches}

    def get_config(self):
        return {
            "sample_rate": self.sample_rate,
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "patch_frequency": self.patch_frequency,
            "patch_time": self.patch_time,
            "max_seconds": self.max_seconds,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
