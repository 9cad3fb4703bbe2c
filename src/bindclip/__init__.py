"""bindclip: CLIP-style models that bind concepts (OC-CLIP, C2LIP) and tools that measure binding."""
__version__ = "0.1.0"
