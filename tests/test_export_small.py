"""At the `small` preset the whole int8 TFLite file is at most 40% of the float32 file for every
modality (at `tiny`, fixed preprocessing constants dominate the text and audio files; see
test_export.py, which checks the learned weights there)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "workers"))
from pretrain_worker import tiny_config, tiny_data  # noqa: E402

pytestmark = pytest.mark.slow


def test_small_preset_int8_files_are_at_most_40_percent(tmp_path):
    from mmpretrain.export.run_export import export_run
    from mmpretrain.training.pretraining_run import PretrainingRun

    config = tiny_config(3).replace(preset="small", sequence_length=128, decoder_dim=128)
    run = PretrainingRun(config, str(tmp_path / "run"), progress=False)
    run.prepare(*tiny_data())
    run.train()
    result = export_run(str(tmp_path / "run"), output=str(tmp_path / "saved_models"), name="small")
    for modality in ("text", "image", "audio"):
        sizes = {q: os.path.getsize(os.path.join(result.tflite_dir, f"{modality}_{q}.tflite"))
                 for q in ("float32", "int8")}
        ratio = sizes["int8"] / sizes["float32"]
        print(f"{modality}: int8 {sizes['int8']:,} B / float32 {sizes['float32']:,} B = {ratio:.1%}")
        assert ratio <= 0.40, (modality, sizes)


def test_a_multiway_run_exports_and_reloads(tmp_path):
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the text signature holds tf.text ops)

    from mmpretrain.export.run_export import export_run
    from mmpretrain.training.pretraining_run import PretrainingRun

    run = PretrainingRun(tiny_config(3).replace(sharing="multiway"), str(tmp_path / "run"), progress=False)
    run.prepare(*tiny_data())
    run.train()
    result = export_run(str(tmp_path / "run"), output=str(tmp_path / "saved_models"), name="mw", tflite=False)
    loaded = tf.saved_model.load(result.encoder_dir)
    texts = ["a multiway encoder", "shared attention, one feed-forward expert per modality"]
    got = loaded.signatures["serve_text"](text=tf.constant(texts))["pooled_output"].numpy()
    want = run.backbone(run.preprocessors["text"](texts), modality="text")["pooled_output"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
