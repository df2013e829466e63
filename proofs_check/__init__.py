"""Executable theorems: every (P) statement of THEORY.md as a Hypothesis property with a margin."""

from .core import REGISTRY, Check, Claim, all_claims, get_claim, register

__all__ = ["Check", "Claim", "REGISTRY", "register", "all_claims", "get_claim"]
