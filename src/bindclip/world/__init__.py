"""The synthetic compositional world: scenes, images, captions, gold graphs, held-out splits."""
from .concepts import COLOURS, RELATIONS, SHAPES, SIZES, WorldConfig, WorldConfigError
from .scenes import Scene, WorldObject
from .splits import Split, make_split
from .world import Sample, World

__all__ = ["COLOURS", "RELATIONS", "SHAPES", "SIZES", "WorldConfig", "WorldConfigError", "Scene", "WorldObject",
           "Split", "make_split", "Sample", "World"]
