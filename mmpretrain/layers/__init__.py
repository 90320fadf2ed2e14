"""Modality-agnostic Keras layers."""

from mmpretrain.layers.feed_forward import FeedForward
from mmpretrain.layers.patch_embedding import PatchEmbedding
from mmpretrain.layers.token_and_position_embedding import TokenAndPositionEmbedding
from mmpretrain.layers.transformer_block import TransformerBlock
from mmpretrain.layers.transformer_decoder_block import TransformerDecoderBlock

__all__ = [
    "FeedForward",
    "PatchEmbedding",
    "TokenAndPositionEmbedding",
    "TransformerBlock",
    "TransformerDecoderBlock",
]
