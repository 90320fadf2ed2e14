"""Checkpoints that resume exactly and refuse a run of another configuration."""

import json
import os
import shutil

import tensorflow as tf

# Keys that change the shapes or meaning of the weights: a checkpoint is refused if any differs.
MODEL_KEYS = (
    "preset", "sharing", "decoder_dim", "decoder_layers", "vocabulary_size", "sequence_length",
    "image_size", "image_patch_size", "image_channels", "audio_seconds", "audio_patch_frequency",
    "audio_patch_time", "n_mels", "max_predictions", "mix", "modality_options",
)
# What a config.json written before a key existed means by its absence.
MISSING_MEANS = {"modality_options": {}}


def check_compatible(run_dir, config):
    """Raises a ValueError when `run_dir` holds a run of a different model configuration."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        saved = json.load(f)
    saved = {k: saved.get(k, MISSING_MEANS.get(k)) for k in MODEL_KEYS}
    differences = {k: (saved[k], getattr(config, k)) for k in MODEL_KEYS if saved[k] != getattr(config, k)}
    if differences:
        listed = ", ".join(f"{k}: checkpoint {a!r} vs config {b!r}" for k, (a, b) in sorted(differences.items()))
        raise ValueError(
            f"The run directory {run_dir!r} holds a checkpoint of another configuration ({listed}). "
            "Use another --run-dir, or --fresh to start over in this one."
        )


class CheckpointKeeper:
    """tf.train.CheckpointManager with chief-only writes.

    The manager writes the checkpoint's files first and then replaces its index file atomically,
    so a write interrupted at any moment leaves the previous checkpoint as the latest one.
    Non-chief workers must take part in saving (collective ops) but write to a temporary
    directory that is deleted afterwards.
    """

    def __init__(self, checkpoint, directory, chief, max_to_keep=2, worker_id=0):
        self.chief = chief
        self.directory = directory if chief else os.path.join(directory, f".worker-{worker_id}-tmp")
        self.manager = tf.train.CheckpointManager(checkpoint, self.directory, max_to_keep=max_to_keep)
        self.checkpoint = checkpoint

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def restore_latest(self):
        """Restores the latest checkpoint, if any; returns its path or None."""
        path = self.manager.latest_checkpoint
        if path:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        return path

    def save(self, step):
        path = self.manager.save(checkpoint_number=step)
        if not self.chief:
            shutil.rmtree(self.directory, ignore_errors=True)
        return path


def save_final(run_dir, backbone, model):
    """Writes RUN_DIR/backbone.keras and RUN_DIR/pretrainer.weights.h5 (the `MaskedPretrainer`
    `model`: backbone and heads), each atomically."""
    for name, save in (("backbone.keras", backbone.save), ("pretrainer.weights.h5", model.save_weights)):
        final = os.path.join(run_dir, name)
        tmp = os.path.join(run_dir, ".tmp-" + name)
        save(tmp)
        os.replace(tmp, final)
