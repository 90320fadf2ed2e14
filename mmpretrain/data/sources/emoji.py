"""Emoji image-caption-speech triples from two Debian packages: the Noto Color Emoji font
(`fonts-noto-color-emoji`) and the Unicode emoji test file (`unicode-data`).

    emoji = load_emoji(image_size=32)
    emoji.images["train"][0]      # uint8 [32, 32, 3], rendered with Pillow on white
    emoji.captions["train"][0]    # "grinning face" (the CLDR short name)
    emoji.groups["train"][0]      # "Smileys & Emotion" (one of 9), emoji.subgroups: one of ~100
    emoji.clips["train"][0]       # float32 [T] at 16 kHz: the caption spoken (with speech=True)

Every fully-qualified emoji of `emoji-test.txt` is one example (3,655 in Unicode 15.0). Splits
are grouped by `variant_key`: the skin-tone and gender variants of one emoji ("waving hand:
medium skin tone", "woman technologist", "man technologist") share a key, and a key's
examples all land in one split (stable hash with the seed, 80/10/10), so no test emoji has a
near-copy in training.

Images: the font's 136 x 128 colour bitmap (size 109, the CBDT strike), centred on a square
white canvas and resized (Lanczos) to `image_size`. `render_variations` draws training
variants (scale, position and background colour seeded per epoch) from the same glyphs.

Speech (`speech=True`): each caption spoken once, by a voice of the split's own voices (espeak-ng
and flite voices are split 80/10/10 like the emoji, so test captions are also heard in unseen
voices), with a seeded speed and pitch; cached like all synthesized speech.
"""

import dataclasses
import functools
import re

import numpy as np

from mmpretrain.data.fetch import DebianPackage
from mmpretrain.data.splits import DEFAULT_FRACTIONS, SPLIT_NAMES, split_indices

FONT_PATH = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
TEST_FILE = "/usr/share/unicode/emoji/emoji-test.txt"
FONT_PACKAGE = DebianPackage("emoji", "fonts-noto-color-emoji", (FONT_PATH,))
CAPTIONS_PACKAGE = DebianPackage("emoji", "unicode-data", (TEST_FILE,))
FONT_SIZE = 109  # the only bitmap strike of the CBDT font
CANVAS = 136  # the glyph bitmap is 136 x 128
_LINE = re.compile(r"^([0-9A-F ]+?)\s*;\s*fully-qualified\s*#\s*\S+\s+E\d+\.\d+\s+(.+)$")
_PEOPLE = r"(?:man|woman|person|men|women|people|boy|girl|child)"
_PEOPLE_WORDS = {"man", "woman", "person", "men", "women", "people", "boy", "girl", "child",
                 "adult", "older person", "old man", "old woman"}


@dataclasses.dataclass(frozen=True)
class Emoji:
    """One fully-qualified emoji: its characters, CLDR name, group and subgroup."""

    text: str
    name: str
    group: str
    subgroup: str


class EmojiPackages:
    """The two Debian packages the emoji source reads, fetched and recorded together."""

    source = "emoji"
    packages = (FONT_PACKAGE, CAPTIONS_PACKAGE)

    @property
    def requirement(self):
        return " ".join(p.requirement for p in self.packages)

    def manual_command(self, root=None):
        names = " ".join(p.package for p in self.packages)
        return f"apt-get update && apt-get install -y --no-install-recommends {names}"

    def present(self, root=None):
        return all(p.present(root) for p in self.packages)

    def locate(self, root=None):
        return [path for p in self.packages for path in p.locate(root)]

    def data_files(self, root=None):
        return self.locate(root)

    def version_of(self, root=None):
        return " ".join(f"{p.package}={p.version_of(root)}" for p in self.packages)

    def fetch(self, root=None, log=print):
        for package in self.packages:
            package.fetch(root, log=log)


PACKAGE = EmojiPackages()


