"""Scene graphs: the data structure, its JSON form, model views, parsers and parse scoring."""
from .scene_graph import GraphFormatError, SceneGraph, SGObject, SGRelation, read_jsonl, write_jsonl
from .collate import GraphBatch, collate_graphs

__all__ = ["GraphFormatError", "SceneGraph", "SGObject", "SGRelation", "read_jsonl", "write_jsonl",
           "GraphBatch", "collate_graphs"]
