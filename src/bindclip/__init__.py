"""bindclip: CLIP-style models that bind concepts (OC-CLIP, C2LIP) and tools that measure binding."""
__version__ = "0.1.0"


def load(model_dir, device="cpu"):
    """A trained model from `bindclip export` (or a run directory), ready to `score(images, captions)`."""
    from .train.export import load as _load

    return _load(model_dir, device)
