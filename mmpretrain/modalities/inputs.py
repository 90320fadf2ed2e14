"""User inputs, for every modality: one example or a list of them -> a checked list.

Modality I/O modules (text_io, image_io, audio_io) build on these two helpers.
"""

import numpy as np


def listify(inputs, is_single, task, accepted):
    if is_single(inputs):
        return [inputs], True
    if isinstance(inputs, np.ndarray) and inputs.ndim >= 1:
        items = list(inputs)
    elif isinstance(inputs, (list, tuple)):
        items = list(inputs)
    else:
        raise ValueError(f"{task} received {describe(inputs)}. Accepted: {accepted}.")
    if not items:
        raise ValueError(f"{task} received an empty list. Pass at least one input: {accepted}.")
    return items, False


def describe(value):
    if isinstance(value, np.ndarray):
        return f"a numpy array of dtype {value.dtype} and shape {list(value.shape)}"
    if isinstance(value, (str, bytes)):
        return f"{type(value).__name__} {value[:40]!r}"
    return f"a value of type {type(value).__name__}"
