"""PretrainingRun: one masked-pretraining job, on one device or many, resumable.

    run = PretrainingRun(config, "runs/tiny", strategy)
    run.prepare(train_raw, validation_raw)   # raw = {"text": [...], "image": uint8, "audio": [...]}
    history = run.train()

The loop is a custom one driven by the public tf.distribute API (`strategy.run`,
`strategy.reduce`, `distribute_datasets_from_function`), because `keras.Model.fit` fails under
MultiWorkerMirroredStrategy in Keras 3.15 (keras-team/keras#20585). Each step trains on ONE
modality, taken from the config's mixing cycle (2:1:1 -> text, image, text, audio, ...).

Losses are means over masked positions only: each replica returns sums and divides by the
all-reduced count. Gradients are all-reduced, clipped by their global norm, then applied, so
N replicas compute the same update as one device on the same global batch.
"""

import json
import math
import os
import time

import numpy as np
import tensorflow as tf
import keras

from mmpretrain.backbone import MultimodalBackbone
from mmpretrain.modalities.audio import AudioPreprocessor, SAMPLE_RATE
from mmpretrain.modalities.image import ImagePreprocessor
from mmpretrain.modalities.text import (
    RESERVED_TOKENS,
    TextPreprocessor,
    learn_vocabulary,
    load_vocabulary,
    save_vocabulary,
)
from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer
from mmpretrain.atomic_files import atomic_write_text
from mmpretrain.training.checkpoints import CheckpointKeeper, check_compatible
from mmpretrain.training.input_pipeline import MaskedBatches, build_table
from mmpretrain.training.strategy import is_chief, task_of

VOCABULARY_SAMPLE = 30000  # lines used to learn the WordPiece vocabulary


def fixed_length_audio(waveforms, seconds):
    """List of float32 clips -> ([N, T] zero-padded or cropped to `seconds`, lengths [N])."""
    size = int(round(seconds * SAMPLE_RATE))
    out = np.zeros((len(waveforms), size), np.float32)
    lengths = np.zeros((len(waveforms),), np.int32)
    for i, clip in enumerate(waveforms):
        clip = np.asarray(clip, np.float32)[:size]
        out[i, : len(clip)] = clip
        lengths[i] = len(clip)
    return out, lengths


