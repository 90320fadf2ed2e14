"""Speech to text: transcripts and the alphabet, CTC decoding, the recogniser, its export and pipeline.

The speech is real espeak-ng and flite output of a few sentences; the model is the shared trunk
at 2 layers, width 16 (test preset sizes), trained for a few seconds.
"""

import os

import numpy as np
import pytest

SENTENCES = (
    "The cat sat on the mat today. A dog ran over the hill quickly. We went to the market in the "
    "morning. She sells sea shells by the shore. He reads a long book every night. They play music "
    "in the park on sunday. My brother likes green apples very much. Our teacher speaks three "
    "languages fluently. The train leaves the station at noon. Birds sing loudly in the early spring. "
    "Please close the door behind you. I cannot find my keys anywhere. In 1999 we moved away. "
    "The river runs slowly past the old mill. A small boat floats near the dock. Children laugh at "
    "the funny clown. The baker makes fresh bread each morning. Rain fell hard on the tin roof. "
    "Snow covers the quiet mountain village. The old man walks his dog at dawn. Nobody answered the "
    "phone last night. The garden needs water after the long summer. She painted the fence bright "
    "blue. We watched the stars from the beach. The library opens early on weekdays. A cold wind "
    "blew through the open window. He fixed the broken chair with glue. The kitten chased a ball of "
    "yarn. Fresh coffee smells wonderful in the kitchen. The bus was late again this morning. They "
    "built a sand castle by the sea. My sister plays the violin beautifully. The museum shows "
    "paintings from many countries. A red car stopped at the corner. We ate dinner under the old oak "
    "tree. The doctor listened to his heart carefully. Leaves turn yellow and red in autumn. The "
    "farmer grows corn and beans. Thunder rolled across the dark valley."
)


def _tiny_backbone(max_seconds, seed=0):
    import keras

    from mmpretrain.backbone import MultimodalBackbone
    from mmpretrain.modalities.audio_preprocessor import AudioPreprocessor

    config = dict(n_mels=32, patch_frequency=16, patch_time=8, max_seconds=max_seconds)
    preprocessor = AudioPreprocessor(**config)
    keras.utils.set_random_seed(seed)
    backbone = MultimodalBackbone({"audio": preprocessor.embedding_config()}, num_layers=2, hidden_dim=16,
                                  num_heads=2, intermediate_dim=32)
    return backbone, preprocessor.get_config()


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    from mmpretrain.data.sources.transcribed_speech import load_transcribed_speech

    return load_transcribed_speech([SENTENCES], num_sentences=40, max_seconds=4.0, progress=False)


@pytest.fixture(scope="module")
def trained(speech):
    """A recogniser fitted on the training clips for a few epochs, and its losses."""
    import keras

    from mmpretrain.tasks.ctc_recognizer import CTCRecognizer

    backbone, config = _tiny_backbone(4.0)
    model = CTCRecognizer(backbone, config, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    data = model.clip_dataset(speech.clips["train"][:10], speech.transcripts["train"][:10], 4, shuffle_seed=0)
    history = model.fit(data, epochs=30, verbose=0, shuffle=False)
    return model, history.history["loss"]


def test_transcripts_are_normalised_to_the_alphabet():
    from mmpretrain.tasks.ctc_recognizer import (
        encode_transcript,
        frames_needed,
        normalize_transcript,
    )

    assert normalize_transcript("Don't-stop, Café! 'Quoted' rock'n'roll") == "don't stop cafe quoted rock'n'roll"
    assert normalize_transcript("  ...  ") == ""
    assert list(encode_transcript("ab a")) == [2, 3, 1, 2]
    assert frames_needed(encode_transcript("hello")) == 6  # the double l needs a blank between
    with pytest.raises(ValueError, match="outside the alphabet"):
        encode_transcript("Hello")
    with pytest.raises(ValueError, match="must be a string"):
        normalize_transcript(3)


def test_greedy_and_beam_decoding_of_hand_built_logits():
    import tensorflow as tf

    from mmpretrain.tasks.ctc_recognizer import ALPHABET, CTCRecognizer, greedy_alignment

    path = " hh_e_ll_l_oo  _w "  # '_' is the blank: repeats merge, a blank separates the two l's
    ids = [0 if c == "_" else ALPHABET.index(c) + 1 for c in path]
    logits = np.full([1, len(ids) + 3, len(ALPHABET) + 1], -5.0, np.float32)
    logits[0, np.arange(len(ids)), ids] = 5.0
    logits[0, len(ids):, 5] = 5.0  # frames past the clip's length are ignored
    text, chars = greedy_alignment(logits[0], len(ids))
    assert text == "hello w"
    assert [f for _, f in chars] == [0, 1, 4, 6, 9, 11, 13, 16, 17]  # outer spaces dropped from the text only
    backbone, config = _tiny_backbone(1.0)
    model = CTCRecognizer(backbone, config)
    for beams in (1, 4):
        decoded, _ = model.decode_logits(tf.constant(logits), tf.constant([len(ids)]), beam_width=beams)
        assert [t.decode() for t in decoded.numpy()] == ["hello w"]


def test_the_sparse_ctc_loss_equals_keras_ctc_loss():
    import keras
    import tensorflow as tf

    from mmpretrain.tasks.ctc_recognizer import ctc_losses

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=[3, 20, 29]).astype(np.float32))
    labels = tf.constant([[3, 3, 4, 0, 0], [1, 2, 3, 4, 5], [7, 0, 0, 0, 0]], tf.int32)
    lengths, frames = tf.constant([3, 5, 1]), tf.constant([20, 12, 5])
    want = keras.ops.ctc_loss(labels, logits, lengths, frames, mask_index=0).numpy()
    np.testing.assert_allclose(ctc_losses(labels, lengths, logits, frames).numpy(), want, rtol=1e-5)


