"""Input pipelines for pretraining: in-memory feature tables -> masked, distributed batches.

Raw data is preprocessed ONCE into a feature table (numpy arrays, one row per example; the
modality record's `feature_table`), and the record's objective masks it. The
pipeline then maps a global example *position* (step * global_batch + k) to a row of a
per-epoch permutation and masks it with a stateless seed derived from that position. Hence:

- a one-device run and an N-replica run see exactly the same global batches and masks;
- a resumed run rebuilds the pipeline at the batch where the checkpoint stopped (exact
  data-position resume, no replay of the input pipeline);
- every replica builds only its own slice of each global batch.
"""

import numpy as np
import tensorflow as tf

from mmpretrain.modalities.registry import get_modality, modality_names


def epoch_permutations(num_rows, num_positions, seed):
    """Concatenated per-epoch permutations covering `num_positions` positions -> int32 [E * N]."""
    epochs = num_positions // num_rows + 1
    return np.concatenate(
        [np.random.default_rng([seed, epoch]).permutation(num_rows) for epoch in range(epochs)]
    ).astype(np.int32)


class MaskedBatches:
    """Masked examples of one modality, addressable by global position.

    Args:
        table: feature table (dict of arrays with equal first dimension), from the record's
            `feature_table`.
        modality: a registered modality name; its record's objective masks the examples.
        config: the `PretrainConfig` (mask rates, seed, batch size).
        arguments: what the objective's `mask` needs from the preprocessor
            (`objective.mask_arguments(preprocessor)`).
        shuffle: permute rows per epoch (training) or take them in order (validation).
        total_positions: how many positions the run may read (sizes the permutation table).

    The seeds are salted with the modality's place in the registry (text 0, image 1, audio 2).
    """

    def __init__(self, table, modality, config, arguments=None, shuffle=True, total_positions=0):
        self.table = {k: tf.constant(v) for k, v in table.items()}
        self.num_rows = len(next(iter(table.values())))
        self.modality = modality
        self.objective = get_modality(modality).objective
        self.config = config
        self.arguments = dict(arguments or {})
        salt = config.seed * 16 + modality_names().index(modality)
        self.seed = salt
        if shuffle:
            self.order = tf.constant(epoch_permutations(self.num_rows, max(total_positions, 1), salt))
        else:
            self.order = tf.range(self.num_rows, dtype=tf.int32)

    def example(self, position):
        """position (int64 scalar) -> one masked example (dict of tensors)."""
        row = tf.gather(self.order, tf.cast(position % tf.cast(tf.size(self.order), tf.int64), tf.int32))
        features = {k: tf.gather(v, row) for k, v in self.table.items()}
        seed = tf.stack([tf.constant(self.seed, tf.int64), position])
        return self.objective.mask(features, seed, self.config, self.arguments)

    def dataset(self, first_position, per_replica_batch, stride, count=None):
        """Batches of `per_replica_batch` examples at positions first + i * stride + [0, per_replica).

        A replica's slice of global step s starts at s * global_batch + replica * per_replica;
        `stride` is the global batch size.
        """
        steps = tf.data.Dataset.range(count) if count is not None else tf.data.Dataset.range(2**62)
        offsets = tf.range(per_replica_batch, dtype=tf.int64)
        positions = steps.map(lambda s: first_position + s * stride + offsets).unbatch()
        ds = positions.map(self.example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(per_replica_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    def distributed(self, strategy, global_batch, first_step):
        """A distributed iterator over global batches, starting at global step `first_step`."""
        replicas = strategy.num_replicas_in_sync
        if global_batch % replicas:
            raise ValueError(
                f"global_batch_size={global_batch} is not divisible by the {replicas} replicas; "
                f"use a multiple of {replicas}."
            )
        per_replica = global_batch // replicas

        def dataset_fn(context):
            local = replicas // context.num_input_pipelines
            datasets = [
                self.dataset(first_step * global_batch + (context.input_pipeline_id * local + r) * per_replica,
                             per_replica, global_batch)
                for r in range(local)
            ]
            # Interleave so that consecutive batches go to consecutive local replicas.
            return tf.data.Dataset.choose_from_datasets(
                datasets, tf.data.Dataset.range(local).repeat(), stop_on_empty_dataset=True
            )

        options = tf.distribute.InputOptions(experimental_fetch_to_device=False)
        return iter(strategy.distribute_datasets_from_function(dataset_fn, options))
