"""Stable-hash splits, DataSplits' tf.data views, and the digits fixture (real sklearn data)."""

import numpy as np
import pytest
import tensorflow as tf

from mmpretrain.data import DataSplits, load_digits_splits
from mmpretrain.data.splits import assign_split, split_by_rank, split_indices, stable_hash


def test_split_of_an_example_does_not_depend_on_order_or_neighbours():
    keys = [f"document {i}" for i in range(500)]
    forward = split_indices(keys, seed=3)
    backward = split_indices(keys[::-1], seed=3)
    for name in forward:
        assert {keys[i] for i in forward[name]} == {keys[::-1][i] for i in backward[name]}
    # A key keeps its split when other keys are added.
    assert all(assign_split(k, 3) == assign_split(k, 3) for k in keys[:10])
    sizes = {name: len(idx) for name, idx in forward.items()}
    assert 350 < sizes["train"] < 450 and sizes["validation"] > 20 and sizes["test"] > 20


def test_seed_changes_the_split_and_hash_is_fixed_across_processes():
    keys = [f"k{i}" for i in range(200)]
    a, b = split_indices(keys, seed=0), split_indices(keys, seed=1)
    assert not np.array_equal(a["test"], b["test"])
    # A fixed value: blake2b, not Python's per-process salted hash().
    assert stable_hash("hello", 0) == stable_hash(b"hello", 0)
    assert stable_hash("hello", 0) != stable_hash("hello", 1)


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.9, 0.2, -0.1), (0.0, 0.5, 0.5), "abc"])
def test_bad_fractions_say_what_is_accepted(fractions):
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(["a"], 0, fractions)


def test_split_by_rank_gives_every_split_a_key_and_never_shares_one():
    voices = [f"voice{i}" for i in range(7)]
    parts = split_by_rank(voices, seed=5)
    assert all(parts[name] for name in ("train", "validation", "test"))
    assert sorted(sum(parts.values(), [])) == sorted(voices)
    assert parts == split_by_rank(list(reversed(voices)), seed=5)
    with pytest.raises(ValueError, match="at least 3"):
        split_by_rank(["a", "b"], seed=0)


def test_datasplits_text_and_variable_audio_eagerly_and_in_tf_data():
    text = DataSplits({"train": ["a b", "é"], "validation": [], "test": ["x"]}, "text")
    assert text.train.element_spec == tf.TensorSpec([], tf.string)
    assert [t.decode() for t in text.train.as_numpy_iterator()] == ["a b", "é"]
    assert len(list(text.validation)) == 0
    clips = [np.arange(n, dtype=np.float32) for n in (3, 0, 5)]
    audio = DataSplits({"train": clips}, "audio", labels={"train": [0, 1, 0]}, class_names="ab")
    assert audio.train.element_spec[0] == tf.TensorSpec([None], tf.float32)
    out = list(audio.train.map(lambda x, y: (x * 2.0, y)).as_numpy_iterator())
    assert [len(x) for x, _ in out] == [3, 0, 5] and np.allclose(out[2][0], clips[2] * 2)
    assert audio.counts["per_class"]["train"] == {"a": 2, "b": 1}
    with pytest.raises(ValueError, match="Expected one of"):
        audio.dataset("dev")


def test_digits_fixture_shapes_labels_and_repeatable_splits():
    first, second = load_digits_splits(seed=0), load_digits_splits(seed=0)
    assert len(first) == 1797 and first.class_names == [str(d) for d in range(10)]
    for name in first.split_names:
        np.testing.assert_array_equal(first.inputs(name), second.inputs(name))
        np.testing.assert_array_equal(first.labels(name), second.labels(name))
    image, label = next(iter(first.test))
    assert image.shape == (8, 8, 1) and image.dtype == tf.uint8 and label.dtype == tf.int32
    assert int(tf.reduce_max(image)) <= 255 and first.inputs("train").max() == 255
    other = load_digits_splits(seed=1)
    assert not np.array_equal(first.labels("test"), other.labels("test"))
