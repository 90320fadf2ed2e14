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
import weakref

import keras
import tensorflow as tf

from mmpretrain.atomic_files import atomic_write_text
from mmpretrain.backbone import MultimodalBackbone
from mmpretrain.modalities.registry import get_modality
from mmpretrain.tasks.masked_pretrainer import MaskedPretrainer
from mmpretrain.training import init_from as source_init
from mmpretrain.training import run_lock
from mmpretrain.training.checkpoints import CheckpointKeeper, check_compatible, save_final
from mmpretrain.training.input_pipeline import MaskedBatches
from mmpretrain.training.run_lock import clear_run_dir  # noqa: F401  (imported from here too)
from mmpretrain.training.run_logs import append_record, read_records, truncate_records
from mmpretrain.training.strategy import is_chief, task_of


class PretrainingRun:
    """Args:
        config: a `PretrainConfig`.
        run_dir: where config, vocabulary, checkpoints, logs and the final backbone go.
        strategy: a tf.distribute strategy (default: the current/default one).
        fresh: delete what `run_dir` holds and start over (otherwise resume); the deletion
            happens in `prepare`, after its checks.
        progress: show a tqdm progress bar (chief only).
        init_from: continued pretraining of an existing encoder: a run directory or an encoder
            SavedModel (a path or an `init_from.InitSource`), checked against `config` here.

    The chief holds an exclusive lock on `run_dir` (`run_lock`) from here until `close()`, the
    object's garbage collection or the end of the process; another process on the same
    directory raises `RunDirectoryInUse` (a ValueError) here, before anything is changed.
    """

    def __init__(self, config, run_dir, strategy=None, fresh=False, progress=True, init_from=None):
        self.config = config
        self.init = source_init.init_source(init_from, config, run_dir)  # reads only; None without
        self.run_dir = run_dir
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = is_chief(self.strategy)
        self.worker_id = task_of(self.strategy)[1]
        self.progress = progress and self.chief
        self.lock = None
        if self.chief:
            # One trainer per run directory, for the whole run; refused before anything changes.
            self.lock = run_lock.acquire(run_dir, fresh=fresh)
            self._release = weakref.finalize(self, self.lock.release)
        self._clear = fresh and self.chief
        try:
            if not fresh:
                check_compatible(run_dir, config)
                source_init.check_record(run_dir, self.init)  # the same source as when it started
            if config.global_batch_size % self.strategy.num_replicas_in_sync:
                raise ValueError(
                    f"global_batch_size={config.global_batch_size} is not divisible by the "
                    f"{self.strategy.num_replicas_in_sync} replicas; use a multiple of "
                    f"{self.strategy.num_replicas_in_sync}."
                )
        except BaseException:
            self.close()
            raise
        self.preprocessors = {}
        self.tables = {}
        self.validation = {}

    def close(self):
        """Releases the run directory's lock (idempotent; the end of the process does it too)."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # === Data ===

    def make_preprocessors(self, train_raw):
        """Each modality's record builds its preprocessor (text learns or loads vocab.txt)."""
        c = self.config
        for modality in c.modalities:
            if modality not in train_raw or len(train_raw[modality]) == 0:
                raise ValueError(
                    f"The config mixes in {modality!r} (mix={c.mix}) but no {modality} data was given; "
                    f"give some, or set its ratio to 0."
                )
        # --init-from: every worker reads the source's files (vocab.txt) and writes nothing there.
        files, chief = (self.run_dir, self.chief) if self.init is None else (self.init.files_dir, False)
        for modality in c.modalities:
            record = get_modality(modality)
            self.preprocessors[modality] = record.build_preprocessor(c, train_raw[modality], files, chief)
        if self.chief:
            configs = {m: get_modality(m).saved_config(p) for m, p in self.preprocessors.items()}
            atomic_write_text(os.path.join(self.run_dir, "preprocessors.json"), json.dumps(configs, indent=2))

    def _table(self, modality, examples, limit):
        examples = examples[:limit] if limit else examples
        return get_modality(modality).feature_table(self.preprocessors[modality], examples, self.config)

    def prepare(self, train_raw, validation_raw):
        """Builds the preprocessors and preprocesses every modality once into memory.

        `train_raw` / `validation_raw`: {modality: examples}, e.g. {"text": [str], "image": uint8
        [N, H, W, C], "audio": [float32 [T]]}.
        """
        c = self.config
        if self.init is not None:
            source_init.check_corpus(c, train_raw)
        if self._clear:  # --fresh: only now, after the checks
            clear_run_dir(self.run_dir)
            self._clear = False
        if self.init is not None and self.chief:
            source_init.write_start(self.run_dir, self.init, c)  # the source's vocab.txt, init_from.json
        self.make_preprocessors(train_raw)
        for modality in c.modalities:
            record = get_modality(modality)
            self.tables[modality] = self._table(modality, train_raw[modality], record.example_limit(c))
            if modality not in validation_raw or len(validation_raw[modality]) == 0:
                raise ValueError(f"No validation data for {modality!r}: held-out losses need some.")
            self.validation[modality] = self._table(modality, validation_raw[modality], c.validation_examples)
        self.mask_arguments = {
            m: get_modality(m).objective.mask_arguments(p) for m, p in self.preprocessors.items()
        }
        self.sources = {
            m: MaskedBatches(
                self.tables[m], m, c, self.mask_arguments[m],
                total_positions=self.batches_before(m, c.steps) * c.global_batch_size,
            )
            for m in c.modalities
        }
        self.validation_sources = {
            m: MaskedBatches(self.validation[m], m, c, self.mask_arguments[m], shuffle=False)
            for m in c.modalities
        }
        self.cycle = c.schedule()
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
            from mmpretrain.training.precision import choose_precision, record_choice

            self.precision = choose_precision(c.mixed_precision)  # "auto": bfloat16 only where it is fast
            if self.chief:
                record_choice(self.run_dir, self.precision)  # one line + RUN_DIR/precision.json
            dtype = self.precision.dtype
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

    def _reports_accuracy(self, modality):
        return bool(get_modality(modality).objective.reports_accuracy)

    def _validation_batches(self, modality, batch_size):
        source = self.validation_sources[modality]
        return tf.data.Dataset.range(source.num_rows).map(source.example).batch(batch_size)

    def evaluate(self, batch_size=64):
        """Held-out masked loss per modality (and accuracy where the objective reports it),
        with fixed masks."""
        results = {}
        for m in self.validation_sources:
            totals = {"loss": 0.0, "count": 0.0, "correct": 0.0}
            for batch in self._validation_batches(m, batch_size):
                for k, v in self.eval_steps[m](batch).items():
                    totals[k] += float(v)
            results[f"{m}_loss"] = totals["loss"] / max(totals["count"], 1.0)
            if self._reports_accuracy(m):
                results[f"{m}_accuracy"] = totals["correct"] / max(totals["count"], 1.0)
        return results

    def baselines(self):
        """The objectives' baselines on held-out data, for each modality whose objective reports
        accuracy and has one: {f"{m}_unigram_accuracy", f"{m}_unigram_loss"} for text (always
        predicting the training unigram distribution)."""
        results = {}
        for m in self.config.modalities:
            baseline = getattr(get_modality(m).objective, "baseline", None)
            if self._reports_accuracy(m) and baseline is not None:
                values = baseline(self.tables[m], self._validation_batches(m, 256), self.mask_arguments[m])
                results.update({f"{m}_{k}": v for k, v in values.items()})
        return results

    text_unigram_baseline = baselines  # the older name (examples/pretrain.py)

    def _log_jsonl(self, name, record):
        if self.chief:
            append_record(os.path.join(self.run_dir, name), record)

    def _truncate_log(self, name, last_step):
        """Drops log lines after `last_step`, torn lines and repeated steps (see run_logs)."""
        if self.chief:
            truncate_records(os.path.join(self.run_dir, name), last_step)

    def _is_eval_step(self, step):
        c = self.config
        return step == 0 or step % c.eval_every == 0 or step == c.steps

    def train(self, stop_after=None):
        """Trains to `config.steps` (or `stop_after` more steps), resuming from the last checkpoint."""
        c = self.config
        if not hasattr(self, "model"):
            self.build()
        restored = self.keeper.restore_latest()
        if not restored and self.init is not None:  # a resumed run keeps its own weights
            message = source_init.initialize(self.model, self.init)
            if self.chief:
                print(message)
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
        # The evaluation of the starting step: a run killed between a checkpoint and its
        # evaluation left none. Every worker evaluates (the same decision everywhere); the chief
        # records it unless a previous run did (e.g. the one of step 0 before the first checkpoint).
        if self._is_eval_step(start):
            recorded = self.chief and any(r["step"] == start for r in self.read_log("eval.jsonl"))
            self._record_eval(start, writer, record=not recorded)
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
            if self._reports_accuracy(modality):
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

    def _record_eval(self, step, writer, record=True):
        results = self.evaluate()
        if not record:
            return results
        self._log_jsonl("eval.jsonl", {"step": step, **results})
        if writer is not None:
            with writer.as_default(step=step):
                for k, v in results.items():
                    tf.summary.scalar(f"eval/{k}", v)
            writer.flush()
        return results

    def read_log(self, name):
        return read_records(os.path.join(self.run_dir, name))

    def save_final(self):
        """Writes backbone.keras and pretrainer.weights.h5 atomically (chief only)."""
        if self.chief:
            save_final(self.run_dir, self.backbone, self.model)
