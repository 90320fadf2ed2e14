"""PretrainConfig: every knob of a pretraining run, validated at start.

The modalities a config may mix are the registered ones (`mmpretrain.modalities.modality_names()`:
text, image, audio, then any registered by the user), in registry order.
"""

import dataclasses
import importlib
import importlib.util
import json
import math
import os

from mmpretrain.presets import BACKBONE_PRESETS
from mmpretrain.training.precision import check_setting as check_precision_setting


class PrecisionSetting:
    """The type of `mixed_precision`: "auto" | True | False (`mmpretrain.training.precision`)."""

# Accepted ranges of the numeric fields: (field, test, the range as the message states it).
RANGES = (
    ("dropout", lambda v: 0 <= v < 1, "0 <= dropout < 1"),
    ("decoder_dim", lambda v: v >= 1, "decoder_dim >= 1"),
    ("decoder_layers", lambda v: v >= 0, "decoder_layers >= 0"),
    ("vocabulary_size", lambda v: v >= 1, "vocabulary_size >= 1"),
    ("sequence_length", lambda v: v >= 1, "sequence_length >= 1"),
    ("image_size", lambda v: v >= 1, "image_size >= 1"),
    ("image_patch_size", lambda v: v >= 1, "image_patch_size >= 1"),
    ("image_channels", lambda v: v in (1, 3), "image_channels is 1 (grayscale) or 3 (RGB)"),
    ("audio_patch_frequency", lambda v: v >= 1, "audio_patch_frequency >= 1"),
    ("audio_patch_time", lambda v: v >= 1, "audio_patch_time >= 1"),
    ("n_mels", lambda v: v >= 1, "n_mels >= 1"),
    ("max_predictions", lambda v: v >= 1, "max_predictions >= 1"),
    ("text_examples", lambda v: v >= 0, "text_examples >= 0 (0 = all)"),
    ("image_examples", lambda v: v >= 0, "image_examples >= 0 (0 = all)"),
    ("audio_examples", lambda v: v >= 0, "audio_examples >= 0 (0 = all)"),
    ("validation_examples", lambda v: v >= 0, "validation_examples >= 0 (0 = all)"),
    ("global_batch_size", lambda v: v >= 1, "global_batch_size >= 1"),
    ("steps", lambda v: v >= 1, "steps >= 1"),
    ("learning_rate", lambda v: v > 0, "learning_rate > 0"),
    ("weight_decay", lambda v: v >= 0, "weight_decay >= 0"),
    ("clip_norm", lambda v: v > 0, "clip_norm > 0"),
    ("seed", lambda v: v >= 0, "seed >= 0"),
    ("eval_every", lambda v: v >= 1, "eval_every >= 1"),
    ("checkpoint_every", lambda v: v >= 1, "checkpoint_every >= 1"),
    ("log_every", lambda v: v >= 1, "log_every >= 1"),
    ("keep_checkpoints", lambda v: v >= 1, "keep_checkpoints >= 1"),
)
_TYPES = {
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    bool: ("true or false", lambda v: isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
    dict: ("a dict", lambda v: isinstance(v, dict)),
    # mixed_precision: "auto" (bfloat16 where the machine computes it natively) or a boolean
    PrecisionSetting: ('"auto", true or false', check_precision_setting),
}


def registered_modalities():
    """The modality names a config may mix, in registry order."""
    from mmpretrain.modalities.registry import modality_names

    return tuple(modality_names())


def __getattr__(name):
    # MODALITIES is read from the registry each time: it includes modalities registered later.
    if name == "MODALITIES":
        return registered_modalities()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclasses.dataclass
class PretrainConfig:
    # === Model ===
    preset: str = "tiny"
    sharing: str = "full"
    dropout: float = 0.0
    decoder_dim: int = 64
    decoder_layers: int = 1
    # === Modalities and their front-ends ===
    mix: dict = dataclasses.field(default_factory=lambda: {"text": 2, "image": 1, "audio": 1})
    vocabulary_size: int = 4000
    sequence_length: int = 64
    # False: a cased vocabulary and no accent stripping (multilingual text, translation targets)
    text_lower_case: bool = True
    image_size: int = 28
    image_patch_size: int = 4
    image_channels: int = 1
    audio_seconds: float = 2.0
    audio_patch_frequency: int = 16
    audio_patch_time: int = 8
    n_mels: int = 64
    # === Objectives ===
    text_mask_rate: float = 0.15
    max_predictions: int = 12
    patch_mask_ratio: float = 0.75
    # === Data (in-memory example counts per modality; 0 = all available) ===
    text_examples: int = 20000
    # {text source: integer weight}: how many times each document of a source is listed before
    # sampling (0 leaves it out); unnamed sources count once (data/sources/text_corpus.py)
    text_source_weights: dict = dataclasses.field(default_factory=dict)
    image_examples: int = 20000
    audio_examples: int = 600
    validation_examples: int = 256
    # === Optimisation ===
    global_batch_size: int = 32
    steps: int = 600
    learning_rate: float = 1e-3
    warmup_steps: int = 60
    weight_decay: float = 0.05
    clip_norm: float = 1.0
    # "auto": mixed bfloat16 only on CPUs with avx512_bf16/amx_bf16 or with a GPU, else float32
    # (emulated bfloat16 is ~2.3x slower); True/False force it (training/precision.py)
    mixed_precision: PrecisionSetting = False
    seed: int = 0
    # === Bookkeeping ===
    eval_every: int = 100
    checkpoint_every: int = 50
    log_every: int = 20
    keep_checkpoints: int = 2
    # === Options of modalities registered by the user: {name: {option: value}}; the record's
    # build_preprocessor reads config.modality_options[name] ===
    modality_options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    def validate(self):
        def bad(what, accepted):
            raise ValueError(f"Invalid pretraining config: {what}; {accepted}.")

        self._check_types(bad)
        for name, accepted, accepted_range in RANGES:
            value = getattr(self, name)
            if not accepted(value):
                bad(f"{name}={value!r}", f"accepted range: {accepted_range}")
        modalities = registered_modalities()
        if self.preset not in BACKBONE_PRESETS:
            bad(f"preset={self.preset!r}", f"accepted presets: {sorted(BACKBONE_PRESETS)}")
        if self.sharing not in ("full", "multiway"):
            bad(f"sharing={self.sharing!r}", "accepted: 'full' or 'multiway'")
        unknown = sorted(set(self.mix) - set(modalities))
        if unknown:
            bad(f"mix has unknown modalities {unknown}", f"accepted (registered): {list(modalities)}")
        if any(not _TYPES[int][1](v) or v < 0 for v in self.mix.values()):
            bad(f"mix={self.mix}", "ratios are non-negative integers, e.g. {'text': 2, 'image': 1, 'audio': 1}")
        if not any(self.mix.values()):
            bad(f"mix={self.mix} gives every modality a ratio of zero", "at least one ratio must be positive")
        for name in ("text_mask_rate", "patch_mask_ratio"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                bad(f"{name}={value}", "it must lie strictly between 0 and 1")
        if self.image_size % self.image_patch_size:
            bad(f"image_patch_size={self.image_patch_size} does not divide image_size={self.image_size}",
                "pick a patch size that divides the image size")
        if self.n_mels % self.audio_patch_frequency:
            bad(f"audio_patch_frequency={self.audio_patch_frequency} does not divide n_mels={self.n_mels}",
                "pick a patch size that divides n_mels")
        if self.warmup_steps < 0 or self.warmup_steps >= self.steps:
            bad(f"warmup_steps={self.warmup_steps} with steps={self.steps}",
                "0 <= warmup_steps < steps is needed; lower warmup_steps too, e.g. --set warmup_steps=0")
        if not self.audio_seconds > 0:
            bad(f"audio_seconds={self.audio_seconds}", "it must be positive")
        if self.text_source_weights:
            from mmpretrain.data.sources.text_corpus import check_weights

            try:
                check_weights(self.text_source_weights)
            except ValueError as error:
                bad(f"text_source_weights={self.text_source_weights}", str(error).rstrip("."))
        for name, options in self.modality_options.items():
            if name not in modalities:
                bad(f"modality_options has unknown modality {name!r}",
                    f"its keys are registered modality names: {list(modalities)}")
            if not isinstance(options, dict):
                bad(f"modality_options[{name!r}]={options!r}",
                    "each value is a dict of that modality's options, e.g. {'channels': 3}")

    def _check_types(self, bad):
        """Each field has its declared type (ints for int fields; ints or floats for floats)."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kind, accepted = _TYPES[field.type]
            default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
            if not accepted(value):
                bad(f"{field.name}={value!r} (type {type(value).__name__})",
                    f"{field.name} must be {kind}, e.g. --set {field.name}={json.dumps(default)}")
            if field.type is float and not math.isfinite(value):
                accepted_range = {name: text for name, _, text in RANGES}.get(field.name)
                bad(f"{field.name}={value!r}", f"accepted range: {accepted_range} (finite)"
                    if accepted_range else f"{field.name} must be a finite number")

    @property
    def modalities(self):
        """Modalities with a positive ratio, in registry order (text, image, audio, then others)."""
        return tuple(m for m in registered_modalities() if self.mix.get(m, 0) > 0)

    def schedule(self):
        """One cycle of modality names: ratio 2:1:1 -> ('text', 'image', 'text', 'audio').

        Interleaved so that modalities alternate; step s trains on schedule[s % len].
        """
        order = registered_modalities()
        remaining = {m: self.mix[m] for m in self.modalities}
        total = sum(remaining.values())
        cycle, credit = [], {m: 0.0 for m in remaining}
        for _ in range(total):
            for m in remaining:
                credit[m] += remaining[m] / total
            pick = max((m for m in remaining if remaining[m] > 0), key=lambda m: (credit[m], -order.index(m)))
            credit[pick] -= 1.0
            cycle.append(pick)
        return tuple(cycle)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Invalid pretraining config: unknown keys {unknown}; accepted keys: {sorted(known)}."
            )
        return cls(**values)

    def replace(self, **changes):
        values = dataclasses.asdict(self)
        values.update(changes)
        return PretrainConfig.from_dict(values)


def parse_override(text):
    """'key=value' -> (key, python value); values are read as JSON when they parse."""
    if "=" not in text:
        raise ValueError(f"Overrides look like key=value (e.g. steps=100); received {text!r}.")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ValueError(f"Overrides look like key=value (e.g. steps=100); received {text!r}, which has no key.")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def load_config(name_or_path, overrides=()):
    """A config by name (a module in mmpretrain/configs) or a .py file defining CONFIG."""
    if name_or_path.endswith(".py"):
        if not os.path.exists(name_or_path):
            raise ValueError(f"Config file {name_or_path!r} does not exist.")
        spec = importlib.util.spec_from_file_location("user_config", name_or_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(f"mmpretrain.configs.{name_or_path}")
        except ModuleNotFoundError:
            raise ValueError(
                f"Unknown config {name_or_path!r}; available: {available_configs()} or a path to a .py file."
            ) from None
    config = getattr(module, "CONFIG", None)
    if not isinstance(config, PretrainConfig):
        raise ValueError(f"Config {name_or_path!r} must define CONFIG = PretrainConfig(...).")
    if overrides:
        config = config.replace(**dict(parse_override(o) for o in overrides))
    return config


def available_configs():
    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")
    return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))
