import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "workers"))
from pretrain_worker import tiny_config, tiny_data  # noqa: E402

from mmpretrain.training.config import PretrainConfig, load_config  # noqa: E402
from mmpretrain.training.pretraining_run import PretrainingRun  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def make_run(path, data, **changes):
    run = PretrainingRun(tiny_config(6).replace(**changes), str(path), progress=False)
    run.prepare(*data)
    return run


def test_multiway_run_trains_and_saves_a_loadable_backbone(tmp_path, data):
    run = make_run(tmp_path, data, sharing="multiway")
    history = run.train()
    assert run.step == 6 and [h["step"] for h in history] == [0, 6]
    assert all(np.isfinite(v) for h in history for v in h.values())
    backbone = keras.saving.load_model(tmp_path / "backbone.keras")
    assert backbone.sharing == "multiway"
    batch = run.preprocessors["text"](["a few words"])
    np.testing.assert_allclose(
        backbone(batch, modality="text")["pooled_output"].numpy(),
        run.backbone(batch, modality="text")["pooled_output"].numpy(),
        atol=1e-6,
    )
    train_log = [json.loads(l) for l in open(tmp_path / "train.jsonl")]
    assert [r["modality"] for r in train_log] == ["text", "image", "audio", "text", "text", "image"]
    # Accuracy where the objective reports it (masked tokens), and the unigram baseline.
    assert all(("accuracy" in r) == (r["modality"] == "text") for r in train_log)
    assert {k for k in history[-1] if k.endswith("_accuracy")} == {"text_accuracy"}
    from mmpretrain.training.cli import summarize

    assert "text MLM accuracy" in summarize(run, history)
    baselines = json.load(open(tmp_path / "baselines.json"))
    assert set(baselines) == {"text_unigram_accuracy", "text_unigram_loss"}
    assert 0 <= baselines["text_unigram_accuracy"] <= 1 and baselines["text_unigram_loss"] > 0


def test_encoder_sees_only_visible_patches(tmp_path, data):
    run = make_run(tmp_path, data)
    run.build()
    for modality in ("image", "audio"):
        source = run.sources[modality]
        batch = next(iter(source.dataset(0, 4, 4)))
        total = run.tables[modality]["patches"].shape[1]
        visible = round(total * (1 - run.config.patch_mask_ratio))
        out = run.backbone({k: batch[k] for k in ("patches", "positions", "padding_mask")}, modality=modality)
        assert batch["patches"].shape[1] == visible < total
        assert out["sequence_output"].shape[1] == visible
        assert batch["targets"].shape[1] == total - visible


def test_mix_ratio_schedule():
    from mmpretrain.training.config import MODALITIES

    assert MODALITIES == ("text", "image", "audio")  # read from the registry
    config = PretrainConfig(mix={"text": 2, "image": 1, "audio": 1})
    assert config.schedule() == ("text", "image", "audio", "text")
    assert PretrainConfig(mix={"text": 3, "image": 1}).schedule() == ("text", "text", "image", "text")
    assert PretrainConfig(mix={"text": 1, "image": 0}).modalities == ("text",)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"patch_mask_ratio": 0.0}, "patch_mask_ratio=0.0; it must lie strictly between 0 and 1"),
        ({"patch_mask_ratio": 1.0}, "patch_mask_ratio=1.0"),
        ({"text_mask_rate": 1}, "text_mask_rate=1"),
        ({"mix": {"text": 0, "image": 0, "audio": 0}}, "ratio of zero"),
        ({"mix": {"video": 1}}, "unknown modalities \\['video'\\]"),
        ({"preset": "huge"}, "accepted presets"),
        ({"image_patch_size": 3}, "does not divide image_size"),
        ({"colour": "blue"}, "unknown keys \\['colour'\\]"),
        ({"learning_rate": -1e-3}, "learning_rate=-0.001; accepted range: learning_rate > 0"),
        ({"learning_rate": float("nan")}, "learning_rate=nan; accepted range: learning_rate > 0"),
        ({"weight_decay": -0.1}, "weight_decay=-0.1; accepted range: weight_decay >= 0"),
        ({"clip_norm": 0}, "clip_norm=0; accepted range: clip_norm > 0"),
        ({"dropout": 1.0}, "dropout=1.0; accepted range: 0 <= dropout < 1"),
        ({"steps": 0, "warmup_steps": 0}, "steps=0; accepted range: steps >= 1"),
        ({"mix": "text"}, "mix='text' \\(type str\\); mix must be a dict"),
        ({"modality_options": {"video": {}}}, "modality_options has unknown modality 'video'"),
        ({"modality_options": {"text": 3}}, "modality_options\\['text'\\]=3; each value is a dict"),
    ],
)
def test_bad_configs_fail_at_start(changes, message):
    with pytest.raises(ValueError, match=message):
        PretrainConfig().replace(**changes)


