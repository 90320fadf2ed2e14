"""Seq2SeqLM: the shared text encoder reads the source; a causal decoder writes the target.

    model = Seq2SeqLM.from_run("runs/demo", target_length=32)          # pretrained encoder
    model = Seq2SeqLM.from_run("runs/demo", from_scratch=True, seed=0)  # same graph, fresh weights
    model.compile(optimizer="adamw")
    model.fit(model.pair_dataset(sources, targets, batch_size=32), epochs=3)
    model.generate(["long description ..."], num_beams=4)  # {"text": [B] str, "score": [B] float}

Architecture (BART / Model Garden `Seq2SeqTransformer` shape, on the project's shared trunk):

    source text -> TextPreprocessor -> MultimodalBackbone (modality "text") -> memory [B, S, D]
    [CLS] y_1 .. y_{T-1} -> token embedding (the encoder's, tied) + decoder positions -> LN
        -> N x Seq2SeqDecoderLayer (causal self-attention, cross-attention to memory, FFN)
        -> LN -> logits = h E^T + b  [B, T, V]        (E: the encoder's token embedding)

With `copy=True` the output is a pointer-generator mixture (See et al., 2017): a gate g [B, T, 1]
from the decoder state and an attention context mixes softmax(logits) with a copy distribution,
one attention head over the source scattered onto the source's token ids; the "logits" are then
log-probabilities.

The target is `[CLS] y [SEP]` in the encoder's WordPiece vocabulary: [CLS] starts decoding and
[SEP] ends it. Training is teacher forcing with label-smoothed cross-entropy over real target
tokens (padding excluded). Decoding (`generate`) runs in TF ops inside one `tf.while_loop`, so
it exports: greedy, or beam search with a GNMT length penalty; each step recomputes the decoder
over the whole target buffer (no key/value cache: at T = 32 and two decoder layers a step costs
little; `benchmarks/` measures milliseconds per example).

Input rules: sources longer than the encoder's sequence length keep their first L - 2
wordpieces (the text preprocessor's rule); training targets longer than `target_length` keep
their first `target_length - 1` wordpieces, then [SEP]. An empty source decodes like any input
([CLS] [SEP]). Outputs are in the tokenizer's normalised form: lower case without accents, or as written
for a cased vocabulary (`lower_case=False`, e.g. a multilingual run).
"""

import json

import keras
import tensorflow as tf

import mmpretrain.backbone  # noqa: F401  (registers MultimodalBackbone for load_model)
from mmpretrain.layers.seq2seq_decoder_layer import Seq2SeqDecoderLayer
from mmpretrain.modalities.text_preprocessor import TextPreprocessor
from mmpretrain.modalities.text_vocabulary import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID

BOS_ID = CLS_ID
EOS_ID = SEP_ID
NEVER_GENERATED = (PAD_ID, UNK_ID, CLS_ID, MASK_ID)
DEFAULT_TARGET_LENGTH = 32
DEFAULT_LENGTH_PENALTY = 0.6  # GNMT's alpha, as in TF Model Garden
MAX_BEAMS = 16
NEG = -1e9


def check_generation_options(max_length, num_beams, length_penalty, limit):
    """(max_length, num_beams, length_penalty) checked; ValueError saying what is accepted."""
    if max_length is None:
        max_length = limit
    for name, value, low, high in (("max_length", max_length, 1, limit), ("num_beams", num_beams, 1, MAX_BEAMS)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer in [{low}, {high}] for this model; received {value!r}.")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) or not (
            0.0 <= float(length_penalty) <= 5.0):
        raise ValueError(f"length_penalty must be a number in [0, 5]; received {length_penalty!r}.")
    return int(max_length), int(num_beams), float(length_penalty)


def check_repeat_size(value, limit):
    """no_repeat_ngram_size checked: an integer in [0, limit] (0 is off)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValueError(f"no_repeat_ngram_size must be an integer in [0, {limit}] (0: off); received {value!r}.")
    return int(value)


def length_normalizer(lengths, alpha):
    """GNMT's length penalty ((5 + n) / 6) ** alpha; lengths count tokens up to [SEP]."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def smoothed_cross_entropy(labels, logits, label_smoothing):
    """Per-token loss [B, T]: (1 - e) * NLL(label) + e * mean over the vocabulary of -log p."""
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)  # [B, T, V]
    nll = -tf.gather(log_probs, tf.cast(labels, tf.int32), batch_dims=2)  # [B, T]
    uniform = -tf.reduce_mean(log_probs, axis=-1)  # [B, T]
    return (1.0 - label_smoothing) * nll + label_smoothing * uniform


