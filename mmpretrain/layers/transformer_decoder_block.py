"""Cross-attention decoder block for sequence-to-sequence tasks."""

import keras

from mmpretrain.layers.feed_forward import FeedForward
from mmpretrain.layers.transformer_block import attention_mask_from_padding


@keras.saving.register_keras_serializable(package="mmpretrain")
class TransformerDecoderBlock(keras.layers.Layer):
    """Decoder(X, Y) = LN(MHA(LN(X), Enc(Y), Enc(Y)) + X), then h + FFN(LN(h)).

    `X` [B, T, D] are decoder tokens (queries); `Y` [B, S, D] is the encoder's sequence output
    (keys and values). `memory_mask` [B, S] (True = real token) hides padded encoder tokens.

    Args:
        hidden_dim: token width D of both X and Y.
        num_heads: attention heads.
        intermediate_dim: feed-forward inner width.
        dropout: dropout rate.
        layer_norm_epsilon: epsilon of the LayerNorms.
    """

    def __init__(
        self, hidden_dim, num_heads, intermediate_dim, dropout=0.0, layer_norm_epsilon=1e-6, **kwargs
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim must be divisible by num_heads; received hidden_dim={hidden_dim}, "
                f"num_heads={num_heads}."
            )
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        # === Layers ===
        norm = dict(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy)
        self.query_norm = keras.layers.LayerNormalization(name="query_norm", **norm)
        self.cross_attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.hidden_dim // self.num_heads,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name="cross_attention",
        )
        self.cross_attention_norm = keras.layers.LayerNormalization(name="cross_attention_norm", **norm)
        self.feed_forward_norm = keras.layers.LayerNormalization(name="feed_forward_norm", **norm)
        self.feed_forward = FeedForward(
            self.hidden_dim, self.intermediate_dim, self.dropout, dtype=self.dtype_policy, name="feed_forward"
        )

    def build(self, decoder_tokens_shape, memory_shape=None):
        # decoder tokens X: [B, T, D]; memory Enc(Y): [B, S, D]
        decoder_shape = decoder_tokens_shape
        memory_shape = memory_shape or decoder_shape
        self.query_norm.build(decoder_shape)
        self.cross_attention.build(decoder_shape, memory_shape)
        self.cross_attention_norm.build(decoder_shape)
        self.feed_forward_norm.build(decoder_shape)
        self.feed_forward.build(decoder_shape)
        self.built = True

    def call(self, decoder_tokens, memory, memory_mask=None, training=None):
        # decoder_tokens: [B, T, D]; memory: [B, S, D]; memory_mask: [B, S]
        attention_mask = None
        if memory_mask is not None:
            attention_mask = attention_mask_from_padding(
                memory_mask, query_length=keras.ops.shape(decoder_tokens)[1]
            )
        h = self.cross_attention(
            self.query_norm(decoder_tokens), memory, memory, attention_mask=attention_mask, training=training
        )
        h = self.cross_attention_norm(h + decoder_tokens)
        return h + self.feed_forward(self.feed_forward_norm(h), training=training)

    def compute_output_shape(self, decoder_tokens_shape, memory_shape=None):
        return decoder_tokens_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
