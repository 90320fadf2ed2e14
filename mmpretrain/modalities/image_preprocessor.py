"""ImagePreprocessor: uint8 images of any size, 1, 3 or 4 channels -> flattened patches."""

import numpy as np
import tensorflow as tf

ACCEPTED_CHANNELS = (1, 3, 4)


class ImagePreprocessor(tf.Module):
    """uint8 [B, H, W, C] (or one [H, W, C]) -> `patches` [B, N, P*P*channels] + `padding_mask`.

    Steps, all TF ops (eager, tf.data, exported graphs): convert channels (gray -> RGB by
    repetition, RGB -> gray by luma, RGBA drops alpha), resize to `image_size` x `image_size`
    (bilinear, antialiased), scale to [-1, 1], cut into non-overlapping `patch_size` squares in
    row-major order: N = (image_size / patch_size) ** 2.

    Args:
        image_size: side of the square the image is resized to.
        patch_size: side of a patch; must divide image_size.
        channels: 1 (grayscale model) or 3 (RGB model).
    """

    def __init__(self, image_size=32, patch_size=4, channels=3, name=None):
        super().__init__(name=name)
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3; received {channels!r}.")
        if patch_size <= 0 or image_size <= 0 or image_size % patch_size:
            raise ValueError(
                f"patch_size must divide image_size; received image_size={image_size}, "
                f"patch_size={patch_size}."
            )
        self.image_size = int(image_size)
        self.patch_size = int(patch_size)
        self.channels = int(channels)

    @property
    def num_patches(self):
        return (self.image_size // self.patch_size) ** 2

    @property
    def patch_dim(self):
        return self.patch_size * self.patch_size * self.channels

    def _validate(self, images):
        if images.dtype != tf.uint8:
            raise ValueError(
                f"Images must be uint8 with values 0..255; received dtype {images.dtype.name}. "
                "Convert with np.asarray(x * 255, np.uint8) for floats in [0, 1]."
            )
        rank = images.shape.rank
        if rank not in (3, 4):
            raise ValueError(
                f"Images must have rank 3 [H, W, C] or 4 [B, H, W, C]; received shape "
                f"{images.shape.as_list() if rank is not None else 'of unknown rank'}. "
                "Add a channel axis to a grayscale [H, W] image."
            )
        channels = images.shape[-1]
        if channels is not None and channels not in ACCEPTED_CHANNELS:
            raise ValueError(
                f"Images must have 1, 3 or 4 channels in the last axis; received shape "
                f"{images.shape.as_list()}."
            )
        if tf.executing_eagerly() and 0 in images.shape.as_list():
            raise ValueError(f"Received an empty image batch or image of shape {images.shape.as_list()}.")

    def _to_channels(self, images):
        # images: [B, H, W, C] float32 in [0, 1]
        channels = images.shape[-1]
        if channels == 4:
            images, channels = images[..., :3], 3
        if channels == self.channels:
            return images
        if self.channels == 3:
            return tf.tile(images, [1, 1, 1, 3])
        return tf.image.rgb_to_grayscale(images)

    def __call__(self, images):
        if not isinstance(images, tf.Tensor):
            images = tf.convert_to_tensor(np.asarray(images))
        self._validate(images)
        if images.shape.rank == 3:
            images = images[tf.newaxis]
        x = tf.cast(images, tf.float32) / 255.0  # [B, H, W, C]
        x = self._to_channels(x)
        x = tf.image.resize(x, (self.image_size, self.image_size), antialias=True)
        x = tf.clip_by_value(x, 0.0, 1.0) * 2.0 - 1.0
        patches = self.patchify(x)
        mask = tf.ones(tf.shape(patches)[:2], dtype=tf.bool)
        return {"patches": patches, "padding_mask": mask}

    def patchify(self, images):
        """[B, S, S, C] -> [B, (S/P)^2, P*P*C], patches in row-major order."""
        p, grid = self.patch_size, self.image_size // self.patch_size
        x = tf.reshape(images, [-1, grid, p, grid, p, self.channels])
        x = tf.transpose(x, [0, 1, 3, 2, 4, 5])  # [B, gh, gw, p, p, C]
        return tf.reshape(x, [-1, grid * grid, self.patch_dim])

    def unpatchify(self, patches):
        """Inverse of `patchify`: [B, N, P*P*C] -> [B, S, S, C]."""
        p, grid = self.patch_size, self.image_size // self.patch_size
        x = tf.reshape(patches, [-1, grid, grid, p, p, self.channels])
        x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
        return tf.reshape(x, [-1, self.image_size, self.image_size, self.channels])

    def embedding_config(self):
        return {"patch_dim": self.patch_dim, "max_patches": self.num_patches}

    def get_config(self):
        return {"image_size": self.image_size, "patch_size": self.patch_size, "channels": self.channels}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
