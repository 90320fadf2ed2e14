"""MAE's light decoder: visible encodings + mask tokens -> pixel (or log-mel) predictions."""

import keras
from keras import ops

from mmpretrain.layers.transformer_block import TransformerBlock


class PatchDecoder(keras.layers.Layer):
    """Reconstructs masked patches from the encoder's output on the visible ones.

    The encoded visible tokens are projected to `decoder_dim`; each masked patch gets the
    learned mask token; both get the decoder's position embedding of their patch index. The
    order of tokens does not matter to attention, so the masked tokens are simply appended
    (no un-shuffling). A few small Transformer blocks, then a linear map to the patch values.

    Args:
        patch_dim: values per patch to predict.
        max_patches: number of patch positions.
        decoder_dim, num_layers, num_heads, intermediate_dim: the decoder's size.
    """

    def __init__(self, patch_dim, max_patches, decoder_dim=64, num_layers=1, num_heads=2, intermediate_dim=128, **kwargs):
        super().__init__(**kwargs)
        self.patch_dim = int(patch_dim)
        self.max_patches = int(max_patches)
        self.decoder_dim = int(decoder_dim)
        # === Layers ===
        self.input_projection = keras.layers.Dense(self.decoder_dim, dtype=self.dtype_policy, name="input_projection")
        self.blocks = [
            TransformerBlock(self.decoder_dim, num_heads, intermediate_dim, dtype=self.dtype_policy, name=f"block_{i}")
            for i in range(num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=self.dtype_policy, name="norm")
        self.output_projection = keras.layers.Dense(self.patch_dim, dtype=self.dtype_policy, name="output_projection")

    def build(self, encoded_shape=None, *args):
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.mask_token = self.add_weight(shape=(self.decoder_dim,), initializer=init, name="mask_token")
        self.position_embedding = self.add_weight(
            shape=(self.max_patches, self.decoder_dim), initializer=init, name="position_embedding"
        )
        self.input_projection.build((None, None, encoded_shape[-1] if encoded_shape else None))
        for block in self.blocks:
            block.build((None, None, self.decoder_dim))
        self.norm.build((None, None, self.decoder_dim))
        self.output_projection.build((None, None, self.decoder_dim))
        self.built = True

    def call(self, encoded, positions, padding_mask, masked_positions, masked_mask, training=None):
        # encoded: [B, Nv, D]; positions, padding_mask: [B, Nv]; masked_*: [B, Nm]
        table = self.position_embedding
        visible = self.input_projection(encoded) + ops.cast(ops.take(table, positions, axis=0), encoded.dtype)
        masked = ops.cast(self.mask_token + ops.take(table, masked_positions, axis=0), visible.dtype)
        x = ops.concatenate([visible, masked], axis=1)  # [B, Nv + Nm, Dd]
        mask = ops.concatenate([ops.cast(padding_mask, "bool"), ops.cast(masked_mask, "bool")], axis=1)
        for block in self.blocks:
            x = block(x, padding_mask=mask, training=training)
        num_visible = ops.shape(encoded)[1]
        predictions = self.output_projection(self.norm(x[:, num_visible:]))
        return ops.cast(predictions, "float32")  # [B, Nm, patch_dim]
