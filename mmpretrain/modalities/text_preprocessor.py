"""TextPreprocessor: UTF-8 strings (or pairs) -> fixed-length WordPiece ids, in TF ops.

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
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Union

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from mmpretrain.modalities.text_io import string_batch
from mmpretrain.modalities.text_vocabulary import (
    _SPECIAL_IDS,
    CLS_ID,
    MASK_ID,
    PAD_ID,
    RESERVED_TOKENS,
    SEP_ID,
    UNK_ID,
    UNK_TOKEN,
    PathLike,
    load_vocabulary,
    validate_vocabulary,
)


# --------------------------------------------------------------------------------------
# The preprocessor
# --------------------------------------------------------------------------------------
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

    Normalisation: lower-case + NFD + strip accents ("Café" == "cafe"); with
    `lower_case=False` (a cased, multilingual vocabulary) none: "Café" stays "Café". A word
    that cannot be spelled with the vocabulary's pieces becomes one `[UNK]` (id 1).

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
        lower_case: bool = True,
    ):
        super().__init__(name=name)
        if not isinstance(lower_case, bool):
            raise ValueError(f"lower_case must be True or False; received {lower_case!r}.")
        self._lower_case = lower_case
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
                lower_case_nfd_strip_accents=lower_case,
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

    @property
    def num_special_tokens(self) -> int:
        """Ids below this are reserved tokens ([PAD] [UNK] [CLS] [SEP] [MASK]), never masked."""
        return len(RESERVED_TOKENS)

    # ------------------------------------------------------------------ config
    @property
    def lower_case(self) -> bool:
        return self._lower_case

    def get_config(self) -> dict[str, Any]:
        """JSON-able config: `{"vocabulary": [...], "sequence_length": L}`, plus
        `"lower_case": False` for a cased vocabulary."""
        config = {"vocabulary": list(self._vocab), "sequence_length": self._sequence_length}
        if not self._lower_case:
            config["lower_case"] = False
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TextPreprocessor":
        if not isinstance(config, Mapping) or "vocabulary" not in config:
            raise ValueError(
                f"TextPreprocessor.from_config expects a dict with 'vocabulary' and "
                f"'sequence_length' (from get_config()); received {config!r:.200}."
            )
        unknown = set(config) - {"vocabulary", "sequence_length", "name", "lower_case"}
        if unknown:
            raise ValueError(
                f"TextPreprocessor.from_config received unknown keys {sorted(unknown)}; it "
                "accepts 'vocabulary', 'sequence_length' and optionally 'name' and 'lower_case'."
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
            a = string_batch(first, "the first segment", check_utf8)  # [B]
            b = string_batch(second, "the second segment", check_utf8)  # [B]
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
        x = string_batch(inputs, "inputs", check_utf8)  # [B]
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