def test_spec_augment_masks_bands_and_frames_with_the_clip_mean():
    import tensorflow as tf

    from mmpretrain.tasks.ctc_recognizer import CTCRecognizer

    backbone, config = _tiny_backbone(2.0)
    model = CTCRecognizer(backbone, config)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=[2, 32000]).astype(np.float32) * 0.1
    features = model.preprocessor(batch, np.asarray([32000, 16000], np.int32))
    before = model.preprocessor.unpatchify(features["patches"]).numpy()
    after = model.preprocessor.unpatchify(model._spec_augment(features, tf.constant([3, 4], tf.int64))).numpy()
    changed = before != after
    assert changed.any(axis=(1, 2)).all()  # every clip gets masks
    assert changed.mean() < 0.6
    for i in range(2):
        assert len(np.unique(after[i][changed[i]])) == 1  # one fill value per clip: its mean
    again = model.preprocessor.unpatchify(model._spec_augment(features, tf.constant([3, 4], tf.int64))).numpy()
    np.testing.assert_array_equal(after, again)  # seeded


def test_word_timestamps_are_monotonic_and_inside_the_clip():
    from mmpretrain.tasks.ctc_recognizer import word_timestamps

    chars = [("h", 2), ("i", 4), (" ", 6), ("y", 9), ("o", 10), (" ", 12), (" ", 13), ("u", 20)]
    words = word_timestamps(chars, 0.04, duration=0.83)
    assert [w["text"] for w in words] == ["hi", "yo", "u"]
    assert words[0]["timestamp"] == (0.08, 0.2)
    ends = [t for w in words for t in w["timestamp"]]
    assert ends == sorted(ends) and ends[-1] == 0.83  # the last word's end is cut at the clip's end


def test_transcribed_speech_splits_hold_out_sentences_voices_and_flite(speech):
    from mmpretrain.data.sources.transcribed_speech import SPLITS

    assert set(speech.clips) == set(SPLITS)
    sentences = {split: set(texts) for split, texts in speech.transcripts.items()}
    assert not sentences["train"] & (sentences["validation"] | sentences["test"])
    assert sentences["test_flite"] <= sentences["test"] | {""}  # the test sentences, another synthesizer
    voices = speech.counts["voices"]
    assert all(v.startswith("espeak-ng:") for split in ("train", "validation", "test") for v in voices[split])
    assert all(v.startswith("flite:") for v in voices["test_flite"])
    assert not set(voices["train"]) & set(voices["test"])
    assert not any("1999" in t for texts in speech.transcripts.values() for t in texts)  # digits are left out
    assert all(len(c) <= 4 * 16000 for clips in speech.clips.values() for c in clips)


def test_excluded_sentences_never_enter_the_speech_data():
    from mmpretrain.data.sources.transcribed_speech import asr_sentences

    every = asr_sentences([SENTENCES])
    assert "The cat sat on the mat today." in every
    kept = asr_sentences([SENTENCES], exclude=["the cat sat on the mat today"])
    assert "The cat sat on the mat today." not in kept and len(kept) == len(every) - 1


def test_long_clips_are_dropped_not_cut(speech):
    from mmpretrain.data.sources.transcribed_speech import load_transcribed_speech

    short = load_transcribed_speech([SENTENCES], num_sentences=40, max_seconds=1.2, progress=False)
    kept = sum(short.counts[s] for s in ("train", "validation", "test"))
    dropped = sum(short.counts["dropped_too_long"][s] for s in ("train", "validation", "test"))
    assert dropped > 0 and kept + dropped == sum(speech.counts[s] + speech.counts["dropped_too_long"][s]
                                                 for s in ("train", "validation", "test"))


