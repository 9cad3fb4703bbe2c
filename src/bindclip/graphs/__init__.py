"""Scene graphs: the data structure, its JSON form, model views, parsers and parse scoring."""

from .collate import ConceptBatch, GraphBatch, collate_concepts, collate_graphs
from .scene_graph import (
    SYMMETRIC_PREDICATES,
    GraphFormatError,
    SceneGraph,
    SGObject,
    SGRelation,
    read_jsonl,
    write_jsonl,
)

__all__ = [
    "GraphFormatError",
    "SceneGraph",
    "SGObject",
    "SGRelation",
    "read_jsonl",
    "write_jsonl",
    "SYMMETRIC_PREDICATES",
    "GraphBatch",
    "collate_graphs",
    "ConceptBatch",
    "collate_concepts",
]
