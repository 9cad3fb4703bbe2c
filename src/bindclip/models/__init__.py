"""Models on open_clip backbones: the CLIP/SigLIP baseline, OC-CLIP and C2LIP."""

from .backbone import (
    BackboneConfig,
    CheckpointError,
    create_backbone,
    image_tokens,
    joint_space_tokens,
    load_weights,
)
from .binding import BindingConfig, BindingModule
from .c2lip import C2LIP, cross_attention_pool_scores
from .clip import CLIP, ClipConfig
from .oc_clip import OCCLIP, GraphState, OCClipConfig, StructuredScore

__all__ = [
    "C2LIP",
    "CLIP",
    "OCCLIP",
    "BackboneConfig",
    "BindingConfig",
    "BindingModule",
    "CheckpointError",
    "ClipConfig",
    "GraphState",
    "OCClipConfig",
    "StructuredScore",
    "create_backbone",
    "cross_attention_pool_scores",
    "image_tokens",
    "joint_space_tokens",
    "load_weights",
]
