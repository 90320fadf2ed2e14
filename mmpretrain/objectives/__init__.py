"""Masking (runs in the input pipeline), prediction heads and losses for masked pretraining.

A modality record names its objective (`MaskedTokenObjective` or `MaskedPatchObjective`); the
pretrainer and the input pipeline dispatch through it. An objective has `mask_arguments`,
`mask`, `make_head`, `predict`, `sums` and `reports_accuracy`; one that reports accuracy may add
`baseline` (the unigram reference the run logs beside its own accuracy).
"""

from mmpretrain.objectives.masked_lm_head import MaskedLMHead
from mmpretrain.objectives.masked_patch_objective import MaskedPatchObjective
from mmpretrain.objectives.masked_token_objective import MaskedTokenObjective
from mmpretrain.objectives.masking import mask_patches, mask_tokens, normalized_patch_targets
from mmpretrain.objectives.patch_decoder import PatchDecoder

__all__ = [
    "MaskedLMHead",
    "MaskedPatchObjective",
    "MaskedTokenObjective",
    "PatchDecoder",
    "mask_patches",
    "mask_tokens",
    "normalized_patch_targets",
]
