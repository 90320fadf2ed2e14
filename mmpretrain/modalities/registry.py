"""The modality registry: name -> (embedding layer class, preprocessor class).

The backbone looks modalities up here by name; adding a modality registers one entry and never
touches the shared trunk.
"""

import importlib

from mmpretrain.layers.patch_embedding import PatchEmbedding
from mmpretrain.layers.token_and_position_embedding import TokenAndPositionEmbedding

_REGISTRY = {}


def register_modality(name, embedding_class, preprocessor_path):
    """Registers a modality.

    Args:
        name: the modality's name (also the multiway expert's name), e.g. "text".
        embedding_class: a Keras layer class taking the preprocessor's `embedding_config()`
            keyword arguments plus `hidden_dim`.
        preprocessor_path: "module:Class" of its preprocessor (imported lazily).
    """
    _REGISTRY[name] = (embedding_class, preprocessor_path)


def modality_names():
    return sorted(_REGISTRY)


def _entry(name):
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown modality {name!r}. Registered modalities: {modality_names()}. "
            "Register a new one with mmpretrain.modalities.register_modality(...)."
        )
    return _REGISTRY[name]


def embedding_class(name):
    """The embedding layer class of modality `name` (ValueError if unknown)."""
    return _entry(name)[0]


def preprocessor_class(name):
    """The preprocessor class of modality `name` (ValueError if unknown)."""
    module_name, class_name = _entry(name)[1].split(":")
    return getattr(importlib.import_module(module_name), class_name)


register_modality("text", TokenAndPositionEmbedding, "mmpretrain.modalities.text:TextPreprocessor")
register_modality("image", PatchEmbedding, "mmpretrain.modalities.image:ImagePreprocessor")
register_modality("audio", PatchEmbedding, "mmpretrain.modalities.audio:AudioPreprocessor")
