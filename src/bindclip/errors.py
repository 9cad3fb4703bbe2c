"""Every failure caused by what the user gave bindclip: a file, a line of it, a config field, a spec.

Each is a `BindclipError` whose message names the file, line or field, so the command line catches
the base alone and prints `error: <message>` with exit status 2, never a traceback. They also
subclass the built-in a caller would expect (ValueError, FileNotFoundError). Anything else escaping
the CLI is a bug in bindclip and keeps its traceback.
"""

from __future__ import annotations


class BindclipError(Exception):
    """Base of user-facing failures; the message alone tells the user what to fix."""


class ConfigError(BindclipError, ValueError):
    """A config key or value that cannot work (training config, probe sizes, demo runs); names the key."""


class SpecError(BindclipError, ValueError):
    """A model, parser or encoder spec that names nothing bindclip or open_clip can build."""


class MissingFileError(BindclipError, FileNotFoundError):
    """A file or folder the user named that is not there (or is not what the command needs)."""


class GraphFormatError(BindclipError, ValueError):
    """A scene-graph record that does not follow the schema; names the record and field."""


class CaptionFileError(BindclipError, ValueError):
    """A captions file that cannot be read as captions; names the file and line."""


class WorldConfigError(BindclipError, ValueError):
    """A world parameter that cannot work; names the parameter."""


class CheckpointError(BindclipError, ValueError):
    """A weights file that does not fit the model; names the file and the parameter."""


class PreprocessError(BindclipError, ValueError):
    """A model spec whose preprocessing cannot be decided; lists the choices."""


class ShardError(BindclipError, ValueError):
    """WebDataset shards that cannot feed the run (none usable, too few for the readers); names them."""


class BenchSpecError(BindclipError, ValueError):
    """A --bench argument that names no benchmark or lacks its path."""


class BenchmarkFormatError(BindclipError, ValueError):
    """A benchmark file that does not follow its published format; names the file and item."""


class ReportError(BindclipError, ValueError):
    """A folder or JSON that holds no report-able run; names the file."""


class MissingDependencyError(BindclipError, ImportError):
    """An optional extra the command needs is not installed; names the pip command that installs it."""


class LLMServerError(BindclipError, ConnectionError):
    """An LLM server that cannot serve the parse at all (unreachable, no such model, a refused key or
    request); names the server. A fault of one answer is not this: it is retried, then falls back."""


class ClusterError(BindclipError, ConnectionError):
    """A Ray cluster address that does not answer; names the address."""


class StaleCacheError(BindclipError, ValueError):
    """A cache file (embeddings, ARO shuffles) made from other inputs; names it and says to delete it."""
