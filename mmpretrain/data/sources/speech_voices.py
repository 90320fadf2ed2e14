"""Speech engines and their voices: espeak-ng accents x variants, and flite voices.

A *voice* is an engine plus an accent and a variant: `espeak-ng:en-gb-scotland+f3`,
`espeak-ng:en-us` (default variant), `flite:slt`. The engines are Debian packages (`PACKAGES`);
`default_voices()` lists the voices of the installed ones.
"""

import dataclasses
import functools
import re
import shutil
import subprocess

from mmpretrain.data.cache import SourceMissingError
from mmpretrain.data.fetch import DebianPackage

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
