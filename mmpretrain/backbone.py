"""MultimodalBackbone: modality embedders around ONE shared stack of Transformer blocks."""

import keras
from keras import ops

from mmpretrain.layers.transformer_block import TransformerBlock
from mmpretrain.modalities.registry import get_modality
from mmpretrain.presets import backbone_preset

SHARING_MODES = ("full", "multiway")


def masked_mean(sequence, padding_mask):
    """Mean over real tokens: sequence [B, N, D], padding_mask [B, N] -> [B, D]."""
    weights = ops.cast(ops.expand_dims(padding_mask, -1), sequence.dtype)  # [B, N, 1]
    total = ops.sum(sequence * weights, axis=1)
    count = ops.maximum(ops.sum(weights, axis=1), 1.0)
    return total / count


@keras.saving.register_keras_serializable(package="mmpretrain")
class MultimodalBackbone(keras.Model):
    """Text, image and audio encoders that share the same Transformer block instances.

    Each modality has a small embedder (looked up by name in the modality registry); every
    modality then runs through the SAME list of `TransformerBlock`s and one final LayerNorm.
    The trunk never branches on the modality, except that in `sharing="multiway"` mode each block
    routes its feed-forward to the modality's expert (BEiT-3), attention staying shared.

    Call it as `backbone(inputs, modality="text")` where `inputs` is the preprocessor's dict
    (the modality record's `model_inputs`: `token_ids` for text, `patches` for image and audio), optional `padding_mask` [B, N] (True = real),
    optional `positions` [B, N] (patch/token indices, for MAE's visible-only encoding) and
    optional `segment_ids` (text pairs). Returns `{"sequence_output": [B, N, D],
    "pooled_output": [B, D]}`; pooling is the mean over real tokens.

    Args:
        modalities: dict modality name -> its embedding layer's keyword arguments (what the
            preprocessor's `embedding_config()` returns), e.g. `{"text": {"vocabulary_size":
            8000, "max_length": 128}, "image": {"patch_dim": 48, "max_patches": 64}}`.
        num_layers, hidden_dim, num_heads, intermediate_dim: the shared trunk's size.
        dropout: dropout rate everywhere.
        sharing: "full" (every block shared by all modalities) or "multiway".
    """

    def __init__(
        self,
        modalities,
        num_layers,
        hidden_dim,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        sharing="full",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sharing not in SHARING_MODES:
            raise ValueError(f"Unknown sharing mode {sharing!r}; accepted: {list(SHARING_MODES)}.")
        if not modalities:
            raise ValueError("MultimodalBackbone needs at least one modality, e.g. {'text': {...}}.")
        self.modalities = {name: dict(config) for name, config in modalities.items()}
        self.num_layers = int(num_layers)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.sharing = sharing

        # === Layers ===
        self.embedders = {
            name: get_modality(name).embedding_class(
                hidden_dim=self.hidden_dim,
                dropout=self.dropout,
                dtype=self.dtype_policy,
                name=f"{name}_embedding",
                **config,
            )
            for name, config in self.modalities.items()
        }
        expert_names = sorted(self.modalities) if sharing == "multiway" else None
        self.blocks = [
            TransformerBlock(
                self.hidden_dim,
                self.num_heads,
                self.intermediate_dim,
                dropout=self.dropout,
                expert_names=expert_names,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(self.num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="final_norm"
        )
        # All weights exist from construction: nothing depends on which modality runs first.
        token_shape = (None, None, self.hidden_dim)
        for embedder in self.embedders.values():
            embedder.build()
        for block in self.blocks:
            block.build(token_shape)
        self.final_norm.build(token_shape)
        self.built = True

    @classmethod
    def from_preset(cls, preset, modalities, **overrides):
        """Builds a backbone of a named size ("tiny", "small", "base")."""
        config = backbone_preset(preset)
        config.update(overrides)
        return cls(modalities=modalities, **config)

    def embed(self, inputs, modality, training=None):
        """Runs only modality `modality`'s front-end embedder: -> tokens [B, N, D]."""
        if modality not in self.embedders:
            raise ValueError(
                f"This backbone has no modality {modality!r}; it was built with "
                f"{sorted(self.embedders)}."
            )
        return get_modality(modality).embed(self.embedders[modality], inputs, training=training)

    def encode_tokens(self, tokens, padding_mask, modality, training=None):
        """The shared trunk on already-embedded tokens [B, N, D] -> outputs dict."""
        x = tokens
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask, expert=modality, training=training)
        sequence_output = ops.cast(self.final_norm(x), "float32")
        return {
            "sequence_output": sequence_output,
            "pooled_output": masked_mean(sequence_output, padding_mask),
        }

    def call(self, inputs, modality="text", training=None):
        tokens = self.embed(inputs, modality, training=training)  # [B, N, D]
        padding_mask = inputs.get("padding_mask")
        if padding_mask is None:
            padding_mask = ops.ones(ops.shape(tokens)[:2], dtype="bool")
        return self.encode_tokens(tokens, padding_mask, modality, training=training)

    def modality_model(self, modality):
        """A functional Keras model for one modality, on this backbone's (shared) layers."""
        if modality not in self.embedders:
            raise ValueError(
                f"This backbone has no modality {modality!r}; it was built with {sorted(self.embedders)}."
            )
        inputs = get_modality(modality).model_inputs(self.modalities[modality])
        outputs = self(inputs, modality=modality)
        return keras.Model(inputs, outputs, name=f"{modality}_encoder")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "modalities": self.modalities,
            "num_layers": self.num_layers,
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "sharing": self.sharing,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)
