"""Text front-end embedding: token + position + segment + modality-type vectors."""

import keras
from keras import ops

from mmpretrain.layers.position_lookup import check_length, lookup_positions


@keras.saving.register_keras_serializable(package="mmpretrain")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Maps token ids [B, N] to vectors [B, N, D].

    Sum of a token embedding (its matrix is also the tied MLM output projection), a learned
    position embedding, a segment embedding (sentence pairs) and one learned modality-type
    vector, followed by LayerNorm and dropout.

    Args:
        vocabulary_size: number of token ids.
        max_length: number of learned positions.
        hidden_dim: output width D.
        num_segments: segment ids accepted (2 for sentence pairs).
        dropout: dropout on the output.
    """

    def __init__(self, vocabulary_size, max_length, hidden_dim, num_segments=2, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.max_length = int(max_length)
        self.hidden_dim = int(hidden_dim)
        self.num_segments = int(num_segments)
        self.dropout = float(dropout)
        # === Layers ===
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size, self.hidden_dim, embeddings_initializer=init,
            dtype=self.dtype_policy, name="token_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            self.num_segments, self.hidden_dim, embeddings_initializer=init,
            dtype=self.dtype_policy, name="segment_embedding",
        )
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=self.dtype_policy, name="norm")
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.position_embedding = self.add_weight(
            shape=(self.max_length, self.hidden_dim), initializer=init, name="position_embedding"
        )
        self.modality_embedding = self.add_weight(
            shape=(self.hidden_dim,), initializer=init, name="modality_embedding"
        )
        self.token_embedding.build((None, None))
        self.segment_embedding.build((None, None))
        self.norm.build((None, None, self.hidden_dim))
        self.built = True

    def call(self, token_ids, positions=None, segment_ids=None, training=None):
        # token_ids: [B, N] int; positions: [B, N] int or None (0..N-1); segment_ids: [B, N]
        length = token_ids.shape[1]
        check_length(length, self.max_length, "tokens")
        x = self.token_embedding(token_ids)  # [B, N, D]
        x = x + ops.cast(lookup_positions(self.position_embedding, positions, ops.shape(token_ids)[1]), x.dtype)
        if segment_ids is not None:
            x = x + self.segment_embedding(segment_ids)
        x = x + ops.cast(self.modality_embedding, x.dtype)
        return self.dropout_layer(self.norm(x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            max_length=self.max_length,
            hidden_dim=self.hidden_dim,
            num_segments=self.num_segments,
            dropout=self.dropout,
        )
        return config
