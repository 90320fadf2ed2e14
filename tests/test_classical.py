"""The classical baselines (apps/common/classical.py): the neural runs' own examples, better than
chance on an easy set, a reason instead of a crash, and their column in compare and the demo."""

import json
import os

import numpy as np
import pytest

from apps.common.classical import classical_baseline
from mmpretrain.data.data_splits import DataSplits

DIGITS_INFO = {"image_size": 8, "image_channels": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from app_fixtures import tiny_encoder

    root = tmp_path_factory.getbasetemp() / "mmpretrain-apps"
    _, encoder_dir = tiny_encoder(root)
    return encoder_dir


@pytest.fixture(scope="module")
def digits():
    from mmpretrain.data.labeled import load_image_data

    return load_image_data("digits", DIGITS_INFO)


def test_the_baseline_fits_the_very_examples_of_the_neural_run(tiny, digits):
    from apps.common import training
    from apps.common.scripts import load_script

    script = load_script("image_classification")
    for fraction, caps in ((0.1, (300, 100)), (1.0, (None, None))):
        settings = training.settings(script.APP, script.MODALITY, script.DEFAULTS, tiny, "digits",
                                     label_fraction=fraction, max_train_examples=caps[0],
                                     max_test_examples=caps[1], export=False, verbose=0)
        neural = training.labeled_data(digits, settings).counts
        baseline = classical_baseline(digits, "image", fraction, *caps, seed=0, info=settings.encoder_config)
        assert baseline["train_subset"] == neural["train_subset"]
        for key in ("train_examples", "validation_examples", "test_examples"):
            assert baseline[key] == neural[key], key
    # another seed draws another subset
    other = classical_baseline(digits, "image", 0.1, 300, 100, seed=1, info=DIGITS_INFO)
    assert other["train_subset"] != classical_baseline(digits, "image", 0.1, 300, 100, seed=0)["train_subset"]


def test_the_baseline_beats_chance_on_digits_and_picks_c_on_validation(digits):
    for fraction, floor in ((0.1, 0.75), (1.0, 0.9)):
        result = classical_baseline(digits, "image", fraction, seed=0, info=DIGITS_INFO)
        assert result["reason"] is None
        assert result["test_accuracy"] > floor  # 10 classes: chance is ~0.1
        assert result["C"] in (0.01, 0.1, 1.0, 10.0, 100.0)
        by_c = result["validation_by_C"]
        assert result["validation_accuracy"] == by_c[str(result["C"])] == max(by_c.values())
        assert result["seconds"] < 30


def test_the_c_search_subsamples_a_large_training_set(digits):
    from apps.common.classical import _pixels, fit_and_score

    x = {s: _pixels(digits.inputs(s)) for s in ("train", "validation", "test")}
    y = {s: digits.labels(s) for s in x}
    c, scores, accuracy, searched, _ = fit_and_score(x["train"], y["train"], x["validation"], y["validation"],
                                                  x["test"], y["test"], search_above=1000, search_examples=400)
    assert 390 <= searched <= 410 < len(y["train"]) and accuracy > 0.9 and set(scores) >= {c}


def text_splits(train_texts, train_labels):
    texts = ["great fun movie", "awful boring film", "great acting", "boring plot"]
    return DataSplits({"train": train_texts, "validation": texts, "test": texts}, "text",
                      labels={"train": train_labels, "validation": [1, 0, 1, 0], "test": [1, 0, 1, 0]},
                      class_names=["negative", "positive"])


def test_text_and_audio_baselines_learn_easy_sets():
    words = ["great fun movie", "great acting here", "fun great film"] * 4 + \
            ["awful boring film", "boring plot awful", "awful acting"] * 4
    result = classical_baseline(text_splits(words, [1] * 12 + [0] * 12), "text", 1.0)
    assert result["test_accuracy"] == 1.0 and result["method"].startswith("TF-IDF")
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000

    def tones(low, n):
        return [(0.3 * np.sin(2 * np.pi * rng.uniform(low, 2 * low) * t)).astype(np.float32) for _ in range(n)]

    clips = {s: tones(300, n) + tones(3000, n) for s, n in (("train", 12), ("validation", 4), ("test", 4))}
    labels = {s: [0] * (len(c) // 2) + [1] * (len(c) // 2) for s, c in clips.items()}
    audio = DataSplits(clips, "audio", labels=labels, class_names=["low", "high"])
    result = classical_baseline(audio, "audio", 1.0, info={"max_audio_seconds": 1.0})
    assert result["test_accuracy"] == 1.0, result


def test_a_one_class_subset_or_no_vocabulary_gives_a_reason_not_a_crash():
    from apps.common.classical import cell

    one_class = classical_baseline(text_splits(["great film", "fun movie", "great fun"], [1, 1, 1]), "text", 1.0)
    assert one_class["test_accuracy"] is None
    assert "1 class(es)" in one_class["reason"] and "needs two classes" in one_class["reason"]
    assert cell(one_class).startswith("n/a (the training subset has 3 example(s) of 1 class(es)")
    no_words = classical_baseline(text_splits(["a", "b", "c", "d"], [1, 0, 1, 0]), "text", 1.0)
    assert no_words["test_accuracy"] is None and "empty vocabulary" in no_words["reason"]
    unknown = classical_baseline(text_splits(["a b", "c d"], [1, 0]), "video", 1.0)
    assert "no classical baseline for 'video'" in unknown["reason"]


def fake_rows():
    def baseline(accuracy, seed, reason=None):
        return {"test_accuracy": accuracy, "reason": reason, "train_examples": 10, "seed": seed}

    rows = []
    for seed, (p, s, c) in enumerate([(0.8, 0.6, 0.7), (0.9, 0.7, None)]):
        for init, accuracy in (("pretrained", p), ("scratch", s)):
            b = baseline(c, seed, None if c is not None else "the training subset has 1 class")
            rows.append({"app": "sentiment", "data": "vader", "initialization": init, "seed": seed, "freeze": False,
                         "label_fraction": 0.1, "labeled_examples": 10, "test_examples": 50,
                         "test_accuracy": accuracy, "majority_baseline": 0.5, "seconds": 1.0,
                         "classical": c, "classical_baseline": b})
    return rows


def test_compare_table_shows_three_columns_with_mean_and_std_over_seeds():
    from apps.common.compare import format_runs, format_table

    table = format_table(fake_rows())
    header, _, line = table.splitlines()
    assert "| pretrained | scratch | classical |" in header
    assert "0.8500 ± 0.0707" in line and "0.6500 ± 0.0707" in line  # pretrained, scratch
    assert "0.7000 (n/a for 1 seed(s): the training subset has 1 class)" in line
    assert line.endswith("| 0,1 |")
    assert format_runs(fake_rows()).count("\n| sentiment |") == 4


def test_compare_cli_classical_only_over_seeds(tiny, tmp_path, monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_cli", os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apps", "compare.py"))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["image_classification", "--data", "digits", "--encoder", tiny, "--classical-only",
                     "--seeds", "2", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| image_classification")]
    assert len(lines) == 2 and all(" ± " in line and "| - | - |" in line for line in lines)
    rows = json.load(open(tmp_path / "runs/apps/image_classification/digits/compare.json"))
    assert sorted({(r["seed"], r["label_fraction"]) for r in rows}) == [(0, 0.1), (0, 1.0), (1, 0.1), (1, 1.0)]
    assert all(r["initialization"] is None and r["classical"] > 0.5 for r in rows)
    assert cli.main(["image_classification", "--seeds", "0"]) == 2
    assert cli.main(["fill_mask", "--classical-only"]) == 2


def test_demo_table_and_plot_have_the_classical_column(tmp_path, monkeypatch):
    from mmpretrain import demo

    rows = [dict(r, app="keyword_spotting") for r in fake_rows() if r["seed"] == 1]
    rows += [dict(r, app="sentiment", label_fraction=1.0) for r in fake_rows() if r["seed"] == 0]
    table = demo.summary_table(rows)
    assert "classical" in table.splitlines()[0]
    sentiment = next(line for line in table.splitlines() if line.startswith("sentiment"))
    assert sentiment.split()[2:6] == ["0.8000", "0.6000", "0.7000", "+0.2000"]
    keywords = next(line for line in table.splitlines() if line.startswith("keyword_spotting"))
    assert "n/a" in keywords and "(classical: the training subset has 1 class)" in keywords
    assert demo.generalization_table(rows) == ""  # no extra test split: no second table
    shifted = {"test_amazon": {"accuracy": 0.6, "balanced_accuracy": 0.55, "examples": 10}}
    for r in rows:
        if r["app"] == "sentiment":
            r["generalization"] = shifted
            r["classical_baseline"] = dict(r["classical_baseline"], generalization={
                "test_amazon": {"accuracy": 0.7, "balanced_accuracy": 0.65, "examples": 10}})
    lines = demo.generalization_table(rows).splitlines()
    assert lines[0].startswith("balanced accuracy where the models were not trained")
    assert lines[2].split() == ["sentiment", "test_amazon", "100%", "0.5500", "0.5500", "0.6500"]
    monkeypatch.setattr(demo, "RUN_DIR", str(tmp_path))
    (tmp_path / "eval.jsonl").write_text(json.dumps({"step": 0, "text_loss": 2.0}) + "\n"
                                         + json.dumps({"step": 1, "text_loss": 1.0}) + "\n")
    demo.save_plots(rows)
    assert (tmp_path / "apps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_stage_apps_fits_each_baseline_once_on_the_runs_examples(tmp_path, monkeypatch, digits):
    """stage_apps' wiring, with stand-in app scripts (no fine-tuning): one baseline per app and
    fraction, on the examples `run` uses, attached to that fraction's rows; an apps.json of an
    older demo (rows without baselines) gets them without redoing any run."""
    from apps.common import training
    from mmpretrain import demo
    from mmpretrain.export import model_dirs

    calls = []

    def script(app):
        modality = {"sentiment": "text", "image_classification": "image", "keyword_spotting": "audio"}[app]
        defaults = training.AppDefaults(data="fake", epochs=1, learning_rate=1e-3, frozen_learning_rate=1e-3,
                                        max_train_examples=600)
        data = digits if modality == "image" else (
            text_splits(["good film", "bad film", "good fun", "bad plot"] * 5, [1, 0, 1, 0] * 5)
            if modality == "text" else None)

        def run(data, encoder, splits, from_scratch, label_fraction, export, verbose):
            calls.append((app, from_scratch, label_fraction))
            idx = training.split_indices(splits, label_fraction, **training.caps(defaults), seed=0)
            return {"data": data, "seed": 0, "test_accuracy": 0.5, "train_examples": len(idx["train"]),
                    "test_examples": len(idx["test"]), "train_subset": training.subset_digest(idx["train"])}

        if data is None:  # audio: a few tones
            t = np.arange(4000) / 16000
            clips = [(0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in [300, 320, 3000, 3100] * 5]
            data = DataSplits({s: clips for s in ("train", "validation", "test")}, "audio",
                              labels={s: [0, 0, 1, 1] * 5 for s in ("train", "validation", "test")},
                              class_names=["low", "high"])
        return {"load_data": lambda name, info: data, "run": run, "DEFAULTS": defaults, "MODALITY": modality,
                "training": training}

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "app_script", lambda app, name="train.py": script(app) if name == "train.py"
                        else {"run": lambda **kwargs: None})
    monkeypatch.setattr(model_dirs, "resolve_encoder", lambda path: (path, dict(DIGITS_INFO, max_audio_seconds=1.0)))
    demo.stage_apps(force=False)
    rows = json.load(open(demo.apps_report_path()))
    assert len(rows) == len(calls) == 12
    for r in rows:
        assert r["classical_baseline"]["train_subset"] == r["train_subset"], r["app"]
        assert r["classical"] == r["classical_baseline"]["test_accuracy"] is not None
    assert "classical" in demo.summary_table(rows)
    for r in rows:  # an apps.json written before the baselines existed
        del r["classical"], r["classical_baseline"]
    with open(demo.apps_report_path(), "w") as f:
        json.dump(rows, f)
    calls.clear()
    demo.stage_apps(force=False)
    rows = json.load(open(demo.apps_report_path()))
    assert not calls and all(r["classical_baseline"]["train_subset"] == r["train_subset"] for r in rows)
