"""MaskedPatchObjective: MAE's masked patch prediction, for patch modalities (image, audio)."""

from keras import ops

from mmpretrain.objectives.masking import mask_patches
from mmpretrain.objectives.patch_decoder import PatchDecoder


class MaskedPatchObjective:
    """Hides `patch_mask_ratio` of the patches; the encoder sees only the visible ones and a
    light decoder predicts the per-patch normalized pixels / log-mel values of the others.

    A modality using it has an embedder built from `patch_dim` and `max_patches`. Batches from
    `mask` hold `patches`, `positions`, `padding_mask` (of the VISIBLE patches),
    `masked_positions`, `targets` and `target_weights`.
    """

    name = "masked_patches"
    reports_accuracy = False

    def mask_arguments(self, preprocessor):
        return {}

    def mask(self, features, seed, config, arguments):
        return mask_patches(features["patches"], features["padding_mask"], seed, config.patch_mask_ratio)

    def make_head(self, backbone, modality, decoder_dim, decoder_layers):
        config = backbone.modalities[modality]
        head = PatchDecoder(
            config["patch_dim"],
            config["max_patches"],
            decoder_dim=decoder_dim,
            num_layers=decoder_layers,
            num_heads=max(1, decoder_dim // 32),
            intermediate_dim=4 * decoder_dim,
            dtype=backbone.dtype_policy,
            name=f"{modality}_decoder",
        )
        head.build((None, None, backbone.hidden_dim))
        return head

    def predict(self, backbone, head, batch, modality, training=None):
        """-> predicted patches at the masked positions [B, Nm, patch_dim]."""
        inputs = {k: batch[k] for k in ("patches", "positions", "padding_mask")}
        sequence = backbone(inputs, modality=modality, training=training)["sequence_output"]  # [B, Nv, D]
        return head(
            sequence,
            batch["positions"],
            batch["padding_mask"],
            batch["masked_positions"],
            batch["target_weights"] > 0,
            training=training,
        )

    def sums(self, predictions, batch):
        """-> {loss, count, correct}: mean squared error summed over masked real patches."""
        weights = ops.cast(batch["target_weights"], "float32")  # [B, Nm]
        per_position = ops.mean(ops.square(predictions - batch["targets"]), axis=-1)  # [B, Nm]
        return {
            "loss": ops.sum(per_position * weights),
            "count": ops.sum(weights),
            "correct": ops.zeros((), "float32"),
        }
