"""The classifier apps' --adapt STEPS: continued pretraining on the training inputs, then fine-tuning.

The encoder is the tiny exported one of tests/app_fixtures.py (preset `apps-test`, registered
while the test runs); each app adapts it for a few steps on its own training inputs, exports the
adapted encoder and fine-tunes it for one epoch.
"""

import json
import os

import pytest
from app_fixtures import _test_preset, app_module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from app_fixtures import tiny_app_data

    return tiny_app_data(tmp_path_factory.getbasetemp() / "mmpretrain-apps", tones="adapt-tones",
                         tones_per_class=40)


def run_app(tiny, app, report_dir, **options):
    with _test_preset():
        return app_module(app).run(encoder=tiny["encoder"], report_dir=str(report_dir), epochs=1, export=False,
                                   verbose=0, **options)


def test_sentiment_adapts_on_its_training_inputs_only_then_fine_tunes(tiny, tmp_path, monkeypatch):
    from mmpretrain.data.labeled import load_text_data
    from mmpretrain.training.pretraining_run import PretrainingRun

    seen = []
    prepare = PretrainingRun.prepare

    def spy(self, train_raw, validation_raw):
        seen.append((list(train_raw["text"]), list(validation_raw["text"])))
        return prepare(self, train_raw, validation_raw)

    monkeypatch.setattr(PretrainingRun, "prepare", spy)
    metrics = run_app(tiny, "sentiment", tmp_path / "report", data=tiny["words"], adapt=12)
    adaptation = metrics["adaptation"]
    assert adaptation["steps"] == 12 and metrics["tag"] == "adapted12-100pct"
    assert adaptation["source_encoder"] == os.path.abspath(tiny["encoder"])
    assert metrics["encoder"] == adaptation["encoder"] != adaptation["source_encoder"]
    assert adaptation["encoder"].startswith(str(tmp_path / "report" / "adapt-12-"))
    first, last = adaptation["held_out_loss"]
    assert last < first  # held-out masked loss on held-out training inputs
    # The pretraining saw training inputs only (train and held-out part), never validation/test.
    splits = load_text_data(tiny["words"])
    (train, held_out), = seen
    assert len(train) == adaptation["train_inputs"] and len(held_out) == adaptation["held_out_inputs"]
    training_texts = {str(t) for t in splits.inputs("train")}
    others = {str(t) for name in ("validation", "test") for t in splits.inputs(name)}
    assert set(train + held_out) <= training_texts and not (set(train + held_out) & others)
    assert not set(train) & set(held_out)
    # The adapted encoder keeps the source's vocabulary.
    vocab = open(os.path.join(tiny["encoder"], "assets", "vocab.txt")).read()
    assert open(os.path.join(adaptation["encoder"], "assets", "vocab.txt")).read() == vocab
    with open(metrics["metrics_json"]) as f:
        assert json.load(f)["adaptation"] == adaptation
    # The same command again reuses the adapted encoder: no second pretraining, no second export.
    eval_log = open(os.path.join(adaptation["run_dir"], "eval.jsonl")).read()
    again = run_app(tiny, "sentiment", tmp_path / "report", data=tiny["words"], adapt=12)
    assert len(seen) == 1 and again["encoder"] == adaptation["encoder"]
    assert open(os.path.join(adaptation["run_dir"], "eval.jsonl")).read() == eval_log
    assert sorted(os.listdir(os.path.dirname(adaptation["encoder"]))) == ["1"]


@pytest.mark.parametrize("app", ["image_classification", "keyword_spotting"])
def test_image_and_audio_apps_adapt_their_encoder(tiny, tmp_path, app):
    data = {"image_classification": dict(data="digits", max_train_examples=100, max_test_examples=40),
            "keyword_spotting": dict(data=tiny["tones"])}[app]
    metrics = run_app(tiny, app, tmp_path / "report", adapt=6, **data)
    adaptation = metrics["adaptation"]
    assert metrics["encoder"] == adaptation["encoder"] and metrics["tag"] == "adapted6-100pct"
    from mmpretrain.export.model_dirs import encoder_config

    info = encoder_config(adaptation["encoder"])
    assert info["modalities"] == [metrics["modality"]] and info["pretraining"]["steps"] == 6
    assert all(v == v for v in adaptation["held_out_loss"]) and 0 <= metrics["test_accuracy"] <= 1


def test_adapt_is_refused_with_from_scratch_and_needs_positive_steps(tiny, tmp_path, capsys):
    with pytest.raises(ValueError, match="--adapt STEPS continues the pretraining of the chosen encoder, "
                                         "and --from-scratch discards its weights: drop one of them."):
        run_app(tiny, "sentiment", tmp_path / "report", data=tiny["words"], adapt=5, from_scratch=True)
    assert not (tmp_path / "report").exists()
    with pytest.raises(SystemExit) as exit_info:
        app_module("sentiment").main(["--adapt", "0", "--data", tiny["words"]])
    assert exit_info.value.code == 2
    assert "--adapt: expected a number of steps >= 1, e.g. 200; received '0'" in capsys.readouterr().err
