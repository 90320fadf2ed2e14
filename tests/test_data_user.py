"""The user's own data: text files, image and audio class folders, and every kind of bad input."""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from PIL import Image

from mmpretrain.data import DataWarning, load_audio_folder, load_image_folder, load_text_files
from mmpretrain.data.sources.digits import read_digits
from mmpretrain.modalities.audio_io import decode_wav_bytes

# === Text ===


def test_text_lines_files_globs_and_repeatable_splits(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\n  second line  \nthird line\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("\ufeffwhole file\nwith two lines", encoding="utf-8")
    lines = load_text_files(str(tmp_path / "**" / "*.txt"), unit="line", seed=0)
    texts = sorted(sum((lines.texts(s) for s in lines.split_names), []))
    assert texts == ["first line", "second line", "third line", "whole file", "with two lines"]
    files = load_text_files(tmp_path, unit="file")
    assert len(files) == 2 and files.counts["files"] == 2
    assert "whole file\nwith two lines" in sum((files.texts(s) for s in files.split_names), [])
    again = load_text_files([tmp_path / "a.txt", str(tmp_path / "sub" / "b.txt")], seed=0)
    assert again.texts("train") == lines.texts("train")
    assert lines.train.element_spec == tf.TensorSpec([], tf.string)


def test_non_utf8_text_is_an_error_naming_the_file_or_replaced_with_a_warning(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\u00e9 au lait\nna\u00efve\n".encode("latin-1"))
    expected = r"latin1\.txt is not UTF-8 text: byte b'\\xe9' at offset 3"
    with pytest.raises(ValueError, match=expected):
        load_text_files(bad)
    with pytest.warns(DataWarning, match="latin1.txt is not valid UTF-8"):
        data = load_text_files(bad, encoding_errors="replace")
    texts = sorted(sum((data.texts(s) for s in data.split_names), []))
    assert texts == ["caf\ufffd au lait", "na\ufffdve"]


def test_text_paths_that_match_nothing_or_hold_nothing(tmp_path):
    with pytest.raises(ValueError, match="matches no file"):
        load_text_files(str(tmp_path / "*.txt"))
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="hold no non-blank text"):
        load_text_files(tmp_path / "blank.txt")


# === Images ===


def _image_folder(root, per_class=6):
    images, labels = read_digits()
    for digit in (3, 7):
        folder = root / f"digit_{digit}"
        folder.mkdir(parents=True)
        picks = np.flatnonzero(labels == digit)[:per_class]
        for n, i in enumerate(picks):
            suffix = "png" if n % 2 else "jpg"
            Image.fromarray(images[i][..., 0]).save(folder / f"{n}.{suffix}")
    return root


def test_image_folder_gives_uint8_images_and_labels_by_folder(tmp_path):
    root = _image_folder(tmp_path / "digits")
    data = load_image_folder(root, channels=1, seed=0)
    assert data.class_names == ["digit_3", "digit_7"] and len(data) == 12
    image, label = next(iter(data.train))
    assert image.shape == (8, 8, 1) and image.dtype == tf.uint8 and label.dtype == tf.int32
    rgb = load_image_folder(root, image_size=16, seed=0)
    assert rgb.inputs("train").shape[1:] == (16, 16, 3)
    for split in data.split_names:
        for meta, label in zip(data.metadata[split], data.labels(split)):
            assert meta["path"].startswith(data.class_names[label] + "/")


def test_corrupt_image_is_skipped_with_a_warning_naming_it(tmp_path):
    root = _image_folder(tmp_path / "digits")
    (root / "digit_7" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (root / "digit_7" / "notes.md").write_text("not an image")
    with pytest.warns(DataWarning) as record:
        data = load_image_folder(root, channels=1)
    messages = [str(w.message) for w in record]
    assert any("broken.png" in m and "cannot decode" in m for m in messages)
    assert any("notes.md" in m for m in messages)
    assert len(data) == 12 and data.counts["skipped"] == [str(root / "digit_7" / "broken.png")]


def test_variable_size_images_keep_their_shape(tmp_path):
    for name, size in (("a", (5, 7)), ("b", (9, 4)), ("c", (6, 6))):
        (tmp_path / name).mkdir()
        Image.new("RGB", size[::-1], (10, 20, 30)).save(tmp_path / name / "x.png")
    data = load_image_folder(tmp_path, fractions=(0.34, 0.33, 0.33))
    shapes = sorted(
        tuple(x.shape) for s in data.split_names for x, _ in data.dataset(s).as_numpy_iterator()
    )
    assert shapes == [(5, 7, 3), (6, 6, 3), (9, 4, 3)]


def test_empty_folder_and_empty_class_folder_are_errors(tmp_path):
    with pytest.raises(ValueError, match="has no class sub-folders"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        load_image_folder(tmp_path / "nope")
    root = _image_folder(tmp_path / "digits")
    (root / "digit_9").mkdir()
    with pytest.raises(ValueError, match=r"digit_9 has no image files \(.png, .jpg, .jpeg\)"):
        load_image_folder(root)
    shutil.rmtree(root / "digit_9")
    (root / "zz_all_bad").mkdir()
    (root / "zz_all_bad" / "bad.jpg").write_bytes(b"garbage")
    with pytest.warns(DataWarning, match="bad.jpg"), pytest.raises(ValueError, match="zz_all_bad"):
        load_image_folder(root)


# === Audio ===


def _speech(word):
    if shutil.which("espeak-ng") is None:
        t = np.arange(11025) / 22050.0
        return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050
    wav = subprocess.run(["espeak-ng", "--stdout", word], capture_output=True, check=True).stdout
    return decode_wav_bytes(wav)


def _audio_folder(root):
    for word in ("yes", "no"):
        (root / word).mkdir(parents=True)
        audio, rate = _speech(word)
        soundfile.write(root / word / "a.wav", audio, rate)
        stereo = np.stack([audio, audio * 0.5], axis=1)
        soundfile.write(root / word / "b.flac", stereo, rate)
        soundfile.write(root / word / "c.ogg", audio, rate)
    return root


def test_audio_folder_any_rate_and_format_to_16khz(tmp_path):
    root = _audio_folder(tmp_path / "words")
    data = load_audio_folder(root, seed=0, fractions=(0.5, 0.25, 0.25))
    assert data.class_names == ["no", "yes"] and len(data) == 6
    _, rate = _speech("yes")
    expected = round(len(_speech("yes")[0]) * 16000 / rate)
    for split in data.split_names:
        for clip, meta in zip(data.inputs(split), data.metadata[split]):
            assert clip.dtype == np.float32 and abs(len(clip) - expected) < 2000, meta
    audio, label = next(iter(data.train))
    assert audio.dtype == tf.float32 and audio.shape.rank == 1


def test_zero_sample_and_corrupt_audio_are_skipped_naming_the_file(tmp_path):
    root = _audio_folder(tmp_path / "words")
    soundfile.write(root / "yes" / "empty.wav", np.zeros(0, np.float32), 16000)
    (root / "no" / "broken.flac").write_bytes(b"fLaC but then nothing useful")
    with pytest.warns(DataWarning) as record:
        data = load_audio_folder(root)
    messages = " ".join(str(w.message) for w in record)
    assert "empty.wav: it has 0 samples" in messages and "broken.flac: cannot decode" in messages
    assert len(data) == 6 and len(data.counts["skipped"]) == 2


def test_ten_minute_audio_is_cropped_or_split_by_max_seconds(tmp_path):
    rate = 8000
    t = np.arange(10 * 60 * rate) / rate
    (tmp_path / "tone").mkdir()
    soundfile.write(tmp_path / "tone" / "long.wav", 0.2 * np.sin(2 * np.pi * 300 * t), rate)
    (tmp_path / "short").mkdir()
    soundfile.write(tmp_path / "short" / "s.wav", 0.2 * np.sin(2 * np.pi * 300 * t[: rate]), rate)
    cropped = load_audio_folder(tmp_path, max_seconds=10.0)
    clips = [c for s in cropped.split_names for c in cropped.inputs(s)]
    assert sorted(len(c) for c in clips) == [16000, 160000]
    split = load_audio_folder(tmp_path, max_seconds=7.0, long_audio="split")
    long_chunks = [
        (s, m["chunk"], len(c))
        for s in split.split_names
        for c, m in zip(split.inputs(s), split.metadata[s])
        if m["path"] == "tone/long.wav"
    ]
    # 600 s = 85 chunks of 7 s + 5 s left over (kept: >= min_chunk_seconds = 1 s).
    assert len(long_chunks) == 86 and len({s for s, _, _ in long_chunks}) == 1
    assert sorted(n for _, _, n in long_chunks)[0] == 5 * 16000
    with pytest.raises(ValueError, match="Expected 'crop' or 'split'"):
        load_audio_folder(tmp_path, long_audio="trim")
