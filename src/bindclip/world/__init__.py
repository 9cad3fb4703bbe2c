"""The synthetic compositional world: scenes, images, captions, gold graphs, held-out splits."""

from .concepts import COLOURS, RELATIONS, SHAPES, SIZES, WorldConfig, WorldConfigError
from .scenes import Scene, WorldObject
from .splits import Split, make_split
from .world import DEFAULT_SPLIT, Sample, World, training_world

__all__ = [
    "COLOURS",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "WorldConfig",
    "WorldConfigError",
    "Scene",
    "WorldObject",
    "Split",
    "make_split",
    "Sample",
    "World",
    "DEFAULT_SPLIT",
    "training_world",
]
