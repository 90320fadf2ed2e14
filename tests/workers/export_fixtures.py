"""One tiny finished pretraining run and its export, shared by tests/test_export*.py and
tests/test_serving*.py (built once per test process, removed at exit).

The run uses the real PretrainingRun on pretrain_worker.py's tiny data and config (3 steps,
~15 s on 2 cores); the export is the real export_run (SavedModels + TFLite, ~25 s).
"""

import atexit
import functools
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pretrain_worker import tiny_config, tiny_data  # noqa: E402

STEPS = 3  # the smallest count tiny_config accepts (its warmup is 2 steps)


@functools.lru_cache(maxsize=None)
def scratch_dir():
    path = tempfile.mkdtemp(prefix="mmpretrain-export-tests-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.lru_cache(maxsize=None)
def tiny_run_dir():
    """A finished 3-step run directory (config.json, vocab.txt, backbone.keras, ...)."""
    from mmpretrain.training.pretraining_run import PretrainingRun

    run_dir = os.path.join(scratch_dir(), "tiny")
    train, validation = tiny_data()
    run = PretrainingRun(tiny_config(STEPS), run_dir, progress=False)
    run.prepare(train, validation)
    run.train()
    return run_dir


@functools.lru_cache(maxsize=None)
def tiny_export():
    """(ExportResult, LoadedRun, samples) of the tiny run exported to <scratch>/saved_models;
    samples: {modality: raw batch}, e.g. {"text": {"text": bytes [B]}, "image": {"images": ...}}."""
    from mmpretrain.export.run_export import export_run
    from mmpretrain.export.run_loader import load_run
    from mmpretrain.export.samples import default_samples

    run = load_run(tiny_run_dir())
    samples = default_samples(run)
    result = export_run(tiny_run_dir(), output=os.path.join(scratch_dir(), "saved_models"),
                        name="tiny", samples=samples)
    return result, run, samples


def keras_outputs(run, modality, batch):
    """The Keras reference (eager preprocessor + backbone.modality_model) of a raw batch, as numpy."""
    from mmpretrain.export.tflite_export import keras_reference

    return keras_reference(run, modality, batch)
