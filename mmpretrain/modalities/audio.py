"""The audio modality record: 16 kHz waveforms -> log-mel patches, masked patch prediction.

The parts live in `audio_io` (sample rate, decoding, resampling, batching), `audio_features`
(log-mel in TF ops) and `audio_preprocessor` (`AudioPreprocessor`); their public names are
re-exported here.
"""

import shutil
import subprocess

import numpy as np
import tensorflow as tf

from mmpretrain.layers.patch_embedding import PatchEmbedding
from mmpretrain.modalities import audio_io
from mmpretrain.modalities.audio_features import DB_OFFSET, DB_SCALE, log_mel_spectrogram
from mmpretrain.modalities.audio_io import (
    ACCEPTED_FILE_FORMATS,
    SAMPLE_RATE,
    load_audio,
    pad_batch,
    resample,
)
from mmpretrain.modalities.audio_preprocessor import AudioPreprocessor
from mmpretrain.modalities.augmentations import AUDIO_AUGMENTATIONS
from mmpretrain.modalities.modality import Modality
from mmpretrain.objectives.masked_patch_objective import MaskedPatchObjective

# The speech engines that speak the default audio pretraining corpus.
PRETRAINING_ENGINES = ("espeak-ng",)

__all__ = [
    "ACCEPTED_FILE_FORMATS", "DB_OFFSET", "DB_SCALE", "SAMPLE_RATE", "AudioModality",
    "AudioPreprocessor", "load_audio", "log_mel_spectrogram", "pad_batch", "resample",
    "sample_audio",
]

SPOKEN_WORDS = ("yes", "no", "seven", "stop", "left", "hello world")


def _spoken(word, sample_rate):
    result = subprocess.run(["espeak-ng", "--stdout", word], capture_output=True, timeout=30)
    if result.returncode != 0 or len(result.stdout) <= 44:
        return None
    audio, rate = audio_io.decode_wav_bytes(result.stdout)
    return resample(audio, rate, sample_rate, clip=True)


def _tone(index, sample_rate):
    t = np.arange(int(sample_rate * (0.4 + 0.15 * index))) / sample_rate
    base = 110.0 * (1 + index)
    wave = sum(np.sin(2 * np.pi * base * k * t) / k for k in range(1, 6))
    return (0.2 * wave * np.hanning(len(t))).astype(np.float32)


def sample_audio(sample_rate=SAMPLE_RATE, max_seconds=None):
    """{"waveforms": float32 [B, T] zero-padded, "lengths": int32 [B]}: words spoken by
    espeak-ng, of several lengths (a few harmonic tones when espeak-ng is not installed)."""
    clips = []
    if shutil.which("espeak-ng"):
        clips = [c for c in (_spoken(w, sample_rate) for w in SPOKEN_WORDS) if c is not None and len(c)]
    if len(clips) < 2:
        clips = [_tone(i, sample_rate) for i in range(4)]
    max_samples = int(round(max_seconds * sample_rate)) if max_seconds else None
    return pad_batch(clips, max_samples)


def pretraining_speech_sources(config):
    """(text sources, voices) of the default audio pretraining corpus for `config`.

    The sentences come from the present text sources that the config trains on (weight > 0 in
    `text_source_weights`), and only espeak-ng speaks them: flite stays a synthesizer that no
    default model has heard, so the keyword app's `test_flite` split measures transfer.
    """
    from mmpretrain import data
    from mmpretrain.data.sources.text_corpus import present_text_sources, source_weight

    sources = [name for name in present_text_sources() if source_weight(config.text_source_weights, name) > 0]
    return sources, data.default_voices(engines=PRETRAINING_ENGINES)


class AudioModality(Modality):
    name = "audio"
    embedding_class = PatchEmbedding
    preprocessor_class = AudioPreprocessor
    augmentations = AUDIO_AUGMENTATIONS
    objective = MaskedPatchObjective()
    accepted = audio_io.AUDIO_ACCEPTED

    def input_spec(self, preprocessor):
        return {
            "waveforms": tf.TensorSpec([None, None], tf.float32, name="waveforms"),
            "lengths": tf.TensorSpec([None], tf.int32, name="lengths"),
        }

    def decode(self, inputs, what, info):
        """Clips are cut to the model's max_audio_seconds before resampling (bounded cost)."""
        return audio_io.waveforms(inputs, what, int(info.get("sample_rate", SAMPLE_RATE)),
                                  max_seconds=info.get("max_audio_seconds"))

    def collate(self, examples, info):
        """Zero-padded [B, T] + lengths, cut to the model's max_audio_seconds; `fixed_width`
        pads every batch to that width."""
        seconds = info.get("max_audio_seconds")
        max_samples = int(round(float(seconds) * SAMPLE_RATE)) if seconds else None
        batch = pad_batch(examples, max_samples, fixed_width=bool(info.get("fixed_width")))
        return [(list(range(len(examples))), batch)]

    def claims(self, value):
        return audio_io.claims(value)

    def build_preprocessor(self, config, examples, run_dir, chief):
        return AudioPreprocessor(
            n_mels=config.n_mels,
            patch_frequency=config.audio_patch_frequency,
            patch_time=config.audio_patch_time,
            max_seconds=config.audio_seconds,
        )

    def pretraining_info(self, config):
        return {"max_audio_seconds": config.audio_seconds, "fixed_width": True}

    def default_pretraining_splits(self, config, progress):
        from mmpretrain import data

        sources, voices = pretraining_speech_sources(config)
        total = config.audio_examples + config.validation_examples
        # Synthesized speech splits ~80/10/10: ask for enough sentences to fill train and validation.
        return data.load_spoken_sentences(
            texts=data.corpus_texts(sources), num_sentences=int(total * 1.25), voices=voices,
            seed=config.seed, max_seconds=config.audio_seconds, progress=progress,
        )

    def user_pretraining_splits(self, source, config):
        from mmpretrain import data

        return data.load_audio_folder(source, seed=config.seed)

    def sample_batch(self, preprocessor):
        return sample_audio(preprocessor.sample_rate)

    def slice_batch(self, batch, count):
        width = int(np.max(batch["lengths"][:count]))
        return {"waveforms": batch["waveforms"][:count, :width], "lengths": batch["lengths"][:count]}

    def int8_keeps_float(self):
        return True  # 8-bit DFT and mel matrices wreck the features

    def export_config(self, preprocessor):
        return {"sample_rate": preprocessor.sample_rate, "max_audio_seconds": preprocessor.max_seconds}
