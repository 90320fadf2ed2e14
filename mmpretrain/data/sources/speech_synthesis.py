"""Synthesizing one clip with its engine, cached in `<cache>/speech/`.

Clips are resampled to 16 kHz float32 and cached as one .npz per clip configuration hash (int16
samples), so a second run only reads files. Synthesis runs at most 2 engine processes at a time.
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import pathlib
import subprocess
import tempfile

import numpy as np

from mmpretrain.atomic_files import atomic_write_bytes
from mmpretrain.data.cache import cache_dir
from mmpretrain.data.sources.speech_voices import Voice, _require, engine_version
from mmpretrain.modalities.audio_io import SAMPLE_RATE, decode_wav_bytes, resample

SYNTH_VERSION = 1
MAX_WORKERS = 2
_FLITE_BASE_F0 = {"kal": 105.0, "awb": 110.0, "rms": 100.0, "slt": 170.0}


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
    if audio.size:
        audio = resample(audio, rate, SAMPLE_RATE, clip=True)
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