def test_ctc_loss_falls_and_the_model_reloads_with_the_same_transcripts(trained, speech, tmp_path):
    import keras

    model, losses = trained
    assert losses[-1] < 0.7 * losses[0] and losses[-1] < min(losses[:10]), losses
    path = str(tmp_path / "model.keras")
    model.save(path)
    again = keras.saving.load_model(path)
    clips = _clips(speech, 3)
    assert again.transcribe(clips) == model.transcribe(clips)


def test_positions_resize_along_time_and_from_run_keeps_the_encoder(tmp_path_factory):
    from app_fixtures import tiny_run

    from mmpretrain.export.run_loader import load_run
    from mmpretrain.tasks.ctc_recognizer import CTCRecognizer, resize_positions

    table = np.arange(3 * 2 * 4, dtype=np.float32).reshape(6, 4)
    assert np.array_equal(resize_positions(table, 3, 3, 2), table)
    longer = resize_positions(table, 3, 5, 2).reshape(5, 2, 4)
    assert np.allclose(longer[0], table.reshape(3, 2, 4)[0]) and np.allclose(longer[-1], table.reshape(3, 2, 4)[-1])
    assert np.allclose(longer[2], table.reshape(3, 2, 4)[1])
    run = load_run(tiny_run(tmp_path_factory.getbasetemp() / "mmpretrain-apps"))  # the app tests' run
    pretrained = CTCRecognizer.from_run(run, max_seconds=3.0)
    scratch = CTCRecognizer.from_run(run, from_scratch=True, max_seconds=3.0)
    theirs = run.backbone.blocks[0].get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(pretrained.backbone.blocks[0].get_weights(), theirs))
    assert not all(np.array_equal(a, b) for a, b in zip(scratch.backbone.blocks[0].get_weights(), theirs))
    assert pretrained.count_params() == scratch.count_params()
    assert pretrained.backbone.embedders["audio"].max_patches == pretrained.preprocessor.max_patches
    with pytest.raises(ValueError, match="max_seconds must be a number of seconds"):
        CTCRecognizer.from_run(run, max_seconds=0)


def _clips(speech, count):
    """Held-out clips: the test split's, then the validation split's."""
    return (speech.clips["test"] + speech.clips["validation"])[:count]


def _export(trained, speech, root, tflite=False):
    from mmpretrain.export.ctc_export import export_ctc

    model, _ = trained
    return export_ctc(model, "speech_to_text", str(root), _clips(speech, 4), {}, tflite=tflite,
                      log=lambda m: None)


def test_export_transcribes_like_keras_in_a_fresh_process_and_tflite_agrees(trained, speech, tmp_path):
    import json
    import subprocess
    import sys

    model, _ = trained
    export = _export(trained, speech, tmp_path, tflite=True)
    assert export["parity"]["saved_model"] == {"exact_match": 1.0, "examples": 4}
    lite = export["parity"]["tflite"]
    assert lite["max_abs_log_prob_difference"] < 1e-3
    assert lite["greedy"] == {"identical_outputs": 1.0, "examples": 4}
    assert not [op for op in lite["ops"] if op.startswith("Flex")]
    clips = speech.clips["test_flite"][:2] + [np.zeros(8000, np.float32)]
    width = max(len(c) for c in clips)
    batch = np.stack([np.pad(c, (0, width - len(c))) for c in clips])
    script = (
        "import json, sys\nimport numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "data = np.load(sys.argv[2])\n"
        "out = m.signatures['transcribe'](waveforms=tf.constant(data['w']), lengths=tf.constant(data['n']))\n"
        "print(json.dumps([t.decode() for t in out['text'].numpy()]))\n"
    )
    np.savez(tmp_path / "batch.npz", w=batch, n=np.asarray([len(c) for c in clips], np.int32))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script, export["saved_model"], str(tmp_path / "batch.npz")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == model.transcribe(clips)


