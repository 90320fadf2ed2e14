"""Audio front-end: librosa parity of the TF log-mel, patching, resampling, bad input.

Real speech from espeak-ng (synthesised once per session), real librosa as the reference.
Relative error is max|ours - librosa| / max|librosa| over the whole [frames, n_mels] array.
"""

import json
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from mmpretrain.modalities import audio

librosa = pytest.importorskip("librosa")
soundfile = pytest.importorskip("soundfile")

SENTENCE = "The quick brown fox jumps over the lazy dog, then it runs into the quiet forest."
TOLERANCE = 1e-3  # the brief's bound; measured ~1e-5


def librosa_log_mel(clip):
    """The reference: [frames, 64] dB."""
    mel = librosa.feature.melspectrogram(
        y=clip, sr=16000, n_fft=400, hop_length=160, n_mels=64, fmin=0, fmax=8000,
        center=True, pad_mode="constant", power=2.0,
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0).T


def relative_error(ours, reference):
    ours = np.asarray(ours)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    """espeak-ng sentence: the 22050 Hz file and its 16 kHz float32 waveform [T]."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: sudo apt-get install espeak-ng")
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SENTENCE], check=True, capture_output=True)
    wave = audio.load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 2.0 < len(wave) / 16000 < 10.0 and np.abs(wave).max() > 0.05
    return {"path": path, "wave": wave}


@pytest.fixture(scope="module")
def clips(speech):
    """0.5 s and 3 s cuts of the sentence (float32 [T])."""
    wave = speech["wave"]
    return {"short": wave[:8000].copy(), "long": wave[:48000].copy()}


@pytest.fixture(scope="module")
def preprocessor():
    return audio.AudioPreprocessor()


# ----------------------------------------------------------------------------------------------
# Log-mel parity with librosa.
# ----------------------------------------------------------------------------------------------


def test_log_mel_matches_librosa_eagerly(speech):
    wave = speech["wave"]
    reference = librosa_log_mel(wave)
    ours = audio.log_mel_spectrogram(wave[None])  # [1, F, 64]
    assert ours.shape == (1, 1 + len(wave) // 160, 64) and ours.dtype == tf.float32
    error = relative_error(ours[0], reference)
    print(f"\nlog-mel vs librosa, eager: max relative error {error:.2e} "
          f"(max abs {np.abs(ours[0].numpy() - reference).max():.2e} dB)")
    assert error <= TOLERANCE
    # A single [T] clip gives [F, 64].
    assert relative_error(audio.log_mel_spectrogram(wave), reference) <= TOLERANCE


def test_log_mel_per_example_floor_with_lengths(speech):
    """A padded batch with garbage padding equals librosa on each unpadded clip."""
    wave = speech["wave"]
    lengths = [len(wave), 8000, 24001]
    batch = np.full((3, len(wave)), 0.5, np.float32)  # padding is non-zero on purpose
    for row, length in enumerate(lengths):
        batch[row, :length] = wave[:length]
    batch[1] *= 0.1  # a quiet clip (-20 dB): its top_db floor must follow its own peak
    ours = audio.log_mel_spectrogram(batch, lengths=np.array(lengths)).numpy()
    for row, length in enumerate(lengths):
        reference = librosa_log_mel(batch[row, :length])
        assert relative_error(ours[row, : len(reference)], reference) <= TOLERANCE
        assert abs(ours[row].max() - 80.0 - reference.min()) < 1e-3  # floor = own peak - top_db
        # frames wholly past the clip's end (start >= length) are silence at that clip's floor
        first_silent = -(-(length + 200) // 160)
        assert np.allclose(ours[row, first_silent:], reference.min(), atol=1e-3)


def test_log_mel_in_tf_data_and_tf_function(speech):
    wave = speech["wave"]
    cuts = [wave[:12345], wave[:40000]]

    dataset = tf.data.Dataset.from_generator(
        lambda: (c[None] for c in cuts), output_signature=tf.TensorSpec([1, None], tf.float32)
    ).map(audio.log_mel_spectrogram)
    for cut, ours in zip(cuts, dataset):
        error = relative_error(ours[0], librosa_log_mel(cut))
        print(f"\nlog-mel vs librosa in tf.data (T={len(cut)}): {error:.2e}")
        assert error <= TOLERANCE

    fn = tf.function(
        audio.log_mel_spectrogram, input_signature=[tf.TensorSpec([None, None], tf.float32)]
    )
    for cut in cuts:
        error = relative_error(fn(tf.constant(cut[None]))[0], librosa_log_mel(cut))
        print(f"log-mel vs librosa in tf.function (T={len(cut)}): {error:.2e}")
        assert error <= TOLERANCE
    assert fn.experimental_get_tracing_count() == 1  # unknown T: one graph for every length


# ----------------------------------------------------------------------------------------------
# AudioPreprocessor: patch counts, padding mask, config.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("clip, frames", [("short", 51), ("long", 301)])
def test_patch_counts(preprocessor, clips, clip, frames, batch_size):
    wave = clips[clip]
    out = preprocessor(np.stack([wave] * batch_size))
    expected = -(-frames // 16) * 4  # ceil(frames / patch_time) time rows x 64 / 16 mel rows
    assert out["patches"].shape == (batch_size, expected, 256)
    assert out["patches"].dtype == tf.float32 and out["padding_mask"].dtype == tf.bool
    assert out["padding_mask"].numpy().all()
    assert preprocessor.num_patches(len(wave)) == expected
    values = out["patches"].numpy()
    assert -2.0 < values.min() and values.max() < 2.0  # roughly unit scale
    # The patches are the normalised librosa log-mel, cut time-major.
    reference = (librosa_log_mel(wave) + audio.DB_OFFSET) / audio.DB_SCALE  # [frames, 64]
    grid = preprocessor.unpatchify(out["patches"]).numpy()[0, :frames]
    assert np.abs(grid - reference).max() <= TOLERANCE
    # patch index = t * 4 + f; inside a patch [time, frequency]
    t, f = 2, 3
    block = grid[t * 16:(t + 1) * 16, f * 16:(f + 1) * 16]  # [time, frequency]
    assert np.allclose(values[0, t * 4 + f].reshape(16, 16), block)


def test_single_clip_is_promoted(preprocessor, clips):
    out = preprocessor(tf.constant(clips["short"]))
    assert out["patches"].shape == (1, 16, 256)


def test_padding_mask_for_a_batch_of_lengths(preprocessor, clips):
    long = clips["long"]
    lengths = np.array([48000, 8000, 24000, 1])
    batch = np.zeros((len(lengths), 48000), np.float32)
    for row, length in enumerate(lengths):
        batch[row, :length] = long[:length]
    out = preprocessor(batch, lengths=lengths)
    mask = out["padding_mask"].numpy()
    assert mask.shape == (4, 76)
    # valid frames 301, 51, 151, 1 -> valid time rows 19, 4, 10, 1 -> x 4 mel rows
    assert mask.sum(axis=1).tolist() == [76, 16, 40, 4]
    for row in range(len(lengths)):  # real patches come first, time-major
        assert mask[row, : mask[row].sum()].all() and not mask[row, mask[row].sum():].any()
    # A padded row's real patches equal the clip processed on its own.
    alone = preprocessor(long[:8000])["patches"].numpy()[0]
    assert np.abs(out["patches"].numpy()[1, :16] - alone).max() < 1e-4


def test_crop_to_max_seconds_and_config(clips):
    pre = audio.AudioPreprocessor(max_seconds=1.0)
    # 1 s = 16000 samples -> 101 frames -> 7 time rows x 4 = 28 patches
    assert pre.max_patches == 28
    out = pre(clips["long"])  # 3 s: keeps the first second
    assert out["patches"].shape == (1, pre.max_patches, 256)
    first = pre(clips["long"][:16000])["patches"]
    assert np.abs(out["patches"].numpy() - first.numpy()).max() < 1e-6

    default = audio.AudioPreprocessor()
    assert default.max_patches == 252  # 10 s: 1001 frames -> 63 time rows x 4
    assert default.embedding_config() == {"patch_dim": 256, "max_patches": 252}
    config = json.loads(json.dumps(pre.get_config()))
    rebuilt = audio.AudioPreprocessor.from_config(config)
    assert rebuilt.get_config() == pre.get_config()
    assert rebuilt.embedding_config() == pre.embedding_config()


def test_preprocessor_in_tf_function_and_tf_data(preprocessor, clips):
    fn = tf.function(
        preprocessor,
        input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32)],
    )
    batch = np.zeros((2, 48000), np.float32)
    batch[0], batch[1, :8000] = clips["long"], clips["short"]
    lengths = np.array([48000, 8000], np.int32)
    eager = preprocessor(batch, lengths=lengths)
    graph = fn(tf.constant(batch), tf.constant(lengths))
    assert np.abs(graph["patches"].numpy() - eager["patches"].numpy()).max() < 1e-5
    assert (graph["padding_mask"].numpy() == eager["padding_mask"].numpy()).all()
    short = fn(tf.constant(clips["short"][None]), tf.constant([8000]))
    assert short["patches"].shape == (1, 16, 256)
    assert fn.experimental_get_tracing_count() == 1

    dataset = tf.data.Dataset.from_tensor_slices((batch, lengths)).batch(2).map(preprocessor)
    (element,) = list(dataset)
    assert np.abs(element["patches"].numpy() - eager["patches"].numpy()).max() < 1e-5


def test_tflite_builtin_ops_only(preprocessor, clips, tmp_path):
    """The preprocessor converts with TFLite builtins only (no Flex) and runs in ai-edge-litert."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    module = tf.Module()
    module.fn = tf.function(
        lambda x, n: preprocessor(x, lengths=n),
        input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32)],
    )
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.fn})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    runner = interpreter_module.Interpreter(model_content=flatbuffer).get_signature_runner()
    batch = np.zeros((2, 8000), np.float32)
    batch[0], batch[1, :4000] = clips["short"], clips["short"][:4000]
    lengths = np.array([8000, 4000], np.int32)
    got = runner(x=batch, n=lengths)
    want = preprocessor(batch, lengths=lengths)
    assert np.abs(got["patches"] - want["patches"].numpy()).max() < 1e-4
    assert (got["padding_mask"] == want["padding_mask"].numpy()).all()


