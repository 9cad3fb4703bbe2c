"""FACTUAL-SG's scene-graph text: "( subject , predicate , object ) , ( pole )"."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from .scene_graph import GraphFormatError, SceneGraph, SGObject, SGRelation

_GROUP = re.compile(r"\(([^()]*)\)")


def parse_factual(text: str, caption: str = "", where: str = "scene_graph") -> SceneGraph:
    """Read FACTUAL's "( subject , predicate , object ) , ( pole )" into a SceneGraph.

    A one-part group is an object, a triple with predicate "is" an attribute, any other triple a
    relation. Objects are identified by their name, as in FACTUAL.
    """
    groups = _GROUP.findall(text)
    if text.strip() and not groups:
        raise GraphFormatError(f"{where}: no '( ... )' tuple found in {text!r}")
    for g in groups:
        n = len(g.split(","))
        if n not in (1, 3):
            raise GraphFormatError(f"{where}: tuple '({g})' has {n} parts; expected 1 or 3")
    return _graph_from_groups(groups, caption, where)


def parse_factual_lenient(text: str, caption: str = "") -> tuple[SceneGraph, int]:
    """For generated text: malformed groups are skipped; returns (graph, number skipped)."""
    groups = _GROUP.findall(text)
    good = [g for g in groups if len(g.split(",")) in (1, 3) and all(p.strip() for p in g.split(","))]
    return _graph_from_groups(good, caption, "generated text"), len(groups) - len(good)


def _graph_from_groups(groups: list[str], caption: str, where: str) -> SceneGraph:
    names: dict[str, int] = {}
    attrs: dict[int, list[str]] = {}
    relations = []

    def obj(name: str) -> int:
        if not name:
            raise GraphFormatError(f"{where}: empty element in tuple '({g})'")
        if name not in names:
            names[name] = len(names)
            attrs[names[name]] = []
        return names[name]

    for g in groups:
        parts = [p.strip() for p in g.split(",")]
        if len(parts) == 1:
            obj(parts[0])
        elif len(parts) == 3:
            s, p, o = parts
            if p == "is":
                i = obj(s)
                if o and o not in attrs[i]:
                    attrs[i].append(o)
            else:
                relations.append(SGRelation(obj(s), p, obj(o)))
    objects = [SGObject(n, tuple(attrs[i])) for n, i in names.items()]
    return SceneGraph(objects, relations, caption)


def read_factual_csv(path: str | Path) -> list[SceneGraph]:
    """The gold file: columns `caption` and `scene_graph`; errors name the file and line."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"caption", "scene_graph"} - set(reader.fieldnames or [])
        if missing:
            raise GraphFormatError(f"{path}: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
        return [parse_factual(row["scene_graph"], row["caption"], where=f"{path}:{reader.line_num}") for row in reader]
