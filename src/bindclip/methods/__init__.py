"""Training methods, one object each (see base.py): CLIP, SigLIP, OC-CLIP, C2LIP, OC-CLIP + C2LIP and
CLIP with hard negatives. Importing a method's module registers it; the order here is the order the
command line, the demo and the docs list them in."""

from .base import METHODS, Method, get_method, method_names, register

# isort: off
from . import clip, oc_clip, c2lip, oc_clip_c2lip, clip_hn  # noqa: F401, E402 (registration)
# isort: on

__all__ = ["METHODS", "Method", "get_method", "method_names", "register"]
