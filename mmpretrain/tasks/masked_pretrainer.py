"""MaskedPretrainer: the shared backbone + one pretraining head per modality, from its objective."""

import keras

from mmpretrain.modalities.registry import get_modality


class MaskedPretrainer(keras.Model):
    """Masked-token pretraining of a `MultimodalBackbone` on every modality it has.

    `losses(batch, modality)` returns SUMS over the batch's masked positions (loss, number of
    predictions and, for text, correct predictions); the training loop divides by the global
    count, so the gradient is the mean over masked positions only, the same with one replica
    or many.

    Each modality's record names its objective (`MaskedTokenObjective`: MLM head;
    `MaskedPatchObjective`: MAE decoder), which builds the head, predicts and sums the loss;
    the pretrainer itself never asks which modality it runs.

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
        self.heads = {
            name: get_modality(name).objective.make_head(backbone, name, self.decoder_dim, self.decoder_layers)
            for name in backbone.modalities
        }
        self.built = True

    def call(self, batch, modality="text", training=None):
        objective = get_modality(modality).objective
        return objective.predict(self.backbone, self.heads[modality], batch, modality, training=training)

    def losses_of(self, batch, modality, training=None):
        """-> dict of sums: `loss` (over masked positions), `count`, and `correct` for text."""
        predictions = self(batch, modality=modality, training=training)
        return get_modality(modality).objective.sums(predictions, batch)
