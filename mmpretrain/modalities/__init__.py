"""Modality front-ends: preprocessing (TF ops) + embedding layers, looked up by name."""

from mmpretrain.modalities.registry import (
    embedding_class,
    modality_names,
    preprocessor_class,
    register_modality,
)

__all__ = ["embedding_class", "modality_names", "preprocessor_class", "register_modality"]
