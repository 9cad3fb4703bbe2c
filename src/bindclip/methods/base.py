"""What a training method is, and the registry every other part reads the list of methods from.

A method owns what differs between objectives: the model it builds on the backbone, its loss, the
text side of a batch (tokens, scene-graph tensors, concept phrases, negative captions) and its
training forward. The training loop, the data readers, the config and the command line only ask the
registry. How evaluation scores a model is the model's own (`scores_by_graphs`), so a model loaded
from open_clip weights alone scores the same way.

Adding a method: a module in this package with a `Method` subclass, `register`ed, imported in
`methods/__init__.py`; docs/architecture.md walks through it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from ..errors import ConfigError


class Method(ABC):
    """One training objective. `cfg` below is the run's TrainConfig (read, never imported: the config
    layer sits above this one and validates method names against the registry)."""

    name: str = ""
    needs_graphs: bool = False  # batches need each caption's scene graph (shards then parse or read one)
    find_unused_parameters: bool = False  # DDP: some parameters get no gradient from this loss

    @abstractmethod
    def build_model(self, cfg) -> nn.Module:
        """The method's model on cfg.model.backbone, randomly initialised or from the pretrained file."""

    @abstractmethod
    def build_loss(self, cfg, model: nn.Module, rank: int, world_size: int) -> nn.Module:
        """The loss module, told this process's rank among world_size (the losses gather across ranks)."""

    @abstractmethod
    def text_side(self, cfg, tokenizer, captions: list[str], graphs: list, seed: int) -> dict:
        """The batch's text fields (collated in loader workers, so the trainer only computes)."""

    @abstractmethod
    def forward(self, model: nn.Module, loss_fn: nn.Module, images: torch.Tensor, text: dict, device) -> dict:
        """The loss terms (`*_loss`) of one micro-batch; `images` are already on `device`."""


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is registered twice")
    METHODS[method.name] = method
    return method


def method_names() -> tuple[str, ...]:
    return tuple(METHODS)


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"model.method: {name!r} is not one of {', '.join(METHODS)}") from None
