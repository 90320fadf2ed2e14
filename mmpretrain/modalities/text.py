"""Text front-end: WordPiece vocabulary learning and the `TextPreprocessor`.

The preprocessor turns raw UTF-8 strings into fixed-length id sequences for the
shared Transformer trunk (see `mmpretrain/modalities/README.md`):

    strings [B]            -> token_ids    int32 [B, L]   [CLS] a [SEP] [PAD]...
    (strings [B], [B])     -> padding_mask bool  [B, L]   True on real tokens
                              segment_ids  int32 [B, L]   0 = first segment, 1 = second

Tokenisation is `tensorflow_text.FastBertTokenizer` with
`lower_case_nfd_strip_accents=True`: it has TFLite kernels (via
`tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`), unlike `BertTokenizer`,
whose `case_fold_utf8` has none.

Dense versus ragged (what we found, tensorflow-text 2.21.1 / TF 2.21):
the tokenizer returns a `tf.RaggedTensor` [B, (T)]. Slicing that ragged tensor
(`rt[:, :n]`) lowers to `RaggedRange` (and ragged gathers to `RaggedGather`), which have no TFLite
kernel. We therefore leave the ragged world immediately:
`rt.to_tensor(default_value=0, shape=[None, budget])` (one
`RaggedTensorToTensor` op, which *does* have a TFLite kernel in
`SELECT_TFTEXT_OPS`, and which truncates to `budget` columns for us) plus
`rt.row_lengths()` (a dense subtraction of row splits). Everything after that is
dense: `tf.range`, comparisons, `tf.where`, `tf.concat`, `tf.minimum`/`maximum`
and, for pairs only, one `tf.gather(..., batch_dims=1)` that shifts the second
segment to start right after the first segment's `[SEP]`.
Checked by converting `tf.function(pre, input_signature=[tf.TensorSpec([None],
tf.string)])` (and the pair version) with `supported_ops=[TFLITE_BUILTINS]` +
`allow_custom_ops=True`: the model holds only builtins plus `FastBertNormalize`,
`FastWordpieceTokenizeWithOffsets` and `RaggedTensorToTensor`, and
`InterpreterWithCustomOps(custom_op_registerers=SELECT_TFTEXT_OPS)` reproduces the
eager ids exactly (tests/test_text.py). The same converter on `rt[:, :n]` emits
`RaggedRange`, which fails at `allocate_tensors` ("unresolved custom op").

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
import tensorflow_text as tf_text
from tensorflow_text.python.ops import bert_tokenizer as _bert_tokenizer
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as _bvfd

from mmpretrain.atomic_files import atomic_write_text
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as _learner

__all__ = [
    "RESERVED_TOKENS",
    "PAD_TOKEN",
    "UNK_TOKEN",
    "CLS_TOKEN",
    "SEP_TOKEN",
    "MASK_TOKEN",
    "PAD_ID",
    "UNK_ID",
    "CLS_ID",
    "SEP_ID",
    "MASK_ID",
    "learn_vocabulary",
    "save_vocabulary",
    "load_vocabulary",
    "validate_vocabulary",
    "TextPreprocessor",
]

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


# --------------------------------------------------------------------------------------
# The preprocessor
# --------------------------------------------------------------------------------------
_ACCEPTED = (
    "a str, bytes, a list of str/bytes, a numpy string array or a tf.string tensor of "
    "shape [] or [B], or a tuple of two such batches (segment pairs)"
)
_UTF8_MESSAGE = (
    "TextPreprocessor received strings that are not valid UTF-8; it accepts UTF-8 "
    "encoded text only. Re-encode the data as UTF-8 (e.g. "
    "raw.decode('latin-1').encode('utf-8')). Offending strings:"
)


class TextPreprocessor(tf.Module):
    """Strings (or string pairs) -> fixed-length WordPiece ids for the shared trunk.

    Output layout (L = `sequence_length`):

        single: [CLS] a_1 .. a_n [SEP] [PAD] ..                    segment_ids all 0
        pair:   [CLS] a_1 .. a_n [SEP] b_1 .. b_m [SEP] [PAD] ..   0 up to and including
                                                                   the first [SEP], 1 for
                                                                   b and its [SEP]
    `padding_mask` is True on [CLS], wordpieces and [SEP]s; [PAD] has segment id 0.

    Truncation rule (in wordpieces, after tokenisation):
      * single segment: keep the first `L - 2` wordpieces;
      * pairs: the budget is `B = L - 3`. Each segment may use half of it (the first
        segment gets `ceil(B / 2)`, the second `floor(B / 2)`), and budget one segment
        does not use goes to the other:
            keep_a = min(len_a, max(ceil(B / 2), B - len_b))
            keep_b = min(len_b, B - keep_a)
        i.e. the longer segment is cut first (BERT's "longest first"), each keeps its
        first wordpieces.

    Normalisation: lower-case + NFD + strip accents ("Café" == "cafe"). A word that
    cannot be spelled with the vocabulary's pieces becomes one `[UNK]` (id 1).

    Input validation (`ValueError` naming what was received and what is accepted):
    non-string dtypes, rank > 1 tensors, ragged/sparse tensors and pair batches of
    different sizes are rejected statically (at trace time in graphs; an unknown rank
    or batch size becomes a `tf.debugging` assertion instead). Non-UTF-8 bytes
    are found eagerly by decoding in Python (`ValueError`); inside graphs
    (`tf.function`, `tf.data`) a `tf.debugging.Assert` compares the input with
    `tf.strings.unicode_transcode(..., errors="ignore")` and fails with
    `tf.errors.InvalidArgumentError` carrying the same message. The TFLite converter
    drops the assertion (and the then-dead `UnicodeTranscode`), so a TFLite model
    needs no flag and tokenises invalid bytes to `[UNK]`, as FastBertTokenizer does;
    `check_utf8=False` leaves the graph check out elsewhere too.

    Example:
        pre = TextPreprocessor(learn_vocabulary(texts, 8000), sequence_length=128)
        out = pre(["a sentence", "another one"])
        out["token_ids"]      # int32 [2, 128]
        ds.batch(32).map(pre)  # same ids inside tf.data
    """

    def __init__(
        self,
        vocabulary: Union[list[str], PathLike],
        sequence_length: int = 128,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if isinstance(vocabulary, (str, os.PathLike)):
            vocab = load_vocabulary(vocabulary)
        else:
            vocab = validate_vocabulary(vocabulary)
        if (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, (int, np.integer))
            or sequence_length < 2
        ):
            raise ValueError(
                f"sequence_length must be an int >= 2 (room for [CLS] and [SEP]); received "
                f"{sequence_length!r}. Use e.g. 128 (>= 3 for segment pairs)."
            )
        self._vocab = tuple(vocab)  # tuple: not wrapped/tracked by tf.Module
        self._sequence_length = int(sequence_length)
        try:
            self._tokenizer = tf_text.FastBertTokenizer(
                vocab=list(vocab),
                suffix_indicator="##",
                token_out_type=tf.int32,
                unknown_token=UNK_TOKEN,
                support_detokenization=True,
                lower_case_nfd_strip_accents=True,
            )
        except Exception as e:  # the C++ model builder raises RuntimeError
            raise ValueError(
                f"vocabulary of {len(vocab)} tokens was rejected by FastBertTokenizer: {e}"
            ) from e

    # ------------------------------------------------------------------ properties
    @property
    def vocabulary(self) -> list[str]:
        return list(self._vocab)

    @property
    def vocabulary_size(self) -> int:
        return len(self._vocab)

    @property
    def sequence_length(self) -> int:
        return self._sequence_length

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @property
    def cls_id(self) -> int:
        return CLS_ID

    @property
    def sep_id(self) -> int:
        return SEP_ID

    @property
    def mask_id(self) -> int:
        return MASK_ID

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """JSON-able config: `{"vocabulary": [...], "sequence_length": L}`."""
        return {"vocabulary": list(self._vocab), "sequence_length": self._sequence_length}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TextPreprocessor":
        if not isinstance(config, Mapping) or "vocabulary" not in config:
            raise ValueError(
                f"TextPreprocessor.from_config expects a dict with 'vocabulary' and "
                f"'sequence_length' (from get_config()); received {config!r:.200}."
            )
        unknown = set(config) - {"vocabulary", "sequence_length", "name"}
        if unknown:
            raise ValueError(
                f"TextPreprocessor.from_config received unknown keys {sorted(unknown)}; it "
                "accepts 'vocabulary', 'sequence_length' and optionally 'name'."
            )
        return cls(**dict(config))

    def embedding_config(self) -> dict[str, int]:
        """Keyword arguments for the text embedding layer."""
        return {"vocabulary_size": len(self._vocab), "max_length": self._sequence_length}

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs: Any, *, check_utf8: bool = True) -> dict[str, tf.Tensor]:
        """Tokenises and packs a batch of strings, or a pair of batches.

        Args:
          inputs: str, bytes, list of str/bytes, numpy string array, or tf.string tensor,
            shape [] (promoted to a batch of 1) or [B]. A pair of segments is a `tuple`
            `(a, b)` of two such batches of equal size (a `list` of two batches, i.e.
            two non-string items, is read as a pair too; a list of strings is one batch).
          check_utf8: in graph mode, add the UTF-8 `tf.debugging.Assert` (see class doc).
            The eager check always runs.

        Returns:
          dict with `token_ids` int32 [B, L], `padding_mask` bool [B, L],
          `segment_ids` int32 [B, L].
        """
        if _is_pair(inputs):
            first, second = inputs
            a = self._to_batch(first, "the first segment", check_utf8)  # [B]
            b = self._to_batch(second, "the second segment", check_utf8)  # [B]
            if self._sequence_length < 3:
                raise ValueError(
                    f"segment pairs need sequence_length >= 3 ([CLS] a [SEP] b [SEP]); this "
                    f"preprocessor has sequence_length={self._sequence_length}."
                )
            na, nb = a.shape[0], b.shape[0]
            if na is not None and nb is not None and na != nb:
                raise ValueError(
                    f"segment pairs must have the same batch size; received {na} first "
                    f"segments and {nb} second segments."
                )
            if na is None or nb is None:
                check = tf.debugging.assert_equal(
                    tf.shape(a)[0],
                    tf.shape(b)[0],
                    message="segment pairs must have the same batch size",
                )
                with tf.control_dependencies([check]):
                    a = tf.identity(a)
            return self._pack_pair(self._tokenizer.tokenize(a), self._tokenizer.tokenize(b))
        x = self._to_batch(inputs, "inputs", check_utf8)  # [B]
        return self._pack_single(self._tokenizer.tokenize(x))

    def detokenize(self, token_ids: Any) -> list[str]:
        """Ids [B, L] (or one sequence [L]) -> list of B strings, special tokens skipped.

        `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]` are dropped; wordpieces are
        joined into words (`"great", "##est"` -> `"greatest"`), words by one space.
        The text is the normalised form (lower-case, no accents, punctuation split).
        Runs eagerly (returns Python strings).
        """
        ids = np.asarray(token_ids.numpy() if tf.is_tensor(token_ids) else token_ids)
        if ids.dtype == object or not np.issubdtype(ids.dtype, np.integer):
            if ids.size == 0:
                ids = ids.astype(np.int64)
            else:
                raise ValueError(
                    f"detokenize accepts integer token ids of shape [L] or [B, L]; received "
                    f"dtype {ids.dtype}."
                )
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2:
            raise ValueError(
                f"detokenize accepts token ids of shape [L] or [B, L]; received shape "
                f"{list(ids.shape)}."
            )
        if ids.size and (ids.min() < 0 or ids.max() >= len(self._vocab)):
            raise ValueError(
                f"detokenize received ids outside [0, {len(self._vocab)}): min {ids.min()}, "
                f"max {ids.max()}."
            )
        keep = ~np.isin(ids, list(_SPECIAL_IDS))  # [B, L]
        values = ids[keep].astype(np.int32)  # [N]
        lengths = keep.sum(axis=1).astype(np.int64)  # [B]
        ragged = tf.RaggedTensor.from_row_lengths(values, lengths)  # [B, (T)]
        words = self._tokenizer.detokenize(ragged)  # [B] strings
        return [w.decode("utf-8") for w in words.numpy()]

    # ------------------------------------------------------------------ internals
    def _to_batch(self, value: Any, what: str, check_utf8: bool) -> tf.Tensor:
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

    def _pack_single(self, tokens: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """[CLS] a [SEP] [PAD]..; tokens: int32 ragged [B, (T)]."""
        length = self._sequence_length
        budget = length - 2
        dense = tokens.to_tensor(default_value=PAD_ID, shape=[None, budget])  # [B, L-2]
        keep = tf.minimum(tf.cast(tokens.row_lengths(), tf.int32), budget)  # [B]
        batch = tf.shape(dense)[0]
        ids = tf.concat(
            [
                tf.fill([batch, 1], tf.constant(CLS_ID, tf.int32)),  # [B, 1]
                dense,  # [B, L-2]; zeros (= PAD) past keep
                tf.fill([batch, 1], tf.constant(PAD_ID, tf.int32)),  # [B, 1]
            ],
            axis=1,
        )  # [B, L]
        pos = tf.range(length, dtype=tf.int32)[tf.newaxis, :]  # [1, L]
        keep = keep[:, tf.newaxis]  # [B, 1]
        ids = tf.where(pos == keep + 1, tf.constant(SEP_ID, tf.int32), ids)  # [B, L]
        padding_mask = pos < keep + 2  # [B, L]
        return {
            "token_ids": ids,
            "padding_mask": padding_mask,
            "segment_ids": tf.zeros_like(ids),  # [B, L]
        }

    def _pack_pair(
        self, tokens_a: tf.RaggedTensor, tokens_b: tf.RaggedTensor
    ) -> dict[str, tf.Tensor]:
        """[CLS] a [SEP] b [SEP] [PAD]..; tokens_*: int32 ragged [B, (T)]."""
        length = self._sequence_length
        budget = length - 3
        half_a = budget - budget // 2  # ceil(budget / 2)
        dense_a = tokens_a.to_tensor(default_value=PAD_ID, shape=[None, budget])  # [B, Bu]
        dense_b = tokens_b.to_tensor(default_value=PAD_ID, shape=[None, budget])  # [B, Bu]
        len_a = tf.minimum(tf.cast(tokens_a.row_lengths(), tf.int32), budget)  # [B]
        len_b = tf.minimum(tf.cast(tokens_b.row_lengths(), tf.int32), budget)  # [B]
        keep_a = tf.minimum(len_a, tf.maximum(half_a, budget - len_b))[:, tf.newaxis]  # [B, 1]
        keep_b = tf.minimum(len_b[:, tf.newaxis], budget - keep_a)  # [B, 1]

        batch = tf.shape(dense_a)[0]
        pos = tf.range(length, dtype=tf.int32)[tf.newaxis, :]  # [1, L]
        ids = tf.concat(
            [
                tf.fill([batch, 1], tf.constant(CLS_ID, tf.int32)),  # [B, 1]
                dense_a,  # [B, L-3]
                tf.fill([batch, 2], tf.constant(PAD_ID, tf.int32)),  # [B, 2]
            ],
            axis=1,
        )  # [B, L]
        ids = tf.where(pos <= keep_a, ids, tf.constant(PAD_ID, tf.int32))  # cut a after keep_a
        start_b = keep_a + 2  # [B, 1] position of b's first wordpiece
        in_b = (pos >= start_b) & (pos < start_b + keep_b)  # [B, L]
        if budget > 0:
            index = tf.clip_by_value(pos - start_b, 0, budget - 1)  # [B, L]
            shifted_b = tf.gather(dense_b, index, batch_dims=1)  # [B, L]
            ids = tf.where(in_b, shifted_b, ids)
        sep = tf.constant(SEP_ID, tf.int32)
        ids = tf.where(pos == keep_a + 1, sep, ids)  # first [SEP]
        ids = tf.where(pos == start_b + keep_b, sep, ids)  # second [SEP]
        padding_mask = pos <= start_b + keep_b  # [B, L]
        segment_ids = tf.cast((pos >= start_b) & padding_mask, tf.int32)  # [B, L]
        return {"token_ids": ids, "padding_mask": padding_mask, "segment_ids": segment_ids}


def _is_pair(inputs: Any) -> bool:
    """A tuple of 2, or a list of 2 non-string batches, is a segment pair."""
    if isinstance(inputs, tuple) and len(inputs) == 2:
        return True
    if isinstance(inputs, list) and len(inputs) == 2:
        return not any(isinstance(v, (str, bytes, np.str_, np.bytes_)) for v in inputs)
    return False


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
