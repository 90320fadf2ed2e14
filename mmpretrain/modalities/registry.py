"""The modality registry: name -> its `Modality` record.

Everything outside `mmpretrain/modalities/` asks `get_modality(name)`; adding a modality
registers one record and never touches the shared trunk or the library's other packages.
"""

from mmpretrain.modalities.modality import check_record

_REGISTRY = {}
_BUILTINS_LOADED = False


def _load_builtins():
    """Registers text, image and audio on first use (their modules import TensorFlow)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from mmpretrain.modalities.audio import AudioModality
    from mmpretrain.modalities.image import ImageModality
    from mmpretrain.modalities.text import TextModality

    for record in (TextModality(), ImageModality(), AudioModality()):
        _REGISTRY.setdefault(record.name, record)


def register_modality(record, replace=False):
    """Registers a `Modality` record under `record.name`; returns it.

    Raises ValueError when a required part is missing (the message names it) or when the
    name is already registered (pass replace=True to override on purpose).
    """
    _load_builtins()
    check_record(record)
    if record.name in _REGISTRY and not replace:
        raise ValueError(
            f"Modality {record.name!r} is already registered ({_REGISTRY[record.name]!r}); "
            "register it once, or pass replace=True to override it."
        )
    _REGISTRY[record.name] = record
    return record


def unregister_modality(name):
    """Removes a registered modality (tests use it to clean up a toy modality)."""
    _load_builtins()
    _REGISTRY.pop(name, None)


def modality_names():
    """Registered modality names, text, image and audio first, then in registration order."""
    _load_builtins()
    return list(_REGISTRY)


def get_modality(name):
    """The record of modality `name` (ValueError naming the registered ones if unknown)."""
    _load_builtins()
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown modality {name!r}. Registered modalities: {modality_names()}. "
            "Register a new one with mmpretrain.modalities.register_modality(...)."
        )
    return _REGISTRY[name]


def embedding_class(name):
    """The embedding layer class of modality `name` (ValueError if unknown)."""
    return get_modality(name).embedding_class


def preprocessor_class(name):
    """The preprocessor class of modality `name` (ValueError if unknown)."""
    return get_modality(name).preprocessor_class
