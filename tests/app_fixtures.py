"""Test fixtures of the app, task and pipeline tests: a tiny real encoder, small data, app scripts.

    run_dir, encoder_dir = tiny_encoder(tmp_root)   # ~10 s on 2 cores, cached per process
    app_module("sentiment").run(...)                 # apps/sentiment/train.py as a module

The encoder is the shared trunk at 2 layers, hidden 16, on text (WordPiece, 200 tokens, 24
positions), 8x8 grayscale images (2x2 patches) and 1-second audio, pretrained for a few steps
on real sentences, scikit-learn's digits and tones. It is exported by `export_run` (no TFLite)
as ROOT/saved_models/mmpretrain_tiny/1, like the demo's encoder.
"""

import contextlib
import importlib.util
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_PRESET = "apps-test"
TEST_BACKBONE = dict(num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32)
_CACHE = {}


@contextlib.contextmanager
def _test_preset():
    from mmpretrain.presets import BACKBONE_PRESETS

    added = TEST_PRESET not in BACKBONE_PRESETS
    BACKBONE_PRESETS.setdefault(TEST_PRESET, dict(TEST_BACKBONE))
    try:
        yield TEST_PRESET
    finally:
        if added:
            BACKBONE_PRESETS.pop(TEST_PRESET, None)


def tiny_pretraining_data():
    """(train, validation) dicts of real sentences, digit images and tones."""
    from sklearn.datasets import load_digits

    path = "/usr/share/games/fortunes/computers"
    texts = []
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            texts = [line.strip() for line in f if len(line.strip()) > 20][:300]
    if len(texts) < 100:
        texts = [f"the quick brown fox number {i} jumps over the lazy dog" for i in range(300)]
    images = (load_digits().images[:300] * 255 / 16).astype(np.uint8)[..., None]
    rng = np.random.default_rng(0)
    audio = [(0.3 * np.sin(np.arange(int(16000 * rng.uniform(0.4, 1.0))) * rng.uniform(0.02, 0.2)))
             .astype(np.float32) for _ in range(40)]
    train = {"text": texts[:-40], "image": images[:-40], "audio": audio[:-8]}
    validation = {"text": texts[-40:], "image": images[-40:], "audio": audio[-8:]}
    return train, validation


def tiny_run(root, steps=4, lower_case=True, text_only=False):
    """A finished pretraining run directory under `root` (built once per process); with
    `lower_case=False` its vocabulary is cased (what the translation app needs); `text_only`
    pretrains the text modality alone (faster)."""
    from mmpretrain.training.config import PretrainConfig
    from mmpretrain.training.pretraining_run import PretrainingRun

    run_dir = os.path.join(os.fspath(root), "runs", "tiny")
    if os.path.exists(os.path.join(run_dir, "backbone.keras")):
        return run_dir
    with _test_preset() as preset:
        config = PretrainConfig(
            preset=preset, vocabulary_size=200, sequence_length=24, image_size=8, image_patch_size=2,
            audio_seconds=1.0, steps=steps, warmup_steps=1, eval_every=1000, checkpoint_every=1000,
            global_batch_size=8, validation_examples=8, max_predictions=4, decoder_dim=16,
            text_lower_case=lower_case, **({"mix": {"text": 1}} if text_only else {}),
        )
        run = PretrainingRun(config, run_dir, progress=False)
        run.prepare(*tiny_pretraining_data())
        run.train()
    return run_dir


def tiny_encoder(root, steps=4):
    """(run_dir, encoder version dir) of the tiny run exported as ROOT/saved_models/mmpretrain_tiny."""
    from mmpretrain.export.run_export import export_run

    run_dir = tiny_run(root, steps)
    key = os.path.abspath(run_dir)
    if key not in _CACHE or not os.path.isdir(_CACHE[key]):
        result = export_run(run_dir, output=os.path.join(os.fspath(root), "saved_models"),
                            name="mmpretrain_tiny", tflite=False)
        _CACHE[key] = result.encoder_dir
    return run_dir, _CACHE[key]


