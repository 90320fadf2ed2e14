"""The user's own data: text files, and folders of class sub-folders of images or audio.

Outputs are the same `DataSplits` as the embedded sources. Splits are by the stable hash of the
example's text (text) or of the file's path relative to the data folder (images, audio), so
moving the folder does not change them, and all chunks of one audio file share a split.

Bad input, decided once here:
- A text file that is not UTF-8: `ValueError` naming the file and the byte offset (default
  `encoding_errors="strict"`); `encoding_errors="replace"` decodes bad bytes as U+FFFD and warns
  with a `DataWarning` naming the file.
- An image or audio file that cannot be decoded, an image whose header declares more than
  `image_io.MAX_IMAGE_PIXELS` pixels (checked before decoding), or an audio file of 0 samples,
  with NaN/Inf samples or a header sample rate outside `audio_io.FILE_RATE_RANGE` (checked
  before decoding): skipped, with a `DataWarning` naming the file; skipped files are listed in
  `counts["skipped"]`. No example is ever produced for such a file, so no label can be wrong.
- Paths that are not str / os.PathLike (or a list of them): `ValueError` naming the type.
- A missing or empty data folder, a folder with no class sub-folders, a class folder with no
  files of an accepted type (or whose files were all skipped): `ValueError` naming the folder
  and the accepted extensions. A class is never silently dropped.
- Files of other types inside class folders are ignored with one `DataWarning` per folder.
- Audio longer than `max_seconds`: `long_audio="crop"` (default) keeps the first `max_seconds`;
  `long_audio="split"` cuts it into consecutive `max_seconds` chunks (same label, same split),
  dropping a last chunk shorter than `min_chunk_seconds` unless it is the only one.
"""

import glob
import os
import pathlib
import warnings

import numpy as np

from mmpretrain.data.data_splits import DataSplits, build_splits
from mmpretrain.data.splits import DEFAULT_FRACTIONS, split_indices
from mmpretrain.modalities.audio_io import SAMPLE_RATE, AudioLimitError, load_audio
from mmpretrain.modalities.image_io import MAX_IMAGE_PIXELS, check_pixel_count

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
TEXT_EXTENSIONS = (".txt",)


class DataWarning(UserWarning):
    """Something in the user's data was skipped or repaired; the message names the file."""


# === Text files ===


