"""Text inputs: user strings -> checked examples, and string batches for the preprocessor.

`texts(inputs, what)` is what pipelines, `load()` and the apps call on user input;
`string_batch(value, what)` is the `TextPreprocessor`'s own check of one batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf

from mmpretrain.modalities.inputs import describe, listify

_ACCEPTED = (
    "a str, bytes, a list of str/bytes, a numpy string array or a tf.string tensor of "
    "shape [] or [B], or a tuple of two such batches (segment pairs)"
)
_UTF8_MESSAGE = (
    "TextPreprocessor received strings that are not valid UTF-8; it accepts UTF-8 "
    "encoded text only. Re-encode the data as UTF-8 (e.g. "
    "raw.decode('latin-1').encode('utf-8')). Offending strings:"
)


def string_batch(value: Any, what: str, check_utf8: bool = True) -> tf.Tensor:
    """Validates one batch of strings and returns a tf.string tensor [B]."""
    if isinstance(value, (tf.RaggedTensor, tf.SparseTensor)):
        raise ValueError(
            f"TextPreprocessor: {what} has type {type(value).__name__}; it accepts "
            f"{_ACCEPTED}. Convert it to a dense [B] string tensor."
        )
    if tf.is_tensor(value) or isinstance(value, tf.Variable):
        x = value
        if x.dtype != tf.string:
            raise ValueError(
                f"TextPreprocessor: {what} has dtype {x.dtype.name}; it accepts "
                f"{_ACCEPTED}. Pass raw text, not token ids or numbers."
            )
    elif isinstance(value, (str, bytes, np.str_, np.bytes_)):
        x = tf.constant([_as_bytes(value)], dtype=tf.string)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind in ("U", "S"):
            x = tf.constant(value)
        elif value.dtype == object:
            _check_string_items(value.reshape(-1), what)
            x = tf.constant(value)
        else:
            raise ValueError(
                f"TextPreprocessor: {what} is a numpy array of dtype {value.dtype}; it "
                f"accepts {_ACCEPTED}."
            )
    elif isinstance(value, (list, tuple)):
        _check_string_items(value, what)
        x = tf.constant([_as_bytes(v) for v in value], shape=[len(value)], dtype=tf.string)
    else:
        raise ValueError(
            f"TextPreprocessor: {what} has type {type(value).__name__}; it accepts {_ACCEPTED}."
        )

    rank = x.shape.rank
    if rank is not None and rank > 1:
        raise ValueError(
            f"TextPreprocessor: {what} has shape {x.shape.as_list()} (rank {rank}); it "
            f"accepts {_ACCEPTED}. Flatten or index the batch first."
        )
    if rank == 0:
        x = tf.reshape(x, [1])  # [1]
    elif rank is None:
        check = tf.debugging.assert_less_equal(
            tf.rank(x),
            1,
            message=f"TextPreprocessor: {what} must have shape [] or [B]",
        )
        with tf.control_dependencies([check]):
            x = tf.reshape(x, [-1])  # [B]

    if isinstance(x, tf.Variable):
        x = tf.convert_to_tensor(x)
    if tf.executing_eagerly():
        _check_utf8_eager(x.numpy(), what)
    elif check_utf8:
        valid = tf.equal(
            tf.strings.unicode_transcode(x, "UTF-8", "UTF-8", errors="ignore"), x
        )  # [B] bool
        # Report indices, not the strings: TF fails to decode an error message that
        # carries invalid UTF-8 (the eager error path raises UnicodeDecodeError).
        assertion = tf.debugging.Assert(
            tf.reduce_all(valid),
            [
                tf.constant(f"{what}: {_UTF8_MESSAGE.replace('strings:', 'items at')}"),
                tf.reshape(tf.where(~valid), [-1]),
            ],
            summarize=10,
        )
        with tf.control_dependencies([assertion]):
            x = tf.identity(x)
    return x


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (str, np.str_)):
        return str(value).encode("utf-8", errors="surrogatepass")
    return bytes(value)


def _check_string_items(items: Iterable[Any], what: str) -> None:
    for i, v in enumerate(items):
        if not isinstance(v, (str, bytes, np.str_, np.bytes_)):
            kind = "a nested sequence (rank > 1)" if isinstance(v, (list, tuple, np.ndarray)) else (
                f"of type {type(v).__name__}"
            )
            raise ValueError(
                f"TextPreprocessor: item {i} of {what} is {kind} ({v!r:.60}); it accepts "
                f"{_ACCEPTED}."
            )


def _check_utf8_eager(values: np.ndarray, what: str) -> None:
    for i, v in enumerate(np.reshape(values, [-1])):
        try:
            v.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{what}: {_UTF8_MESSAGE} item {i} = {v!r:.80} ({e.reason} at byte "
                f"{e.start})."
            ) from None


TEXT_ACCEPTED = "a string, UTF-8 bytes, or a list / 1-D numpy array of them"


def check_text(item, what):
    """One user text (str or bytes) -> str, or a ValueError naming `what`, what was received
    and what is accepted: bytes that are not UTF-8, a lone surrogate (no UTF-8 form), an empty
    or whitespace-only string. Used by the pipelines, `load()` and the REST server alike."""
    if isinstance(item, (bytes, bytearray, np.bytes_)):
        try:
            item = bytes(item).decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{what} is bytes that are not valid UTF-8 (byte {err.start}: "
                f"{bytes(item)[err.start:err.start + 4]!r}). Decode it with the right encoding "
                "and pass a str, or pass UTF-8 bytes."
            ) from None
    if not isinstance(item, str):
        if isinstance(item, (list, tuple)):
            raise ValueError(
                f"{what} is a nested list (a {type(item).__name__} of {len(item)} items inside the "
                f"list). Accepted: {TEXT_ACCEPTED}. Pass one string or a flat list of strings."
            )
        raise ValueError(f"{what} is {describe(item)}. Accepted: {TEXT_ACCEPTED}.")
    try:
        item.encode("utf-8")
    except UnicodeEncodeError as err:  # lone surrogates ("\ud800") have no UTF-8 form
        raise ValueError(
            f"{what} has a character that is not valid Unicode text "
            f"({item[err.start]!r} at position {err.start}: {err.reason}), so it is not valid "
            "UTF-8 either (a lone surrogate has no UTF-8 form). Remove it, or decode the "
            "original bytes with errors='replace'."
        ) from None
    if not item.strip():
        raise ValueError(
            f"{what} is an empty string{' (only whitespace)' if item else ''}; pass some text "
            "for the model to read."
        )
    return str(item)


def texts(inputs, task):
    """-> ([str], single). Empty or whitespace-only strings are refused."""
    items, single = listify(inputs, lambda x: isinstance(x, (str, bytes, np.str_, np.bytes_)), task, TEXT_ACCEPTED)
    return [check_text(item, f"{task}: input {i}") for i, item in enumerate(items)], single
