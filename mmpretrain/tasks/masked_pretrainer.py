"""MaskedPretrainer: the shared backbone + an MLM head (text) + MAE decoders (patch modalities)."""

import keras
from keras import ops

from mmpretrain.objectives.masked_lm_head import MaskedLMHead
from mmpretrain.objectives.patch_decoder import PatchDecoder


class MaskedPretrainer(keras.Model):
    """Masked-token pretraining of a `MultimodalBackbone` on every modality it has.

    `losses(batch, modality)` returns SUMS over the batch's masked positions (loss, number of
    predictions and, for text, correct predictions); the training loop divides by the global
    count, so the gradient is the mean over masked positions only, the same with one replica
    or many.

    Text batches come from `mask_tokens` (`token_ids`, `padding_mask`, `mask_positions`,
    `mask_ids`, `mask_weights`); patch batches from `mask_patches` (`patches`, `positions`,
    `padding_mask` of the VISIBLE patches only, `masked_positions`, `targets`, `target_weights`).

    Args:
        backbone: the `MultimodalBackbone`.
        decoder_dim, decoder_layers: size of each MAE decoder (one per patch modality).
    """

    def __init__(self, backbone, decoder_dim=64, decoder_layers=1, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.decoder_dim = int(decoder_dim)
        self.decoder_layers = int(decoder_layers)
        # === Layers ===
        self.heads = {}
        for name, config in backbone.modalities.items():
            embedder = backbone.embedders[name]
            if "vocabulary_size" in config:
                head = MaskedLMHead(embedder.token_embedding, dtype=backbone.dtype_policy, name=f"{name}_mlm_head")
            else:
                head = PatchDecoder(
                    config["patch_dim"],
                    config["max_patches"],
                    decoder_dim=self.decoder_dim,
                    num_layers=self.decoder_layers,
                    num_heads=max(1, self.decoder_dim // 32),
                    intermediate_dim=4 * self.decoder_dim,
                    dtype=backbone.dtype_policy,
                    name=f"{name}_decoder",
                )
            head.build((None, None, backbone.hidden_dim))
            self.heads[name] = head
        self.built = True

    def is_text(self, modality):
        return isinstance(self.heads[modality], MaskedLMHead)

    def call(self, batch, modality="text", training=None):
        if self.is_text(modality):
            inputs = {k: batch[k] for k in ("token_ids", "padding_mask", "segment_ids") if k in batch}
            sequence = self.backbone(inputs, modality=modality, training=training)["sequence_output"]
            return self.heads[modality](sequence, batch["mask_positions"])  # [B, P, V]
        inputs = {k: batch[k] for k in ("patches", "positions", "padding_mask")}
        sequence = self.backbone(inputs, modality=modality, training=training)["sequence_output"]  # [B, Nv, D]
        return self.heads[modality](
            sequence,
            batch["positions"],
            batch["padding_mask"],
            batch["masked_positions"],
            batch["target_weights"] > 0,
            training=training,
        )  # [B, Nm, patch_dim]

    def losses_of(self, batch, modality, training=None):
        """-> dict of sums: `loss` (over masked positions), `count`, and `correct` for text."""
        predictions = self(batch, modality=modality, training=training)
        if self.is_text(modality):
            weights = ops.cast(batch["mask_weights"], "float32")  # [B, P]
            per_position = keras.losses.sparse_categorical_crossentropy(
                batch["mask_ids"], predictions, from_logits=True
            )  # [B, P]
            hits = ops.cast(ops.equal(ops.argmax(predictions, -1), ops.cast(batch["mask_ids"], "int64")), "float32")
            correct = ops.sum(hits * weights)
        else:
            weights = ops.cast(batch["target_weights"], "float32")  # [B, Nm]
            per_position = ops.mean(ops.square(predictions - batch["targets"]), axis=-1)  # [B, Nm]
            correct = ops.zeros((), "float32")
        return {"loss": ops.sum(per_position * weights), "count": ops.sum(weights), "correct": correct}
