"""CTCRecognizer: speech to text with a CTC head on the shared audio encoder.

    model = CTCRecognizer.from_run("runs/demo", max_seconds=6.0)          # pretrained encoder
    model = CTCRecognizer.from_run("runs/demo", from_scratch=True, seed=0)  # same graph, fresh weights
    model.compile(optimizer="adamw")
    model.fit(model.clip_dataset(clips, transcripts, batch_size=16), epochs=10)
    model.transcribe(clips)                       # ["the cat sat", ...]

Architecture (wav2vec2-CTC's shape, on the project's shared trunk):

    waveform 16 kHz -> AudioPreprocessor (log-mel, 10 ms hop, patch_time x patch_frequency patches,
        time-major) -> MultimodalBackbone (modality "audio") -> sequence [B, nt * nf, D]
    -> the nf patches of one time step side by side [B, nt, nf * D]
    -> Dense(upsample * D, gelu) -> [B, nt * upsample, D] -> LayerNorm -> Dense(1 + characters)

A time patch of the demo preprocessor is 80 ms (12.5 per second), fewer than the ~14 characters a
second of ordinary speech, and CTC needs a frame per character plus a blank between repeated
letters. The head therefore writes `upsample` frames per time patch (2: 40 ms frames), so the
pretrained patch geometry is kept. The encoder's learned position table covers the pretraining
clip length; `from_run` resizes it along time to `max_seconds` by linear interpolation (as ViT
and AST do when fine-tuning at another input size).

Targets are characters (`ALPHABET`: space, a-z, apostrophe; blank = id 0). `normalize_transcript`
maps text to that alphabet (lower case, accents dropped, hyphens to spaces, other punctuation
removed). Training: CTC loss (`ctc_losses`: TF's fused kernel, 20x faster on CPU than the dense
path `keras.ops.ctc_loss` takes), summed over the batch and divided by its characters.
Decoding: `keras.ops.ctc_decode`, greedy or beam search, inside TF ops so that it exports.

Input rules: clips longer than `max_seconds` keep their first `max_seconds` (the preprocessor's
rule; the pipeline chunks long audio instead); silence decodes to "" (all blanks).
"""

import json
import re
import unicodedata

import keras
import numpy as np
import tensorflow as tf

import mmpretrain.backbone  # noqa: F401  (registers MultimodalBackbone for load_model)
from mmpretrain.modalities.audio_preprocessor import AudioPreprocessor
from mmpretrain.tasks.run_backbone import resize_positions  # noqa: F401  (re-exported)

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"
BLANK_ID = 0
DEFAULT_MAX_SECONDS = 6.0
DEFAULT_UPSAMPLE = 2
MAX_BEAMS = 64