# ----------------------------------------------------------------------------------------------
# Files and resampling.
# ----------------------------------------------------------------------------------------------


def test_load_audio_resamples_22050_to_16000(speech, tmp_path):
    info = soundfile.info(str(speech["path"]))
    assert info.samplerate == 22050  # what espeak-ng writes
    expected = int(np.ceil(info.frames * 16000 / 22050))
    assert len(speech["wave"]) == expected
    raw, _ = soundfile.read(str(speech["path"]), dtype="float32")
    direct = audio.resample(raw, 22050)
    assert direct.dtype == np.float32 and len(direct) == expected
    assert np.array_equal(direct, speech["wave"])
    # Stereo FLAC at 22050 Hz is mixed to mono and resampled too.
    stereo_path = tmp_path / "stereo.flac"
    soundfile.write(str(stereo_path), np.stack([raw, raw * 0.5], axis=1), 22050)
    stereo = audio.load_audio(stereo_path)
    assert stereo.shape == (expected,)
    assert np.abs(stereo - 0.75 * speech["wave"]).max() < 1e-3  # FLAC is 16-bit


# ----------------------------------------------------------------------------------------------
# Bad input.
# ----------------------------------------------------------------------------------------------


def _with_nan(wave):
    wave = wave.copy()
    wave[100] = np.nan
    return wave


