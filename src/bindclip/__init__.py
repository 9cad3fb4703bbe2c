"""bindclip: CLIP-style models that bind concepts (OC-CLIP, C2LIP) and tools that measure binding."""

from .version import __version__

__all__ = ["__version__", "load"]


def load(spec, device="cpu"):
    """A model with open_clip's surface (`preprocess`, `encode_image`, `encode_text`, `logit_scale`) and
    `score(images, captions)`, from an exported folder, a run directory, a checkpoint inside a run, or
    `OPENCLIP_NAME[@TAG][:WEIGHTS]` (a local weights file; the tag picks open_clip's preprocessing)."""
    # imported here so that `import bindclip` (and the CLI's --help) does not load torch and open_clip
    from .train.export import load as _load

    return _load(spec, device)
