"""Scene graphs: objects with attributes, and subject-predicate-object relations between them.

A caption like "a red circle to the left of a blue square" becomes
objects [red circle, blue square] and relations [(0, "to the left of", 1)]. This is the unit that
OC-CLIP binds to image slots and that C2LIP turns into concept phrases.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import GraphFormatError

# Predicates whose subject and object can be exchanged without changing the scene: a swap of one is
# not a negative (OC-CLIP's local loss, clip-hn's caption edits).
SYMMETRIC_PREDICATES = frozenset(
    {"next to", "near", "beside", "by", "close to", "adjacent to", "touch", "with", "and", "meet"}
)


@dataclass(frozen=True)
class SGObject:
    name: str  # head noun phrase, lemmatised ("table", "train track")
    attributes: tuple[str, ...] = ()  # adjectives, colours, counts ("red", "wooden", "2")

    @property
    def text(self) -> str:
        """The node text OC-CLIP encodes: attributes then name ("red wooden table")."""
        return " ".join((*self.attributes, self.name))


@dataclass(frozen=True)
class SGRelation:
    subject: int  # index into SceneGraph.objects
    predicate: str  # lemmatised relation phrase ("on top of", "ride")
    object: int  # index into SceneGraph.objects


@dataclass(frozen=True)
class SceneGraph:
    objects: tuple[SGObject, ...] = ()
    relations: tuple[SGRelation, ...] = ()
    caption: str = ""

    def __post_init__(self):
        # accept lists from callers, store tuples so graphs hash and compare by value
        object.__setattr__(self, "objects", tuple(self.objects))
        object.__setattr__(self, "relations", tuple(self.relations))
        for k, rel in enumerate(self.relations):
            for role in ("subject", "object"):
                idx = getattr(rel, role)
                if not 0 <= idx < len(self.objects):
                    raise GraphFormatError(
                        f"relation {k} ({rel.predicate!r}) has {role} index {idx}, but the graph of "
                        f"caption {self.caption!r} has {len(self.objects)} objects"
                    )

    # ---- derived views the models need -------------------------------------------------------
    def node_texts(self) -> list[str]:
        return [o.text for o in self.objects]

    def relation_texts(self) -> list[str]:
        return [r.predicate for r in self.relations]

    def concept_phrases(self) -> list[str]:
        """C2LIP's concept parts: each object as a short noun phrase with its attributes, deduplicated
        in order. An object without attributes is still a concept (C2LIP aligns bare nouns too)."""
        return list(dict.fromkeys(self.node_texts()))

    def same_structure(self, other: SceneGraph) -> bool:
        """Equal as graphs: same objects in order, same multiset of relations (caption ignored)."""
        return self.objects == other.objects and sorted(map(_rel_key, self.relations)) == sorted(
            map(_rel_key, other.relations)
        )

    def swapped(self, k: int) -> SceneGraph:
        """The graph with relation k's subject and object exchanged."""
        rels = list(self.relations)
        r = rels[k]
        rels[k] = SGRelation(r.object, r.predicate, r.subject)
        return SceneGraph(self.objects, rels, self.caption)

    def meaning(self) -> tuple:
        """What a caption can tell apart: the node texts and the relations as (subject text, predicate,
        object text), a symmetric predicate's endpoints in either order. Two graphs with the same meaning
        describe the same scene, so one is never a negative of the other."""
        texts = self.node_texts()
        rels = []
        for r in self.relations:
            s, o = texts[r.subject], texts[r.object]
            if r.predicate in SYMMETRIC_PREDICATES:
                s, o = sorted((s, o))
            rels.append((s, r.predicate, o))
        return tuple(sorted(texts)), tuple(sorted(rels))

    def counterfactuals(self, limit: int = 3, n_shuffled: int = 2, seed: int = 0) -> list[SceneGraph]:
        """Negatives for OC-CLIP's local graph loss, each one a scene this graph does not describe.

        Up to `limit` graphs with the same nodes and predicates: up to `n_shuffled` with every
        relation's endpoints re-drawn at random (fewer where no other place is left for a swap), the
        rest with one relation's subject and object swapped (relations picked in a seeded order), so a
        graph with two or more relations gets both kinds. A candidate with this graph's meaning (a
        swapped symmetric predicate, a swap of two nodes with the same text, a re-draw landing on an
        equivalent graph) or a repeat is dropped; a graph with no relation or fewer than two objects
        has none.
        """
        if len(self.objects) < 2 or not self.relations or limit <= 0:
            return []
        rng = random.Random(seed)
        seen = {self.meaning()}

        def new(g: SceneGraph) -> bool:
            key = g.meaning()
            if key in seen:
                return False
            seen.add(key)
            return True

        order = rng.sample(range(len(self.relations)), len(self.relations))
        swaps = [g for g in (self.swapped(k) for k in order) if new(g)]
        room = limit - 1 if swaps else limit  # a swap, where one exists, always gets a place
        redraws = self._redraws(max(min(n_shuffled, room), limit - len(swaps)), rng, new)
        return swaps[: limit - len(redraws)] + redraws

    def _redraws(self, n: int, rng: random.Random, new) -> list[SceneGraph]:
        """Up to n graphs whose relations keep their predicates and get random distinct endpoints."""
        out, k = [], len(self.objects)
        for _ in range(n):
            for _attempt in range(20):
                ends = [rng.sample(range(k), 2) for _ in self.relations]
                rels = [SGRelation(s, r.predicate, o) for r, (s, o) in zip(self.relations, ends)]
                g = SceneGraph(self.objects, rels, self.caption)
                if new(g):
                    out.append(g)
                    break
        return out

    # ---- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "caption": self.caption,
            "objects": [{"name": o.name, "attributes": list(o.attributes)} for o in self.objects],
            "relations": [{"subject": r.subject, "predicate": r.predicate, "object": r.object} for r in self.relations],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict, where: str = "record") -> SceneGraph:
        """Build from the JSONL schema, raising GraphFormatError that names `where` and the field."""
        if not isinstance(d, dict):
            raise GraphFormatError(f"{where}: expected a JSON object, got {type(d).__name__}")
        caption = d.get("caption", "")
        if not isinstance(caption, str):
            raise GraphFormatError(f"{where}: field 'caption' must be a string")
        objs_raw = _field(d, "objects", list, where)
        rels_raw = _field(d, "relations", list, where)
        objects = []
        for i, o in enumerate(objs_raw):
            w = f"{where}: objects[{i}]"
            if not isinstance(o, dict):
                raise GraphFormatError(f"{w}: expected an object with 'name' and 'attributes'")
            name = _field(o, "name", str, w)
            if not name.strip():
                raise GraphFormatError(f"{w}.name: empty name")
            attrs = o.get("attributes", [])
            if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
                raise GraphFormatError(f"{w}.attributes: must be a list of strings")
            objects.append(SGObject(name, tuple(attrs)))
        relations = []
        for k, r in enumerate(rels_raw):
            w = f"{where}: relations[{k}]"
            if not isinstance(r, dict):
                raise GraphFormatError(f"{w}: expected an object with 'subject', 'predicate', 'object'")
            s, o = _field(r, "subject", int, w), _field(r, "object", int, w)
            pred = _field(r, "predicate", str, w)
            for role, idx in (("subject", s), ("object", o)):
                if isinstance(idx, bool) or not 0 <= idx < len(objects):
                    raise GraphFormatError(f"{w}.{role}: index {idx} out of range for {len(objects)} objects")
            relations.append(SGRelation(s, pred, o))
        return cls(tuple(objects), tuple(relations), caption)

    @classmethod
    def from_json(cls, line: str, where: str = "record") -> SceneGraph:
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise GraphFormatError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        return cls.from_dict(d, where)


def _rel_key(r: SGRelation) -> tuple:
    return (r.subject, r.predicate, r.object)


def _field(d: dict, key: str, kind: type, where: str):
    if key not in d:
        raise GraphFormatError(f"{where}: missing field '{key}'")
    v = d[key]
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise GraphFormatError(f"{where}: field '{key}' must be {kind.__name__}, got {type(v).__name__}")
    return v


def write_jsonl(graphs: Iterable[SceneGraph], path: str | Path) -> int:
    """Write one graph per line, atomically (a crash never leaves a half-written graph file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for g in graphs:
            f.write(g.to_json() + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_jsonl(path: str | Path) -> Iterator[SceneGraph]:
    """Read graphs, naming file and line of the first bad record."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                raise GraphFormatError(f"{path}:{lineno}: empty line (one graph per line expected)")
            yield SceneGraph.from_json(line, where=f"{path}:{lineno}")
