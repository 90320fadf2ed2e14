"""MaskedTokenObjective: BERT's masked language modelling, for token modalities (text)."""

import keras
from keras import ops

from mmpretrain.objectives.masked_lm_head import MaskedLMHead
from mmpretrain.objectives.masking import mask_tokens


class MaskedTokenObjective:
    """Masks 15% of real tokens (80/10/10), predicts them with the tied MLM head.

    A modality using it has a preprocessor with `vocabulary_size`, `mask_id` and
    `num_special_tokens`, and an embedder with a `token_embedding` (the tied projection).
    Batches from `mask` hold `token_ids`, `padding_mask`, `mask_positions`, `mask_ids` and
    `mask_weights`. `baseline` gives the unigram baseline the pretraining run reports.
    """

    name = "masked_tokens"
    reports_accuracy = True

    def mask_arguments(self, preprocessor):
        """What `mask` needs from the preprocessor, as plain Python values."""
        return {
            "vocabulary_size": int(preprocessor.vocabulary_size),
            "mask_id": int(preprocessor.mask_id),
            "num_special_tokens": int(preprocessor.num_special_tokens),
        }

    def mask(self, features, seed, config, arguments):
        """One example's features -> its masked training example (TF ops, in tf.data)."""
        masked = mask_tokens(
            features["token_ids"],
            features["padding_mask"],
            seed,
            mask_rate=config.text_mask_rate,
            max_predictions=config.max_predictions,
            **arguments,
        )
        masked["padding_mask"] = features["padding_mask"]
        return masked

    def make_head(self, backbone, modality, decoder_dim, decoder_layers):
        head = MaskedLMHead(
            backbone.embedders[modality].token_embedding,
            dtype=backbone.dtype_policy,
            name=f"{modality}_mlm_head",
        )
        head.build((None, None, backbone.hidden_dim))
        return head

    def predict(self, backbone, head, batch, modality, training=None):
        """-> logits at the masked positions [B, P, V]."""
        inputs = {k: batch[k] for k in ("token_ids", "padding_mask", "segment_ids") if k in batch}
        sequence = backbone(inputs, modality=modality, training=training)["sequence_output"]
        return head(sequence, batch["mask_positions"])

    def sums(self, predictions, batch):
        """-> {loss, count, correct}: sums over the batch's masked positions."""
        weights = ops.cast(batch["mask_weights"], "float32")  # [B, P]
        per_position = keras.losses.sparse_categorical_crossentropy(
            batch["mask_ids"], predictions, from_logits=True
        )  # [B, P]
        hits = ops.cast(
            ops.equal(ops.argmax(predictions, -1), ops.cast(batch["mask_ids"], "int64")), "float32"
        )
        return {
            "loss": ops.sum(per_position * weights),
            "count": ops.sum(weights),
            "correct": ops.sum(hits * weights),
        }

    def baseline(self, table, validation_batches, arguments):
        """Accuracy and loss of always predicting the training unigram distribution.

        Args:
            table: the training feature table (numpy `token_ids` [N, L], `padding_mask` [N, L]).
            validation_batches: iterable of masked validation batches (`mask_ids`, `mask_weights`).
            arguments: `mask_arguments(preprocessor)`.
        Returns:
            {"unigram_accuracy": float, "unigram_loss": float} (add-one smoothed counts of the
            real, non-special training tokens; the mean over the masked validation positions).
        """
        import numpy as np

        ids = table["token_ids"][table["padding_mask"]]
        counts = np.bincount(
            ids[ids >= arguments["num_special_tokens"]], minlength=arguments["vocabulary_size"]
        ).astype(np.float64)
        probs = (counts + 1) / (counts + 1).sum()
        targets = np.concatenate([
            np.asarray(batch["mask_ids"])[np.asarray(batch["mask_weights"]) > 0]
            for batch in validation_batches
        ])
        return {
            "unigram_accuracy": float(np.mean(targets == np.argmax(counts))),
            "unigram_loss": float(-np.mean(np.log(probs[targets]))),
        }
