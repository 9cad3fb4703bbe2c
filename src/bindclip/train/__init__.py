"""Training for every method: config tree, world batches, the loop, checkpoints."""
from .config import METHODS, PRESETS, ConfigError, TrainConfig, load_config
from .loop import build_model, train

__all__ = ["METHODS", "PRESETS", "ConfigError", "TrainConfig", "load_config", "build_model", "train"]
