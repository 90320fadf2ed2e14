import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from mmpretrain.modalities.image import ImagePreprocessor


@pytest.fixture(scope="module")
def digits():
    # Real 8x8 grayscale digits (values 0..16) bundled with scikit-learn -> uint8 [B, 8, 8, 1].
    images = load_digits().images[:6]
    return (images * (255 / 16)).round().astype(np.uint8)[..., None]


def test_patches_shape_and_order(digits):
    pre = ImagePreprocessor(image_size=8, patch_size=4, channels=1)
    out = pre(digits)
    assert out["patches"].shape == (6, 4, 16)
    assert out["padding_mask"].numpy().all()
    # Row-major patches: patch 1 is the top-right 4x4 block, scaled to [-1, 1].
    expected = digits[:, :4, 4:, 0].reshape(6, 16) / 255.0 * 2 - 1
    np.testing.assert_allclose(out["patches"].numpy()[:, 1], expected, atol=1e-5)
    np.testing.assert_allclose(pre.unpatchify(out["patches"]).numpy()[..., 0], digits[..., 0] / 255 * 2 - 1, atol=1e-5)


@pytest.mark.parametrize("size", [(8, 8), (20, 13)])
def test_any_size_and_channel_count(digits, size):
    pre = ImagePreprocessor(image_size=16, patch_size=4, channels=3)
    gray = tf.image.resize(digits, size).numpy().astype(np.uint8)
    rgb = np.repeat(gray, 3, axis=-1)
    out_gray, out_rgb = pre(gray)["patches"], pre(rgb)["patches"]
    assert out_gray.shape == (6, 16, 48)
    np.testing.assert_allclose(out_gray.numpy(), out_rgb.numpy(), atol=1e-5)
    assert pre(rgb[0])["patches"].shape == (1, 16, 48)  # one image is a batch of one


def test_same_inside_tf_data(digits):
    pre = ImagePreprocessor(image_size=8, patch_size=2, channels=1)
    eager = pre(digits)["patches"].numpy()
    ds = tf.data.Dataset.from_tensor_slices(digits).batch(3).map(lambda x: pre(x)["patches"])
    np.testing.assert_allclose(np.concatenate(list(ds.as_numpy_iterator())), eager, atol=1e-6)


def test_bad_images_are_clear_errors(digits):
    pre = ImagePreprocessor(image_size=8, patch_size=4, channels=1)
    with pytest.raises(ValueError, match="uint8.*float32"):
        pre(digits.astype(np.float32))
    with pytest.raises(ValueError, match=r"rank 3 \[H, W, C\] or 4.*\[8, 8\]"):
        pre(digits[0, ..., 0])
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        pre(np.zeros((1, 8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        pre(np.zeros((0, 8, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="must divide"):
        ImagePreprocessor(image_size=10, patch_size=4)
    assert ImagePreprocessor.from_config(pre.get_config()).get_config() == pre.get_config()
    assert pre.embedding_config() == {"patch_dim": 16, "max_patches": 4}