def read_emoji_test(path=TEST_FILE):
    """The fully-qualified emoji of an `emoji-test.txt`, in file order."""
    group = subgroup = ""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# group:"):
                group = line.split(":", 1)[1].strip()
            elif line.startswith("# subgroup:"):
                subgroup = line.split(":", 1)[1].strip()
            else:
                match = _LINE.match(line)
                if match:
                    text = "".join(chr(int(code, 16)) for code in match.group(1).split())
                    rows.append(Emoji(text, match.group(2).strip(), group, subgroup))
    if not rows:
        raise ValueError(f"{path} has no fully-qualified emoji lines; is it Unicode's emoji-test.txt?")
    return rows


def variant_key(name):
    """The name with skin tones and gender/person words removed: the variants of one emoji share it.

    "waving hand: medium skin tone" -> "waving hand"; "woman technologist" and "man
    technologist" -> "technologist"; "family: man, woman, boy" -> "family"; "flag: Germany" stays."""
    head, _, tail = name.lower().partition(": ")
    parts = [p.strip() for p in tail.split(",")] if tail else []
    parts = [p for p in parts if not p.endswith("skin tone") and p not in _PEOPLE_WORDS]
    if head in _PEOPLE_WORDS:
        head = "person"
    else:
        head = re.sub(rf"^{_PEOPLE}(?: and {_PEOPLE})?\s+", "", head)
    return " ".join([head] + parts)


def split_emoji(rows, seed=0, fractions=DEFAULT_FRACTIONS):
    """split -> row indices of `rows` (`Emoji`), grouped by `variant_key` (stable hash with `seed`)."""
    return split_indices([variant_key(row.name) for row in rows], seed, fractions)


def spoken_caption(name):
    """A caption as a synthesizer should read it ("flag: Germany" -> "flag, Germany")."""
    return name.replace(": ", ", ").replace("#", "number sign").replace("*", "asterisk")


@functools.lru_cache(maxsize=1)
def _font():
    from PIL import ImageFont

    FONT_PACKAGE.locate()
    return ImageFont.truetype(FONT_PATH, FONT_SIZE)


