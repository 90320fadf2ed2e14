"""Real inputs for the export's parity checks: one raw batch per modality, from its record.

`default_samples(run)` gives, for each modality of the run, the record's `sample_batch`: a
*raw batch*, the dict {signature input name: numpy array} the exported signature (and its
TFLite file) takes as keyword arguments:

    text:  {"text": object array of UTF-8 bytes [B]}: English sentences (one empty string)
    image: {"images": uint8 [B, S, S, C]}: scikit-learn's handwritten digits (real 8x8 scans),
           resized to the model's image size S in its channels C
    audio: {"waveforms": float32 [B, T], "lengths": int32 [B]}: words spoken by espeak-ng at
           16 kHz; a few harmonic tones when espeak-ng is not installed

The helpers that make them live with their modality (`mmpretrain.modalities.text`
SAMPLE_SENTENCES, `.image.sample_images`, `.audio.sample_audio`).
"""

from mmpretrain.modalities.registry import get_modality


def sample_batch(run, modality):
    """The raw sample batch of one modality of `run` (a LoadedRun)."""
    return get_modality(modality).sample_batch(run.preprocessors[modality])


def default_samples(run, modalities=None):
    """{modality: raw batch} for `modalities` (default: every modality of `run`)."""
    return {m: sample_batch(run, m) for m in (run.modalities if modalities is None else modalities)}


def complete_samples(run, modalities, samples=None):
    """`samples` with a default raw batch added for each of `modalities` it lacks."""
    samples = dict(samples or {})
    for m in modalities:
        if m not in samples:
            samples[m] = sample_batch(run, m)
    return samples
