"""Evaluation: benchmark readers in their published formats, and diagnostics."""
