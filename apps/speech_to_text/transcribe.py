"""Transcribe audio files with the exported speech-to-text model (the pipeline, from the shell).

    python apps/speech_to_text/transcribe.py talk.wav                      # {"text": ...} per file
    python apps/speech_to_text/transcribe.py talk.flac --timestamps word   # + "chunks" with (start, end)
    python apps/speech_to_text/transcribe.py long.ogg --chunk-length-s 4 --model saved_models/speech_to_text/2

Any sample rate and channel count (mixed down, resampled to 16 kHz); audio longer than the model's
max_seconds is transcribed in overlapping windows. Prints one JSON line per file; a file that
cannot be read ends the command with exit code 2 and a message naming it.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for mmpretrain


def build_parser():
    parser = argparse.ArgumentParser(prog="apps/speech_to_text/transcribe.py",
                                     description="Transcribe wav/flac/ogg files with the speech-to-text model.")
    parser.add_argument("files", nargs="+", help="audio files (wav, flac, ogg)")
    parser.add_argument("--model", default=None, help="saved_models/speech_to_text (default) or a version directory")
    parser.add_argument("--timestamps", choices=("word", "char"), default=None, help="add timed chunks")
    parser.add_argument("--chunk-length-s", type=float, default=None, help="window length for long audio")
    parser.add_argument("--stride-length-s", type=float, default=None, help="overlap on each side of a window")
    return parser


def main(argv=None):
    import mmpretrain

    args = build_parser().parse_args(argv)
    try:
        asr = mmpretrain.pipeline("automatic-speech-recognition", model=args.model)
        for path in args.files:
            out = asr(path, return_timestamps=args.timestamps, chunk_length_s=args.chunk_length_s,
                      stride_length_s=args.stride_length_s)
            print(json.dumps({"file": path, **out}))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
