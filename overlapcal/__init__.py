"""overlapcal: calibration under class overlap, executable.

Distributions with exact posteriors, ERM interpolators and Mixup optima, calibration metrics
and temperature scaling, experiments that reproduce the theorem plots of Chidambaram and Ge
(ICLR 2024). Submodules load on first use, so ``import overlapcal as oc`` is cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> submodule that defines it (loaded lazily on first attribute access)
_EXPORTS = {
    "Estimate": "estimate",
    "Distribution": "distributions",
    "OverlappingUniform": "distributions",
    "GaussianMixture": "distributions",
    "LabelNoise": "distributions",
    "Predictor": "predictors",
    "TemperatureScaled": "predictors",
    "BayesPredictor": "predictors",
    "TemperatureScaling": "recalibration",
    "VectorScaling": "recalibration",
    "HistogramBinning": "recalibration",
    "CalibrationWarning": "recalibration",
    "population_kl": "population",
    "oracle_temperature": "population",
    "PopulationKL": "population",
    "OracleTemperature": "population",
    "population_accuracy": "population",
    "HardInterpolator": "interpolators",
    "SoftInterpolator": "interpolators",
    "MixupOptimum": "mixup",
    "EmpiricalMixupOptimum": "mixup",
    "EmpiricalDMixupOptimum": "mixup",
    "MixupAtoms": "mixup",
    "MonteCarloError": "mixup",
}
_SUBMODULES = {"metrics", "distributions", "predictors", "estimate", "plotting", "nets",
               "recalibration", "population", "interpolators",
               "mixup", "bounds"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'overlapcal' has no attribute {name!r}")


def __dir__():
    return __all__
