"""Scene graphs: the data structure, its JSON form, model views, parsers and parse scoring."""

from .collate import ConceptBatch, GraphBatch, collate_concepts, collate_graphs
from .scene_graph import (
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
    "GraphBatch",
    "collate_graphs",
    "ConceptBatch",
    "collate_concepts",
]
