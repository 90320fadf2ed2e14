"""Speech synthesized with espeak-ng (and flite where present): spoken keywords and sentences.

A *voice* is an engine plus an accent and a variant: `espeak-ng:en-gb-scotland+f3`,
`espeak-ng:en-us` (default variant), `flite:slt`. Each clip also gets a speed (words per
minute) and a pitch (0-99) drawn from a generator seeded by (seed, voice, text, repeat), so the
same seed always gives the same clips. Clips are resampled to 16 kHz float32 and cached in
`<cache>/speech/` as one .npz per clip configuration hash (int16 samples), so a second run only
reads files. Noise (white, at a given SNR) is added after the cache, also seeded.

Splits are by voice: voices are ranked by their stable hash with the seed and the test and
validation splits take whole voices, so no test voice (accent + variant combination) is heard in
training. Synthesis runs at most 2 engine processes at a time.

The voices and engines are in `speech_voices`, synthesis and its cache in `speech_synthesis`;
their public names are re-exported here.
"""

import re

import numpy as np

from mmpretrain.data.augmentation import mix_noise
from mmpretrain.data.data_splits import DataSplits
from mmpretrain.data.sources.speech_synthesis import (
    MAX_WORKERS,
    SYNTH_VERSION,  # noqa: F401
    Clip,
    synthesize,  # noqa: F401
    synthesize_clips,
)
from mmpretrain.data.sources.speech_voices import (
    ESPEAK_ACCENTS,  # noqa: F401
    ESPEAK_VARIANTS,  # noqa: F401
    FLITE_VOICES,  # noqa: F401
    PACKAGES,  # noqa: F401
    Voice,
    check_voice,
    default_voices,
    engine_version,  # noqa: F401
)
from mmpretrain.data.splits import DEFAULT_FRACTIONS, SPLIT_NAMES, split_by_rank, stable_hash
from mmpretrain.modalities.audio_io import SAMPLE_RATE

DEFAULT_KEYWORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
)
SPEED_RANGE = (130, 211)  # words per minute, [low, high)
PITCH_RANGE = (25, 76)  # espeak-ng pitch 0..99, [low, high)


# === Planning: which clip goes to which split ===


def _prosody(key, seed):
    rng = np.random.default_rng(stable_hash(key, seed))
    return int(rng.integers(*SPEED_RANGE)), int(rng.integers(*PITCH_RANGE))


def split_voices(voices, seed=0, fractions=DEFAULT_FRACTIONS):
    """Split name -> voices; whole voices go to one split (ranked by stable hash with `seed`)."""
    voices = [Voice.parse(v) for v in voices]
    by_id = {v.id: v for v in voices}
    ranked = split_by_rank(by_id, seed, fractions)
    return {name: [by_id[i] for i in ranked[name]] for name in SPLIT_NAMES}


def _check_keywords(keywords):
    if isinstance(keywords, str):
        keywords = [keywords]
    keywords = [str(k).strip() for k in keywords]
    if not keywords or any(not k for k in keywords) or len(set(keywords)) != len(keywords):
        raise ValueError(
            f"Received keywords={keywords!r}. Expected a non-empty list of distinct, non-empty "
            "words, e.g. ['yes', 'no']."
        )
    return keywords


def plan_keyword_clips(keywords=DEFAULT_KEYWORDS, voices=None, seed=0,
                       fractions=DEFAULT_FRACTIONS, clips_per_voice=1):
    """Split name -> list of (Clip, label): every keyword in every voice of the split."""
    keywords = _check_keywords(keywords)
    voices = [Voice.parse(v) for v in (voices or default_voices())]
    for voice in voices:
        check_voice(voice)
    plan = {}
    for split, split_voice_list in split_voices(voices, seed, fractions).items():
        items = []
        for voice in split_voice_list:
            for label, word in enumerate(keywords):
                for repeat in range(clips_per_voice):
                    speed, pitch = _prosody(f"{voice.id}|{word}|{repeat}", seed)
                    items.append((Clip(word, voice, speed, pitch), label))
        plan[split] = items
    return plan


def _noisy(audio, clip, snr_db, seed, repeat_key=""):
    if snr_db is None:
        return audio
    rng = np.random.default_rng(stable_hash(f"noise|{clip.key()}|{repeat_key}", seed))
    if isinstance(snr_db, (tuple, list)):
        snr_db = rng.uniform(float(snr_db[0]), float(snr_db[1]))
    return mix_noise(audio, snr_db, rng)


def _render(plan, seed, noise_snr_db, root, workers, progress, max_samples=None):
    flat = [(split, i, item) for split, items in plan.items() for i, item in enumerate(items)]
    clips = [item[0] if isinstance(item, tuple) else item for _, _, item in flat]
    audio = synthesize_clips(clips, root, workers, progress)
    inputs = {split: [None] * len(items) for split, items in plan.items()}
    for (split, i, _), clip, samples in zip(flat, clips, audio):
        if max_samples is not None:
            samples = samples[:max_samples]
        inputs[split][i] = _noisy(samples, clip, noise_snr_db, seed, f"{split}|{i}")
    return inputs


