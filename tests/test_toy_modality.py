"""A fourth modality defined entirely in this file: it builds, pretrains, exports and is served.

The toy is fixed-rate sensor data (float32 [T, C] series, e.g. a 3-axis accelerometer) cut into
patches of `patch_length` time steps. Nothing under mmpretrain/ knows it: the record below is
registered at run time, and the library's backbone, pretraining loop, exporter and REST server
handle it through the record alone.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from mmpretrain.layers.patch_embedding import PatchEmbedding
from mmpretrain.modalities import Modality, register_modality, unregister_modality
from mmpretrain.objectives import MaskedPatchObjective

pytestmark = pytest.mark.slow

NAME = "sensor"
OPTIONS = {"channels": 3, "patch_length": 8, "max_patches": 16}


class SensorPreprocessor(tf.Module):
    """float32 [B, T, C] -> patches [B, N, patch_length * C], N = min(T // patch_length, max)."""

    def __init__(self, channels=3, patch_length=8, max_patches=16, name=None):
        super().__init__(name=name)
        self.channels, self.patch_length, self.max_patches = int(channels), int(patch_length), int(max_patches)

    def __call__(self, series):
        x = tf.convert_to_tensor(series, tf.float32)  # [B, T, C]
        steps = tf.minimum(tf.shape(x)[1] // self.patch_length, self.max_patches) * self.patch_length
        x = x[:, :steps]
        patches = tf.reshape(x, [tf.shape(x)[0], -1, self.patch_length * self.channels])  # [B, N, P*C]
        return {"patches": patches, "padding_mask": tf.ones(tf.shape(patches)[:2], tf.bool)}

    def embedding_config(self):
        return {"patch_dim": self.patch_length * self.channels, "max_patches": self.max_patches}

    def get_config(self):
        return {"channels": self.channels, "patch_length": self.patch_length, "max_patches": self.max_patches}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def sensor_series(count, seed, steps=128):
    """Noisy 3-axis oscillations of random frequency and phase: float32 [count, steps, 3]."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[None, :, None] / steps
    frequency = rng.uniform(1.0, 6.0, size=(count, 1, 3))
    phase = rng.uniform(0.0, 2 * np.pi, size=(count, 1, 3))
    noise = 0.05 * rng.standard_normal((count, steps, 3))
    return (np.sin(2 * np.pi * frequency * t + phase) + noise).astype(np.float32)


class SensorModality(Modality):
    name = NAME
    embedding_class = PatchEmbedding
    preprocessor_class = SensorPreprocessor
    objective = MaskedPatchObjective()
    accepted = "float32 arrays [T, channels]"

    def input_spec(self, preprocessor):
        return tf.TensorSpec([None, None, preprocessor.channels], tf.float32, name="series")

    def decode(self, inputs, what, info):
        items = [np.asarray(inputs, np.float32)] if np.ndim(inputs) == 2 else [np.asarray(x, np.float32) for x in inputs]
        return items, np.ndim(inputs) == 2

    def collate(self, examples, info):
        return [(list(range(len(examples))), {"series": np.stack(examples).astype(np.float32)})]

    def build_preprocessor(self, config, examples, run_dir, chief):
        return SensorPreprocessor(**config.modality_options[NAME])

    def sample_batch(self, preprocessor):
        return {"series": sensor_series(5, seed=7)}


@pytest.fixture
def sensor():
    record = register_modality(SensorModality())
    yield record
    unregister_modality(NAME)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_toy_modality_builds_pretrains_exports_and_is_served(sensor, tmp_path):
    from mmpretrain.export.run_export import export_run
    from mmpretrain.training.config import PretrainConfig
    from mmpretrain.training.pretraining_run import PretrainingRun

    # --- builds and pretrains a few MAE steps -------------------------------------------
    config = PretrainConfig(
        preset="tiny", mix={NAME: 1}, modality_options={NAME: dict(OPTIONS)}, steps=40,
        warmup_steps=4, global_batch_size=16, eval_every=40, checkpoint_every=40, log_every=10,
        validation_examples=32, learning_rate=2e-3,
    )
    run_dir = str(tmp_path / "run")
    run = PretrainingRun(config, run_dir, progress=False)
    run.prepare({NAME: list(sensor_series(256, seed=0))}, {NAME: list(sensor_series(32, seed=1))})
    history = run.train()
    losses = [row[f"{NAME}_loss"] for row in history]
    assert [row["step"] for row in history] == [0, 40]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.9 * losses[0], f"masked patch loss did not fall: {losses}"
    assert run.backbone.modalities[NAME] == {"patch_dim": 24, "max_patches": 16}

    # --- exports a SavedModel with its own signature -------------------------------------
    result = export_run(run_dir, output=str(tmp_path / "models"), name="sensor_toy", tflite=False)
    encoder_dir = result.encoder_dir
    with open(os.path.join(encoder_dir, "assets", "config.json")) as f:
        exported_config = json.load(f)
    assert exported_config["modalities"] == [NAME]
    assert exported_config["signatures"]["serve_sensor"]["inputs"] == {"series": {"dtype": "float32", "shape": [-1, -1, 3]}}
    series = sensor_series(3, seed=2)
    features = run.preprocessors[NAME](series)
    want = run.backbone.modality_model(NAME)(features)["pooled_output"].numpy()

    # --- reloads in a fresh process ------------------------------------------------------
    np.save(tmp_path / "series.npy", series)
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        "loaded = tf.saved_model.load(sys.argv[1])\n"
        "out = loaded.signatures['serve_sensor'](series=tf.constant(np.load(sys.argv[2])))\n"
        "np.save(sys.argv[3], out['pooled_output'].numpy())\n"
    )
    subprocess.run([sys.executable, "-c", code, encoder_dir, str(tmp_path / "series.npy"), str(tmp_path / "got.npy")],
                   check=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    np.testing.assert_allclose(np.load(tmp_path / "got.npy"), want, atol=1e-5)

    # --- is served by the REST server (its own process, which knows nothing of the toy) --
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mmpretrain.cli", "serve", str(tmp_path / "models"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    try:
        body = json.dumps({"signature_name": "serve_sensor", "instances": [{"series": s.tolist()} for s in series]})
        deadline, answer = time.monotonic() + 240, None
        while answer is None:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/sensor_toy:predict",
                                                 data=body.encode(), method="POST")
                with urllib.request.urlopen(request, timeout=60) as response:
                    answer = json.loads(response.read())
            except (ConnectionError, urllib.error.URLError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not answer: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    pooled = np.array([row["pooled_output"] for row in answer["predictions"]], np.float32)
    np.testing.assert_allclose(pooled, want, atol=1e-5)


def test_registering_twice_or_without_a_part_names_the_problem(sensor):
    with pytest.raises(ValueError, match="already registered"):
        register_modality(SensorModality())

    class NoSpec(SensorModality):
        name = "sensor_without_spec"
        input_spec = Modality.input_spec

    with pytest.raises(ValueError, match=r"input_spec\(\)"):
        register_modality(NoSpec())

    class NoObjective(SensorModality):
        name = "sensor_without_objective"
        objective = None

    with pytest.raises(ValueError, match="objective"):
        register_modality(NoObjective())
    with pytest.raises(ValueError, match="Modality instance"):
        register_modality("sensor")
