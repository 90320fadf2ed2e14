"""One layer of the sequence-to-sequence decoder: causal self-attention, then cross-attention."""

import keras

from mmpretrain.layers.transformer_decoder_block import TransformerDecoderBlock


@keras.saving.register_keras_serializable(package="mmpretrain")
class Seq2SeqDecoderLayer(keras.layers.Layer):
    """x + CausalMHA(LN(x)), then `TransformerDecoderBlock` (cross-attention to the encoder's
    output, then the feed-forward).

    Position t attends to positions <= t only, so the logits at t do not depend on later target
    tokens (teacher forcing and step-by-step decoding give the same numbers). Padded target
    positions sit after the real ones and are ignored by the loss, so no target padding mask is
    needed. `memory_mask` [B, S] (True = real) hides the encoder's padding.

    Args:
        hidden_dim, num_heads, intermediate_dim, dropout, layer_norm_epsilon: as in
            `TransformerDecoderBlock`.
    """

    def __init__(self, hidden_dim, num_heads, intermediate_dim, dropout=0.0, layer_norm_epsilon=1e-6,
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        # === Layers ===
        self.self_attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="self_attention_norm")
        self.self_attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads, key_dim=self.hidden_dim // max(self.num_heads, 1),
            dropout=self.dropout, dtype=self.dtype_policy, name="self_attention")
        self.self_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.cross = TransformerDecoderBlock(
            self.hidden_dim, self.num_heads, self.intermediate_dim, self.dropout, self.layer_norm_epsilon,
            dtype=self.dtype_policy, name="cross")

    def build(self, decoder_tokens_shape, memory_shape=None):
        # decoder tokens: [B, T, D]; memory: [B, S, D]
        memory_shape = memory_shape or decoder_tokens_shape
        self.self_attention_norm.build(decoder_tokens_shape)
        self.self_attention.build(decoder_tokens_shape, decoder_tokens_shape)
        self.cross.build(decoder_tokens_shape, memory_shape)
        self.built = True

    def call(self, decoder_tokens, memory, memory_mask=None, training=None):
        h = self.self_attention_norm(decoder_tokens)
        h = self.self_attention(h, h, use_causal_mask=True, training=training)
        x = decoder_tokens + self.self_attention_dropout(h, training=training)
        return self.cross(x, memory, memory_mask=memory_mask, training=training)

    def compute_output_shape(self, decoder_tokens_shape, memory_shape=None):
        return decoder_tokens_shape

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, num_heads=self.num_heads,
                      intermediate_dim=self.intermediate_dim, dropout=self.dropout,
                      layer_norm_epsilon=self.layer_norm_epsilon)
        return config