def test_pipeline_shapes_chunking_timestamps_and_bad_input(trained, speech, tmp_path, capsys):
    import soundfile

    import mmpretrain

    model, _ = trained
    export = _export(trained, speech, tmp_path)
    asr = mmpretrain.pipeline("automatic-speech-recognition", model=export["saved_model"])
    clip = speech.clips["test"][0]
    assert asr(clip) == {"text": model.transcribe([clip])[0]}
    assert asr(_clips(speech, 3)) == [{"text": t} for t in model.transcribe(_clips(speech, 3))]
    assert asr(np.zeros(16000, np.float32)) == {"text": ""}  # silence
    assert asr([np.zeros(800, np.float32)], return_timestamps="word") == [{"text": "", "chunks": []}]
    # A 44.1 kHz stereo file is mixed down and resampled; bytes and a given sampling rate work too.
    import librosa

    stereo = np.stack([librosa.resample(clip, orig_sr=16000, target_sr=44100)] * 2, axis=1)
    path = str(tmp_path / "stereo.wav")
    soundfile.write(path, stereo, 44100)
    from_file = asr(path)["text"]
    with open(path, "rb") as f:
        assert asr(f.read())["text"] == from_file
    assert asr(stereo[:, 0], sampling_rate=44100)["text"] == from_file
    # Long audio (three clips, 10 s and more) is chunked; word timestamps are ordered and inside it.
    long = np.concatenate([speech.clips["train"][i] for i in range(4)])
    out = asr(long, return_timestamps="word", chunk_length_s=2.0)
    stamps = [t for chunk in out["chunks"] for t in chunk["timestamp"]]
    assert stamps == sorted(stamps) and stamps[-1] <= len(long) / 16000 + 1e-6
    assert " ".join(c["text"] for c in out["chunks"]) == out["text"]
    whole = asr(long)  # longer than the model's 4 s: chunked at 4 s by default
    assert isinstance(whole["text"], str)
    # A 10-minute file: chunked windows, run batch by batch, with a progress bar.
    ten_minutes = np.tile(np.concatenate([clip, np.zeros(16000, np.float32)]), 600 * 16000 // (len(clip) + 16000) + 1)
    soundfile.write(str(tmp_path / "ten.flac"), ten_minutes[: 600 * 16000], 16000)
    out = asr(str(tmp_path / "ten.flac"), return_timestamps="word")
    assert out["chunks"] and out["chunks"][-1]["timestamp"][1] <= 600.0
    assert "transcribing" in capsys.readouterr().err
    with pytest.raises(ValueError, match="NaN/Inf"):
        asr(np.full(1600, np.nan, np.float32))
    with pytest.raises(ValueError, match="0 samples"):
        asr(np.zeros(0, np.float32))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(ValueError, match="corrupt or not"):
        asr(str(bad))
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(ValueError, match="corrupt or not"):
        asr(str(text_file))
    with pytest.raises(ValueError, match="chunk_length_s must be at most"):
        asr(clip, chunk_length_s=60)
    with pytest.raises(ValueError, match="return_timestamps must be"):
        asr(clip, return_timestamps="sentence")
    with pytest.raises(ValueError, match="is a 'automatic-speech-recognition' model, not a fill-mask one"):
        mmpretrain.pipeline("fill-mask", model=export["saved_model"])
    # The app's command line: one JSON line per file; a bad file is exit code 2 with the reason.
    import json

    from app_fixtures import app_module

    transcribe = app_module("speech_to_text", "transcribe.py")
    assert transcribe.main([path, "--model", export["saved_model"], "--timestamps", "word"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["file"] == path and line["text"] == asr(path, return_timestamps="word")["text"]
    assert transcribe.main([str(text_file), "--model", export["saved_model"]]) == 2
    assert "corrupt or not" in capsys.readouterr().err


def test_rest_server_transcribes_like_keras_and_refuses_bad_bodies(trained, speech, tmp_path):
    from app_fixtures import post_json

    from mmpretrain.serving.rest_server import make_server

    model, _ = trained
    _export(trained, speech, tmp_path)
    server = make_server(str(tmp_path), port=0).start_in_thread()
    clips = _clips(speech, 2)

    def post(body):
        return post_json(server.url + "/v1/models/speech_to_text:predict", body)

    try:
        width = max(len(c) for c in clips)
        instances = [{"waveforms": np.pad(c, (0, width - len(c))).tolist(), "lengths": len(c)} for c in clips]
        status, body = post({"instances": instances})
        assert status == 200, body
        assert [p["text"] if isinstance(p, dict) else p for p in body["predictions"]] == model.transcribe(clips)
        status, body = post({"instances": [{"waveforms": [float("nan")] * 10, "lengths": 10}]})
        assert status == 400 and "error" in body
        status, body = post({"instances": ["not audio"]})
        assert status == 400 and "error" in body
    finally:
        server.stop()


def test_speech_to_text_cli_refuses_bad_flags_before_training(capsys):
    from app_fixtures import app_module

    app = app_module("speech_to_text")
    for flags, message in ((["--epochs", "0"], "--epochs must be at least 1"),
                           (["--beam-width", "0"], "beam_width must be an integer"),
                           (["--augment", "reverb"], "Unknown augmentation"),
                           (["--max-seconds", "100"], "--max-seconds must be in")):
        assert app.main(flags + ["--run", "does-not-matter"]) == 2
        assert message in capsys.readouterr().err
