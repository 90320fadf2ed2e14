"""Pre-LayerNorm Transformer encoder block, optionally with per-modality feed-forward experts."""

import keras
from keras import ops

from mmpretrain.layers.feed_forward import FeedForward


def attention_mask_from_padding(padding_mask, query_length=None):
    """Turns a key padding mask [B, S] (True = real token) into an attention mask [B, T, S]."""
    # padding_mask: [B, S] -> [B, 1, S] broadcast over T query positions.
    keys = ops.cast(ops.expand_dims(padding_mask, 1), "int32")
    if query_length is None:
        query_length = ops.shape(padding_mask)[1]
    queries = ops.ones((ops.shape(padding_mask)[0], query_length, 1), dtype="int32")
    return ops.cast(queries * keys, "bool")


@keras.saving.register_keras_serializable(package="mmpretrain")
class TransformerBlock(keras.layers.Layer):
    """x + MHA(LN(x)), then x + FFN(LN(x)): the block every modality shares.

    Attention is softmax(Q K^T / sqrt(d_k)) V over the tokens of one example; padded keys are
    masked out. With `expert_names` (BEiT-3 "multiway"), attention stays shared and each named
    modality gets its own feed-forward expert; `call(..., expert=name)` picks it.

    Args:
        hidden_dim: token width D.
        num_heads: attention heads; D must be divisible by it.
        intermediate_dim: feed-forward inner width.
        dropout: dropout rate on attention probabilities and residual branches.
        layer_norm_epsilon: epsilon of both LayerNorms.
        expert_names: None for one shared feed-forward, or a list of modality names.
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        expert_names=None,
        **kwargs,
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
        self.expert_names = list(expert_names) if expert_names else None

        # === Layers ===
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="attention_norm"
        )
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.hidden_dim // self.num_heads,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.feed_forward_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="feed_forward_norm"
        )
        names = self.expert_names or ["shared"]
        self.feed_forwards = {
            name: FeedForward(
                self.hidden_dim,
                self.intermediate_dim,
                self.dropout,
                dtype=self.dtype_policy,
                name=f"feed_forward_{name}",
            )
            for name in names
        }

    def build(self, input_shape):
        # x: [B, N, D]
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.feed_forward_norm.build(input_shape)
        for feed_forward in self.feed_forwards.values():
            feed_forward.build(input_shape)
        self.built = True

    def _feed_forward_for(self, expert):
        if self.expert_names is None:
            return self.feed_forwards["shared"]
        if expert not in self.feed_forwards:
            raise ValueError(
                f"Unknown expert {expert!r}; this multiway block has experts {self.expert_names}."
            )
        return self.feed_forwards[expert]

    def call(self, x, padding_mask=None, expert=None, training=None):
        # x: [B, N, D]; padding_mask: [B, N], True = real token.
        attention_mask = None
        if padding_mask is not None:
            attention_mask = attention_mask_from_padding(padding_mask)
        h = self.attention_norm(x)
        h = self.attention(h, h, attention_mask=attention_mask, training=training)
        x = x + self.attention_dropout(h, training=training)
        h = self._feed_forward_for(expert)(self.feed_forward_norm(x), training=training)
        return x + h

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            expert_names=self.expert_names,
        )
        return config
