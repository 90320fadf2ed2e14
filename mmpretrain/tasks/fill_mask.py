"""FillMask: the pretrained MLM head's top-k tokens for "[MASK]" in raw strings.

    fill = FillMask.from_run("runs/demo")                   # backbone.keras + pretrainer.weights.h5
    out = fill(tf.constant(["This is a great [MASK]!"]))   # token_ids, tokens, scores [B, K], mask_count [B]

The MLM head is not part of the encoder SavedModel, so a FillMask comes from the pretraining
run: the backbone, the text preprocessor and the head (its output projection tied to the token
embedding). The call takes raw strings with one literal "[MASK]" each:

    text [B] string -> token_ids int32 [B, K], tokens string [B, K], scores float32 [B, K],
                       mask_count int32 [B]

"[MASK]" reaches the graph as ordinary text; WordPiece splits it into pieces ("[", "mask",
"]"). `substitute_mask` finds that id pattern in the dense ids and replaces it with the [MASK]
id, shifting the rest left, with dense ops only, so the same graph converts to TFLite (builtins
+ tf.text kernels). The prediction is read at the first [MASK]; `mask_count` lets the caller
refuse inputs with none or several. Special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) are never
predicted.
"""

import json
import os

import keras
import tensorflow as tf

from mmpretrain.modalities import get_modality
from mmpretrain.modalities.text import MASK_ID, MASK_TOKEN, RESERVED_TOKENS

DEFAULT_TOP_K = 20


def mask_pattern(preprocessor):
    """The ids WordPiece gives the literal text "[MASK]" (without [CLS]/[SEP])."""
    features = preprocessor([MASK_TOKEN])
    ids = features["token_ids"].numpy()[0][features["padding_mask"].numpy()[0]]
    return [int(i) for i in ids[1:-1]]


def substitute_mask(token_ids, padding_mask, pattern, length):
    """Replaces each occurrence of the id `pattern` by one [MASK] id (dense ops only).

    token_ids: int32 [B, L]; padding_mask: bool [B, L] -> (token_ids, padding_mask), [B, L].
    """
    k = len(pattern)
    ids = tf.cast(token_ids, tf.int32)
    padded = tf.pad(ids, [[0, 0], [0, k - 1]])  # [B, L + k - 1]
    match = tf.ones_like(ids, tf.bool)
    for j, piece in enumerate(pattern):
        match = tf.logical_and(match, tf.equal(padded[:, j : j + length], piece))  # [B, L]
    ids = tf.where(match, tf.constant(MASK_ID, tf.int32), ids)
    if k == 1:
        return ids, padding_mask
    shifted = tf.pad(match, [[0, 0], [k - 1, 0]])  # [B, L + k - 1]: match[i - (k - 1)] at i
    drop = tf.zeros_like(match)
    for j in range(1, k):  # the k - 1 pieces after each match go
        drop = tf.logical_or(drop, shifted[:, k - 1 - j : k - 1 - j + length])
    keep = tf.logical_not(drop)  # [B, L]
    destination = tf.cumsum(tf.cast(keep, tf.int32), axis=1) - 1  # [B, L]
    moves = tf.logical_and(
        tf.equal(destination[:, :, tf.newaxis], tf.range(length)[tf.newaxis, tf.newaxis, :]),
        keep[:, :, tf.newaxis],
    )  # [B, L source, L destination]
    new_ids = tf.reduce_sum(tf.cast(moves, tf.int32) * ids[:, :, tf.newaxis], axis=1)  # [B, L]
    new_mask = tf.reduce_any(tf.logical_and(moves, tf.cast(padding_mask, tf.bool)[:, :, tf.newaxis]), axis=1)
    return new_ids, new_mask


def run_dir_of_encoder(encoder=None):
    """The pretraining run an exported encoder came from (assets.extra/export_report.json)."""
    from mmpretrain.export.model_dirs import resolve_encoder

    encoder_dir, _ = resolve_encoder(encoder)
    path = os.path.join(encoder_dir, "assets.extra", "export_report.json")
    run_dir = None
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            run_dir = json.load(f).get("run_dir")
    if not run_dir or not os.path.isdir(run_dir):
        raise ValueError(
            f"The encoder {encoder_dir!r} does not name an existing pretraining run "
            f"(export report: {run_dir!r}); the MLM head lives in the run directory. Pass it with "
            "--run RUN_DIR (the directory `mmpretrain pretrain --run-dir` wrote)."
        )
    return run_dir


