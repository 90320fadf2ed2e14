"""Patch front-end embedding (images, spectrograms): projection + position + modality-type."""

import keras
from keras import ops

from mmpretrain.layers.position_lookup import check_length, lookup_positions


@keras.saving.register_keras_serializable(package="mmpretrain")
class PatchEmbedding(keras.layers.Layer):
    """Maps flattened patches [B, N, patch_dim] to vectors [B, N, D].

    A linear projection, plus a learned position vector per patch index, plus one learned
    modality-type vector, then LayerNorm. `positions` [B, N] selects which patch indices the
    given patches are (the visible subset under MAE masking); by default 0..N-1.

    Args:
        patch_dim: values per flattened patch (P * P * C for images, pf * pt for spectrograms).
        max_patches: number of learned positions.
        hidden_dim: output width D.
        dropout: dropout on the output.
    """

    def __init__(self, patch_dim, max_patches, hidden_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.patch_dim = int(patch_dim)
        self.max_patches = int(max_patches)
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        # === Layers ===
        self.projection = keras.layers.Dense(self.hidden_dim, dtype=self.dtype_policy, name="projection")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=self.dtype_policy, name="norm")
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.position_embedding = self.add_weight(
            shape=(self.max_patches, self.hidden_dim), initializer=init, name="position_embedding"
        )
        self.modality_embedding = self.add_weight(
            shape=(self.hidden_dim,), initializer=init, name="modality_embedding"
        )
        self.projection.build((None, None, self.patch_dim))
        self.norm.build((None, None, self.hidden_dim))
        self.built = True

    def call(self, patches, positions=None, training=None):
        # patches: [B, N, patch_dim]; positions: [B, N] int or None
        if patches.shape[-1] is not None and patches.shape[-1] != self.patch_dim:
            raise ValueError(
                f"Expected patches with {self.patch_dim} values each (patch_dim); received shape "
                f"{tuple(patches.shape)}. Use the preprocessor this model was built with."
            )
        check_length(patches.shape[1], self.max_patches, "patches")
        x = self.projection(patches)  # [B, N, D]
        x = x + ops.cast(lookup_positions(self.position_embedding, positions, ops.shape(patches)[1]), x.dtype)
        x = x + ops.cast(self.modality_embedding, x.dtype)
        return self.dropout_layer(self.norm(x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            patch_dim=self.patch_dim,
            max_patches=self.max_patches,
            hidden_dim=self.hidden_dim,
            dropout=self.dropout,
        )
        return config
