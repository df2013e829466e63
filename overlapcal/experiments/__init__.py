"""Experiments: reports and sweeps built from the library (what the command line runs)."""