def normalize_transcript(text):
    """Text -> the recogniser's alphabet: lower case, accents dropped, '-' '/' '_' to spaces,
    other characters removed, runs of spaces collapsed. ("Don't-stop, Café!" -> "don't stop cafe")."""
    if not isinstance(text, str):
        raise ValueError(f"A transcript must be a string; received {type(text).__name__}.")
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u2019", "'")
    text = re.sub(r"[-/_]", " ", text)
    text = re.sub(r"[^a-z' ]", "", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # quote marks; apostrophes inside words stay
    return " ".join(text.split())


def encode_transcript(text):
    """A normalised transcript -> int32 ids [L] (1..len(ALPHABET)); ValueError for other characters."""
    bad = sorted({c for c in text if c not in ALPHABET})
    if bad:
        raise ValueError(f"Transcript {text!r} has characters outside the alphabet {ALPHABET!r}: {bad}; "
                         "pass it through normalize_transcript first.")
    return np.asarray([ALPHABET.index(c) + 1 for c in text], np.int32)


def frames_needed(ids):
    """CTC's shortest path for a label sequence: one frame per label plus a blank between repeats."""
    ids = np.asarray(ids)
    return int(len(ids) + np.sum(ids[1:] == ids[:-1])) if len(ids) else 0


def greedy_alignment(log_probs, length=None):
    """Greedy CTC on one clip's frame scores [F, C] (numpy) -> (text, [(char, frame), ...]): the
    best class per frame, repeats merged, blanks dropped, spaces collapsed as in `ids_to_text`; each
    character with the frame it starts."""
    best = np.argmax(np.asarray(log_probs)[: length], axis=-1)
    chars, previous = [], BLANK_ID
    for frame, index in enumerate(best):
        if index != previous and index != BLANK_ID:
            chars.append((ALPHABET[index - 1], frame))
        previous = index
    return " ".join("".join(c for c, _ in chars).split()), chars


def word_timestamps(chars, frame_seconds, duration=None):
    """[(char, frame)] of `greedy_alignment` -> [{"text": word, "timestamp": (start, end)}] in seconds:
    a word starts at its first character's frame and ends after its last one (at most `duration`)."""
    words, current = [], []
    for char, frame in list(chars) + [(" ", None)]:
        if char != " ":
            current.append((char, frame))
            continue
        if current:
            start, end = current[0][1] * frame_seconds, (current[-1][1] + 1) * frame_seconds
            if duration is not None:
                start, end = min(start, duration), min(end, duration)
            words.append({"text": "".join(c for c, _ in current), "timestamp": (round(start, 3), round(end, 3))})
        current = []
    return words


def ctc_losses(labels, label_lengths, logits, frame_lengths):
    """Per-clip CTC negative log-likelihood [B] (blank = 0) of padded labels [B, L] under logits [B, F, C].

    The labels go to `tf.nn.ctc_loss` as a SparseTensor: TF's fused CTC kernel. `keras.ops.ctc_loss`
    passes them dense, which takes TF's scan-based implementation: 202 ms against 12 ms for loss
    and gradient of a [16, 150, 29] batch on 2 idle CPU cores (benchmarks/ctc_loss.py; the same
    losses to 2e-4 on values near 400).
    """
    labels = tf.RaggedTensor.from_tensor(tf.cast(labels, tf.int32), lengths=tf.cast(label_lengths, tf.int32))
    return tf.nn.ctc_loss(labels.to_sparse(), tf.cast(logits, tf.float32), None, tf.cast(frame_lengths, tf.int32),
                          logits_time_major=False, blank_index=BLANK_ID)


def check_beam_width(value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_BEAMS:
        raise ValueError(f"beam_width must be an integer in [1, {MAX_BEAMS}] (1: greedy); received {value!r}.")
    return int(value)


@keras.saving.register_keras_serializable(package="mmpretrain")
class CTCRecognizer(keras.Model):
    """Character CTC on the shared audio encoder (see the module docstring).

    Args:
        backbone: a `MultimodalBackbone` with an audio modality whose position table covers
            `preprocessor_config["max_seconds"]`.
        preprocessor_config: the `AudioPreprocessor` config (its `get_config()`).
        upsample: CTC frames written per time patch.
        dropout: of the head.
    """

    def __init__(self, backbone, preprocessor_config, upsample=DEFAULT_UPSAMPLE, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if "audio" not in backbone.embedders:
            raise ValueError(f"CTCRecognizer needs a backbone with the audio modality; it has "
                             f"{sorted(backbone.embedders)}.")
        if isinstance(upsample, bool) or not isinstance(upsample, int) or not 1 <= upsample <= 8:
            raise ValueError(f"upsample must be an integer in [1, 8]; received {upsample!r}.")
        self.backbone = backbone
        self.preprocessor_config = dict(preprocessor_config)
        self.preprocessor = AudioPreprocessor(**self.preprocessor_config)
        if self.preprocessor.max_patches > backbone.modalities["audio"]["max_patches"]:
            raise ValueError(f"The backbone's audio positions ({backbone.modalities['audio']['max_patches']}) do not "
                             f"cover {self.preprocessor.max_seconds} s ({self.preprocessor.max_patches} patches).")
        self.upsample = int(upsample)
        self.dropout = float(dropout)
        self.frequency_patches = self.preprocessor.frequency_patches
        width = backbone.hidden_dim
        self.num_classes = len(ALPHABET) + 1
        # === Layers ===
        self.frame_projection = keras.layers.Dense(self.upsample * width, activation="gelu", name="ctc_frames")
        self.frame_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="ctc_norm")
        self.frame_dropout = keras.layers.Dropout(self.dropout)
        self.classifier = keras.layers.Dense(self.num_classes, name="ctc_logits")
        self.frame_projection.build((None, None, self.frequency_patches * width))
        self.frame_norm.build((None, None, width))
        self.classifier.build((None, None, width))
        self.alphabet_table = tf.constant(list(ALPHABET))
        self.built = True

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_run(cls, run, from_scratch=False, seed=0, max_seconds=DEFAULT_MAX_SECONDS, **kwargs):
        """A recogniser on a finished pretraining run's audio encoder (a path or `LoadedRun`), or on
        the same architecture freshly initialised (`from_scratch`, seeded). Only the audio embedder,
        the shared blocks and the final norm are kept; the position table is resized to `max_seconds`."""
        from mmpretrain.tasks.run_backbone import backbone_from_run

        if not (isinstance(max_seconds, (int, float)) and 0.5 <= max_seconds <= 60):
            raise ValueError(f"max_seconds must be a number of seconds in [0.5, 60]; received {max_seconds!r}.")
        backbone, configs = backbone_from_run(run, ["audio"], audio_seconds=float(max_seconds),
                                              from_scratch=from_scratch, seed=seed, name="ctc_encoder",
                                              task="Speech recognition")
        preprocessor_config = configs["audio"]
        return cls(backbone, preprocessor_config, **kwargs)

    # ------------------------------------------------------------------ the network
    @property
    def frame_seconds(self):
        """Seconds per CTC frame (80 ms patches, upsample 2 -> 0.04)."""
        p = self.preprocessor
        return p.hop_length * p.patch_time / p.sample_rate / self.upsample

    def call(self, inputs, training=None):
        """{"patches", "padding_mask"} -> CTC logits [B, nt * upsample, 1 + characters]."""
        out = self.backbone(inputs, modality="audio", training=training)["sequence_output"]  # [B, nt*nf, D]
        batch, width = tf.shape(out)[0], self.backbone.hidden_dim
        steps = tf.shape(out)[1] // self.frequency_patches
        x = tf.reshape(out, tf.stack([batch, steps, self.frequency_patches * width]))
        x = self.frame_projection(x)  # [B, nt, U*D]
        x = tf.reshape(x, tf.stack([batch, steps * self.upsample, width]))
        x = self.frame_dropout(self.frame_norm(x), training=training)
        return tf.cast(self.classifier(x), tf.float32)

    def frame_lengths(self, padding_mask):
        """Valid CTC frames per clip [B]: its real time patches times `upsample`."""
        rows = tf.cast(padding_mask, tf.int32)[:, :: self.frequency_patches]
        return tf.reduce_sum(rows, axis=1) * self.upsample

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """CTC negative log-likelihood summed over the batch, per target character."""
        losses = ctc_losses(y["labels"], y["label_lengths"], y_pred, self.frame_lengths(x["padding_mask"]))
        return tf.reduce_sum(losses) / tf.maximum(tf.cast(tf.reduce_sum(y["label_lengths"]), tf.float32), 1.0)

    # ------------------------------------------------------------------ data
    def featurize(self, waveforms, lengths):
        return self.preprocessor(waveforms, lengths)

    def clip_dataset(self, clips, transcripts, batch_size=16, shuffle_seed=None, augment=None, spec_augment=False):
        """tf.data batches ({"patches", "padding_mask"}, {"labels", "label_lengths"}) of float32 clips
        [T_i] at 16 kHz and their transcripts (normalised here).

        `augment(inputs, seed)` (e.g. `mmpretrain.modalities.augmentations.compose(...)`) runs per
        clip before padding, on the clip with `MAX_DELAY_SECONDS` of room after it (so "delay" moves
        the speech rather than cutting its end). `spec_augment`: SpecAugment on the log-mel (two
        frequency masks of up to 8 bands, two time masks of up to 5% of the clip, filled with the
        clip's mean). Both are reseeded every epoch from `shuffle_seed`."""
        if len(clips) != len(transcripts):
            raise ValueError(f"clips and transcripts differ in length: {len(clips)} vs {len(transcripts)}.")
        labels = [encode_transcript(normalize_transcript(t)) for t in transcripts]
        lengths = np.asarray([len(c) for c in clips], np.int64)
        waves = tf.RaggedTensor.from_row_lengths(np.concatenate(clips).astype(np.float32), lengths)
        ids = tf.RaggedTensor.from_row_lengths(
            np.concatenate(labels + [np.zeros([0], np.int32)]), [len(label) for label in labels])
        data = tf.data.Dataset.from_tensor_slices((waves, ids))
        if shuffle_seed is not None:
            data = data.shuffle(len(clips), seed=int(shuffle_seed), reshuffle_each_iteration=True)
        seed = int(shuffle_seed or 0)
        if augment is not None:
            data = tf.data.Dataset.zip((data, tf.data.Dataset.random(seed=seed).batch(2))).map(
                lambda pair, s: self._augment_clip(pair, s, augment), num_parallel_calls=tf.data.AUTOTUNE)
        data = data.map(lambda w, i: {"waveforms": w, "lengths": tf.shape(w)[0], "labels": i,
                                      "label_lengths": tf.shape(i)[0]})
        data = data.padded_batch(batch_size)
        if spec_augment:
            data = tf.data.Dataset.zip((data, tf.data.Dataset.random(seed=seed + 1).batch(2))).map(
                lambda batch, s: dict(batch, seed=s))
        return data.map(self._features, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)

    @staticmethod
    def _augment_clip(pair, seed, augment):
        from mmpretrain.modalities.augmentations import MAX_DELAY_SECONDS, SAMPLE_RATE

        wave, ids = pair
        room = tf.zeros([int(MAX_DELAY_SECONDS * SAMPLE_RATE)], wave.dtype)
        out = augment({"waveforms": tf.concat([wave, room], 0), "lengths": tf.shape(wave)[0]}, tf.cast(seed, tf.int64))
        return out["waveforms"][: out["lengths"]], ids

    def _features(self, batch):
        features = self.preprocessor(batch["waveforms"], tf.cast(batch["lengths"], tf.int32))
        if "seed" in batch:
            features = dict(features, patches=self._spec_augment(features, tf.cast(batch["seed"], tf.int64)))
        return features, {"labels": batch["labels"], "label_lengths": tf.cast(batch["label_lengths"], tf.int32)}

    def _spec_augment(self, features, seed, masks=2, max_bands=8, max_time_fraction=0.05):
        """SpecAugment (Park et al., 2019) on the patches' log-mel: frequency and time masks."""
        p = self.preprocessor
        x = p.unpatchify(features["patches"])  # [B, F, M]
        batch, frames = tf.shape(x)[0], tf.shape(x)[1]
        valid = tf.cast(tf.repeat(features["padding_mask"][:, :: p.frequency_patches], p.patch_time, axis=1), x.dtype)
        mean = tf.reduce_sum(x * valid[:, :, None], axis=[1, 2], keepdims=True) / tf.maximum(
            tf.reduce_sum(valid, axis=1)[:, None, None] * p.n_mels, 1.0)
        valid_frames = tf.reduce_sum(valid, axis=1)  # [B]
        masked = tf.zeros_like(x, tf.bool)
        seeds = tf.random.experimental.stateless_split(seed, 4 * masks)
        bands, times = tf.range(p.n_mels)[None, None, :], tf.range(frames)[None, :, None]
        for k in range(masks):
            width = tf.random.stateless_uniform([batch], seeds[4 * k], 0, max_bands + 1, tf.int32)
            start = tf.cast(tf.random.stateless_uniform([batch], seeds[4 * k + 1]) *
                            tf.cast(p.n_mels - width, tf.float32), tf.int32)
            masked |= (bands >= start[:, None, None]) & (bands < (start + width)[:, None, None])
            longest = tf.cast(max_time_fraction * valid_frames, tf.int32)
            length = tf.cast(tf.random.stateless_uniform([batch], seeds[4 * k + 2]) *
                             tf.cast(longest + 1, tf.float32), tf.int32)
            begin = tf.cast(tf.random.stateless_uniform([batch], seeds[4 * k + 3]) *
                            (valid_frames - tf.cast(length, x.dtype)), tf.int32)
            masked |= (times >= begin[:, None, None]) & (times < (begin + length)[:, None, None])
        x = tf.where(masked, tf.broadcast_to(mean, tf.shape(x)), x)
        return p.patchify(x)

    # ------------------------------------------------------------------ decoding (TF ops)
    def ids_to_text(self, ids):
        """Decoded ids [B, T] (-1 = none) -> strings [B]."""
        ids = tf.cast(ids, tf.int32)
        keep = ids > BLANK_ID
        chars = tf.gather(self.alphabet_table, tf.maximum(ids - 1, 0))
        text = tf.strings.reduce_join(tf.where(keep, chars, ""), axis=1)
        return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))

    def decode_logits(self, logits, lengths, beam_width=1):
        """CTC logits [B, F, C] + frame lengths [B] -> (text [B], log-probability [B])."""
        strategy = "greedy" if beam_width == 1 else "beam_search"
        decoded, scores = keras.ops.ctc_decode(logits, lengths, strategy=strategy, beam_width=int(beam_width),
                                               top_paths=1, mask_index=BLANK_ID)
        return self.ids_to_text(decoded[0]), tf.reshape(scores[:, 0], [-1])

    def logits_graph(self, waveforms, lengths):
        """Waveforms [B, T] + lengths [B] -> (CTC logits [B, F, C], frame lengths [B]); TF ops."""
        features = self.preprocessor(waveforms, lengths)
        return self(features, training=False), self.frame_lengths(features["padding_mask"])

    def transcribe_graph(self, waveforms, lengths, beam_width=1):
        logits, frames = self.logits_graph(waveforms, lengths)
        return self.decode_logits(logits, frames, beam_width)

    def transcribe(self, clips, beam_width=1, batch_size=32):
        """float32 clips [T_i] at 16 kHz -> transcripts (list of str)."""
        from mmpretrain.modalities.audio_io import pad_batch

        beam_width = check_beam_width(beam_width)
        texts = []
        for start in range(0, len(clips), batch_size):
            batch = pad_batch(list(clips[start:start + batch_size]), self.preprocessor.max_samples)
            text, _ = self.transcribe_graph(tf.constant(batch["waveforms"]), tf.constant(batch["lengths"]),
                                            beam_width)
            texts += [t.decode("utf-8") for t in text.numpy()]
        return texts

    # ------------------------------------------------------------------ saving
    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone),
                "preprocessor_config": self.preprocessor_config, "upsample": self.upsample,
                "dropout": self.dropout, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    def describe(self):
        """A short JSON-able summary (sizes) for reports."""
        return json.loads(json.dumps({
            "max_seconds": self.preprocessor.max_seconds, "upsample": self.upsample,
            "frame_seconds": self.frame_seconds, "classes": self.num_classes,
            "hidden_dim": self.backbone.hidden_dim, "parameters": int(self.count_params()),
        }))
