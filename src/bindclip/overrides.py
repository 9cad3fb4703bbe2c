"""Typed configs: dataclass trees built from dicts, YAML/JSON files and `section.key=value` overrides.

Every key is checked against the dataclass and every value against its field's type, so a typo or a
wrong value is a ConfigError naming the key (and the file) instead of a default trained silently. The
training config (train.config) and the probes' sizes (probes.suite) both go through here.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

import yaml

from .errors import ConfigError


def from_dict(cls, d: dict, where: str = "config", prefix: str = ""):
    """A dataclass from a (possibly nested) dict; unknown keys raise ConfigError naming them."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'config'} must be a mapping, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in d.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key {prefix + key!r}; known: {', '.join(known)}")
        kwargs[key] = _coerce(hints[key], value, where, prefix + key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'config'}: {e}") from None


def _coerce(hint, value, where: str, key: str):
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value, where, key + ".")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() == "none")):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where, key) if len(inner) == 1 else value
    if origin in (list, tuple):
        if isinstance(value, str):  # a command line's comma list: fractions=0.2,0.5,0.8
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, (int, float)):  # one number for a list of them: fractions=0.5
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {key} must be a list, got {value!r}")
        item = args[0] if args else None
        items = [_coerce(item, v, where, key) if item not in (None, Ellipsis) else v for v in value]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
        if hint is int and float(value) != int(value):
            raise ConfigError(f"{where}: {key} must be an integer, got {value!r}")
        return hint(value)
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, got {value!r}")
    return value


def merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(text: str) -> dict:
    """ "optim.lr=1e-4" -> {"optim": {"lr": 0.0001}}; the value is read as YAML (numbers, lists, null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r}: expected section.key=value")
    value = yaml.safe_load(raw) if raw.strip() else ""
    out: dict = {}
    node = out
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def read_config_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    try:
        d = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({e})") from None
    return d or {}


def parse_overrides(items) -> dict:
    """KEY=VALUE strings merged into one nested dict, later ones winning."""
    given: dict = {}
    for item in items or ():
        given = merge(given, parse_override(item))
    return given
