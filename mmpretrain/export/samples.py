"""Real inputs for the export's parity checks: sentences, handwritten digits, speech.

`default_samples(run)` gives, for each modality of the run, a small batch shaped like the
TFLite signatures take it:

    text:  list of English sentences (one empty string included)
    image: uint8 [B, S, S, C]: scikit-learn's handwritten digits (real scans, 8x8), resized
           to the model's image size S and converted to its channels C
    audio: {"waveforms": float32 [B, T], "lengths": int32 [B]}: words spoken by espeak-ng
           (resampled to 16 kHz); a few harmonic tones when espeak-ng is not installed
"""

import shutil
import subprocess

import numpy as np

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A computer program does what you tell it to do, not what you want it to do.",
    "This is a great movie!",
    "I would not recommend this restaurant to anyone.",
    "Café au lait, s'il vous plaît.",
    "",
    "Numbers like 3.14159 and 2718 are tokenized too.",
    "Debugging is twice as hard as writing the code in the first place.",
)
SPOKEN_WORDS = ("yes", "no", "seven", "stop", "left", "hello world")


def sample_texts():
    return list(SENTENCES)


def sample_images(image_size, channels, count=8):
    """uint8 [count, S, S, C]: handwritten digits resized to S (bilinear) in C channels."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits().images[:count]  # [B, 8, 8] in 0..16
    images = tf.constant(digits[..., None] / 16.0, tf.float32)  # [B, 8, 8, 1] in [0, 1]
    if image_size != 8:
        images = tf.image.resize(images, (image_size, image_size), antialias=True)
    if channels == 3:
        images = tf.tile(images, [1, 1, 1, 3])
    return np.clip(np.round(images.numpy() * 255.0), 0, 255).astype(np.uint8)


def _spoken(word, sample_rate):
    from mmpretrain.data.audio_io import decode_wav_bytes, resample

    result = subprocess.run(["espeak-ng", "--stdout", word], capture_output=True, timeout=30)
    if result.returncode != 0 or len(result.stdout) <= 44:
        return None
    audio, rate = decode_wav_bytes(result.stdout)
    return np.asarray(resample(audio, rate, sample_rate), np.float32)


def _tone(index, sample_rate):
    t = np.arange(int(sample_rate * (0.4 + 0.15 * index))) / sample_rate
    base = 110.0 * (1 + index)
    wave = sum(np.sin(2 * np.pi * base * k * t) / k for k in range(1, 6))
    return (0.2 * wave * np.hanning(len(t))).astype(np.float32)


def sample_audio(sample_rate=16000, max_seconds=None):
    """{"waveforms": float32 [B, T] zero-padded, "lengths": int32 [B]}; clips of several lengths."""
    clips = []
    if shutil.which("espeak-ng"):
        clips = [c for c in (_spoken(w, sample_rate) for w in SPOKEN_WORDS) if c is not None and len(c)]
    if len(clips) < 2:
        clips = [_tone(i, sample_rate) for i in range(4)]
    if max_seconds:
        clips = [c[: int(round(max_seconds * sample_rate))] for c in clips]
    width = max(len(c) for c in clips)
    waveforms = np.zeros((len(clips), width), np.float32)
    for i, clip in enumerate(clips):
        waveforms[i, : len(clip)] = clip
    return {"waveforms": waveforms, "lengths": np.array([len(c) for c in clips], np.int32)}


def default_samples(run):
    """Samples for every modality of `run` (a LoadedRun)."""
    samples = {}
    if "text" in run.preprocessors:
        samples["text"] = sample_texts()
    if "image" in run.preprocessors:
        image = run.preprocessors["image"]
        samples["image"] = sample_images(image.image_size, image.channels)
    if "audio" in run.preprocessors:
        samples["audio"] = sample_audio(run.preprocessors["audio"].sample_rate)
    return samples
