"""The image modality record: uint8 images -> patches, masked patch prediction (MAE)."""

import numpy as np
import tensorflow as tf

from mmpretrain.layers.patch_embedding import PatchEmbedding
from mmpretrain.modalities import image_io
from mmpretrain.modalities.augmentations import IMAGE_AUGMENTATIONS
from mmpretrain.modalities.image_preprocessor import ImagePreprocessor
from mmpretrain.modalities.modality import Modality
from mmpretrain.objectives.masked_patch_objective import MaskedPatchObjective

__all__ = ["ImageModality", "ImagePreprocessor", "sample_images"]


def sample_images(image_size, channels, count=8):
    """uint8 [count, S, S, C]: scikit-learn's handwritten digits (real 8x8 scans) resized to S."""
    from sklearn.datasets import load_digits

    digits = load_digits().images[:count]  # [B, 8, 8] in 0..16
    images = tf.constant(digits[..., None] / 16.0, tf.float32)  # [B, 8, 8, 1] in [0, 1]
    if image_size != 8:
        images = tf.image.resize(images, (image_size, image_size), antialias=True)
    if channels == 3:
        images = tf.tile(images, [1, 1, 1, 3])
    return np.clip(np.round(images.numpy() * 255.0), 0, 255).astype(np.uint8)


def resize_all(images, image_size, channels):
    """Differently sized uint8 images -> one uint8 array [N, S, S, C] (bilinear, antialiased)."""
    if not len(images):
        return np.zeros((0, image_size, image_size, channels), np.uint8)
    return np.stack([
        tf.cast(tf.image.resize(np.asarray(im), (image_size, image_size), antialias=True), tf.uint8).numpy()
        for im in images
    ])


class ImageModality(Modality):
    name = "image"
    embedding_class = PatchEmbedding
    preprocessor_class = ImagePreprocessor
    objective = MaskedPatchObjective()
    accepted = image_io.IMAGE_ACCEPTED
    augmentations = IMAGE_AUGMENTATIONS

    def input_spec(self, preprocessor):
        return tf.TensorSpec([None, None, None, preprocessor.channels], tf.uint8, name="images")

    def decode(self, inputs, what, info):
        return image_io.images(inputs, what, int(info["image_channels"]))

    def collate(self, examples, info):
        """One batch per image size (the model resizes; stacking needs one shape)."""
        groups = {}
        for i, example in enumerate(examples):
            groups.setdefault(np.shape(example), []).append(i)
        return [(rows, {"images": np.stack([np.asarray(examples[i], np.uint8) for i in rows])})
                for rows in groups.values()]

    def claims(self, value):
        return isinstance(value, np.ndarray) and value.dtype == np.uint8

    def build_preprocessor(self, config, examples, run_dir, chief):
        return ImagePreprocessor(config.image_size, config.image_patch_size, config.image_channels)

    def pretraining_examples(self, items, config):
        if isinstance(items, np.ndarray):
            return items
        return resize_all(items, config.image_size, config.image_channels)

    def default_pretraining_splits(self, config, progress):
        from mmpretrain import data

        return data.load_fashion_mnist(labeled=False, seed=config.seed)

    def user_pretraining_splits(self, source, config):
        from mmpretrain import data

        return data.load_image_folder(source, seed=config.seed)

    def sample_batch(self, preprocessor):
        return {"images": sample_images(preprocessor.image_size, preprocessor.channels)}

    def tflite_function(self, preprocessor, model):
        """Fixed-size images: the preprocessor without its (identity) resize."""
        size, channels = preprocessor.image_size, preprocessor.channels

        def encode(images):
            # images: uint8 [B, S, S, C]
            x = tf.cast(images, tf.float32) / 255.0
            x = tf.clip_by_value(x, 0.0, 1.0) * 2.0 - 1.0
            patches = preprocessor.patchify(x)  # [B, N, P*P*C]
            padding_mask = tf.ones(tf.shape(patches)[:2], dtype=tf.bool)
            outputs = model({"patches": patches, "padding_mask": padding_mask}, training=False)
            return {
                "pooled_output": outputs["pooled_output"],
                "sequence_output": outputs["sequence_output"],
                "padding_mask": padding_mask,
            }

        return encode, tf.TensorSpec([None, size, size, channels], tf.uint8, name="images")

    def export_config(self, preprocessor):
        return {"image_size": preprocessor.image_size, "image_channels": preprocessor.channels}
