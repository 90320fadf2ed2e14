"""Masking (runs in the input pipeline), prediction heads and losses for masked pretraining."""

from mmpretrain.objectives.masking import mask_patches, mask_tokens, normalized_patch_targets
from mmpretrain.objectives.masked_lm_head import MaskedLMHead
from mmpretrain.objectives.patch_decoder import PatchDecoder

__all__ = ["MaskedLMHead", "PatchDecoder", "mask_patches", "mask_tokens", "normalized_patch_targets"]
