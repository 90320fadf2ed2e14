"""Position-wise feed-forward network: Dense(intermediate, gelu) -> Dropout -> Dense(hidden)."""

import keras


@keras.saving.register_keras_serializable(package="mmpretrain")
class FeedForward(keras.layers.Layer):
    """The Transformer's two-layer MLP, applied to every token independently.

    Args:
        hidden_dim: input and output width D.
        intermediate_dim: inner width (usually 4 * D).
        dropout: dropout rate after the activation and after the output projection.
    """

    def __init__(self, hidden_dim, intermediate_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        # === Layers ===
        self.intermediate_dense = keras.layers.Dense(
            self.intermediate_dim, activation="gelu", dtype=self.dtype_policy, name="intermediate"
        )
        self.output_dense = keras.layers.Dense(self.hidden_dim, dtype=self.dtype_policy, name="output")
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        # x: [B, N, D]
        self.intermediate_dense.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.built = True

    def call(self, x, training=None):
        # x: [B, N, D] -> [B, N, I] -> [B, N, D]
        h = self.intermediate_dense(x)
        h = self.dropout_layer(h, training=training)
        return self.dropout_layer(self.output_dense(h), training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim, intermediate_dim=self.intermediate_dim, dropout=self.dropout
        )
        return config
