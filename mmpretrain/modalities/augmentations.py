"""Label-preserving augmentations of one raw example, in TensorFlow ops (for `tf.data.map`).

Each augmentation takes the example's raw inputs (the dict a batch row of the encoder's
signature holds: {"images": uint8 [H, W, C]} or {"waveforms": float32 [T], "lengths": int32 []})
and a stateless seed (int32 [2]) and returns the same dict, changed. A modality record lists
its augmentations by name (`Modality.augmentations`); `compose` chains the ones a run names.

    augment = compose(get_modality("image").augmentations, ["flip", "shift"])
    dataset = dataset.map(lambda x, y, seed: (augment(x, seed), y))

Fine-tuning apps use them on their training split only (`--augment`); pretrained and scratch
runs get the same ones, so the comparison stays fair.
"""

import tensorflow as tf

# === Images: uint8 [H, W, C] ===

SHIFT_FRACTION = 0.07  # up to 7% of the side (2 px of 28)


def image_flip(inputs, seed):
    """Mirror left-right with probability 1/2 (not for digits or text in images)."""
    return dict(inputs, images=tf.image.stateless_random_flip_left_right(inputs["images"], seed))


def image_shift(inputs, seed):
    """Translate by up to `SHIFT_FRACTION` of each side in each direction, zero fill."""
    image = inputs["images"]
    shape = tf.shape(image)
    pad = tf.maximum(1, tf.cast(tf.round(SHIFT_FRACTION * tf.cast(shape[0], tf.float32)), tf.int32))
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    return dict(inputs, images=tf.image.stateless_random_crop(padded, shape, seed))


IMAGE_AUGMENTATIONS = {"flip": image_flip, "shift": image_shift}

# === Audio: float32 waveform [T] zero-padded after `lengths` samples ===

SAMPLE_RATE = 16000
MAX_DELAY_SECONDS = 0.25
GAIN_DB = 6.0
SNR_DB = (10.0, 40.0)


def _valid(inputs):
    return tf.cast(tf.range(tf.shape(inputs["waveforms"])[0]) < inputs["lengths"], tf.float32)


def audio_gain(inputs, seed):
    """Scale by a gain drawn from +-`GAIN_DB` dB, clipped to [-1, 1]."""
    gain_db = tf.random.stateless_uniform([], seed, -GAIN_DB, GAIN_DB)
    waveform = tf.clip_by_value(inputs["waveforms"] * 10.0 ** (gain_db / 20.0), -1.0, 1.0)
    return dict(inputs, waveforms=waveform)


def audio_delay(inputs, seed):
    """Start the clip up to `MAX_DELAY_SECONDS` later (leading silence, as in real recordings);
    the end is cut where the fixed width runs out, and `lengths` follows."""
    waveform, length = inputs["waveforms"], inputs["lengths"]
    width = tf.shape(waveform)[0]
    most = tf.minimum(int(MAX_DELAY_SECONDS * SAMPLE_RATE), width - 1)
    delay = tf.random.stateless_uniform([], seed, 0, most + 1, dtype=tf.int32)
    shifted = tf.concat([tf.zeros([delay], waveform.dtype), waveform[: width - delay]], axis=0)
    return dict(inputs, waveforms=shifted, lengths=tf.minimum(length + delay, width))


def audio_noise(inputs, seed):
    """White noise over the clip's samples at an SNR drawn from `SNR_DB` (uniform in dB), with
    the signal's power measured over those samples; silence stays silence."""
    waveform = inputs["waveforms"]
    valid = _valid(inputs)
    seed_snr, seed_noise = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    snr_db = tf.random.stateless_uniform([], seed_snr, *SNR_DB)
    power = tf.reduce_sum(tf.square(waveform) * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)
    scale = tf.sqrt(power / 10.0 ** (snr_db / 10.0))
    noise = tf.random.stateless_normal(tf.shape(waveform), seed_noise) * scale * valid
    return dict(inputs, waveforms=tf.clip_by_value(waveform + noise, -1.0, 1.0))


AUDIO_AUGMENTATIONS = {"gain": audio_gain, "delay": audio_delay, "noise": audio_noise}


def compose(available, names, modality="this modality"):
    """The augmentations `names` (a list, or one comma-separated string; from `available`, a
    dict name -> function) chained, each with its own seed derived from the one given; None
    when `names` is empty."""
    names = names.split(",") if isinstance(names, str) else list(names or ())
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"Unknown augmentation {unknown} for {modality}; accepted: {sorted(available) or 'none'}."
        )
    if not names:
        return None
    functions = [available[n] for n in names]

    def augment(inputs, seed):
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, len(functions)))
        for function, each in zip(functions, seeds):
            inputs = function(inputs, each)
        return inputs

    return augment