def tiny_app_data(root, tones=None, tones_per_class=30):
    """The tiny encoder under `root` and the small data sets the app tests use (each built once):
    {"root", "run", "encoder", "words" (a CSV of word classes), "tones" (root/TONES, a folder of
    two tone classes, when `tones` names it), "models"}."""
    from mmpretrain.modalities.text import load_vocabulary

    run_dir, encoder_dir = tiny_encoder(root)
    words = os.path.join(os.fspath(root), "words.csv")
    if not os.path.exists(words):
        word_table(words, load_vocabulary(os.path.join(run_dir, "vocab.txt")))
    data = {"root": root, "run": run_dir, "encoder": encoder_dir, "words": words,
            "models": os.path.join(os.fspath(root), "saved_models")}
    if tones:
        data["tones"] = os.path.join(os.fspath(root), tones)
        if not os.path.isdir(data["tones"]):
            tone_folder(data["tones"], per_class=tones_per_class)
    return data


def word_table(path, vocabulary, rows_per_class=40, seed=0):
    """A CSV (text,label) whose classes use disjoint vocabulary words: easy to learn."""
    import csv

    words = [w for w in vocabulary[5:] if w.isalpha() and len(w) > 2][:40]
    groups = {"alpha": words[0::2], "beta": words[1::2]}
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(rows_per_class):
            for label, group in groups.items():
                writer.writerow([" ".join(rng.choice(group, size=5)) + f" {i}", label])
    return path


def tone_folder(root, per_class=30, seed=0):
    """root/low/*.wav and root/high/*.wav: tones at 16 kHz, two easily told-apart classes."""
    import soundfile

    rng = np.random.default_rng(seed)
    for name, (low, high) in {"low": (200, 400), "high": (2500, 4000)}.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            t = np.arange(int(16000 * rng.uniform(0.3, 0.9))) / 16000
            wave = 0.4 * np.sin(2 * np.pi * rng.uniform(low, high) * t) + 0.01 * rng.standard_normal(t.size)
            soundfile.write(os.path.join(root, name, f"{i:03d}.wav"), wave.astype(np.float32), 16000)
    return root


def app_module(name, script="train.py"):
    """apps/NAME/SCRIPT loaded from its file, as `python apps/NAME/SCRIPT` would run it."""
    path = os.path.join(ROOT, "apps", name, script)
    spec = importlib.util.spec_from_file_location(f"app_{name}_{script[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_app_models(root):
    """The tiny encoder and the four app models the pipelines use (1 epoch, no TFLite), built
    under `root` once per session -> {"root", "run", "encoder", "output", "tones", "words"}."""
    from mmpretrain.modalities.text import load_vocabulary

    run_dir, encoder_dir = tiny_encoder(root)
    output = os.path.join(str(root), "saved_models")
    words, tones = os.path.join(str(root), "words.csv"), os.path.join(str(root), "tones")
    if not os.path.exists(words):
        word_table(words, load_vocabulary(os.path.join(run_dir, "vocab.txt")))
    if not os.path.isdir(tones):
        tone_folder(tones)
    quick = dict(encoder=encoder_dir, output=output, epochs=1, tflite=False, verbose=0,
                 report_dir=os.path.join(str(root), "pipeline-reports"))
    if not os.path.isdir(os.path.join(output, "sentiment")):
        app_module("sentiment").run(data=words, **quick)
    if not os.path.isdir(os.path.join(output, "image_classification")):
        app_module("image_classification").run(data="digits", max_train_examples=100, max_test_examples=50, **quick)
    if not os.path.isdir(os.path.join(output, "keyword_spotting")):
        app_module("keyword_spotting").run(data=tones, **quick)
    if not os.path.isdir(os.path.join(output, "fill_mask")):
        app_module("fill_mask", "export.py").run(run_dir=run_dir, output=output, top_k=8, tflite=False, verbose=0,
                                                 eval_texts=tiny_pretraining_data()[1]["text"][:8])
    return {"root": root, "run": run_dir, "encoder": encoder_dir, "output": output, "tones": tones, "words": words}


def post_json(url, body, timeout=120):
    """(HTTP status, parsed JSON body) of a real POST of `body` as JSON to `url`."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
