"""Studies: a question asked of the world over seeds, answered with intervals (`bindclip study NAME`)."""

from .run import run_study
from .specs import STUDIES, Study, Variant, get_study

__all__ = ["STUDIES", "Study", "Variant", "get_study", "run_study"]
