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
"""

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import numpy as np

from mmpretrain.data.audio_io import SAMPLE_RATE
from mmpretrain.data.audio_io import decode_wav_bytes
from mmpretrain.data.audio_io import mix_noise
from mmpretrain.data.audio_io import resample
from mmpretrain.data.cache import SourceMissingError
from mmpretrain.atomic_files import atomic_write_bytes
from mmpretrain.data.cache import cache_dir
from mmpretrain.data.data_splits import DataSplits
from mmpretrain.data.fetch import DebianPackage
from mmpretrain.data.splits import DEFAULT_FRACTIONS
from mmpretrain.data.splits import SPLIT_NAMES
from mmpretrain.data.splits import split_by_rank
from mmpretrain.data.splits import stable_hash

SYNTH_VERSION = 1
MAX_WORKERS = 2
DEFAULT_KEYWORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
)
# espeak-ng's English accents (the mbrola voices need extra packages and are left out).
ESPEAK_ACCENTS = (
    "en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-us-nyc",
)
# A default subset of the ~100 variants that `espeak-ng --voices=variant` lists ("" = none).
ESPEAK_VARIANTS = (
    "", "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "croak",
    "klatt", "whisper",
)
FLITE_VOICES = ("kal", "awb", "rms", "slt")
_FLITE_BASE_F0 = {"kal": 105.0, "awb": 110.0, "rms": 100.0, "slt": 170.0}
SPEED_RANGE = (130, 211)  # words per minute, [low, high)
PITCH_RANGE = (25, 76)  # espeak-ng pitch 0..99, [low, high)

PACKAGES = {
    "espeak-ng": DebianPackage("espeak-ng", "espeak-ng", ("/usr/bin/espeak-ng",)),
    "flite": DebianPackage("flite", "flite", ("/usr/bin/flite",)),
}


@dataclasses.dataclass(frozen=True, order=True)
class Voice:
    """An engine voice: `engine` ("espeak-ng" or "flite"), `name` (accent or voice), `variant`."""

    engine: str
    name: str
    variant: str = ""

    @property
    def id(self):
        return f"{self.engine}:{self.name}" + (f"+{self.variant}" if self.variant else "")

    @classmethod
    def parse(cls, text):
        """"espeak-ng:en-us+f3", "en-us+f3" (espeak-ng) or "flite:slt" -> Voice."""
        if isinstance(text, Voice):
            return text
        engine, _, rest = text.rpartition(":")
        engine = engine or "espeak-ng"
        name, _, variant = rest.partition("+")
        if engine == "espeak-ng" and name == "en":
            name = "en-gb"  # espeak-ng's "en" is its British English voice
        if engine not in PACKAGES or not name:
            raise ValueError(
                f"Received voice {text!r}. Expected 'espeak-ng:ACCENT[+VARIANT]', "
                "'ACCENT[+VARIANT]' or 'flite:VOICE', e.g. 'en-gb-scotland+f3' or 'flite:slt'."
            )
        return cls(engine, name, variant)


@dataclasses.dataclass(frozen=True)
class Clip:
    """One utterance to synthesize: text, voice, speed (words per minute) and pitch (0-99)."""

    text: str
    voice: Voice
    speed: int
    pitch: int

    def key(self):
        config = [SYNTH_VERSION, engine_version(self.voice.engine), self.voice.id, self.text,
                  int(self.speed), int(self.pitch), SAMPLE_RATE]
        return hashlib.sha256(json.dumps(config).encode()).hexdigest()

    def describe(self):
        return {"text": self.text, "voice": self.voice.id, "speed": self.speed, "pitch": self.pitch}


# === Engines ===


def _require(engine):
    PACKAGES[engine].locate()
    return shutil.which(engine) or PACKAGES[engine].paths[0]


@functools.lru_cache(maxsize=None)
def engine_version(engine):
    if engine == "espeak-ng":
        result = subprocess.run([_require(engine), "--version"], capture_output=True, text=True)
        return result.stdout.strip().split("  Data")[0]
    return PACKAGES[engine].version_of()


@functools.lru_cache(maxsize=None)
def espeak_variants():
    """Names of the variants espeak-ng offers (`espeak-ng --voices=variant`), sorted."""
    out = subprocess.run(
        [_require("espeak-ng"), "--voices=variant"], capture_output=True, text=True
    ).stdout
    return tuple(sorted({m.group(1) for m in re.finditer(r"!v/(\S+)", out)}))


@functools.lru_cache(maxsize=None)
def espeak_accents():
    """English accents espeak-ng offers (`espeak-ng --voices=en`, mbrola voices left out)."""
    out = subprocess.run(
        [_require("espeak-ng"), "--voices=en"], capture_output=True, text=True
    ).stdout
    accents = set()
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and not fields[4].startswith("mb/") and fields[1].startswith("en"):
            accents.add(fields[1])
    return tuple(sorted(accents))


@functools.lru_cache(maxsize=None)
def flite_voices():
    out = subprocess.run([_require("flite"), "-lv"], capture_output=True, text=True).stdout
    return tuple(out.split(":", 1)[-1].split())


def check_voice(voice):
    """Raises ValueError if the engine does not know the voice (espeak-ng would fall back)."""
    if voice.engine == "espeak-ng":
        if voice.name not in espeak_accents():
            raise ValueError(
                f"Received espeak-ng accent {voice.name!r}. Expected one of {espeak_accents()}."
            )
        if voice.variant and voice.variant not in espeak_variants():
            raise ValueError(
                f"Received espeak-ng variant {voice.variant!r}. Expected one of "
                f"{espeak_variants()} (see `espeak-ng --voices=variant`)."
            )
    elif voice.name not in flite_voices() or voice.variant:
        raise ValueError(f"Received flite voice {voice.id!r}. Expected one of {flite_voices()}.")


def default_voices(engines=("espeak-ng", "flite")):
    """The default voices of the engines that are installed: espeak-ng accents x variants, flite."""
    voices = []
    if "espeak-ng" in engines and PACKAGES["espeak-ng"].present():
        voices += [Voice("espeak-ng", a, v) for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
    if "flite" in engines and PACKAGES["flite"].present():
        voices += [Voice("flite", name) for name in FLITE_VOICES if name in flite_voices()]
    if not voices:
        raise SourceMissingError("espeak-ng", "no speech engine is installed")
    return voices


def _run_engine(clip):
    """Raw samples and sample rate of one clip, straight from the engine."""
    voice = clip.voice
    if voice.engine == "espeak-ng":
        name = voice.name + (f"+{voice.variant}" if voice.variant else "")
        command = [_require("espeak-ng"), "-v", name, "-s", str(int(clip.speed)),
                   "-p", str(int(clip.pitch)), "--stdout", "--stdin"]
        result = subprocess.run(command, input=clip.text.encode("utf-8"), capture_output=True)
        data = result.stdout
    else:
        f0 = _FLITE_BASE_F0.get(voice.name, 120.0) * 2.0 ** ((clip.pitch - 50) / 100.0)
        with tempfile.TemporaryDirectory(prefix="mmpretrain-flite-") as tmp:
            text_file, wav_file = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.wav")
            pathlib.Path(text_file).write_text(clip.text, encoding="utf-8")
            command = [_require("flite"), "-voice", voice.name, "-f", text_file, "-o", wav_file,
                       "--setf", f"duration_stretch={175.0 / clip.speed:.4f}",
                       "--setf", f"int_f0_target_mean={f0:.1f}"]
            result = subprocess.run(command, capture_output=True)
            data = pathlib.Path(wav_file).read_bytes() if os.path.exists(wav_file) else b""
    if result.returncode != 0 or len(data) <= 44:
        raise RuntimeError(
            f"`{' '.join(command)}` failed (exit {result.returncode}) for text {clip.text!r}: "
            f"{result.stderr.decode(errors='replace').strip()[:400]}"
        )
    return decode_wav_bytes(data)


def synthesize(clip, root=None):
    """One clip as float32 `[T]` at 16 kHz, read from the cache or synthesized and cached."""
    key = clip.key()
    path = cache_dir(root) / "speech" / key[:2] / f"{key}.npz"
    if path.exists():
        with np.load(path) as stored:
            return stored["audio"].astype(np.float32) / 32767.0
    audio, rate = _run_engine(clip)
    audio = resample(audio, rate, SAMPLE_RATE)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    with tempfile.SpooledTemporaryFile() as buffer:
        np.savez(buffer, audio=pcm, config=json.dumps(clip.describe()))
        buffer.seek(0)
        atomic_write_bytes(path, buffer.read())
    return pcm.astype(np.float32) / 32767.0


def synthesize_clips(clips, root=None, workers=MAX_WORKERS, progress=True):
    """Synthesizes `clips` (cached ones are only read), at most 2 engines at a time, in order."""
    from tqdm.auto import tqdm

    workers = max(1, min(int(workers), MAX_WORKERS))
    results = [None] * len(clips)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(synthesize, clip, root): i for i, clip in enumerate(clips)}
        bar = tqdm(
            concurrent.futures.as_completed(futures),
            total=len(clips),
            desc="synthesizing speech",
            unit="clip",
            disable=not progress or len(clips) < 20,
        )
        for future in bar:
            results[futures[future]] = future.result()
    return results


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
    from mmpretrain.data.sources.text_corpus import deduplicate
    from mmpretrain.data.sources.text_corpus import is_prose

    sentences = []
    for text in texts:
        for sentence in _SENTENCE_END.split(text):
            sentence = " ".join(sentence.split())
            if min_words <= len(sentence.split()) <= max_words and is_prose(sentence, min_words):
                sentences.append(sentence)
    return deduplicate(sentences)


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
    sentences = sorted(sentences, key=lambda s: (stable_hash(f"pick|{s}", seed), s))
    sentences = sentences[: int(num_sentences)]
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
