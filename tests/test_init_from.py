"""`mmpretrain pretrain --init-from`: continued pretraining of an existing encoder on new data.

The source is a real tiny run (text + images, 6 steps, tests/workers/pretrain_worker.py's data)
built once per module; the new data is a text file of another domain (science fortunes, or
built-in sentences when the fortunes package is missing).
"""

import hashlib
import json
import os
import shutil
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "workers"))
from pretrain_worker import tiny_config, tiny_data  # noqa: E402

from mmpretrain.cli import main  # noqa: E402
from mmpretrain.training.pretraining_run import PretrainingRun  # noqa: E402

# The new run's config: the source's front-end settings, text only, its own steps and schedule.
ADAPT_CONFIG = """
from mmpretrain.training.config import PretrainConfig

CONFIG = PretrainConfig(
    preset="tiny", vocabulary_size=200, sequence_length=24, image_size=8, image_patch_size=2,
    audio_seconds=1.0, mix={"text": 1}, steps=24, warmup_steps=2, learning_rate=2e-3,
    eval_every=12, checkpoint_every=12, global_batch_size=8, validation_examples=16,
    max_predictions=4,
)
"""


def new_domain_lines(count=300):
    path = "/usr/share/games/fortunes/science"
    lines = []
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if len(line.strip()) > 20]
    if len(lines) < count:  # pragma: no cover - the fortunes package is installed
        lines += [f"the cell divides and protein {i} folds in the membrane near the nucleus" for i in range(count)]
    return lines[:count]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """{"root", "source" (run dir), "weights" ({path: value} of the source's final model),
    "text" (a new-domain text file), "config" (the adaptation config file)}."""
    root = tmp_path_factory.mktemp("init_from")
    source = str(root / "source")
    with PretrainingRun(tiny_config(6).replace(mix={"text": 1, "image": 1}), source, progress=False) as run:
        run.prepare(*tiny_data())
        run.train()
        weights = {w.path: w.numpy() for w in run.model.weights}
    text = root / "science.txt"
    text.write_text("\n".join(new_domain_lines()) + "\n", encoding="utf-8")
    config = root / "adapt.py"
    config.write_text(ADAPT_CONFIG, encoding="utf-8")
    return {"root": root, "source": source, "weights": weights, "text": str(text), "config": str(config)}


def adapt_config(env, **changes):
    from mmpretrain.training.config import load_config

    return load_config(env["config"]).replace(**changes)


def new_text(env):
    lines = new_domain_lines()
    return {"text": lines[:260]}, {"text": lines[260:]}