def load_spoken_keywords(keywords=DEFAULT_KEYWORDS, voices=None, seed=0,
                         fractions=DEFAULT_FRACTIONS, clips_per_voice=1, noise_snr_db=None,
                         root=None, workers=MAX_WORKERS, progress=True):
    """Spoken keywords: a `DataSplits` of (float32 `[T]` at 16 kHz, int32 keyword index).

    Args:
        keywords: the words to speak; label i is `keywords[i]` (`class_names`).
        voices: Voice objects or ids like "en-gb-scotland+f3", "flite:slt" (default:
            `default_voices()`: 8 espeak-ng accents x 16 variants, plus 4 flite voices).
        seed: picks which voices are held out for validation/test and each clip's speed/pitch.
        fractions: (train, validation, test) shares of the voices.
        clips_per_voice: repeats of each word per voice, each with its own speed and pitch.
        noise_snr_db: None (clean), a number, or a (low, high) range drawn per clip.

    `metadata[split]` holds text, voice, speed and pitch of every clip; `counts["voices"]` the
    voice ids per split.
    """
    plan = plan_keyword_clips(keywords, voices, seed, fractions, clips_per_voice)
    inputs = _render(plan, seed, noise_snr_db, root, workers, progress)
    labels = {split: [label for _, label in items] for split, items in plan.items()}
    metadata = {split: [clip.describe() for clip, _ in items] for split, items in plan.items()}
    voice_ids = {split: sorted({m["voice"] for m in meta}) for split, meta in metadata.items()}
    return DataSplits(inputs, "audio", labels=labels, class_names=_check_keywords(keywords),
                      counts={"voices": voice_ids, "noise_snr_db": noise_snr_db},
                      metadata=metadata)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def corpus_sentences(texts, min_words=3, max_words=20):
    """Distinct sentences of `texts` with `min_words`..`max_words` words and mostly letters."""
    from mmpretrain.data.sources.text_corpus import deduplicate, is_prose

    sentences = []
    for text in texts:
        for sentence in _SENTENCE_END.split(text):
            sentence = " ".join(sentence.split())
            if min_words <= len(sentence.split()) <= max_words and is_prose(sentence, min_words):
                sentences.append(sentence)
    return deduplicate(sentences)


def pick_sentences(sentences, count, seed, key="pick"):
    """The first `count` sentences by stable hash with `seed` (independent of their order)."""
    return sorted(sentences, key=lambda s: (stable_hash(f"{key}|{s}", seed), s))[: int(count)]


def plan_sentence_clips(sentences, voices=None, seed=0, fractions=DEFAULT_FRACTIONS):
    """Split name -> Clips. Sentences and voices are both split; each sentence gets one voice
    of its own split, so test speech is in unheard voices and of unseen sentences."""
    from mmpretrain.data.splits import split_indices

    voices = [Voice.parse(v) for v in (voices or default_voices())]
    for voice in voices:
        check_voice(voice)
    voice_splits = split_voices(voices, seed, fractions)
    indices = split_indices(sentences, seed, fractions)
    plan = {}
    for split, idx in indices.items():
        pool = voice_splits[split]
        clips = []
        for i in idx:
            text = sentences[i]
            voice = pool[stable_hash(f"voice|{text}", seed) % len(pool)]
            speed, pitch = _prosody(f"{voice.id}|{text}", seed)
            clips.append(Clip(text, voice, speed, pitch))
        plan[split] = clips
    return plan


def load_spoken_sentences(texts=None, num_sentences=200, voices=None, seed=0,
                          fractions=DEFAULT_FRACTIONS, max_seconds=10.0, noise_snr_db=None,
                          root=None, workers=MAX_WORKERS, progress=True):
    """Unlabeled speech of corpus sentences: a `DataSplits` of float32 `[T]` at 16 kHz.

    Args:
        texts: documents to take sentences from (default: the text corpus, whatever sources
            are present). Sentences of 3-20 words are used.
        num_sentences: how many sentences to speak; they are the first by stable hash with
            `seed`, so the choice does not depend on the order of `texts`.
        max_seconds: clips are cut to their first `max_seconds`.

    `metadata[split]` gives the sentence (the transcript), voice, speed and pitch of each clip.
    """
    if texts is None:
        from mmpretrain.data.sources.text_corpus import corpus_texts

        texts = corpus_texts()
    if isinstance(texts, str):
        texts = [texts]
    sentences = corpus_sentences(texts)
    if not sentences:
        raise ValueError(
            "No sentence of 3-20 words was found in the texts given; pass documents with "
            "ordinary prose sentences."
        )
    sentences = pick_sentences(sentences, num_sentences, seed)
    plan = plan_sentence_clips(sentences, voices, seed, fractions)
    max_samples = int(max_seconds * SAMPLE_RATE) if max_seconds else None
    inputs = _render(plan, seed, noise_snr_db, root, workers, progress, max_samples)
    metadata = {split: [clip.describe() for clip in clips] for split, clips in plan.items()}
    voice_ids = {split: sorted({m["voice"] for m in meta}) for split, meta in metadata.items()}
    return DataSplits(inputs, "audio", counts={"voices": voice_ids, "max_seconds": max_seconds},
                      metadata=metadata)


def count_default_keywords():
    """What `mmpretrain data list` shows for espeak-ng/flite: the default keyword data set."""
    plan = plan_keyword_clips()
    counts = {split: len(items) for split, items in plan.items()}
    counts["voices"] = {split: len({c.voice.id for c, _ in items}) for split, items in plan.items()}
    return counts
