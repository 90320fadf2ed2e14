"""A task's own copy of a pretraining run's backbone: some of its modalities, audio positions
resized to another clip length, pretrained weights or the same architecture from scratch.

    backbone, configs = backbone_from_run("runs/demo", ["text", "image", "audio"], audio_seconds=4.0)
    preprocessors = make_preprocessors(configs)    # modality -> TextPreprocessor, ...

Tasks that fine-tune the Keras trunk itself (CTC speech recognition, contrastive alignment) start
here rather than from the exported SavedModel: their graphs need the trunk's layers (the
alignment runs three modalities through one set of blocks in one step).
"""

import os

import keras
import numpy as np


def resize_positions(table, old_time, new_time, frequency_patches):
    """A time-major patch position table [old_time * nf, D] resized along time to
    [new_time * nf, D] by linear interpolation (numpy), as ViT and AST do at another input size."""
    table = np.asarray(table, np.float32).reshape(old_time, frequency_patches, -1)
    if old_time == new_time:
        return table.reshape(new_time * frequency_patches, -1)
    source = np.linspace(0.0, old_time - 1.0, new_time)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, old_time - 1)
    weight = (source - low)[:, None, None]
    resized = (1.0 - weight) * table[low] + weight * table[high]
    return resized.reshape(new_time * frequency_patches, -1).astype(np.float32)


def make_preprocessors(configs):
    """modality -> preprocessor config (its `get_config()`) => modality -> preprocessor."""
    from mmpretrain.modalities import get_modality

    return {name: get_modality(name).preprocessor_class.from_config(dict(config)) for name, config in configs.items()}


def backbone_from_run(run, modalities=None, audio_seconds=None, from_scratch=False, seed=0, name="encoder",
                      task="This task"):
    """(MultimodalBackbone, modality -> preprocessor config) for `modalities` of a finished run
    (a path or a `LoadedRun`; default: all of its modalities).

    `audio_seconds` re-sizes the audio preprocessor's clip length and the audio position table
    (linear interpolation along time). `from_scratch` builds the same architecture freshly
    initialised with `seed` instead of copying the run's weights. In `sharing="multiway"` mode
    the backbone keeps all of the run's modalities (each block has an expert per modality).
    """
    from mmpretrain.backbone import MultimodalBackbone
    from mmpretrain.export.run_loader import load_run

    run = load_run(run) if isinstance(run, (str, os.PathLike)) else run
    modalities = list(modalities or run.modalities)
    missing = [m for m in modalities if m not in run.preprocessors]
    if missing:
        raise ValueError(f"{task} needs a run pretrained on {modalities}; {run.run_dir!r} has "
                         f"{list(run.modalities)} (missing: {missing}).")
    configs = {m: dict(run.preprocessors[m].get_config()) for m in modalities}
    config = dict(run.backbone.get_config())
    config.pop("name", None)
    # Multiway blocks hold an expert per modality: keep every embedder so the blocks' weights fit.
    kept = list(run.modalities) if config.get("sharing") == "multiway" else modalities
    embedders = {m: dict(config["modalities"][m]) for m in kept}
    if audio_seconds is not None and "audio" in modalities:
        if not (isinstance(audio_seconds, (int, float)) and 0.5 <= audio_seconds <= 60):
            raise ValueError(f"audio_seconds must be a number of seconds in [0.5, 60]; received {audio_seconds!r}.")
        configs["audio"]["max_seconds"] = float(audio_seconds)
        audio = make_preprocessors({"audio": configs["audio"]})["audio"]
        embedders["audio"]["max_patches"] = audio.max_patches
    keras.utils.set_random_seed(int(seed))
    backbone = MultimodalBackbone.from_config(dict(config, name=name, modalities=embedders))
    if not from_scratch:
        copy_weights(run.backbone, backbone, kept, configs)
    return backbone, configs


def copy_weights(source, target, modalities, preprocessor_configs):
    """The run's embedders (audio positions resized to the target's table), blocks and final norm."""
    for name in modalities:
        theirs, mine = source.embedders[name], target.embedders[name]
        if name == "audio" and theirs.max_patches != mine.max_patches:
            nf = make_preprocessors({"audio": preprocessor_configs["audio"]})["audio"].frequency_patches
            mine.position_embedding.assign(resize_positions(
                theirs.position_embedding.numpy(), theirs.max_patches // nf, mine.max_patches // nf, nf))
            mine.modality_embedding.assign(theirs.modality_embedding.numpy())
            mine.projection.set_weights(theirs.projection.get_weights())
            mine.norm.set_weights(theirs.norm.get_weights())
        else:
            mine.set_weights(theirs.get_weights())
    for block, theirs in zip(target.blocks, source.blocks):
        block.set_weights(theirs.get_weights())
    target.final_norm.set_weights(source.final_norm.get_weights())