@keras.saving.register_keras_serializable(package="mmpretrain")
class FillMask(keras.Model):
    """strings with one [MASK] -> the top-k tokens of the MLM head there.

    Args:
        backbone: the `MultimodalBackbone` of a pretraining run.
        preprocessor: its `TextPreprocessor` (vocabulary and sequence length).
        top_k: candidates returned per input (at most the vocabulary minus special tokens).
        modality: the token modality the backbone reads the strings as.
        head: the MLM head (`MaskedLMHead`) with its trained weights; default a fresh one
            made by the modality's objective (`from_run` loads the trained one).
    """

    def __init__(self, backbone, preprocessor, top_k=DEFAULT_TOP_K, modality="text", head=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.modality = modality
        self.top_k = int(min(top_k, preprocessor.vocabulary_size - len(RESERVED_TOKENS)))
        if head is None:
            head = get_modality(modality).objective.make_head(backbone, modality, 0, 0)
        self.head = head
        self.pattern = mask_pattern(preprocessor)
        self.vocabulary = tf.constant(preprocessor.vocabulary)
        self.built = True

    @classmethod
    def from_run(cls, run, top_k=DEFAULT_TOP_K, from_scratch=False, seed=0, modality="text"):
        """A FillMask from a finished run (a path or `LoadedRun`); `from_scratch` re-initialises
        the backbone and head (seeded): the baseline the pretrained head is compared with."""
        from mmpretrain.export.run_loader import load_run
        from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer

        run = load_run(run) if isinstance(run, (str, os.PathLike)) else run
        if modality not in run.preprocessors:
            raise ValueError(
                f"The fill_mask app needs a run pretrained on {modality}; {run.run_dir!r} has "
                f"{list(run.modalities)}. Pretrain with {modality} in the mix (e.g. `mmpretrain pretrain --config tiny`)."
            )
        decoder = dict(decoder_dim=run.config.get("decoder_dim", 64), decoder_layers=run.config.get("decoder_layers", 1))
        if from_scratch:
            from mmpretrain.backbone import MultimodalBackbone

            keras.utils.set_random_seed(int(seed))
            backbone = MultimodalBackbone.from_config(run.backbone.get_config())
            head = MaskedPretrainer(backbone, **decoder).heads[modality]
            return cls(backbone, run.preprocessors[modality], top_k, modality, head)
        weights = os.path.join(run.run_dir, "pretrainer.weights.h5")
        if not os.path.isfile(weights):
            raise ValueError(
                f"{run.run_dir!r} has no pretrainer.weights.h5 (the MLM head's weights, written when "
                "pretraining finishes); finish the run with `mmpretrain pretrain --run-dir "
                f"{run.run_dir} ...` or pass another run."
            )
        pretrainer = MaskedPretrainer(run.backbone, **decoder)
        try:
            pretrainer.load_weights(weights)
        except Exception as err:  # h5py and Keras raise several types for a damaged/mismatched file
            raise ValueError(
                f"Could not load {weights!r} into the run's pretrainer ({type(err).__name__}: "
                f"{str(err)[:200]}); the file is damaged or belongs to another run."
            ) from None
        return cls(run.backbone, run.preprocessors[modality], top_k, modality, pretrainer.heads[modality])

    def masked_logits(self, token_ids, padding_mask, positions):
        """Logits [B, V] at `positions` [B] of token ids [B, L], special tokens excluded."""
        outputs = self.backbone({"token_ids": token_ids, "padding_mask": padding_mask,
                                 "segment_ids": tf.zeros_like(token_ids)}, modality=self.modality, training=False)
        logits = self.head(outputs["sequence_output"], positions[:, tf.newaxis])[:, 0, :]  # [B, V]
        special = tf.one_hot(tf.range(len(RESERVED_TOKENS)), tf.shape(logits)[-1])  # [5, V]
        return logits - 1e9 * tf.reduce_sum(special, axis=0)[tf.newaxis, :]

    def call(self, text):
        features = self.preprocessor(text)
        ids, mask = substitute_mask(features["token_ids"], features["padding_mask"], self.pattern,
                                    self.preprocessor.sequence_length)
        is_mask = tf.cast(tf.equal(ids, MASK_ID), tf.int32)  # [B, L]
        position = tf.cast(tf.argmax(is_mask, axis=-1), tf.int32)  # [B]: the first [MASK]
        logits = self.masked_logits(ids, mask, position)
        scores, token_ids = tf.math.top_k(tf.nn.softmax(logits, axis=-1), k=self.top_k)  # [B, K]
        return {"token_ids": token_ids, "tokens": tf.gather(self.vocabulary, token_ids), "scores": scores,
                "mask_count": tf.reduce_sum(is_mask, axis=-1)}

    def get_config(self):
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": self.preprocessor.get_config(),
            "top_k": self.top_k,
            "modality": self.modality,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        modality = config.get("modality", "text")
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["preprocessor"] = get_modality(modality).preprocessor_class.from_config(config["preprocessor"])
        return cls(**config)