def snapshot(directory):
    """{relative path: sha256} of every file under `directory` but the lock file (None if absent)."""
    if not os.path.exists(directory):
        return None
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if name != ".lock":
                with open(path, "rb") as f:
                    files[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return files


def pretrain(env, run_dir, *extra):
    return main(["pretrain", "--config", env["config"], "--run-dir", str(run_dir), "--no-progress", *extra])


def test_step_zero_holds_the_source_weights_heads_and_vocabulary(env, tmp_path):
    run_dir = tmp_path / "adapted"
    with PretrainingRun(adapt_config(env), str(run_dir), progress=False, init_from=env["source"]) as run:
        run.prepare(*new_text(env))
        run.train(stop_after=0)
        assert run.step == 0
        # Backbone and the text MLM head: exactly the source's final values.
        assert len(run.model.weights) > 20
        for weight in run.model.weights:
            np.testing.assert_array_equal(weight.numpy(), env["weights"][weight.path], err_msg=weight.path)
        # The image front-end of the source is not carried over: the config mixes text only.
        assert set(run.backbone.modalities) == {"text"}
        # The vocabulary: the source's file, not a new one learned from the new text.
        source_vocab = open(os.path.join(env["source"], "vocab.txt"), encoding="utf-8").read()
        assert open(run_dir / "vocab.txt", encoding="utf-8").read() == source_vocab
        assert run.preprocessors["text"].vocabulary == source_vocab.splitlines()
    record = json.loads((run_dir / "init_from.json").read_text())
    assert record["path"] == os.path.abspath(env["source"]) and record["kind"] == "run"
    assert record["heads"] == "source" and len(record["fingerprint"]) == 16


def test_resume_restores_its_own_checkpoint_and_does_not_reinitialise(env, tmp_path):
    run_dir = str(tmp_path / "adapted")
    with PretrainingRun(adapt_config(env), run_dir, progress=False, init_from=env["source"]) as run:
        run.prepare(*new_text(env))
        run.train(stop_after=12)  # a checkpoint at step 12, then "killed"
        trained = {w.path: w.numpy() for w in run.model.weights}
    with PretrainingRun(adapt_config(env), run_dir, progress=False, init_from=env["source"]) as run:
        run.prepare(*new_text(env))
        run.train(stop_after=0)
        assert run.step == 12
        changed = 0
        for weight in run.model.weights:
            np.testing.assert_array_equal(weight.numpy(), trained[weight.path], err_msg=weight.path)
            changed += not np.array_equal(weight.numpy(), env["weights"][weight.path])
        assert changed > 10  # the resumed weights are the trained ones, not the source's again


def test_cli_continued_pretraining_lowers_the_held_out_loss_and_resumes(env, tmp_path, capsys):
    run_dir = tmp_path / "adapted"
    assert pretrain(env, run_dir, "--init-from", env["source"], "--text", env["text"]) == 0
    out = capsys.readouterr().out
    assert f"Initialised from {os.path.abspath(env['source'])} (run, fingerprint" in out
    assert "masked-prediction heads of text" in out
    evals = [json.loads(line) for line in open(run_dir / "eval.jsonl")]
    assert [e["step"] for e in evals] == [0, 12, 24]
    assert evals[-1]["text_loss"] < evals[0]["text_loss"] - 0.05, evals  # on held-out new-domain text
    assert (run_dir / "vocab.txt").read_bytes() == open(os.path.join(env["source"], "vocab.txt"), "rb").read()
    before = snapshot(run_dir)
    # The same command again: resumes at the end, does not re-initialise, changes nothing trained.
    assert pretrain(env, run_dir, "--init-from", env["source"], "--text", env["text"]) == 0
    out = capsys.readouterr().out
    assert "Resuming from" in out and "Initialised from" not in out
    after = snapshot(run_dir)
    for name in ("init_from.json", "vocab.txt", "eval.jsonl", "train.jsonl", "checkpoints/ckpt-24.index"):
        assert after[name] == before[name], name


def test_init_from_an_exported_saved_model_takes_its_backbone_with_fresh_heads(env, tmp_path, capsys):
    from mmpretrain.export.run_export import export_run

    exported = export_run(env["source"], output=str(tmp_path / "saved_models"), name="enc", tflite=False)
    run_dir = tmp_path / "adapted"
    # saved_models/NAME: its newest version.
    with PretrainingRun(adapt_config(env), str(run_dir), progress=False,
                        init_from=str(tmp_path / "saved_models" / "enc")) as run:
        run.prepare(*new_text(env))
        run.train(stop_after=0)
        for weight in run.backbone.weights:
            np.testing.assert_allclose(weight.numpy(), env["weights"][weight.path], rtol=0, atol=0,
                                       err_msg=weight.path)
        head = run.model.heads["text"].weights
        assert any(not np.array_equal(w.numpy(), env["weights"][w.path]) for w in head)
    out = capsys.readouterr().out
    assert "fresh masked-prediction heads for text (the SavedModel holds no pretraining heads)" in out
    record = json.loads((run_dir / "init_from.json").read_text())
    assert record["kind"] == "saved_model" and record["path"] == os.path.abspath(exported.encoder_dir)
    assert record["heads"] == "fresh"
    assert (run_dir / "vocab.txt").read_text() == open(os.path.join(env["source"], "vocab.txt")).read()


def _neither(env):
    folder = env["root"] / "not_a_model"
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("hello\n")
    return [str(folder)], (f"--init-from {str(folder)!r} is neither a pretraining run directory nor "
                           "an encoder SavedModel: it holds notes.txt (no saved_model.pb, no numbered "
                           "versions, no config.json). --init-from accepts a finished pretraining run "
                           "directory")


def _unfinished(env):
    folder = env["root"] / "unfinished"
    folder.mkdir(exist_ok=True)
    shutil.copy(os.path.join(env["source"], "config.json"), folder / "config.json")
    return [str(folder)], f"--init-from {str(folder)!r} is a pretraining run directory that has not finished"


BAD_SOURCES = {
    "missing": (lambda env: ([str(env["root"] / "nowhere")], "does not exist. --init-from accepts")),
    "neither": _neither,
    "unfinished": _unfinished,
    "vocabulary_size": (lambda env: ([env["source"], "--set", "vocabulary_size=300"],
                                     "vocabulary_size: the source has 200, the config 300; use --set "
                                     "vocabulary_size=200")),
    "preset": (lambda env: ([env["source"], "--set", "preset=small"],
                            "preset: the source is preset 'tiny' (num_layers=2, hidden_dim=64, num_heads=2, "
                            "intermediate_dim=256), the config's preset 'small' is num_layers=4, "
                            "hidden_dim=256, num_heads=4, intermediate_dim=1024; use --set preset=tiny")),
    "modality": (lambda env: ([env["source"], "--set", 'mix={"text": 1, "audio": 1}'],
                              "modalities: the config mixes in ['audio'] but the source has only "
                              "['text', 'image']; drop it with --set mix='{\"text\": 1}'")),
    "sequence_length": (lambda env: ([env["source"], "--set", "sequence_length=32"],
                                     "sequence_length: the source has 24, the config 32; use --set "
                                     "sequence_length=24")),
}


@pytest.mark.parametrize("case", sorted(BAD_SOURCES))
def test_bad_sources_are_refused_before_the_run_directory_changes(env, tmp_path, capsys, case):
    init_from, *extra = BAD_SOURCES[case](env)[0]
    message = BAD_SOURCES[case](env)[1]
    # A run directory that already holds something: nothing in it may change or be lost, not
    # even with --fresh.
    run_dir = tmp_path / "existing"
    os.makedirs(run_dir)
    (run_dir / "notes.txt").write_text("keep me\n")
    before = snapshot(run_dir)
    for fresh in ([], ["--fresh"]):
        code = pretrain(env, run_dir, "--init-from", init_from, "--text", env["text"], *extra, *fresh)
        err = capsys.readouterr().err
        assert code == 2 and "mmpretrain pretrain: error: " in err and message in err, err
        assert snapshot(run_dir) == before
    fresh_dir = tmp_path / "new"
    assert pretrain(env, fresh_dir, "--init-from", init_from, "--text", env["text"], *extra) == 2
    assert message in capsys.readouterr().err
    assert not fresh_dir.exists()  # refused before the run directory was even created


def test_a_small_corpus_is_refused_with_the_minimum_and_loses_nothing(env, tmp_path, capsys):
    small = tmp_path / "small.txt"
    small.write_text("\n".join(new_domain_lines()[:30]) + "\n")
    run_dir = tmp_path / "adapted"
    assert pretrain(env, run_dir, "--init-from", env["source"], "--text", env["text"]) == 0
    before = snapshot(run_dir)
    for fresh in ([], ["--fresh"]):
        code = pretrain(env, run_dir, "--init-from", env["source"], "--text", str(small), *fresh)
        err = capsys.readouterr().err
        assert code == 2, err
        assert "The adaptation corpus is too small: " in err
        assert ("text training examples, and continued pretraining needs at least 32 "
                "(MIN_ADAPTATION_BATCHES=4 batches of global_batch_size=8, and at least "
                "MIN_ADAPTATION_EXAMPLES=32); give more text data") in err
        assert snapshot(run_dir) == before  # --fresh deletes only after the checks


def test_another_source_or_none_on_a_continued_run_is_refused(env, tmp_path, capsys):
    run_dir = tmp_path / "adapted"
    other = tmp_path / "other_source"
    shutil.copytree(env["source"], other)
    random_dir = tmp_path / "from_random"
    with PretrainingRun(adapt_config(env), str(run_dir), progress=False, init_from=env["source"]) as run:
        run.prepare(*new_text(env))
        run.train(stop_after=12)
    with PretrainingRun(adapt_config(env), str(random_dir), progress=False) as run:
        run.prepare(*new_text(env))
        run.train(stop_after=12)
    cases = [
        (run_dir, ["--init-from", str(other)],
         [f"was initialised from {os.path.abspath(env['source'])!r} (fingerprint ",
          f"but this command names {os.path.abspath(other)!r} (fingerprint ",
          f"Resume it with --init-from {env['source']}, or use another --run-dir"]),
        (run_dir, [], [f"was initialised from {os.path.abspath(env['source'])!r} (init_from.json); "
                       f"resume it with the same --init-from {env['source']}"]),
        (random_dir, ["--init-from", env["source"]],
         [f"holds a run that started from random weights (it has no init_from.json), so --init-from "
          f"{env['source']!r} cannot apply to it"]),
    ]
    for directory, extra, messages in cases:
        before = snapshot(directory)
        assert pretrain(env, directory, "--text", env["text"], *extra) == 2
        err = capsys.readouterr().err
        assert all(message in err for message in messages), err
        assert snapshot(directory) == before
