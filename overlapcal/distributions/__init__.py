"""Labelled distributions with class overlap and exact (or error-bounded) ground truth."""

from .base import Distribution, Segments

__all__ = ["Distribution", "Segments"]