def _with_inf(wave):
    wave = wave.copy()
    wave[7] = np.inf
    return wave


@pytest.mark.parametrize(
    "make, kwargs, words",
    [
        (_with_nan, {}, ["NaN", "finite"]),
        (_with_inf, {}, ["Inf", "finite"]),
        (lambda w: (w * 32767).astype(np.int16), {}, ["int16", "float32", "32768"]),
        (lambda w: w.reshape(1, 1, -1), {}, ["[1, 1, 8000]", "[B, T]"]),
        (lambda w: w[:0], {}, ["zero-length", "at least 1 sample"]),
        (lambda w: np.stack([w, w]), {"lengths": [8000, 0]}, ["zero-length", "rows [1]"]),
        (lambda w: w, {"sample_rate": 22050}, ["22050", "16000", "resample(waveform"]),
    ],
    ids=["nan", "inf", "int16", "rank3", "empty", "zero-length-row", "sample-rate"],
)
def test_bad_waveforms_raise_helpful_value_errors(preprocessor, clips, make, kwargs, words):
    with pytest.raises(ValueError) as info:
        preprocessor(make(clips["short"]), **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, message


def test_bad_waveforms_in_graph_raise_with_same_message(preprocessor, clips):
    fn = tf.function(preprocessor, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="finite"):
        fn(tf.constant(_with_nan(clips["short"])[None]))


def test_n_mels_must_divide_by_patch_frequency():
    with pytest.raises(ValueError, match="divisible by patch_frequency.*n_mels=60"):
        audio.AudioPreprocessor(n_mels=60, patch_frequency=16)


def test_unreadable_files_raise(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="could not decode.*accepted: wav, flac, ogg"):
        audio.load_audio(corrupt)
    with pytest.raises(ValueError, match="could not decode.*no such file"):
        audio.load_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    soundfile.write(str(empty), np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match="0 samples"):
        audio.load_audio(empty)
