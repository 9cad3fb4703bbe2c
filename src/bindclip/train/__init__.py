"""Training for every method: config tree, world batches, the loop, checkpoints."""

from ..errors import ConfigError
from ..methods import METHODS
from .config import PRESETS, TrainConfig, load_config
from .loop import build_model, train

__all__ = ["METHODS", "PRESETS", "ConfigError", "TrainConfig", "load_config", "build_model", "train"]
