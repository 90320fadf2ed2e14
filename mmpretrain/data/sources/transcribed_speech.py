"""Transcribed speech for speech recognition: corpus sentences spoken by espeak-ng and flite.

    speech = load_transcribed_speech(num_sentences=3000, max_seconds=6.0)
    speech.clips["train"][0], speech.transcripts["train"][0]   # float32 [T] @ 16 kHz, "the cat sat"

Splits, all made from stable hashes with `seed`:

- sentences are split 80/10/10 into train, validation and test, so no test sentence is heard in
  training;
- espeak-ng voices (accent + variant) are split the same way: `test` is unseen sentences in unseen
  espeak-ng voices;
- `test_flite`: the test sentences spoken by flite, a synthesizer no split of training hears (each
  sentence by one of its voices).

Each clip has its own speed (130-210 words per minute) and pitch. Sentences are 3-12 words of
prose without digits (espeak-ng and flite read digits differently), distinct after
`normalize_transcript`; `exclude` drops sentences (e.g. those the audio pretraining corpus speaks,
`pretraining_sentences`). Clips longer than `max_seconds` are dropped, never cut, so that a
transcript always matches its audio; `counts["dropped_too_long"]` says how many.
"""

import dataclasses
import re

from mmpretrain.data.sources.speech import (
    MAX_WORKERS,
    _prosody,
    _render,
    corpus_sentences,
    pick_sentences,
    split_voices,
)
from mmpretrain.data.sources.speech_synthesis import Clip
from mmpretrain.data.sources.speech_voices import Voice, check_voice, default_voices
from mmpretrain.data.splits import DEFAULT_FRACTIONS, split_indices, stable_hash
from mmpretrain.modalities.audio_io import SAMPLE_RATE

SPLITS = ("train", "validation", "test", "test_flite")
HELD_OUT_ENGINE = "flite"
MAX_WORDS = 12


@dataclasses.dataclass
class TranscribedSpeech:
    """split -> clips (float32 [T] at 16 kHz), their transcripts (the sentence as written) and
    metadata (voice, speed, pitch); `counts` per split and the voices of each split."""

    clips: dict
    transcripts: dict
    metadata: dict
    counts: dict


def asr_sentences(texts, exclude=(), max_words=MAX_WORDS):
    """Distinct sentences of 3-`max_words` words of prose, with no digit, distinct after
    `normalize_transcript`, none in `exclude`."""
    from mmpretrain.tasks.ctc_recognizer import normalize_transcript

    excluded = {normalize_transcript(s) for s in exclude}
    seen, out = set(), []
    for sentence in corpus_sentences(texts, max_words=max_words):
        if re.search(r"\d", sentence):
            continue
        key = normalize_transcript(sentence)
        if len(key.split()) < 3 or key in excluded or key in seen:
            continue
        seen.add(key)
        out.append(sentence)
    return out


def pretraining_sentences(config):
    """The sentences the default audio pretraining corpus of `config` (a `PretrainConfig` or its
    dict) speaks: the ones to keep out of speech recognition's data."""
    from mmpretrain.data.sources.text_corpus import corpus_texts
    from mmpretrain.modalities.audio import pretraining_speech_sources
    from mmpretrain.training.config import PretrainConfig

    if isinstance(config, dict):
        fields = {f.name for f in dataclasses.fields(PretrainConfig)}
        config = PretrainConfig(**{k: v for k, v in config.items() if k in fields})
    if not config.mix.get("audio"):
        return []
    sources, _ = pretraining_speech_sources(config)
    total = config.audio_examples + config.validation_examples
    return pick_sentences(corpus_sentences(corpus_texts(sources)), int(total * 1.25), config.seed)


def plan_transcribed_clips(sentences, seed=0, fractions=DEFAULT_FRACTIONS, held_out_engine=HELD_OUT_ENGINE,
                           voices=None):
    """split -> Clips: sentences split 80/10/10, the non-held-out voices split by voice, and the test
    sentences again in the held-out engine's voices (`test_<engine>`)."""
    voices = [Voice.parse(v) for v in (voices or default_voices())]
    for voice in voices:
        check_voice(voice)
    trained = [v for v in voices if v.engine != held_out_engine]
    held_out = [v for v in voices if v.engine == held_out_engine]
    if not trained:
        raise ValueError(f"Speech recognition data needs voices of an engine other than {held_out_engine!r}; "
                         f"received {[v.id for v in voices]}.")
    voice_splits = split_voices(trained, seed, fractions)
    indices = split_indices(sentences, seed, fractions)
    plan = {}
    for split, rows in indices.items():
        pool = voice_splits[split]
        plan[split] = [_clip(sentences[i], pool, seed) for i in rows]
    if held_out:
        plan[f"test_{held_out_engine}"] = [_clip(sentences[i], held_out, seed) for i in indices["test"]]
    return plan


def _clip(text, pool, seed):
    voice = pool[stable_hash(f"voice|{text}", seed) % len(pool)]
    speed, pitch = _prosody(f"{voice.id}|{text}", seed)
    return Clip(text, voice, speed, pitch)


def load_transcribed_speech(texts=None, num_sentences=3000, seed=0, max_seconds=6.0, exclude=(),
                            held_out_engine=HELD_OUT_ENGINE, voices=None, root=None, workers=MAX_WORKERS,
                            progress=True):
    """A `TranscribedSpeech` of `num_sentences` corpus sentences (see the module docstring).

    Args:
        texts: documents to take sentences from (default: every present text source).
        num_sentences: sentences to speak (the first by stable hash with `seed`).
        max_seconds: clips longer than this are dropped.
        exclude: sentences never used (e.g. `pretraining_sentences(config)`).
    """
    if texts is None:
        from mmpretrain.data.sources.text_corpus import corpus_texts

        texts = corpus_texts()
    if isinstance(texts, str):
        texts = [texts]
    sentences = asr_sentences(texts, exclude)
    if len(sentences) < 10:
        raise ValueError(f"Only {len(sentences)} usable sentences (3-{MAX_WORDS} words of prose, no digits) were "
                         "found in the texts given; speech recognition data needs at least 10.")
    sentences = pick_sentences(sentences, num_sentences, seed, key="asr")
    plan = plan_transcribed_clips(sentences, seed, held_out_engine=held_out_engine, voices=voices)
    audio = _render(plan, seed, None, root, workers, progress)
    limit = int(round(max_seconds * SAMPLE_RATE)) if max_seconds else None
    clips, transcripts, metadata, counts = {}, {}, {}, {"dropped_too_long": {}, "voices": {}}
    for split, planned in plan.items():
        keep = [i for i, samples in enumerate(audio[split]) if len(samples) and (limit is None or len(samples) <= limit)]
        clips[split] = [audio[split][i] for i in keep]
        transcripts[split] = [planned[i].text for i in keep]
        metadata[split] = [planned[i].describe() for i in keep]
        counts[split] = len(keep)
        counts["dropped_too_long"][split] = len(planned) - len(keep)
        counts["voices"][split] = sorted({m["voice"] for m in metadata[split]})
    counts["seconds"] = {split: round(sum(len(c) for c in items) / SAMPLE_RATE, 1) for split, items in clips.items()}
    return TranscribedSpeech(clips, transcripts, metadata, counts)