def test_config_files_and_overrides():
    config = load_config("tiny", ["steps=700", "mix={\"text\": 1}"])
    assert config.steps == 700 and config.modalities == ("text",)
    with pytest.raises(ValueError, match="Unknown config 'nope'.*tiny"):
        load_config("nope")
    with pytest.raises(ValueError, match="key=value"):
        load_config("tiny", ["steps"])
    with pytest.raises(ValueError, match="steps='abc' \\(type str\\); steps must be an integer, e.g. --set steps="):
        load_config("tiny", ["steps=abc"])
    with pytest.raises(ValueError, match="dropout='high' \\(type str\\); dropout must be a number"):
        load_config("tiny", ["dropout=high"])


def test_checkpoint_of_another_config_is_refused(tmp_path, data):
    run = make_run(tmp_path, data)
    run.train(stop_after=2)
    # A config.json written before modality_options existed resumes as if it said {}.
    saved = json.load(open(tmp_path / "config.json"))
    del saved["modality_options"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    PretrainingRun(tiny_config(6), str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="another configuration.*sequence_length.*--fresh"):
        PretrainingRun(tiny_config(6).replace(sequence_length=16), str(tmp_path), progress=False)
    # --fresh starts over, deleting the old run in `prepare`, once its checks have passed.
    fresh = PretrainingRun(tiny_config(6).replace(sequence_length=16), str(tmp_path), fresh=True, progress=False)
    assert os.path.exists(tmp_path / "checkpoints")
    fresh.prepare(*data)
    assert not os.path.exists(tmp_path / "checkpoints")
    del fresh


def test_interrupted_checkpoint_write_leaves_the_previous_one(tmp_path, data):
    run = make_run(tmp_path, data)
    run.train(stop_after=4)
    checkpoints = tmp_path / "checkpoints"
    # A save killed half-way: data files of step 6 exist, the index file was never replaced.
    (checkpoints / "ckpt-6.index").write_bytes(b"\x00garbage")
    (checkpoints / "ckpt-6.data-00000-of-00001").write_bytes(b"\x00" * 10)
    resumed = make_run(tmp_path, data)
    resumed.build()
    assert resumed.keeper.restore_latest().endswith("ckpt-4")
    assert resumed.step == 4
    resumed.train()
    assert resumed.step == 6


def test_global_batch_not_divisible_by_replicas_fails_at_start(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mmpretrain.cli", "pretrain", "--strategy", "mirrored", "--devices", "2",
         "--set", "global_batch_size=7", "--run-dir", str(tmp_path / "run"), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "global_batch_size=7 is not divisible by the 2 replicas" in result.stderr


def test_bfloat16_run_weight_decay_rules_and_tensorboard_logs(tmp_path, data):
    run = make_run(tmp_path, data, mixed_precision=True, steps=3, warmup_steps=1)
    history = run.train()
    assert run.backbone.dtype_policy.name == "mixed_bfloat16"
    assert run.backbone.blocks[0].attention_norm.compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in run.model.trainable_variables)  # float32 master weights
    assert np.isfinite(history[-1]["text_loss"])
    decayed = {v.path: run.optimizer._use_weight_decay(v) for v in run.model.trainable_variables}
    assert not any(decayed[p] for p in decayed if p.endswith(("bias", "gamma", "beta")))
    assert all(decayed[p] for p in decayed if p.endswith("kernel"))
    events = [f for f in os.listdir(tmp_path / "logs") if f.startswith("events.out.tfevents")]
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tmp_path / "logs"))
    accumulator.Reload()
    tags = set(accumulator.Tags()["tensors"])
    assert {"train/text_loss", "eval/text_loss", "eval/image_loss", "eval/audio_loss"} <= tags


def test_resume_records_each_evaluation_once(tmp_path, data):
    """Kills at the log's edges: before the first checkpoint (eval.jsonl already has step 0),
    between a checkpoint and its evaluation (eval.jsonl lacks that step), mid-line (torn)."""
    run = make_run(tmp_path, data, eval_every=2)
    run.train(stop_after=2)
    del run
    # As if killed before its first checkpoint: the step-0 evaluation and two train lines remain.
    import shutil

    shutil.rmtree(tmp_path / "checkpoints")
    eval_log = tmp_path / "eval.jsonl"
    eval_log.write_text(eval_log.read_text().splitlines()[0] + "\n")
    resumed = make_run(tmp_path, data, eval_every=2)
    resumed.train(stop_after=4)
    del resumed
    # As if killed right after the checkpoint of step 4, before its evaluation, and mid-line.
    lines = eval_log.read_text().splitlines()
    assert [json.loads(l)["step"] for l in lines] == [0, 2, 4]
    eval_log.write_text("\n".join(lines[:-1]) + "\n" + '{"step": 5, "text_lo')
    with open(tmp_path / "train.jsonl", "a") as f:
        f.write('{"step": 5, "modal')
    final = make_run(tmp_path, data, eval_every=2)
    history = final.train()
    assert [h["step"] for h in history] == [0, 2, 4, 6]
    assert [json.loads(l)["step"] for l in open(tmp_path / "train.jsonl")] == [1, 2, 3, 4, 5, 6]
