"""Reading caption files (.txt, .csv, .jsonl) with errors that name the file and line.

Every input line (or CSV row, or JSONL record) yields exactly one caption, so a parse output has
one graph per input caption, in order; nothing is dropped without an error.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import CaptionFileError


def _decode_lines(path: Path, errors: str) -> list[str]:
    """Decode line by line so a bad byte is reported with its line number."""
    lines = []
    for lineno, raw in enumerate(path.read_bytes().splitlines(keepends=True), 1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            if errors == "strict":
                raise CaptionFileError(
                    f"{path}:{lineno}: not valid UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1}); "
                    f"fix the file or pass --encoding-errors replace"
                ) from None
            lines.append(raw.decode("utf-8", errors="replace"))
    return lines


def read_captions(path: str | Path, column: str = "caption", encoding_errors: str = "strict") -> list[str]:
    """Captions from a .txt (one per line, blank lines are empty captions), .csv (column
    `column`) or .jsonl (field `column`) file."""
    path = Path(path)
    if not path.exists():
        raise CaptionFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    lines = _decode_lines(path, encoding_errors)
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO("".join(lines), newline=""))
        if column not in (reader.fieldnames or []):
            raise CaptionFileError(f"{path}: no '{column}' column (columns: {reader.fieldnames})")
        out = []
        for row in reader:
            value = row.get(column)
            if value is None:
                raise CaptionFileError(f"{path}:{reader.line_num}: row has no '{column}' value")
            out.append(value)
        return out
    if suffix in (".jsonl", ".json"):
        out = []
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                raise CaptionFileError(f"{path}:{lineno}: empty line in a JSONL file")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise CaptionFileError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get(column), str):
                raise CaptionFileError(f"{path}:{lineno}: record has no string field '{column}'")
            out.append(record[column])
        return out
    if suffix in (".txt", ""):
        return [line.rstrip("\r\n") for line in lines]
    raise CaptionFileError(f"{path}: unknown caption file type '{suffix}' (use .txt, .csv or .jsonl)")