def render_rgba(text, size=CANVAS):
    """The emoji's colour glyph as uint8 RGBA [size, size, 4], centred on a transparent square
    (drawn at the font's 136-pixel strike, then resized)."""
    from PIL import Image, ImageDraw

    glyph = Image.new("RGBA", (CANVAS, 128), (0, 0, 0, 0))
    ImageDraw.Draw(glyph).text((0, 0), text, font=_font(), embedded_color=True)
    square = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    square.paste(glyph, (0, (CANVAS - 128) // 2))
    if size != CANVAS:
        square = square.resize((int(size), int(size)), Image.LANCZOS)
    return np.asarray(square, np.uint8)


def compose(rgba, size, scale=1.0, offset=(0.0, 0.0), background=(255, 255, 255)):
    """An RGBA glyph [G, G, 4] over a plain background -> uint8 RGB [size, size, 3]: scaled by
    `scale` (<= 1) and shifted by `offset` (fractions of the free margin, -1..1)."""
    from PIL import Image

    glyph = Image.fromarray(np.asarray(rgba, np.uint8), "RGBA")
    full = glyph.size[0]
    side = max(1, int(round(full * float(scale))))
    if side != full:
        glyph = glyph.resize((side, side), Image.LANCZOS)
    canvas = Image.new("RGBA", (full, full), tuple(int(c) for c in background) + (255,))
    margin = full - side
    x = int(round(margin / 2 * (1 + float(offset[0]))))
    y = int(round(margin / 2 * (1 + float(offset[1]))))
    canvas.alpha_composite(glyph, (x, y))
    return np.asarray(canvas.convert("RGB").resize((size, size), Image.LANCZOS), np.uint8)


def render_variations(glyphs, size, seed, scale=(0.6, 1.0), shift=1.0):
    """Training renders: each glyph at a random scale, position and light or dark plain background
    (seeded by `seed`, e.g. the epoch) -> uint8 [N, size, size, 3]."""
    rng = np.random.default_rng(int(seed))
    out = np.empty((len(glyphs), size, size, 3), np.uint8)
    for i, rgba in enumerate(glyphs):
        background = rng.integers(0, 256, 3) if rng.random() < 0.5 else np.full(3, rng.integers(200, 256))
        out[i] = compose(rgba, size, rng.uniform(*scale), rng.uniform(-shift, shift, 2), background)
    return out


@dataclasses.dataclass
class EmojiTriples:
    """split -> parallel lists: `emoji` (`Emoji`), `captions`, `groups`, `subgroups`, `images`
    (uint8 [N, S, S, 3]), `glyphs` (uint8 RGBA [N, G, G, 4], G = 2S in [64, 136], for
    `render_variations`) and,
    with speech, `clips` (float32 16 kHz) and `voices`; `counts` per split."""

    emoji: dict
    captions: dict
    groups: dict
    subgroups: dict
    images: dict
    glyphs: dict
    clips: dict
    voices: dict
    counts: dict

    split_names = SPLIT_NAMES

    @property
    def group_names(self):
        return sorted({g for split in self.groups.values() for g in split})


def load_emoji(image_size=32, speech=True, seed=0, fractions=DEFAULT_FRACTIONS, limit=None, voices=None,
               root=None, progress=True):
    """The emoji triples, split by `variant_key` (see the module docstring).

    Args:
        image_size: side of the rendered images.
        speech: also speak every caption (espeak-ng and flite; cached).
        seed: salts the grouped split, the voices' split and each clip's voice, speed and pitch.
        limit: keep only the first `limit` emoji of the file (small tests).
        voices: voice ids to speak with (default: every espeak-ng and flite voice).
    """
    CAPTIONS_PACKAGE.locate()
    FONT_PACKAGE.locate()
    glyph_size = min(CANVAS, max(64, 2 * int(image_size)))  # room to scale down and shift sharply
    rows = read_emoji_test()
    if limit is not None:
        rows = rows[: int(limit)]
    keys = [variant_key(row.name) for row in rows]
    indices = split_emoji(rows, seed, fractions)
    out = {field: {} for field in ("emoji", "captions", "groups", "subgroups", "images", "glyphs", "clips",
                                   "voices")}
    counts = {"emoji": len(rows), "variant_keys": len(set(keys))}
    for split in SPLIT_NAMES:
        chosen = [rows[i] for i in indices[split]]
        glyphs = np.stack([render_rgba(e.text, glyph_size) for e in chosen]) if chosen else np.zeros(
            (0, glyph_size, glyph_size, 4), np.uint8)
        out["emoji"][split] = chosen
        out["captions"][split] = [e.name for e in chosen]
        out["groups"][split] = [e.group for e in chosen]
        out["subgroups"][split] = [e.subgroup for e in chosen]
        out["glyphs"][split] = glyphs
        out["images"][split] = np.stack([compose(g, image_size) for g in glyphs]) if chosen else np.zeros(
            (0, image_size, image_size, 3), np.uint8)
        counts[split] = len(chosen)
    if speech:
        from mmpretrain.data.sources.speech import _render

        # One clip per caption in the split's own voices (flite among them: nothing held out).
        spoken = {split: [spoken_caption(e.name) for e in out["emoji"][split]] for split in SPLIT_NAMES}
        plan = _plan_speech(spoken, seed, voices)
        audio = _render(plan, seed, None, root, 2, progress)
        for split in SPLIT_NAMES:
            out["clips"][split] = list(audio[split])
            out["voices"][split] = [clip.voice.id for clip in plan[split]]
    return EmojiTriples(counts=counts, **out)


def _plan_speech(spoken, seed, voices=None):
    from mmpretrain.data.sources.speech import split_voices
    from mmpretrain.data.sources.speech_voices import Voice, check_voice, default_voices
    from mmpretrain.data.sources.transcribed_speech import _clip

    voices = [Voice.parse(v) for v in (voices or default_voices())]
    for voice in voices:
        check_voice(voice)
    pools = split_voices(voices, seed)
    return {split: [_clip(text, pools[split] or voices, seed) for text in texts] for split, texts in spoken.items()}
