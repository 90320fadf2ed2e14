"""Index a folder of images and/or audio clips, then find files by a text or a spoken query.

    python apps/retrieval/search.py index photos/ --index runs/apps/retrieval/index/photos
    python apps/retrieval/search.py query runs/apps/retrieval/index/photos --text "smiling face" --top-k 5
    python apps/retrieval/search.py query runs/apps/retrieval/index/photos --audio question.wav

The model is the retrieval app's aligned SavedModel (default: the newest saved_models/retrieval;
`--model` for another): every file is embedded by its modality's signature, every query by the
text or audio one, and files are ranked by cosine similarity in the shared space.

An index is a folder holding `index.npz` (paths relative to the indexed folder, modalities,
unit vectors) and `index.json` (the model, the folder, counts); it is written to a temporary
folder and renamed into place, and an existing index is only replaced with `--force`. Each
query prints one JSON line: {"query", "results": [{"path", "modality", "score"}, ...]}.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for mmpretrain

INDEX_FILE, INDEX_INFO = "index.npz", "index.json"


def build_parser():
    parser = argparse.ArgumentParser(prog="apps/retrieval/search.py",
                                     description="Index images and audio clips with the aligned model; search "
                                                 "them by text or by a spoken query.")
    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", help="embed every supported file below FOLDER")
    index.add_argument("folder")
    index.add_argument("--index", required=True, metavar="DIR", help="where the index goes")
    index.add_argument("--model", default=None, help="the aligned SavedModel (default saved_models/retrieval)")
    index.add_argument("--force", action="store_true", help="replace an existing index")
    query = commands.add_parser("query", help="the files of an index closest to a query")
    query.add_argument("index", metavar="INDEX_DIR")
    query.add_argument("--text", action="append", default=[], help="a text query (repeatable)")
    query.add_argument("--audio", action="append", default=[], help="an audio file as a spoken query (repeatable)")
    query.add_argument("--top-k", type=int, default=5)
    query.add_argument("--modality", choices=("image", "audio"), default=None,
                       help="only return files of this modality")
    return parser


def _model_dir(model):
    from mmpretrain.pipelines import _resolve

    return _resolve("zero-shot-image-classification", model)


def supported_files(folder):
    """(relative path, modality) of every image and audio file below `folder`, sorted."""
    from mmpretrain.modalities.audio_io import AUDIO_EXTENSIONS
    from mmpretrain.modalities.image_io import IMAGE_EXTENSIONS

    if not os.path.isdir(folder):
        raise ValueError(f"{folder!r} is not a folder; pass the folder of images and/or audio clips to index.")
    found = []
    for root, _, files in os.walk(folder):
        for name in files:
            extension = os.path.splitext(name)[1].lower()
            modality = "image" if extension in IMAGE_EXTENSIONS else "audio" if extension in AUDIO_EXTENSIONS else None
            if modality:
                found.append((os.path.relpath(os.path.join(root, name), folder), modality))
    if not found:
        raise ValueError(f"{folder!r} holds no supported files; accepted: images {list(IMAGE_EXTENSIONS)} and "
                         f"audio {list(AUDIO_EXTENSIONS)}.")
    return sorted(found)


def build_index(folder, index_dir, model=None, force=False):
    """Embeds every supported file below `folder` into `index_dir`; returns index.json's dict."""
    from mmpretrain.pipelines import AlignedEmbedder

    if os.path.exists(index_dir) and not force:
        raise ValueError(f"An index already exists at {index_dir!r}; pass --force to replace it.")
    files = supported_files(folder)
    embedder = AlignedEmbedder(_model_dir(model))
    paths, modalities, vectors = [], [], []
    for modality in ("image", "audio"):
        chosen = [path for path, m in files if m == modality]
        if not chosen:
            continue
        embedder.require(modality, f"indexing {len(chosen)} {modality} files of {folder!r}")
        found, _ = embedder.embed([os.path.join(folder, p) for p in chosen], modality, f"indexing {folder!r}")
        paths += chosen
        modalities += [modality] * len(chosen)
        vectors.append(found)
    info = {"folder": os.path.abspath(folder), "model": embedder.model_dir, "files": len(paths),
            "counts": {m: modalities.count(m) for m in sorted(set(modalities))}}
    parent = os.path.dirname(os.path.abspath(index_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".index-", dir=parent)
    try:
        np.savez(os.path.join(staging, INDEX_FILE), paths=np.asarray(paths), modalities=np.asarray(modalities),
                 vectors=np.concatenate(vectors))
        with open(os.path.join(staging, INDEX_INFO), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, sort_keys=True)
        if os.path.exists(index_dir):  # --force: the old index goes only once the new one is complete
            old = tempfile.mkdtemp(prefix=".replaced-", dir=parent)
            os.rename(index_dir, os.path.join(old, "index"))
            os.rename(staging, index_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, index_dir)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return info


def load_index(index_dir):
    file = os.path.join(index_dir, INDEX_FILE)
    if not os.path.isfile(file):
        raise ValueError(f"{index_dir!r} is not an index (no {INDEX_FILE}); build one with "
                         f"`python apps/retrieval/search.py index FOLDER --index {index_dir}`.")
    with open(os.path.join(index_dir, INDEX_INFO), encoding="utf-8") as f:
        info = json.load(f)
    data = np.load(file)
    return info, [str(p) for p in data["paths"]], [str(m) for m in data["modalities"]], data["vectors"]


def search(index_dir, texts=(), audio=(), top_k=5, modality=None):
    """[{"query", "results": [{"path", "modality", "score"}]}] for each text and audio query."""
    from mmpretrain.modalities.audio_io import AUDIO_EXTENSIONS
    from mmpretrain.pipelines import AlignedEmbedder

    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer; received {top_k!r}.")
    if not texts and not audio:
        raise ValueError("Give at least one query: --text 'words' or --audio FILE.")
    for path in audio:
        if os.path.splitext(path)[1].lower() not in AUDIO_EXTENSIONS:
            raise ValueError(f"--audio {path!r} is not an audio file; a spoken query is one of {list(AUDIO_EXTENSIONS)} "
                             "(use --text for words).")
    info, paths, modalities, vectors = load_index(index_dir)
    embedder = AlignedEmbedder(info["model"])
    queries = []
    if texts:
        found, _ = embedder.embed(list(texts), "text", "text query")
        queries += list(zip(texts, found))
    if audio:
        found, _ = embedder.embed(list(audio), "audio", "spoken query")
        queries += list(zip(audio, found))
    keep = np.array([modality is None or m == modality for m in modalities])
    answers = []
    for query, vector in queries:
        similarity = np.where(keep, vectors @ vector, -np.inf)
        order = np.argsort(-similarity, kind="stable")[: min(top_k, int(keep.sum()))]
        answers.append({"query": query, "results": [
            {"path": paths[i], "modality": modalities[i], "score": round(float(similarity[i]), 4)} for i in order]})
    return answers


def main(argv=None):
    """Exit code 0, or 2 with `error: ...` on bad input (nothing written)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "index":
            print(json.dumps(build_index(args.folder, args.index, args.model, args.force)))
        else:
            for answer in search(args.index, args.text, args.audio, args.top_k, args.modality):
                print(json.dumps(answer))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