def ids_to_text(ids, vocabulary):
    """Token ids [B, T] -> strings [B] (TF ops): stops at the first [SEP], drops special tokens,
    joins wordpieces, and closes up the spaces WordPiece puts around punctuation."""
    ids = tf.cast(ids, tf.int32)
    ended = tf.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32), axis=1) > 0
    special = tf.reduce_any(tf.equal(ids[:, :, None], tf.constant(NEVER_GENERATED + (EOS_ID,))), axis=-1)
    keep = tf.logical_not(tf.logical_or(ended, special))
    tokens = tf.gather(vocabulary, ids)
    text = tf.strings.reduce_join(tf.where(keep, tokens + " ", ""), axis=1)
    text = tf.strings.regex_replace(text, r" ##", "")
    text = tf.strings.regex_replace(text, r" ([.,;:!?%)\]}])", r"\1")
    text = tf.strings.regex_replace(text, r"([(\[{]) ", r"\1")
    text = tf.strings.regex_replace(text, r" ([/']) ", r"\1")
    return tf.strings.strip(text)


@keras.saving.register_keras_serializable(package="mmpretrain")
class Seq2SeqLM(keras.Model):
    """Encoder-decoder text generation on the shared backbone (see the module docstring).

    Args:
        backbone: a `MultimodalBackbone` with a text modality (its text embedder's token
            embedding is shared by the decoder and tied to the output projection).
        vocabulary: the WordPiece vocabulary (list of str) the backbone was pretrained with.
        source_length: the encoder's sequence length (<= its text `max_length`).
        target_length: decoder positions T; generation writes at most T tokens.
        num_layers: decoder layers (width, heads and feed-forward as the backbone's).
        dropout: decoder dropout.
        label_smoothing: of the teacher-forcing loss.
    """

    def __init__(self, backbone, vocabulary, source_length, target_length=DEFAULT_TARGET_LENGTH, num_layers=2,
                 dropout=0.1, label_smoothing=0.1, modality="text", copy=False, lower_case=True, **kwargs):
        super().__init__(**kwargs)
        if modality not in backbone.embedders:
            raise ValueError(f"Seq2SeqLM needs a backbone with the {modality!r} modality; it has "
                             f"{sorted(backbone.embedders)}.")
        max_length = backbone.modalities[modality]["max_length"]
        if not 2 <= int(source_length) <= max_length:
            raise ValueError(f"source_length must be in [2, {max_length}] (the encoder's positions); "
                             f"received {source_length}.")
        if isinstance(target_length, bool) or not isinstance(target_length, int) or not 2 <= target_length <= 512:
            raise ValueError(f"target_length must be an integer in [2, 512]; received {target_length!r}.")
        self.backbone = backbone
        self.modality = modality
        self.vocabulary = list(vocabulary)
        self.source_length = int(source_length)
        self.target_length = int(target_length)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.label_smoothing = float(label_smoothing)
        self.copy = bool(copy)
        self.lower_case = bool(lower_case)
        self.source_preprocessor = TextPreprocessor(self.vocabulary, self.source_length, lower_case=self.lower_case)
        self.target_preprocessor = TextPreprocessor(self.vocabulary, self.target_length + 1,
                                                    lower_case=self.lower_case)
        self.vocabulary_table = tf.constant(self.vocabulary)
        self.vocabulary_size = len(self.vocabulary)
        width = backbone.hidden_dim
        if backbone.embedders[modality].vocabulary_size != self.vocabulary_size:
            raise ValueError(f"The vocabulary has {self.vocabulary_size} tokens but the backbone's "
                             f"{modality} embedding has {backbone.embedders[modality].vocabulary_size}.")
        # === Layers ===
        self.position_embedding = self.add_weight(
            shape=(self.target_length, width), initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="decoder_position_embedding")
        self.embedding_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="decoder_embedding_norm")
        self.embedding_dropout = keras.layers.Dropout(self.dropout)
        self.decoder_layers = [
            Seq2SeqDecoderLayer(width, backbone.num_heads, backbone.intermediate_dim, self.dropout,
                                name=f"decoder_layer_{i}")
            for i in range(self.num_layers)
        ]
        self.output_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="decoder_output_norm")
        self.output_bias = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros",
                                           name="decoder_output_bias")
        tokens = (None, None, width)
        self.embedding_norm.build(tokens)
        for layer in self.decoder_layers:
            layer.build(tokens, tokens)
        self.output_norm.build(tokens)
        if self.copy:  # pointer-generator: one attention head over the source, a copy/generate gate
            self.copy_query = keras.layers.Dense(width, name="copy_query")
            self.copy_key = keras.layers.Dense(width, name="copy_key")
            self.copy_gate = keras.layers.Dense(1, name="copy_gate")
            self.copy_query.build(tokens)
            self.copy_key.build(tokens)
            self.copy_gate.build((None, None, 2 * width))
        banned = tf.reduce_sum(tf.one_hot(list(NEVER_GENERATED), self.vocabulary_size), axis=0)
        self._banned = banned * NEG  # [V]: added to logits so these ids are never generated
        self._pad_only = tf.one_hot(PAD_ID, self.vocabulary_size, on_value=0.0, off_value=NEG)
        self.built = True

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_run(cls, run, from_scratch=False, seed=0, modality="text", **kwargs):
        """A Seq2SeqLM on a finished pretraining run's encoder (a path or `LoadedRun`), or on the
        same architecture freshly initialised (`from_scratch`, seeded). Only the text embedder,
        the shared blocks and the final norm are kept (a text-only backbone)."""
        import os

        from mmpretrain.backbone import MultimodalBackbone
        from mmpretrain.export.run_loader import load_run

        run = load_run(run) if isinstance(run, (str, os.PathLike)) else run
        if modality not in run.preprocessors:
            raise ValueError(f"Sequence-to-sequence tasks need a run pretrained on {modality}; "
                             f"{run.run_dir!r} has {list(run.modalities)}.")
        config = dict(run.backbone.get_config())
        config["modalities"] = {modality: config["modalities"][modality]}
        config.pop("name", None)
        keras.utils.set_random_seed(int(seed))
        backbone = MultimodalBackbone.from_config(dict(config, name="seq2seq_encoder"))
        if not from_scratch:
            backbone.embedders[modality].set_weights(run.backbone.embedders[modality].get_weights())
            for mine, theirs in zip(backbone.blocks, run.backbone.blocks):
                mine.set_weights(theirs.get_weights())
            backbone.final_norm.set_weights(run.backbone.final_norm.get_weights())
        preprocessor = run.preprocessors[modality]
        return cls(backbone, preprocessor.vocabulary, preprocessor.sequence_length, modality=modality,
                   lower_case=preprocessor.lower_case, **kwargs)

    # ------------------------------------------------------------------ the network
    @property
    def token_embedding(self):
        return self.backbone.embedders[self.modality].token_embedding.embeddings  # [V, D]

    def encode(self, source_ids, source_mask, training=None):
        """Encoder memory [B, S, D] of source ids [B, S]."""
        outputs = self.backbone({"token_ids": source_ids, "padding_mask": source_mask,
                                 "segment_ids": tf.zeros_like(source_ids)}, modality=self.modality, training=training)
        return outputs["sequence_output"]

    def decode(self, decoder_ids, memory, memory_mask, source_ids=None, training=None):
        """Scores [B, T, V] of decoder inputs [B, T] ([CLS] first) attending to `memory`: logits,
        or with `copy` the log of the pointer-generator mixture (which needs `source_ids`)."""
        length = tf.shape(decoder_ids)[1]
        x = tf.gather(self.token_embedding, decoder_ids)  # [B, T, D]
        x = x + self.position_embedding[tf.newaxis, :length, :]
        x = self.embedding_dropout(self.embedding_norm(x), training=training)
        for layer in self.decoder_layers:
            x = layer(x, memory, memory_mask=memory_mask, training=training)
        x = self.output_norm(x)
        logits = tf.matmul(x, self.token_embedding, transpose_b=True) + self.output_bias  # [B, T, V]
        if not self.copy:
            return logits
        return self.copy_mixture(x, logits, memory, memory_mask, source_ids)

    def copy_mixture(self, x, logits, memory, memory_mask, source_ids):
        """log(g * softmax(logits) + (1 - g) * copy), copy = attention over the source scattered
        onto the source's token ids; [CLS], [SEP] and padding are never copied. x: [B, T, D]."""
        source_ids = tf.cast(source_ids, tf.int32)
        copyable = tf.logical_and(tf.cast(memory_mask, tf.bool),
                                  tf.logical_not(tf.reduce_any(tf.equal(source_ids[:, :, None],
                                                                        tf.constant(NEVER_GENERATED + (EOS_ID,))),
                                                               axis=-1)))  # [B, S]
        scores = tf.matmul(self.copy_query(x), self.copy_key(memory), transpose_b=True)  # [B, T, S]
        scores = scores / tf.sqrt(tf.cast(tf.shape(x)[-1], scores.dtype))
        scores = tf.where(copyable[:, None, :], scores, NEG)
        attention = tf.nn.softmax(scores, axis=-1)
        attention = attention * tf.cast(copyable[:, None, :], attention.dtype)  # a source of no copyable token
        context = tf.matmul(attention, memory)  # [B, T, D]
        gate = tf.sigmoid(self.copy_gate(tf.concat([x, context], axis=-1)))  # [B, T, 1]: generate
        copied = tf.einsum("bts,bsv->btv", attention, tf.one_hot(source_ids, self.vocabulary_size))
        mixture = gate * tf.nn.softmax(logits, axis=-1) + (1.0 - gate) * copied
        return tf.math.log(mixture + 1e-9)

    def call(self, inputs, training=None):
        memory = self.encode(inputs["source_ids"], inputs["source_mask"], training=training)
        return self.decode(inputs["decoder_ids"], memory, inputs["source_mask"], inputs["source_ids"],
                           training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Label-smoothed cross-entropy, averaged over the real target tokens of the batch."""
        losses = smoothed_cross_entropy(y, y_pred, self.label_smoothing)  # [B, T]
        weights = tf.ones_like(losses) if sample_weight is None else tf.cast(sample_weight, losses.dtype)
        return tf.reduce_sum(losses * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)

    # ------------------------------------------------------------------ data
    def tokenize_sources(self, texts):
        features = self.source_preprocessor(texts)
        return features["token_ids"], features["padding_mask"]

    def tokenize_pairs(self, sources, targets):
        """Strings -> (inputs dict, labels [B, T], label weights [B, T]) for teacher forcing."""
        source_ids, source_mask = self.tokenize_sources(sources)
        target = self.target_preprocessor(targets)
        ids, mask = target["token_ids"], target["padding_mask"]  # [B, T + 1]: [CLS] y [SEP] [PAD]..
        inputs = {"source_ids": source_ids, "source_mask": source_mask, "decoder_ids": ids[:, :-1]}
        return inputs, ids[:, 1:], tf.cast(mask[:, 1:], tf.float32)

    def pair_dataset(self, sources, targets, batch_size=32, shuffle_seed=None):
        """A tf.data pipeline of tokenized (inputs, labels, weights) batches."""
        if len(sources) != len(targets):
            raise ValueError(f"sources and targets differ in length: {len(sources)} vs {len(targets)}.")
        data = tf.data.Dataset.from_tensor_slices((list(sources), list(targets)))
        if shuffle_seed is not None:
            data = data.shuffle(len(sources), seed=int(shuffle_seed), reshuffle_each_iteration=True)
        return data.batch(batch_size).map(self.tokenize_pairs, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)

    # ------------------------------------------------------------------ decoding (TF ops)
    def _step_log_probs(self, decoder_ids, step, memory, memory_mask, source_ids):
        logits = self.decode(decoder_ids, memory, memory_mask, source_ids, training=False)  # [N, T, V]
        logits = tf.gather(logits, step, axis=1) + self._banned  # [N, V]
        return tf.nn.log_softmax(logits, axis=-1)

    def repeat_ban(self, decoder_ids, step, size):
        """[N, V] additive mask: NEG on every token that would repeat an n-gram (n = `size`) of
        the tokens generated so far (decoder_ids[:, 1:step + 1]); zeros for size 0."""
        if not size:
            return tf.zeros([tf.shape(decoder_ids)[0], self.vocabulary_size])
        n, length = int(size), self.target_length
        starts = length - n + 1  # n-gram start positions p = 0 .. T - n
        match = tf.ones([tf.shape(decoder_ids)[0], starts], tf.bool)
        for i in range(n - 1):  # the n-gram's first n - 1 tokens equal the last n - 1 generated ones
            latest = tf.gather(decoder_ids, tf.maximum(step - (n - 2) + i, 0), axis=1)  # [N]
            match = tf.logical_and(match, tf.equal(decoder_ids[:, i:i + starts], latest[:, None]))
        p = tf.range(starts)
        valid = tf.logical_and(tf.logical_and(p >= 1, p + n - 1 <= step), step >= n - 1)
        match = tf.logical_and(match, valid[None, :])
        following = tf.one_hot(decoder_ids[:, n - 1:n - 1 + starts], self.vocabulary_size)  # [N, P, V]
        banned = tf.reduce_max(following * tf.cast(match, following.dtype)[:, :, None], axis=1)  # [N, V]
        return banned * NEG

    def _start(self, rows):
        return tf.concat([tf.fill([rows, 1], BOS_ID), tf.zeros([rows, self.target_length - 1], tf.int32)], axis=1)

    def greedy_ids(self, source_ids, source_mask, max_length, length_penalty, no_repeat_ngram_size=0):
        """Greedy decoding -> (ids [B, T] ending with [SEP] or cut at max_length, score [B]).
        `no_repeat_ngram_size` n > 0 never writes an n-gram twice (Hugging Face's option)."""
        memory = self.encode(source_ids, source_mask, training=False)
        rows = tf.shape(source_ids)[0]
        positions = tf.range(self.target_length)[tf.newaxis, :]

        def body(step, decoder_ids, out, finished, total, lengths):
            log_probs = self._step_log_probs(decoder_ids, step, memory, source_mask, source_ids)  # [B, V]
            log_probs = log_probs + self.repeat_ban(decoder_ids, step, no_repeat_ngram_size)
            token = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
            token = tf.where(finished, PAD_ID, token)
            gained = tf.where(finished, 0.0, tf.reduce_max(log_probs, axis=-1))
            lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
            out = tf.where(tf.equal(positions, step), token[:, None], out)
            decoder_ids = tf.where(tf.equal(positions, step + 1), token[:, None], decoder_ids)
            finished = tf.logical_or(finished, tf.equal(token, EOS_ID))
            return step + 1, decoder_ids, out, finished, total + gained, lengths

        def cond(step, decoder_ids, out, finished, total, lengths):
            return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

        state = (tf.constant(0), self._start(rows), tf.zeros([rows, self.target_length], tf.int32),
                 tf.zeros([rows], tf.bool), tf.zeros([rows]), tf.zeros([rows], tf.int32))
        _, _, out, _, total, lengths = tf.while_loop(cond, body, state, maximum_iterations=self.target_length)
        return out, total / length_normalizer(lengths, length_penalty)

    def beam_ids(self, source_ids, source_mask, max_length, num_beams, length_penalty, no_repeat_ngram_size=0):
        """Beam search -> (ids [B, T], score [B]): the beam with the best length-penalised
        log-probability. A finished beam is carried on unchanged (extended by [PAD] at no cost)."""
        memory = self.encode(source_ids, source_mask, training=False)
        batch = tf.shape(source_ids)[0]
        k = num_beams if isinstance(num_beams, int) else tf.convert_to_tensor(num_beams, tf.int32)
        vocab = self.vocabulary_size
        length = self.target_length
        memory = tf.repeat(memory, k, axis=0)  # [B*K, S, D]
        memory_mask = tf.repeat(source_mask, k, axis=0)
        beam_source_ids = tf.repeat(source_ids, k, axis=0)
        positions = tf.range(length)[tf.newaxis, tf.newaxis, :]

        def body(step, decoder_ids, out, scores, finished, lengths):
            flat_ids = tf.reshape(decoder_ids, [-1, length])
            log_probs = self._step_log_probs(flat_ids, step, memory, memory_mask, beam_source_ids)
            log_probs = log_probs + self.repeat_ban(flat_ids, step, no_repeat_ngram_size)
            log_probs = tf.reshape(log_probs, [batch, k, vocab])
            log_probs = tf.where(finished[:, :, None], self._pad_only[None, None, :], log_probs)
            candidates = tf.reshape(scores[:, :, None] + log_probs, [batch, k * vocab])
            scores, index = tf.math.top_k(candidates, k=k)  # [B, K]
            beam, token = index // vocab, index % vocab
            out = tf.gather(out, beam, batch_dims=1)
            decoder_ids = tf.gather(decoder_ids, beam, batch_dims=1)
            was_finished = tf.gather(finished, beam, batch_dims=1)
            lengths = tf.gather(lengths, beam, batch_dims=1) + tf.cast(tf.logical_not(was_finished), tf.int32)
            out = tf.where(tf.equal(positions, step), token[:, :, None], out)
            decoder_ids = tf.where(tf.equal(positions, step + 1), token[:, :, None], decoder_ids)
            finished = tf.logical_or(was_finished, tf.equal(token, EOS_ID))
            return step + 1, decoder_ids, out, scores, finished, lengths

        def cond(step, decoder_ids, out, scores, finished, lengths):
            return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

        first = tf.where(tf.equal(tf.range(k), 0), 0.0, NEG)  # only beam 0 is live at the start
        state = (tf.constant(0), tf.reshape(self._start(batch * k), [batch, k, length]),
                 tf.zeros([batch, k, length], tf.int32), tf.tile(first[None, :], [batch, 1]),
                 tf.zeros([batch, k], tf.bool), tf.zeros([batch, k], tf.int32))
        _, _, out, scores, _, lengths = tf.while_loop(cond, body, state, maximum_iterations=length)
        normalized = scores / length_normalizer(lengths, length_penalty)  # [B, K]
        best = tf.argmax(normalized, axis=1, output_type=tf.int32)
        return tf.gather(out, best, batch_dims=1), tf.gather(normalized, best, batch_dims=1)

    def generate_graph(self, texts, max_length, num_beams, length_penalty, no_repeat_ngram_size=0):
        """strings [B] -> {"text": [B], "score": [B], "token_ids": [B, T]}; num_beams 1 is greedy."""
        source_ids, source_mask = self.tokenize_sources(texts)
        if isinstance(num_beams, int) and num_beams == 1:
            ids, score = self.greedy_ids(source_ids, source_mask, max_length, length_penalty, no_repeat_ngram_size)
        else:
            ids, score = self.beam_ids(source_ids, source_mask, max_length, num_beams, length_penalty,
                                       no_repeat_ngram_size)
        return {"text": ids_to_text(ids, self.vocabulary_table), "score": score, "token_ids": ids}

    def generate(self, texts, max_length=None, num_beams=1, length_penalty=DEFAULT_LENGTH_PENALTY,
                 batch_size=64, no_repeat_ngram_size=0):
        """Generates for a str or a list of str -> {"text": list of str, "score": list of float}.

        max_length: tokens written at most, in [1, target_length] (default target_length);
        num_beams: 1 is greedy decoding, more is beam search; length_penalty: GNMT's alpha;
        no_repeat_ngram_size: n > 0 never writes the same n-gram twice (0: off).
        """
        from mmpretrain.modalities.text_io import string_batch

        single = isinstance(texts, (str, bytes))
        batch = string_batch([texts] if single else texts, "texts")
        max_length, num_beams, length_penalty = check_generation_options(
            max_length, num_beams, length_penalty, self.target_length)
        repeat = check_repeat_size(no_repeat_ngram_size, self.target_length)
        key = (max_length, num_beams, length_penalty, repeat)
        cache = self.__dict__.setdefault("_generate_functions", {})
        if key not in cache:
            cache[key] = tf.function(lambda t: self.generate_graph(t, max_length, num_beams, length_penalty, repeat),
                                     input_signature=[tf.TensorSpec([None], tf.string)], reduce_retracing=True)
        texts_out, scores = [], []
        for start in range(0, int(batch.shape[0]), batch_size):
            result = cache[key](batch[start:start + batch_size])
            texts_out += [t.decode("utf-8") for t in result["text"].numpy()]
            scores += [float(s) for s in result["score"].numpy()]
        return {"text": texts_out, "score": scores}

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone), "vocabulary": self.vocabulary,
                "source_length": self.source_length, "target_length": self.target_length,
                "num_layers": self.num_layers, "dropout": self.dropout, "label_smoothing": self.label_smoothing,
                "modality": self.modality, "copy": self.copy, "lower_case": self.lower_case, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    def describe(self):
        """A short JSON-able summary (sizes) for reports."""
        return json.loads(json.dumps({
            "source_length": self.source_length, "target_length": self.target_length,
            "decoder_layers": self.num_layers, "vocabulary_size": self.vocabulary_size, "copy": self.copy,
            "hidden_dim": self.backbone.hidden_dim, "parameters": int(self.count_params()),
        }))
