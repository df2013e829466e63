"""Labelled distributions with class overlap and exact (or error-bounded) ground truth."""

from .base import Distribution, Segments
from .uniform import OverlappingUniform
from .gaussian import GaussianMixture
from .noise import LabelNoise

__all__ = ["Distribution", "Segments", "OverlappingUniform", "GaussianMixture", "LabelNoise"]
