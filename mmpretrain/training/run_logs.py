"""A run's JSON-lines logs (train.jsonl, eval.jsonl): append, read back, and repair on resume."""

import json
import os

from mmpretrain.atomic_files import atomic_write_text


def append_record(path, record):
    """Appends one record as a JSON line."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def parse_line(line):
    """A log line's record, or None for a torn line (a write cut short) or a stray one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("step"), int) else None


def read_records(path):
    """Every well-formed record of the log at `path` ([] when there is none)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in map(parse_line, f) if r is not None]


def truncate_records(path, last_step):
    """Drops the lines after `last_step` (written by a run killed after its checkpoint), torn
    lines, and repeats of a step (the first one stays); rewrites the file atomically."""
    if not os.path.exists(path):
        return
    kept, seen = [], set()
    with open(path) as f:
        for line in f:
            record = parse_line(line)
            if record is None or record["step"] > last_step or record["step"] in seen:
                continue
            seen.add(record["step"])
            kept.append(line if line.endswith("\n") else line + "\n")
    atomic_write_text(path, "".join(kept))
