"""Fine-tuning augmentations: what each one changes, determinism, and their use by labeled_dataset."""

import numpy as np
import pytest
import tensorflow as tf

from mmpretrain.data.labeled import labeled_dataset
from mmpretrain.modalities import get_modality
from mmpretrain.modalities.augmentations import (
    AUDIO_AUGMENTATIONS,
    IMAGE_AUGMENTATIONS,
    MAX_DELAY_SECONDS,
    SNR_DB,
    audio_delay,
    audio_gain,
    audio_noise,
    compose,
    image_flip,
    image_shift,
)

SEEDS = [tf.constant([i, 7 * i + 1], tf.int32) for i in range(12)]


def _square_image():
    image = np.zeros((28, 28, 1), np.uint8)
    image[10:18, 4:9] = 200  # a bar left of centre, 3+ px from every edge
    return image


def test_records_list_their_augmentations():
    assert get_modality("image").augmentations is IMAGE_AUGMENTATIONS
    assert get_modality("audio").augmentations is AUDIO_AUGMENTATIONS
    assert get_modality("text").augmentations == {}


def test_flip_mirrors_or_keeps():
    image = _square_image()
    outcomes = set()
    for seed in SEEDS:
        out = image_flip({"images": tf.constant(image)}, seed)["images"].numpy()
        if np.array_equal(out, image):
            outcomes.add("kept")
        else:
            np.testing.assert_array_equal(out, image[:, ::-1])
            outcomes.add("mirrored")
    assert outcomes == {"kept", "mirrored"}


def test_shift_moves_the_content_at_most_two_pixels_and_keeps_it_whole():
    image = _square_image()
    moves = set()
    for seed in SEEDS:
        out = image_shift({"images": tf.constant(image)}, seed)["images"].numpy()
        assert out.shape == image.shape and out.dtype == np.uint8
        assert out.sum() == image.sum()  # the bar is 4 px from the edges: nothing falls off
        rows, cols = np.nonzero(out[..., 0])
        dy, dx = rows.min() - 10, cols.min() - 4
        assert abs(dy) <= 2 and abs(dx) <= 2
        moves.add((int(dy), int(dx)))
    assert len(moves) > 3


def _clip(seconds=0.5, width_seconds=2.0, amplitude=0.5):
    n, width = int(16000 * seconds), int(16000 * width_seconds)
    waveform = np.zeros(width, np.float32)
    waveform[:n] = amplitude * np.sin(np.arange(n) / 3.0)
    return {"waveforms": tf.constant(waveform), "lengths": tf.constant(n, tf.int32)}


def test_gain_scales_within_six_decibels_and_clips():
    clip = _clip()
    for seed in SEEDS:
        out = audio_gain(clip, seed)["waveforms"].numpy()
        ratio = np.abs(out).max() / 0.5
        assert 10 ** (-6 / 20) - 1e-4 <= ratio <= min(10 ** (6 / 20), 2.0) + 1e-4
        assert np.abs(out).max() <= 1.0


def test_delay_adds_leading_silence_and_moves_the_length():
    clip = _clip()
    delays = set()
    for seed in SEEDS:
        out = audio_delay(clip, seed)
        waveform, length = out["waveforms"].numpy(), int(out["lengths"])
        delay = length - 8000
        assert 0 <= delay <= MAX_DELAY_SECONDS * 16000
        assert not waveform[:delay].any()
        np.testing.assert_array_equal(waveform[delay:length], clip["waveforms"].numpy()[:8000])
        delays.add(delay)
    assert len(delays) > 3


def test_delay_never_runs_past_the_fixed_width():
    clip = _clip(seconds=2.0)  # the clip fills the width
    for seed in SEEDS:
        out = audio_delay(clip, seed)
        assert out["waveforms"].shape == (32000,) and int(out["lengths"]) == 32000


def test_noise_stays_inside_the_clip_at_the_drawn_snr():
    clip = _clip()
    signal = clip["waveforms"].numpy()[:8000]
    for seed in SEEDS:
        out = audio_noise(clip, seed)["waveforms"].numpy()
        assert not out[8000:].any()  # the padding stays zero
        noise = out[:8000] - signal
        snr = 10 * np.log10(np.mean(signal**2) / np.mean(noise**2))
        assert SNR_DB[0] - 1.0 <= snr <= SNR_DB[1] + 1.0


def test_silence_stays_silent():
    silent = {"waveforms": tf.zeros([16000]), "lengths": tf.constant(16000, tf.int32)}
    augment = compose(AUDIO_AUGMENTATIONS, "gain,delay,noise")
    assert not augment(silent, SEEDS[3])["waveforms"].numpy().any()


def test_compose_is_deterministic_and_checks_names():
    augment = compose(IMAGE_AUGMENTATIONS, ["flip", "shift"])
    image = {"images": tf.constant(_square_image())}
    a, b = (augment(image, SEEDS[5])["images"].numpy() for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert compose(IMAGE_AUGMENTATIONS, []) is None and compose(IMAGE_AUGMENTATIONS, " ") is None
    with pytest.raises(ValueError, match=r"Unknown augmentation \['rotate'\] for image; accepted: \['flip', 'shift'\]"):
        compose(IMAGE_AUGMENTATIONS, "flip,rotate", "image")


def test_labeled_dataset_augments_anew_each_epoch_and_keeps_labels():
    images = np.stack([_square_image()] * 6)
    labels = np.arange(6)
    ds = labeled_dataset({"images": images}, labels, 3, shuffle_seed=1,
                         augment=compose(IMAGE_AUGMENTATIONS, "shift"))
    epochs = [[(x["images"].numpy(), y.numpy()) for x, y in ds] for _ in range(2)]
    for epoch in epochs:
        assert sorted(np.concatenate([y for _, y in epoch]).tolist()) == labels.tolist()
        for x, _ in epoch:
            assert x.shape == (3, 28, 28, 1) and (x.reshape(3, -1).sum(1) == images[0].sum()).all()
    first = np.concatenate([x for x, _ in epochs[0]])
    second = np.concatenate([x for x, _ in epochs[1]])
    assert not np.array_equal(first, second)
    again = [x["images"].numpy() for x, _ in labeled_dataset(
        {"images": images}, labels, 3, shuffle_seed=1, augment=compose(IMAGE_AUGMENTATIONS, "shift"))]
    np.testing.assert_array_equal(np.concatenate(again), first)  # the same seed, the same run
