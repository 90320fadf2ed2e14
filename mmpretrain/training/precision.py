"""The precision a pretraining run trains in: `mixed_precision` = "auto" | True | False.

    choice = choose_precision("auto")        # reads /proc/cpuinfo and the visible GPUs
    choice.dtype                             # "mixed_bfloat16" or None (float32), for the backbone
    choice.reason                            # one line saying what was picked and why

Mixed bfloat16 pays off only where the hardware computes in bfloat16: on a CPU without bfloat16
instructions (AVX2 only) every bfloat16 matmul is emulated and a pretraining step is measured
2.3-2.4x SLOWER than in float32; with AVX512_BF16 or AMX_BF16 (or on a GPU) it is faster. So
"auto" picks bfloat16 when the CPU flags show `avx512_bf16` or `amx_bf16` or a GPU is visible,
float32 otherwise; True and False force one or the other.
"""

import dataclasses
import os

AUTO = "auto"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names of native bfloat16 arithmetic
MIXED = "mixed_bfloat16"


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    setting: object  # what the config says: "auto", True or False
    policy: str      # "mixed_bfloat16" or "float32"
    reason: str

    @property
    def dtype(self):
        """The backbone's dtype policy argument: "mixed_bfloat16", or None for float32."""
        return MIXED if self.policy == MIXED else None

    def as_dict(self):
        return {"mixed_precision": self.setting, "policy": self.policy, "reason": self.reason}


def check_setting(value):
    """True when `value` is an accepted `mixed_precision` ("auto", True or False)."""
    return isinstance(value, bool) or value == AUTO


def cpu_flags(cpuinfo=None):
    """The set of CPU feature flags in /proc/cpuinfo text (read from the file when None;
    an empty set where there is no such file, e.g. macOS)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return set()
    flags = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):  # x86 "flags", ARM "Features"
            flags.update(value.split())
    return flags


def visible_gpus():
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def choose_precision(setting, cpuinfo=None, gpus=None):
    """A `PrecisionChoice` for a config's `mixed_precision`.

    `cpuinfo`: /proc/cpuinfo text (read when None); `gpus`: the visible GPU names (asked from
    TensorFlow when None). Only "auto" looks at them.
    """
    if not check_setting(setting):
        raise ValueError(f"mixed_precision must be \"auto\", true or false; received {setting!r}.")
    if setting is True:
        return PrecisionChoice(setting, MIXED, "mixed_precision=true: mixed bfloat16 (forced by the config)")
    if setting is False:
        return PrecisionChoice(setting, "float32", "mixed_precision=false: float32 (forced by the config)")
    gpus = visible_gpus() if gpus is None else list(gpus)
    if gpus:
        return PrecisionChoice(setting, MIXED, f"mixed_precision=auto: mixed bfloat16, a GPU is visible ({gpus[0]})")
    flags = cpu_flags(cpuinfo)
    native = [f for f in BF16_CPU_FLAGS if f in flags]
    if native:
        return PrecisionChoice(setting, MIXED, f"mixed_precision=auto: mixed bfloat16, the CPU computes in "
                                               f"bfloat16 ({', '.join(native)} in its flags)")
    seen = "no CPU flags readable" if not flags else f"the CPU flags have no {' or '.join(BF16_CPU_FLAGS)}"
    return PrecisionChoice(setting, "float32", f"mixed_precision=auto: float32, {seen} (emulated bfloat16 "
                                               "is ~2.3x slower there)")


def record_choice(run_dir, choice, log=print):
    """Logs the choice (one line) and writes it to RUN_DIR/precision.json."""
    import json

    from mmpretrain.atomic_files import atomic_write_text

    log(f"Precision: {choice.reason}.")
    os.makedirs(run_dir, exist_ok=True)
    atomic_write_text(os.path.join(run_dir, "precision.json"), json.dumps(choice.as_dict(), indent=2))
