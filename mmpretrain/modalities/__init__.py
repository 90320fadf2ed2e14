"""Modalities: one `Modality` record each (preprocessing, embedding, I/O, objective, export
spec), looked up by name in the registry. See modalities/README.md."""

from mmpretrain.modalities.modality import Modality
from mmpretrain.modalities.registry import (
    embedding_class,
    get_modality,
    modality_names,
    preprocessor_class,
    register_modality,
    unregister_modality,
)

__all__ = [
    "Modality",
    "embedding_class",
    "get_modality",
    "modality_names",
    "preprocessor_class",
    "register_modality",
    "unregister_modality",
]