class PretrainingRun:
    """Args:
        config: a `PretrainConfig`.
        run_dir: where config, vocabulary, checkpoints, logs and the final backbone go.
        strategy: a tf.distribute strategy (default: the current/default one).
        fresh: delete what `run_dir` holds and start over (otherwise resume).
        progress: show a tqdm progress bar (chief only).
    """

    def __init__(self, config, run_dir, strategy=None, fresh=False, progress=True):
        self.config = config
        self.run_dir = run_dir
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = is_chief(self.strategy)
        self.worker_id = task_of(self.strategy)[1]
        self.progress = progress and self.chief
        if fresh and self.chief and os.path.isdir(run_dir):
            import shutil

            shutil.rmtree(run_dir)
        check_compatible(run_dir, config)
        if config.global_batch_size % self.strategy.num_replicas_in_sync:
            raise ValueError(
                f"global_batch_size={config.global_batch_size} is not divisible by the "
                f"{self.strategy.num_replicas_in_sync} replicas; use a multiple of "
                f"{self.strategy.num_replicas_in_sync}."
            )
        self.preprocessors = {}
        self.tables = {}
        self.validation = {}

    # === Data ===

    def _vocabulary(self, texts):
        path = os.path.join(self.run_dir, "vocab.txt")
        if os.path.exists(path):
            return load_vocabulary(path)
        vocabulary = learn_vocabulary(texts[:VOCABULARY_SAMPLE], vocabulary_size=self.config.vocabulary_size)
        if self.chief:
            save_vocabulary(vocabulary, path)
        return vocabulary

    def make_preprocessors(self, train_raw):
        c = self.config
        for modality in c.modalities:
            if modality not in train_raw or len(train_raw[modality]) == 0:
                raise ValueError(
                    f"The config mixes in {modality!r} (mix={c.mix}) but no {modality} data was given; "
                    f"give some, or set its ratio to 0."
                )
        if "text" in c.modalities:
            self.preprocessors["text"] = TextPreprocessor(self._vocabulary(list(train_raw["text"])), c.sequence_length)
        if "image" in c.modalities:
            self.preprocessors["image"] = ImagePreprocessor(c.image_size, c.image_patch_size, c.image_channels)
        if "audio" in c.modalities:
            self.preprocessors["audio"] = AudioPreprocessor(
                n_mels=c.n_mels, patch_frequency=c.audio_patch_frequency, patch_time=c.audio_patch_time,
                max_seconds=c.audio_seconds,
            )
        if self.chief:
            configs = {m: p.get_config() for m, p in self.preprocessors.items()}
            if "text" in configs:
                configs["text"] = {k: v for k, v in configs["text"].items() if k != "vocabulary"}
            atomic_write_text(os.path.join(self.run_dir, "preprocessors.json"), json.dumps(configs, indent=2))

    def _table(self, modality, raw, limit):
        raw = raw[:limit] if limit else raw
        if modality == "audio":
            waveforms, lengths = fixed_length_audio(raw, self.config.audio_seconds)
            return build_table(self.preprocessors[modality], waveforms, lengths=lengths)
        if modality == "text":
            raw = tf.constant(list(raw))
        return build_table(self.preprocessors[modality], raw)

    def prepare(self, train_raw, validation_raw):
        """Learns/loads the vocabulary and preprocesses every modality once into memory."""
        c = self.config
        self.make_preprocessors(train_raw)
        limits = {"text": c.text_examples, "image": c.image_examples, "audio": c.audio_examples}
        for modality in c.modalities:
            self.tables[modality] = self._table(modality, train_raw[modality], limits[modality])
            if modality not in validation_raw or len(validation_raw[modality]) == 0:
                raise ValueError(f"No validation data for {modality!r}: held-out losses need some.")
            self.validation[modality] = self._table(modality, validation_raw[modality], c.validation_examples)
        self.text_ids = None
        if "text" in self.preprocessors:
            p = self.preprocessors["text"]
            self.text_ids = {"vocabulary_size": p.vocabulary_size, "mask_id": p.mask_id,
                             "num_special": len(RESERVED_TOKENS)}
        cycle = c.schedule()
        self.sources = {
            m: MaskedBatches(
                self.tables[m], m, c, self.text_ids,
                total_positions=self.batches_before(m, c.steps) * c.global_batch_size,
            )
            for m in c.modalities
        }
        self.validation_sources = {
            m: MaskedBatches(self.validation[m], m, c, self.text_ids, shuffle=False) for m in c.modalities
        }
        self.cycle = cycle
        if self.chief:
            atomic_write_text(os.path.join(self.run_dir, "config.json"), c.to_json())

    def batches_before(self, modality, step):
        """How many batches of `modality` the first `step` steps consumed."""
        cycle = self.config.schedule()
        full, rest = divmod(step, len(cycle))
        return full * cycle.count(modality) + cycle[:rest].count(modality)

    # === Model ===

    def build(self):
        c = self.config
        # Same initial weights in every process and every run of this config.
        keras.utils.set_random_seed(c.seed)
        with self.strategy.scope():
            dtype = "mixed_bfloat16" if c.mixed_precision else None
            self.backbone = MultimodalBackbone.from_preset(
                c.preset,
                modalities={m: p.embedding_config() for m, p in self.preprocessors.items()},
                sharing=c.sharing,
                dropout=c.dropout,
                dtype=dtype,
            )
            self.model = MaskedPretrainer(self.backbone, decoder_dim=c.decoder_dim, decoder_layers=c.decoder_layers)
            schedule = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0 if c.warmup_steps else c.learning_rate,
                decay_steps=c.steps - c.warmup_steps,
                warmup_target=c.learning_rate if c.warmup_steps else None,
                warmup_steps=c.warmup_steps,
                alpha=0.02,
            )
            self.optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=c.weight_decay)
            # No weight decay on biases and LayerNorm scales/offsets.
            self.optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
            self.optimizer.build(self.model.trainable_variables)
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
        self.keeper = CheckpointKeeper(
            checkpoint, os.path.join(self.run_dir, "checkpoints"), self.chief,
            max_to_keep=c.keep_checkpoints, worker_id=self.worker_id,
        )
        self.train_steps = {m: self._make_train_step(m) for m in c.modalities}
        self.eval_steps = {m: self._make_eval_step(m) for m in c.modalities}

    def _make_train_step(self, modality):
        strategy, model, optimizer, clip_norm = self.strategy, self.model, self.optimizer, self.config.clip_norm
        SUM = tf.distribute.ReduceOp.SUM

        def replica_step(batch):
            context = tf.distribute.get_replica_context()
            variables = model.trainable_variables
            with tf.GradientTape() as tape:
                sums = model.losses_of(batch, modality, training=True)
                count = context.all_reduce(SUM, sums["count"])
                loss = sums["loss"] / tf.maximum(count, 1.0)
            grads = tape.gradient(loss, variables)
            used = [(tf.convert_to_tensor(g), v) for g, v in zip(grads, variables) if g is not None]
            reduced = context.all_reduce(SUM, [g for g, _ in used])
            clipped, _ = tf.clip_by_global_norm(reduced, clip_norm)
            replicas = float(context.num_replicas_in_sync)
            # Keras sums the replicas' gradients again: hand it 1/R of the global one each.
            optimizer.apply_gradients([(g / replicas, v) for g, (_, v) in zip(clipped, used)])
            return sums

        @tf.function
        def train_step(iterator):
            per_replica = strategy.run(replica_step, args=(next(iterator),))
            return {k: strategy.reduce(SUM, v, axis=None) for k, v in per_replica.items()}

        return train_step

    def _make_eval_step(self, modality):
        model = self.model

        @tf.function
        def eval_step(batch):
            return model.losses_of(batch, modality, training=False)

        return eval_step

    # === Loop ===

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def evaluate(self, batch_size=64):
        """Held-out masked loss (and text accuracy) per modality, with fixed masks."""
        results = {}
        for m, source in self.validation_sources.items():
            totals = {"loss": 0.0, "count": 0.0, "correct": 0.0}
            n = source.num_rows
            ds = tf.data.Dataset.range(n).map(source.example).batch(batch_size)
            for batch in ds:
                for k, v in self.eval_steps[m](batch).items():
                    totals[k] += float(v)
            results[f"{m}_loss"] = totals["loss"] / max(totals["count"], 1.0)
            if m == "text":
                results["text_accuracy"] = totals["correct"] / max(totals["count"], 1.0)
        return results

    def text_unigram_baseline(self):
        """Accuracy and loss of always predicting the training unigram distribution."""
        table = self.tables["text"]
        ids = table["token_ids"][table["padding_mask"]]
        counts = np.bincount(ids[ids >= len(RESERVED_TOKENS)], minlength=self.text_ids["vocabulary_size"]).astype(np.float64)
        probs = (counts + 1) / (counts + 1).sum()
        targets = []
        source = self.validation_sources["text"]
        for batch in tf.data.Dataset.range(source.num_rows).map(source.example).batch(256):
            w = batch["mask_weights"].numpy() > 0
            targets.append(batch["mask_ids"].numpy()[w])
        targets = np.concatenate(targets)
        return {
            "text_unigram_accuracy": float(np.mean(targets == np.argmax(counts))),
            "text_unigram_loss": float(-np.mean(np.log(probs[targets]))),
        }

    def _log_jsonl(self, name, record):
        if self.chief:
            with open(os.path.join(self.run_dir, name), "a") as f:
                f.write(json.dumps(record) + "\n")

    def _truncate_log(self, name, last_step):
        """Drops the lines of `name` after `last_step` (written by a run killed after its checkpoint)."""
        path = os.path.join(self.run_dir, name)
        if self.chief and os.path.exists(path):
            with open(path) as f:
                lines = [line for line in f if json.loads(line)["step"] <= last_step]
            atomic_write_text(path, "".join(lines))

    def train(self, stop_after=None):
        """Trains to `config.steps` (or `stop_after` more steps), resuming from the last checkpoint."""
        c = self.config
        if not hasattr(self, "model"):
            self.build()
        restored = self.keeper.restore_latest()
        start = self.step
        if restored and self.chief:
            print(f"Resuming from {restored} at step {start}/{c.steps}.")
        # Drop log lines the killed run wrote after its last checkpoint: the curve stays continuous.
        for name in ("train.jsonl", "eval.jsonl"):
            self._truncate_log(name, start)
        writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "logs")) if self.chief else None
        iterators = {
            m: self.sources[m].distributed(self.strategy, c.global_batch_size, self.batches_before(m, start))
            for m in c.modalities
        }
        end = c.steps if stop_after is None else min(c.steps, start + stop_after)
        if start == 0:
            self._record_eval(0, writer)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=c.steps, initial=start, desc="pretrain", unit="step", dynamic_ncols=True, mininterval=1.0)
        progress = {"recent": {}, "tick": time.perf_counter(), "seen": 0, "bar": bar, "writer": writer}
        pending = []  # (step, modality, sums as tensors): read back in groups, not every step
        for step in range(start, end):
            modality = self.cycle[step % len(self.cycle)]
            pending.append((step + 1, modality, self.train_steps[modality](iterators[modality])))
            done = step + 1
            checkpoint = done % c.checkpoint_every == 0 or done == end
            evaluate = done % c.eval_every == 0 or done == c.steps
            if checkpoint or evaluate or len(pending) >= c.log_every:
                self._flush(pending, progress)
                pending = []
            if checkpoint:
                self.keeper.save(done)
            if evaluate:
                self._record_eval(done, writer)
        if bar is not None:
            bar.close()
        if self.step >= c.steps:
            self.save_final()
        return self.read_log("eval.jsonl")

    def _flush(self, pending, progress):
        """Logs a group of finished steps: train.jsonl, TensorBoard, the progress bar."""
        writer, bar, recent = progress["writer"], progress["bar"], progress["recent"]
        for step, modality, sums in pending:
            count = max(float(sums["count"]), 1.0)
            loss = float(sums["loss"]) / count
            if not math.isfinite(loss):
                raise FloatingPointError(f"The {modality} loss became {loss} at step {step}; lower learning_rate.")
            record = {"step": step, "modality": modality, "loss": loss}
            if modality == "text":
                record["accuracy"] = float(sums["correct"]) / count
            self._log_jsonl("train.jsonl", record)
            recent[modality] = loss
            if writer is not None:
                with writer.as_default(step=step):
                    tf.summary.scalar(f"train/{modality}_loss", loss)
        progress["seen"] += len(pending) * self.config.global_batch_size
        if writer is not None and pending:
            with writer.as_default(step=pending[-1][0]):
                tf.summary.scalar("train/learning_rate", float(self.optimizer.learning_rate))
        if bar is not None:
            rate = progress["seen"] / max(time.perf_counter() - progress["tick"], 1e-9)
            bar.set_postfix({**{k: f"{v:.3f}" for k, v in recent.items()}, "ex/s": f"{rate:.0f}"})
            bar.update(len(pending))

    def _record_eval(self, step, writer):
        results = self.evaluate()
        self._log_jsonl("eval.jsonl", {"step": step, **results})
        if writer is not None:
            with writer.as_default(step=step):
                for k, v in results.items():
                    tf.summary.scalar(f"eval/{k}", v)
            writer.flush()
        return results

    def read_log(self, name):
        path = os.path.join(self.run_dir, name)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def save_final(self):
        """Writes backbone.keras and pretrainer.weights.h5 atomically (chief only)."""
        if not self.chief:
            return
        for name, save in (
            ("backbone.keras", lambda p: self.backbone.save(p)),
            ("pretrainer.weights.h5", lambda p: self.model.save_weights(p)),
        ):
            final = os.path.join(self.run_dir, name)
            tmp = os.path.join(self.run_dir, ".tmp-" + name)
            save(tmp)
            os.replace(tmp, final)
