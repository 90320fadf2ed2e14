"""WordPiece vocabulary for the text front-end: the reserved tokens, learning, saving, loading.

Vocabulary learning uses `tensorflow_text.tools.wordpiece_vocab.
bert_vocab_from_dataset` with `BasicTokenizer(lower_case=True)` (case fold + NFD +
strip accents), which matches what `FastBertTokenizer` does at tokenisation time.
When its threshold search returns more than `vocabulary_size` tokens (it can, on
small corpora), the smallest frequency threshold that fits is searched again with
the same learner on the same word counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Union

import numpy as np
import tensorflow as tf
from tensorflow_text.python.ops import bert_tokenizer as _bert_tokenizer
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as _bvfd
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as _learner

from mmpretrain.atomic_files import atomic_write_text

# --------------------------------------------------------------------------------------
# Reserved tokens: always ids 0..4, in this order.
# --------------------------------------------------------------------------------------
PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
MASK_TOKEN = "[MASK]"
RESERVED_TOKENS = [PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN]
PAD_ID = 0
UNK_ID = 1
CLS_ID = 2
SEP_ID = 3
MASK_ID = 4

_SPECIAL_IDS = frozenset(range(len(RESERVED_TOKENS)))

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------
# Vocabulary helpers
# --------------------------------------------------------------------------------------
def validate_vocabulary(vocabulary: Any, source: str = "vocabulary") -> list[str]:
    """Checks a vocabulary and returns it as a fresh `list[str]`.

    Accepted: a non-empty sequence of unique, non-empty strings without whitespace,
    whose first five entries are exactly `RESERVED_TOKENS`
    (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` at ids 0..4).

    Raises:
      ValueError: naming what was received and how to fix it.
    """
    if isinstance(vocabulary, (str, bytes)) or not isinstance(vocabulary, Iterable):
        raise ValueError(
            f"{source}: expected a list of token strings, received "
            f"{type(vocabulary).__name__}. Pass a list such as "
            f"{RESERVED_TOKENS + ['the', '##s']} or load one with load_vocabulary(path)."
        )
    vocab = list(vocabulary)
    for i, token in enumerate(vocab):
        if isinstance(token, bytes):
            try:
                token = token.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(
                    f"{source}: token {i} is not valid UTF-8 ({token!r}); every token "
                    "must be UTF-8 text."
                ) from None
            vocab[i] = token
        if not isinstance(token, str):
            raise ValueError(
                f"{source}: token {i} has type {type(token).__name__} ({token!r}); every token "
                "must be a string."
            )
        if not token or token != token.strip() or any(c.isspace() for c in token):
            raise ValueError(
                f"{source}: token {i} ({token!r}) is empty or contains whitespace; tokens "
                "must be non-empty and whitespace-free (the vocabulary file has one token "
                "per line)."
            )
    if vocab[: len(RESERVED_TOKENS)] != RESERVED_TOKENS:
        raise ValueError(
            f"{source}: the first {len(RESERVED_TOKENS)} tokens must be exactly "
            f"{RESERVED_TOKENS} (ids 0..{len(RESERVED_TOKENS) - 1}); received "
            f"{vocab[: len(RESERVED_TOKENS)]}. Learn the vocabulary with learn_vocabulary() "
            "or prepend the reserved tokens in that order."
        )
    if len(set(vocab)) != len(vocab):
        seen: set[str] = set()
        dupes = [t for t in vocab if t in seen or seen.add(t)]
        raise ValueError(
            f"{source}: tokens must be unique; received duplicates {dupes[:10]}."
        )
    return vocab


def learn_vocabulary(
    texts: Any,
    vocabulary_size: int = 8000,
    lower_case: bool = True,
    *,
    min_count: int | None = None,
    batch_size: int = 1024,
    learn_params: Mapping[str, Any] | None = None,
) -> list[str]:
    """Learns a WordPiece vocabulary (reserved tokens first) from raw text.

    Uses `tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset`: text is split
    into words with BERT's basic tokenizer (whitespace + punctuation) after the same
    normalisation `TextPreprocessor` applies (lower-case + NFD + strip accents), then
    WordPiece pieces (suffixes prefixed with `##`) are learned.

    Args:
      texts: an iterable of `str`/`bytes` (list, tuple, numpy array, generator) or a
        `tf.data.Dataset` of `tf.string` elements (scalars or batches `[B]`).
        Non-dataset iterables are materialised in memory; stream large corpora as a
        dataset.
      vocabulary_size: the maximum vocabulary size, reserved tokens included. The
        learner aims for 95-100% of it; a corpus too small for that gives fewer tokens.
        When the learner's threshold search overshoots the maximum, the smallest
        frequency threshold whose vocabulary fits is used instead (see
        `_relearn_within_size`); only an alphabet larger than `vocabulary_size` (limit
        it with `learn_params={"max_unique_chars": ...}`) gives a longer list.
      lower_case: lower-case + NFD + strip accents before counting words. Keep `True`
        for `TextPreprocessor`, which always normalises this way.
      min_count: lower bound of the learner's frequency-threshold search (its
        `lower_thresh`, default 10). Set it to 1-2 for tiny corpora, otherwise few
        pieces reach the threshold and the vocabulary stays close to the alphabet.
      batch_size: texts per batch while counting words.
      learn_params: extra keyword arguments for
        `wordpiece_tokenizer_learner_lib.learn` (e.g. `num_iterations`,
        `max_unique_chars`, `slack_ratio`).

    Returns:
      The vocabulary as a list of tokens; `vocab[:5] == RESERVED_TOKENS`.

    Raises:
      ValueError: bad `texts`, `vocabulary_size` or `min_count`, or no words found.
    """
    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, (int, np.integer)):
        raise ValueError(
            f"vocabulary_size must be an int, received {type(vocabulary_size).__name__} "
            f"({vocabulary_size!r})."
        )
    if vocabulary_size <= len(RESERVED_TOKENS):
        raise ValueError(
            f"vocabulary_size must be greater than the {len(RESERVED_TOKENS)} reserved "
            f"tokens, received {vocabulary_size}. Use e.g. 8000."
        )
    if min_count is not None and (isinstance(min_count, bool) or int(min_count) < 1):
        raise ValueError(f"min_count must be a positive int or None, received {min_count!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, received {batch_size!r}.")

    dataset = _texts_to_dataset(texts, batch_size)

    params: dict[str, Any] = {}
    if min_count is not None:
        params["lower_thresh"] = int(min_count)
    if learn_params:
        params.update(dict(learn_params))
    try:
        vocab = _bvfd.bert_vocab_from_dataset(
            dataset,
            vocab_size=int(vocabulary_size),
            reserved_tokens=list(RESERVED_TOKENS),
            bert_tokenizer_params={"lower_case": bool(lower_case)},
            learn_params=params,
        )
    except StopIteration:
        # The learner peeks at the first counted word; no words at all ends here.
        raise ValueError(
            "learn_vocabulary received texts with no words (all empty or whitespace); "
            "pass at least one non-empty sentence."
        ) from None
    if len(vocab) > vocabulary_size:
        vocab = _relearn_within_size(
            dataset, int(vocabulary_size), bool(lower_case), params, fallback=vocab
        )
    return validate_vocabulary(vocab, source="learned vocabulary")


def _relearn_within_size(
    dataset: tf.data.Dataset,
    size: int,
    lower_case: bool,
    params: dict[str, Any],
    fallback: list[str],
) -> list[str]:
    """Re-learns when `bert_vocab_from_dataset` returned more than `size` tokens.

    The learner binary-searches a frequency threshold and stops once the search range
    is empty, even if the last vocabulary tried is too large: e.g. on a small corpus,
    threshold 2 gives 60% of the target, so it tries 1, which keeps every word and
    overshoots. Here we count the words once (the same `BasicTokenizer` +
    `count_words` steps as `bert_vocab_from_dataset`) and binary-search the smallest
    threshold whose vocabulary fits, calling `learn` with `lower_thresh ==
    upper_thresh`. If none fits (the alphabet alone is too large), the alphabet plus
    the most frequent pieces are kept (`_trim_vocabulary`).
    """
    tokenizer = _bert_tokenizer.BasicTokenizer(lower_case=lower_case)
    counts = _learner.count_words(dataset.map(tokenizer.tokenize))
    pairs = list(counts.items())  # [(word, count)]
    base = {k: v for k, v in params.items() if k not in ("lower_thresh", "upper_thresh")}

    def learn_at(threshold: int) -> list[str]:
        return _learner.learn(
            pairs,
            size,
            list(RESERVED_TOKENS),
            lower_thresh=threshold,
            upper_thresh=threshold,
            **base,
        )

    low, high = 2, max(max(counts.values()), 2)
    best = None
    while low <= high:  # smallest threshold whose vocabulary fits
        mid = (low + high) // 2
        candidate = learn_at(mid)
        if len(candidate) <= size:
            best, high = candidate, mid - 1
        else:
            low = mid + 1
    return best if best is not None else _trim_vocabulary(fallback, size)


def _trim_vocabulary(vocab: list[str], size: int) -> list[str]:
    """Cuts an oversized learned vocabulary down to `size`, keeping the alphabet.

    The learner's list is ordered: reserved tokens, single characters, then pieces by
    decreasing count. We keep the reserved tokens, every single character and
    `##` + character (so any word made of known characters can still be spelled), and
    fill the rest with the most frequent pieces; if the alphabet alone exceeds `size`
    the result is longer than `size`.
    """
    if len(vocab) <= size:
        return vocab
    n = len(RESERVED_TOKENS)
    is_char = [len(t) == 1 or (t.startswith("##") and len(t) == 3) for t in vocab[n:]]
    free = size - n - sum(is_char)
    kept: list[str] = list(vocab[:n])
    for token, char in zip(vocab[n:], is_char):
        if char:
            kept.append(token)
        elif free > 0:
            kept.append(token)
            free -= 1
    return kept


def _texts_to_dataset(texts: Any, batch_size: int) -> tf.data.Dataset:
    """Turns `learn_vocabulary`'s `texts` into a dataset of string batches [B]."""
    if isinstance(texts, tf.data.Dataset):
        spec = texts.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string:
            raise ValueError(
                f"learn_vocabulary received a tf.data.Dataset with element_spec {spec}; "
                "it accepts a dataset of single tf.string tensors (scalars or [B] batches). "
                "Map your dataset to the text field first, e.g. ds.map(lambda x: x['text'])."
            )
        if spec.shape.rank == 0:
            return texts.batch(batch_size)
        return texts
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise ValueError(
            f"learn_vocabulary received {type(texts).__name__}; it accepts an iterable of "
            "strings (e.g. a list of sentences) or a tf.data.Dataset of strings. "
            "Wrap a single text in a list: learn_vocabulary([text])."
        )
    items = []
    for i, t in enumerate(texts):
        if isinstance(t, (str, np.str_)):
            items.append(str(t).encode("utf-8"))
        elif isinstance(t, (bytes, np.bytes_)):
            items.append(bytes(t))
        else:
            raise ValueError(
                f"learn_vocabulary: item {i} has type {type(t).__name__} ({t!r:.60}); it "
                "accepts str or bytes items only."
            )
    if not items:
        raise ValueError("learn_vocabulary received no texts; pass at least one sentence.")
    return tf.data.Dataset.from_tensor_slices(tf.constant(items, dtype=tf.string)).batch(
        batch_size
    )


def save_vocabulary(vocabulary: Iterable[str], path: PathLike) -> str:
    """Writes one token per line (UTF-8), atomically (temp file + `os.replace`).

    Returns:
      The path written, as a string.
    """
    vocab = validate_vocabulary(vocabulary)
    path = os.fspath(path)
    atomic_write_text(path, "\n".join(vocab) + "\n")
    return path


def load_vocabulary(path: PathLike) -> list[str]:
    """Reads a vocabulary file written by `save_vocabulary` (one token per line).

    Raises:
      ValueError: the file is missing or empty, has blank lines, or does not start with
        `RESERVED_TOKENS` in order.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(
            f"vocabulary file {path!r} does not exist (or is not a file). Create it with "
            "save_vocabulary(learn_vocabulary(texts), path)."
        )
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not lines:
        raise ValueError(
            f"vocabulary file {path!r} is empty; it must hold one token per line, starting "
            f"with {RESERVED_TOKENS}."
        )
    return validate_vocabulary(lines, source=f"vocabulary file {path!r}")
