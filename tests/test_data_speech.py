"""Speech synthesized with the real espeak-ng (and flite): a handful of words and sentences."""

import numpy as np
import pytest
import tensorflow as tf

from mmpretrain.data import Voice, load_spoken_keywords, load_spoken_sentences
from mmpretrain.data.sources import speech

pytestmark = pytest.mark.skipif(
    not speech.PACKAGES["espeak-ng"].present(),
    reason="espeak-ng is absent (run scripts/install_system_packages.sh)",
)

VOICES = ["en-us", "en-gb-scotland+f3", "en-029+croak", "en-gb-x-rp+m2", "en-us-nyc+whisper"]
if speech.PACKAGES["flite"].present():
    VOICES.append("flite:slt")


def _words(tmp_path, **kwargs):
    return load_spoken_keywords(["yes", "no", "seven"], voices=VOICES, root=tmp_path,
                                progress=False, **kwargs)


def test_a_handful_of_words_at_16khz_float32_with_voice_disjoint_splits(tmp_path):
    words = _words(tmp_path, seed=0)
    assert words.class_names == ["yes", "no", "seven"]
    assert len(words) == 3 * len(VOICES)
    audio, label = next(iter(words.train))
    assert audio.dtype == tf.float32 and audio.shape.rank == 1 and label.dtype == tf.int32
    for split in words.split_names:
        for clip, meta in zip(words.inputs(split), words.metadata[split]):
            seconds = len(clip) / 16000
            assert 0.2 < seconds < 2.5, meta
            assert 0.05 < np.abs(clip).max() <= 1.0, meta
    voices = {s: set(words.counts["voices"][s]) for s in words.split_names}
    assert voices["test"] and not voices["test"] & voices["train"]
    assert not voices["validation"] & voices["train"]


def test_same_seed_same_clips_and_the_cache_is_reused(tmp_path):
    first = _words(tmp_path, seed=4)
    cached = sorted((tmp_path / "speech").rglob("*.npz"))
    assert len(cached) == 3 * len(VOICES)
    mtimes = [p.stat().st_mtime_ns for p in cached]
    second = _words(tmp_path, seed=4)
    assert [p.stat().st_mtime_ns for p in cached] == mtimes  # read, not synthesized again
    for split in first.split_names:
        assert first.metadata[split] == second.metadata[split]
        for a, b in zip(first.inputs(split), second.inputs(split)):
            np.testing.assert_array_equal(a, b)
    other = _words(tmp_path, seed=5)
    assert other.counts["voices"] != first.counts["voices"] or any(
        m1 != m2 for m1, m2 in zip(other.metadata["train"], first.metadata["train"])
    )


def test_noise_is_mixed_at_the_requested_snr_deterministically(tmp_path):
    clean = _words(tmp_path, seed=0)
    noisy = _words(tmp_path, seed=0, noise_snr_db=10.0)
    again = _words(tmp_path, seed=0, noise_snr_db=10.0)
    x, y = clean.inputs("train")[0], noisy.inputs("train")[0]
    np.testing.assert_array_equal(y, again.inputs("train")[0])
    voiced = np.abs(x) > 0.01 * np.abs(x).max()
    snr = 10 * np.log10(np.mean(x[voiced] ** 2) / np.mean((y - x) ** 2))
    assert 8.5 < snr < 11.5


def test_default_voices_hold_out_whole_accent_variant_combinations():
    plan = speech.plan_keyword_clips(seed=0)
    voices = {s: {clip.voice.id for clip, _ in items} for s, items in plan.items()}
    assert len(voices["test"]) >= 10 and not voices["test"] & voices["train"]
    assert not voices["validation"] & (voices["train"] | voices["test"])
    assert plan == speech.plan_keyword_clips(seed=0)
    accents = {v.split(":")[1].split("+")[0] for v in voices["train"]}
    assert len(accents) >= 8  # every espeak-ng accent is heard in training


def test_sentences_from_corpus_text_are_spoken_unlabeled(tmp_path):
    texts = [
        "In the beginning God created the heaven and the earth. And the earth was without form.",
        "Return the absolute value of a number. The argument may be an integer.",
        "Many a man in love with a dimple makes the mistake of marrying the whole girl.",
    ]
    spoken = load_spoken_sentences(texts, num_sentences=5, voices=VOICES, root=tmp_path,
                                   max_seconds=2.0, progress=False)
    assert not spoken.labeled and len(spoken) == 5
    assert spoken.train.element_spec == tf.TensorSpec([None], tf.float32)
    for split in spoken.split_names:
        for clip, meta in zip(spoken.inputs(split), spoken.metadata[split]):
            assert len(clip) <= 32000 and np.abs(clip).max() > 0.05
            assert meta["text"] in " ".join(texts)


def test_bad_voice_and_keywords_say_what_is_accepted(tmp_path):
    with pytest.raises(ValueError, match="espeak-ng variant 'nosuch'"):
        load_spoken_keywords(["yes"], voices=["en-us+nosuch", "en-us", "en-gb"], root=tmp_path)
    with pytest.raises(ValueError, match="distinct, non-empty"):
        load_spoken_keywords(["yes", "yes"], voices=VOICES, root=tmp_path)
    assert Voice.parse("en").id == "espeak-ng:en-gb"


def test_audio_pretraining_speech_is_espeak_only_from_the_weighted_text_sources():
    from mmpretrain.configs.tiny import CONFIG
    from mmpretrain.data.sources.text_corpus import TEXT_SOURCES
    from mmpretrain.modalities.audio import pretraining_speech_sources

    sources, voices = pretraining_speech_sources(CONFIG)
    assert voices and {voice.engine for voice in voices} == {"espeak-ng"}
    dropped = {name for name, weight in CONFIG.text_source_weights.items() if weight == 0}
    assert dropped and not dropped & set(sources) and set(sources) <= set(TEXT_SOURCES)
