"""mixed_precision = "auto" | True | False: the machine check, the config field, resuming old runs."""

import json

import numpy as np
import pytest

from mmpretrain.training.precision import choose_precision, cpu_flags, record_choice

AVX2_ONLY = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2
processor\t: 1
flags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2
"""
AVX512_BF16 = "flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16\n"
AMX = "flags\t\t: fpu sse2 avx avx2 avx512f amx_bf16 amx_tile amx_int8\n"
# avx512f without the bf16 extension: still emulated bfloat16
AVX512_NO_BF16 = "flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_fp16\n"


def test_cpu_flags_parses_cpuinfo_text():
    assert {"avx2", "fma", "sse4_2"} <= cpu_flags(AVX2_ONLY)
    assert "avx512_bf16" not in cpu_flags(AVX2_ONLY)
    assert cpu_flags("") == set()
    assert "amx_bf16" in cpu_flags(AMX)
    assert "bf16" in cpu_flags("Features\t: fp asimd bf16 i8mm\n")  # ARM spelling of the key


@pytest.mark.parametrize("cpuinfo, policy", [
    (AVX2_ONLY, "float32"), (AVX512_NO_BF16, "float32"), ("", "float32"),
    (AVX512_BF16, "mixed_bfloat16"), (AMX, "mixed_bfloat16"),
], ids=["avx2", "avx512-no-bf16", "unreadable", "avx512_bf16", "amx"])
def test_auto_picks_bfloat16_only_with_native_bfloat16(cpuinfo, policy):
    choice = choose_precision("auto", cpuinfo=cpuinfo, gpus=[])
    assert choice.policy == policy
    assert choice.dtype == ("mixed_bfloat16" if policy == "mixed_bfloat16" else None)
    assert choice.reason.startswith("mixed_precision=auto: ")
    if policy == "float32":
        assert "no avx512_bf16 or amx_bf16" in choice.reason or "no CPU flags" in choice.reason
    else:
        assert "bf16" in choice.reason


def test_auto_picks_bfloat16_with_a_gpu_and_booleans_force_it():
    gpu = choose_precision("auto", cpuinfo=AVX2_ONLY, gpus=["/physical_device:GPU:0"])
    assert gpu.policy == "mixed_bfloat16" and "GPU" in gpu.reason
    assert choose_precision(True, cpuinfo=AVX2_ONLY, gpus=[]).dtype == "mixed_bfloat16"
    assert choose_precision(False, cpuinfo=AMX, gpus=["gpu"]).dtype is None
    with pytest.raises(ValueError, match='"auto", true or false'):
        choose_precision("yes", cpuinfo=AMX, gpus=[])


def test_the_config_field_takes_auto_and_booleans(tmp_path):
    from mmpretrain.training.config import PretrainConfig, load_config, parse_override

    assert PretrainConfig(mixed_precision="auto").mixed_precision == "auto"
    assert PretrainConfig(mixed_precision=True).mixed_precision is True
    assert load_config("small").mixed_precision == "auto"
    assert load_config("small", ["mixed_precision=true"]).mixed_precision is True
    assert load_config("small", ["mixed_precision=auto"]).mixed_precision == "auto"
    assert parse_override("mixed_precision=false") == ("mixed_precision", False)
    for bad in ("fast", 1, None):
        with pytest.raises(ValueError, match="mixed_precision"):
            PretrainConfig(mixed_precision=bad)
    # config.json of a run written when the field was a boolean still loads and round-trips
    saved = json.loads(PretrainConfig(mixed_precision=True).to_json())
    assert PretrainConfig.from_dict(saved).mixed_precision is True
    assert json.loads(PretrainConfig(mixed_precision="auto").to_json())["mixed_precision"] == "auto"


@pytest.mark.parametrize("saved", [True, False, "auto"])
def test_resuming_accepts_a_run_whose_config_json_has_a_boolean(tmp_path, saved):
    from mmpretrain.training.checkpoints import check_compatible
    from mmpretrain.training.config import PretrainConfig

    (tmp_path / "config.json").write_text(PretrainConfig(mixed_precision=saved).to_json())
    check_compatible(str(tmp_path), PretrainConfig(mixed_precision="auto"))  # no ValueError
    check_compatible(str(tmp_path), PretrainConfig(mixed_precision=not saved if saved != "auto" else True))


def test_record_choice_logs_one_line_and_writes_precision_json(tmp_path):
    lines = []
    choice = choose_precision("auto", cpuinfo=AVX2_ONLY, gpus=[])
    record_choice(str(tmp_path), choice, log=lines.append)
    assert lines == [f"Precision: {choice.reason}."]
    written = json.loads((tmp_path / "precision.json").read_text())
    assert written == {"mixed_precision": "auto", "policy": "float32", "reason": choice.reason}


@pytest.mark.parametrize("cpuinfo, policy", [(AVX2_ONLY, "float32"), (AMX, "mixed_bfloat16")], ids=["avx2", "amx"])
def test_a_run_with_auto_builds_in_the_precision_the_machine_gets(tmp_path, monkeypatch, capsys, cpuinfo, policy):
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "workers"))
    from pretrain_worker import tiny_config, tiny_data

    from mmpretrain.training import precision
    from mmpretrain.training.pretraining_run import PretrainingRun

    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo_text=None: cpu_flags(cpuinfo))
    monkeypatch.setattr(precision, "visible_gpus", lambda: [])
    config = tiny_config(4).replace(mixed_precision="auto", mix={"text": 1})
    with PretrainingRun(config, str(tmp_path), progress=False) as run:
        train, validation = tiny_data()
        run.prepare({"text": train["text"]}, {"text": validation["text"]})
        run.build()
        assert run.backbone.dtype_policy.name == policy
    assert f"Precision: mixed_precision=auto: {'float32' if policy == 'float32' else 'mixed bfloat16'}" \
        in capsys.readouterr().out
    assert json.loads((tmp_path / "precision.json").read_text())["policy"] == policy
    assert json.loads((tmp_path / "config.json").read_text())["mixed_precision"] == "auto"


def test_a_run_trained_in_mixed_bfloat16_exports_in_float32_with_parity(tmp_path):
    """The SavedModel signatures are checked against the Keras model at 1e-5: that model must
    compute in float32, as the export does (in bfloat16 they differ by ~4e-2)."""
    import keras
    from app_fixtures import _test_preset, tiny_pretraining_data

    from mmpretrain.export.run_export import export_run
    from mmpretrain.export.run_loader import load_run
    from mmpretrain.training.config import PretrainConfig
    from mmpretrain.training.pretraining_run import PretrainingRun

    run_dir = str(tmp_path / "run")
    with _test_preset() as preset:
        config = PretrainConfig(
            preset=preset, vocabulary_size=200, sequence_length=24, image_size=8, image_patch_size=2,
            audio_seconds=1.0, steps=3, warmup_steps=1, eval_every=1000, checkpoint_every=1000,
            global_batch_size=8, validation_examples=8, max_predictions=4, decoder_dim=16, mixed_precision=True,
        )
        run = PretrainingRun(config, run_dir, progress=False)
        run.prepare(*tiny_pretraining_data())
        run.train()
        run.close()
        saved = keras.saving.load_model(f"{run_dir}/backbone.keras", compile=False)
        assert saved.dtype_policy.name == "mixed_bfloat16"
        loaded = load_run(run_dir)
        assert loaded.backbone.dtype_policy.name == "float32"
        for ours, theirs in zip(loaded.backbone.get_weights(), saved.get_weights()):
            np.testing.assert_array_equal(ours, theirs)
        result = export_run(run_dir, output=str(tmp_path / "models"), name="mixed", tflite=False)
    assert (tmp_path / "models" / "mixed" / "1" / "saved_model.pb").is_file() and result.encoder_dir