def _expand_paths(paths):
    """Files named by `paths`: files, folders (their *.txt files, recursively) or glob patterns."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, (list, tuple)):
        raise ValueError(
            f"Received text paths of type {type(paths).__name__} ({paths!r:.80}). Expected a file, a "
            "folder, a glob (str or path), or a list of them."
        )
    for i, path in enumerate(paths):
        if not isinstance(path, (str, os.PathLike)):
            nested = " (nested lists are not accepted)" if isinstance(path, (list, tuple)) else ""
            raise ValueError(
                f"Received text paths whose item {i} is of type {type(path).__name__}{nested}. "
                "Expected a file, a folder, a glob (str or path), or a flat list of them."
            )
    if not paths:
        raise ValueError("Received an empty list of text paths. Pass at least one file, folder or glob.")
    files = []
    for pattern in paths:
        pattern = os.path.expanduser(str(pattern))
        if os.path.isfile(pattern):
            found = [pattern]
        elif os.path.isdir(pattern):
            found = sorted(
                str(p) for p in pathlib.Path(pattern).rglob("*")
                if p.is_file() and p.suffix.lower() in TEXT_EXTENSIONS
            )
        else:
            found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not found:
            raise ValueError(
                f"Received text path {pattern!r}, which matches no file. Expected a file, a "
                f"folder holding {TEXT_EXTENSIONS} files, or a glob such as 'notes/**/*.txt'."
            )
        files.extend(found)
    return list(dict.fromkeys(files))


def read_text_file(path, encoding_errors="strict"):
    """The text of a UTF-8 file (a leading BOM is dropped).

    `encoding_errors="strict"` raises `ValueError` naming the file and the first bad byte;
    `"replace"` decodes bad bytes as U+FFFD and warns with a `DataWarning` naming the file.
    """
    if encoding_errors not in ("strict", "replace"):
        raise ValueError(
            f"Received encoding_errors={encoding_errors!r}. Expected 'strict' or 'replace'."
        )
    raw = pathlib.Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if encoding_errors == "strict":
            raise ValueError(
                f"{path} is not UTF-8 text: byte {raw[error.start:error.start + 1]!r} at offset "
                f"{error.start} ({error.reason}). Convert it to UTF-8 (e.g. `iconv -f latin1 -t "
                f"utf-8`), or pass encoding_errors='replace' to read bad bytes as U+FFFD."
            ) from None
        text = raw.decode("utf-8-sig", errors="replace")
        warnings.warn(
            f"{path} is not valid UTF-8 (first bad byte at offset {error.start}); bad bytes "
            "were replaced by U+FFFD.",
            DataWarning,
            stacklevel=3,
        )
        return text


def load_text_files(paths, unit="line", encoding_errors="strict", seed=0,
                    fractions=DEFAULT_FRACTIONS):
    """The user's text as a `DataSplits` of tf.string documents (unlabeled).

    Args:
        paths: a file, a folder (its *.txt files, recursively), a glob, or a list of these.
        unit: "line" (each non-blank line is a document) or "file" (each file is one).
        encoding_errors: "strict" (non-UTF-8 file -> ValueError naming it) or "replace".
        seed, fractions: split by the stable hash of each document's text.
    """
    if unit not in ("line", "file"):
        raise ValueError(f"Received unit={unit!r}. Expected 'line' or 'file'.")
    files = _expand_paths(paths)
    documents = []
    for file in files:
        text = read_text_file(file, encoding_errors)
        if unit == "line":
            documents.extend(line.strip() for line in text.splitlines() if line.strip())
        elif text.strip():
            documents.append(text.strip())
    if not documents:
        raise ValueError(f"The text files {files} hold no non-blank text.")
    size = sum(len(d.encode("utf-8")) for d in documents)
    counts = {"files": len(files), "documents": len(documents), "megabytes": round(size / 1e6, 3)}
    return build_splits(documents, documents, "text", seed, fractions, counts=counts)


# === Class folders ===


def class_folders(root, extensions, what):
    """[(class name, [files])] of `root`/CLASS/** with an accepted extension, classes sorted."""
    if not isinstance(root, (str, os.PathLike)):
        raise ValueError(
            f"Received a data folder of type {type(root).__name__} ({root!r:.80}). Expected the path "
            f"of a folder holding CLASS_NAME/ sub-folders of {what} files."
        )
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(f"Received data folder {str(root)!r}, which is not a folder.")
    accepted = ", ".join(extensions)
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subfolders:
        raise ValueError(
            f"The folder {root} has no class sub-folders. Expected {root}/CLASS_NAME/ folders "
            f"holding {what} files ({accepted}); the sub-folder names become the class names."
        )
    loose = [p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
    if loose:
        warnings.warn(
            f"Ignoring {len(loose)} file(s) directly in {root} (e.g. {loose[0]}): only files "
            "inside class sub-folders are used.",
            DataWarning,
            stacklevel=3,
        )
    classes = []
    for folder in subfolders:
        files, others = [], []
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            (files if path.suffix.lower() in extensions else others).append(path)
        if others:
            warnings.warn(
                f"Ignoring {len(others)} file(s) in {folder} that are not {what} files "
                f"({accepted}), e.g. {others[0].name}.",
                DataWarning,
                stacklevel=3,
            )
        if not files:
            raise ValueError(
                f"The class folder {folder} has no {what} files ({accepted}). Add files to it "
                "or remove it: every class sub-folder must hold examples."
            )
        classes.append((folder.name, files))
    return classes


def _skip(path, reason):
    warnings.warn(f"Skipping {path}: {reason}.", DataWarning, stacklevel=3)


def _check_nonempty_classes(class_names, labels, root, what):
    for index, name in enumerate(class_names):
        if not np.any(np.asarray(labels) == index):
            raise ValueError(
                f"Every {what} file of class folder {pathlib.Path(root) / name} was skipped as "
                "unreadable (see the warnings above); fix or remove those files."
            )


def decode_image(path, channels=3, image_size=None):
    """uint8 `[H, W, channels]` of an image file (PIL if installed, else tf.io.decode_image)."""
    if channels not in (1, 3, 4):
        raise ValueError(f"Received channels={channels}. Expected 1, 3 or 4.")
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        with Image.open(path) as image:  # the header only: the pixel bound comes before decoding
            check_pixel_count(image.size, f"{path}", MAX_IMAGE_PIXELS)
            image.load()
            image = image.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
            if image_size is not None:
                image = image.resize((image_size[1], image_size[0]), Image.BILINEAR)
            array = np.asarray(image, np.uint8)
        return array[..., None] if channels == 1 else array
    import tensorflow as tf

    tensor = tf.io.decode_image(
        pathlib.Path(path).read_bytes(), channels=channels, expand_animations=False
    )
    if image_size is not None:
        tensor = tf.cast(tf.round(tf.image.resize(tensor, image_size)), tf.uint8)
    return tensor.numpy()


def load_image_folder(root, image_size=None, channels=3, seed=0, fractions=DEFAULT_FRACTIONS):
    """Images in `root`/CLASS/*.png|jpg: a `DataSplits` of (uint8 `[H, W, C]`, int32 label).

    Args:
        image_size: (height, width) or an int to resize every image to; None keeps each image's
            size (then the tf.data element shape is `[None, None, C]` if sizes differ).
        channels: 1 (grayscale), 3 (RGB) or 4 (RGBA).
    """
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    classes = class_folders(root, IMAGE_EXTENSIONS, "image")
    class_names = [name for name, _ in classes]
    images, labels, keys, skipped = [], [], [], []
    for label, (_, files) in enumerate(classes):
        for path in files:
            try:
                image = decode_image(path, channels, image_size)
            except Exception as error:  # PIL and TF raise many types for a bad file
                _skip(path, f"cannot decode it as an image ({type(error).__name__}: {error})")
                skipped.append(str(path))
                continue
            images.append(image)
            labels.append(label)
            keys.append(path.relative_to(root).as_posix())
    _check_nonempty_classes(class_names, labels, root, "image")
    if len({image.shape for image in images}) == 1:
        images = np.stack(images)
    counts = {"files": len(keys) + len(skipped), "skipped": skipped}
    metadata = [{"path": key} for key in keys]
    return build_splits(images, keys, "image", seed, fractions, labels=labels,
                        class_names=class_names, counts=counts, metadata=metadata)


def chunk_audio(audio, max_seconds, long_audio="crop", min_chunk_seconds=1.0):
    """Pieces of `audio` (16 kHz) no longer than `max_seconds`, by the `long_audio` rule."""
    if long_audio not in ("crop", "split"):
        raise ValueError(f"Received long_audio={long_audio!r}. Expected 'crop' or 'split'.")
    if max_seconds is None:
        return [audio]
    size = int(round(max_seconds * SAMPLE_RATE))
    if size <= 0:
        raise ValueError(f"Received max_seconds={max_seconds}. Expected a positive number.")
    if long_audio == "crop" or len(audio) <= size:
        return [audio[:size]]
    chunks = [audio[i : i + size] for i in range(0, len(audio), size)]
    if len(chunks[-1]) < min_chunk_seconds * SAMPLE_RATE:
        chunks = chunks[:-1]
    return chunks


def _read_audio(path, max_seconds=None):
    """(float32 [T] at 16 kHz in [-1, 1], None), or (None, why the file is skipped).

    `max_seconds`: only that much is decoded (cropped before resampling)."""
    try:
        return np.clip(load_audio(path, max_seconds=max_seconds), -1.0, 1.0), None
    except AudioLimitError as error:  # readable but refused: an absurd sample rate, NaN samples
        return None, f"refused: {str(error).rstrip('.')}"
    except ValueError as error:  # load_audio's one error for unreadable and empty files
        if _frames(path) == 0:
            return None, "it has 0 samples"
        detail = error.__cause__ if error.__cause__ is not None else error
        return None, f"cannot decode it as audio ({type(detail).__name__}: {detail})"


def _frames(path):
    """Frames in the audio file's header (None if soundfile cannot read the header)."""
    import soundfile

    try:
        return soundfile.info(str(path)).frames
    except (RuntimeError, TypeError, ValueError):
        return None


def load_audio_folder(root, max_seconds=10.0, long_audio="crop", min_chunk_seconds=1.0, seed=0,
                      fractions=DEFAULT_FRACTIONS):
    """Audio in `root`/CLASS/*.wav|flac|ogg: a `DataSplits` of (float32 `[T]` @16 kHz, label).

    Any sample rate and channel count is accepted (channels averaged, resampled to 16 kHz).
    Long files follow `long_audio` ("crop": keep the first `max_seconds`; "split": consecutive
    `max_seconds` chunks). `metadata[split]` gives each example's file and chunk index.
    """
    classes = class_folders(root, AUDIO_EXTENSIONS, "audio")
    class_names = [name for name, _ in classes]
    clips, labels, files, skipped = [], [], [], []
    for label, (_, paths) in enumerate(classes):
        for path in paths:
            audio, reason = _read_audio(path, max_seconds if long_audio == "crop" else None)
            if audio is None:
                _skip(path, reason)
                skipped.append(str(path))
                continue
            clips.append(chunk_audio(audio, max_seconds, long_audio, min_chunk_seconds))
            labels.append(label)
            files.append(path.relative_to(root).as_posix())
    _check_nonempty_classes(class_names, labels, root, "audio")
    indices = split_indices(files, seed, fractions)
    inputs, split_labels, metadata = {}, {}, {}
    for split, idx in indices.items():
        inputs[split], split_labels[split], metadata[split] = [], [], []
        for i in idx:
            for chunk_index, chunk in enumerate(clips[i]):
                inputs[split].append(chunk)
                split_labels[split].append(labels[i])
                metadata[split].append({"path": files[i], "chunk": chunk_index})
    counts = {"files": len(files) + len(skipped), "skipped": skipped,
              "max_seconds": max_seconds, "long_audio": long_audio}
    return DataSplits(inputs, "audio", labels=split_labels, class_names=class_names,
                      counts=counts, metadata=metadata)
