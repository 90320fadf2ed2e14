"""MLM head: logits at the masked positions only, output projection tied to the token embedding."""

import keras
from keras import ops


class MaskedLMHead(keras.layers.Layer):
    """sequence [B, L, D] + mask_positions [B, P] -> logits [B, P, V].

    Gathers the P masked positions first (logits are never computed for the other L - P
    tokens), then Dense(D, gelu) -> LayerNorm -> h @ E^T + b, where E [V, D] is the text
    embedder's token embedding matrix (weights tied, as in BERT).

    Args:
        token_embedding: the `keras.layers.Embedding` whose matrix is reused as output projection.
    """

    def __init__(self, token_embedding, **kwargs):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        hidden_dim = token_embedding.output_dim
        # === Layers ===
        self.dense = keras.layers.Dense(hidden_dim, activation="gelu", dtype=self.dtype_policy, name="transform")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=self.dtype_policy, name="norm")

    def build(self, sequence_shape=None, mask_positions_shape=None):
        hidden_dim = self.token_embedding.output_dim
        self.dense.build((None, None, hidden_dim))
        self.norm.build((None, None, hidden_dim))
        self.output_bias = self.add_weight(
            shape=(self.token_embedding.input_dim,), initializer="zeros", name="output_bias"
        )
        self.built = True

    def call(self, sequence, mask_positions):
        # sequence: [B, L, D]; mask_positions: [B, P] -> picked: [B, P, D]
        picked = ops.take_along_axis(sequence, ops.expand_dims(ops.cast(mask_positions, "int32"), -1), axis=1)
        h = self.norm(self.dense(picked))
        matrix = ops.cast(self.token_embedding.embeddings, h.dtype)  # [V, D]
        logits = ops.matmul(h, ops.transpose(matrix)) + ops.cast(self.output_bias, h.dtype)
        return ops.cast(logits, "float32")  # [B, P, V]
