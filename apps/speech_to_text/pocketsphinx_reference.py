"""PocketSphinx on the app's test clips: the classical speech recogniser as an outside anchor.

PocketSphinx 5 (PyPI `pocketsphinx`) ships an offline en-US acoustic model, trigram language
model and CMUdict in its wheel; it decodes 16-bit PCM at 16 kHz. A clip's transcript is cached in
`<cache>/pocketsphinx/` under a hash of the clip's synthesis settings and the PocketSphinx version,
so a second run of the app only reads them (the decoder takes ~0.4 s per second of audio here).
"""

import hashlib
import json

import numpy as np


def _version():
    from importlib.metadata import version

    return version("pocketsphinx")


def pocketsphinx_transcripts(clips, metadata, progress=True, root=None):
    """float32 clips [T] at 16 kHz (with their synthesis `metadata`, the cache keys) -> transcripts."""
    from pocketsphinx import Decoder
    from tqdm.auto import tqdm

    from mmpretrain.atomic_files import atomic_write_text
    from mmpretrain.data.cache import cache_dir

    folder = cache_dir(root) / "pocketsphinx"
    decoder, out = None, []
    for clip, meta in tqdm(list(zip(clips, metadata)), desc="pocketsphinx", unit="clip",
                           disable=not progress or len(clips) < 20):
        key = hashlib.sha256(json.dumps([_version(), meta, len(clip)], sort_keys=True).encode()).hexdigest()
        path = folder / key[:2] / f"{key}.txt"
        if path.exists():
            out.append(path.read_text(encoding="utf-8"))
            continue
        if decoder is None:
            decoder = Decoder(samprate=16000, loglevel="FATAL")
        pcm = np.round(np.clip(clip, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        text = hypothesis.hypstr if hypothesis is not None else ""
        atomic_write_text(path, text)
        out.append(text)
    return out
