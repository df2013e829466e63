"""Declarative sweep configurations (TOML) and the cells they expand to.

A config names a task (what one cell computes), a base seed, a grid of axes to cross, fixed
parameters shared by every cell, and a number of replicates::

    name = "kl-vs-k"
    task = "calibration"
    seed = 2024
    replicates = 2

    [grid]
    n_classes = [2, 4, 8, 16]
    method = ["hard_interpolator", "mixup_optimum"]

    [fixed]
    family = "overlapping_uniform"
    overlap = 0.5

Every cell gets a stable id and its own seeds, derived from the cell's parameters (not from its
position in the grid), so adding an axis value or resuming a sweep never changes the numbers of
the cells already defined.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ConfigError", "SweepConfig", "Cell", "load_config", "config_from_dict", "expand"]

_TOP_LEVEL = {"name", "task", "seed", "replicates", "grid", "fixed", "scheduler", "workers",
              "data_keys", "description"}


class ConfigError(ValueError):
    """A malformed sweep configuration; the message names the field and the problem."""


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: ``task`` run on every point of ``grid`` x ``replicates``.

    ``data_keys`` lists the parameters that determine the data (the distribution and the sample
    sizes): cells that agree on them and on the replicate share one data seed, so different
    methods are compared on the same samples (common random numbers).
    """

    name: str
    task: str
    seed: int
    grid: dict[str, tuple]
    fixed: dict[str, Any] = field(default_factory=dict)
    replicates: int = 1
    scheduler: str | None = None
    workers: int | None = None
    data_keys: tuple[str, ...] = ()
    description: str = ""

    @property
    def n_cells(self) -> int:
        size = self.replicates
        for values in self.grid.values():
            size *= len(values)
        return size


@dataclass(frozen=True)
class Cell:
    """One unit of work: the parameters of a grid point, a replicate index and its seeds."""

    task: str
    params: dict[str, Any]
    replicate: int
    cell_id: str
    data_seed: tuple[int, tuple[int, ...]]   # (entropy, spawn_key) of a numpy SeedSequence
    method_seed: tuple[int, tuple[int, ...]]

    def data_rng(self) -> np.random.Generator:
        entropy, key = self.data_seed
        return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))

    def method_rng(self) -> np.random.Generator:
        entropy, key = self.method_seed
        return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))


def _fail(source: str, where: str, problem: str):
    raise ConfigError(f"{source}: field {where!r} {problem}")


def _is_scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def config_from_dict(data: dict, source: str = "config") -> SweepConfig:
    """Validate a parsed config; every problem names its field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table of fields, got {type(data).__name__}")
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        _fail(source, unknown[0], f"is not a known field (known: {', '.join(sorted(_TOP_LEVEL))})")
    for required in ("name", "task", "seed", "grid"):
        if required not in data:
            _fail(source, required, "is required but missing")
    name, task = data["name"], data["task"]
    if not isinstance(name, str) or not name:
        _fail(source, "name", f"must be a non-empty string, got {name!r}")
    if not isinstance(task, str):
        _fail(source, "task", f"must be a string, got {task!r}")
    from .tasks import TASKS

    if task not in TASKS:
        _fail(source, "task", f"must be one of {sorted(TASKS)}, got {task!r}")
    seed = data["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        _fail(source, "seed", f"must be a non-negative integer, got {seed!r}")
    replicates = data.get("replicates", 1)
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        _fail(source, "replicates", f"must be an integer >= 1, got {replicates!r}")
    grid = data["grid"]
    if not isinstance(grid, dict) or not grid:
        _fail(source, "grid", "must be a non-empty table of axis = [values]")
    clean_grid = {}
    for axis, values in grid.items():
        if not isinstance(values, list) or not values:
            _fail(source, f"grid.{axis}", f"must be a non-empty list of values, got {values!r}")
        if not all(_is_scalar(v) for v in values):
            _fail(source, f"grid.{axis}", "must hold only strings, numbers or booleans")
        if len(set(map(json.dumps, values))) != len(values):
            _fail(source, f"grid.{axis}", f"has repeated values: {values!r}")
        clean_grid[axis] = tuple(values)
    fixed = data.get("fixed", {})
    if not isinstance(fixed, dict):
        _fail(source, "fixed", "must be a table of parameter = value")
    both = sorted(set(fixed) & set(clean_grid))
    if both:
        _fail(source, f"fixed.{both[0]}", "is also a grid axis; give it in one place only")
    for key, value in fixed.items():
        if not (_is_scalar(value) or (isinstance(value, list) and all(map(_is_scalar, value)))):
            _fail(source, f"fixed.{key}", "must be a string, number, boolean or list of them")
    scheduler = data.get("scheduler")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        _fail(source, "scheduler", f"must be a scheduler address string, got {scheduler!r}")
    workers = data.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        _fail(source, "workers", f"must be an integer >= 1, got {workers!r}")
    data_keys = data.get("data_keys", TASKS[task].data_keys)
    if not isinstance(data_keys, (list, tuple)) or not all(isinstance(k, str) for k in data_keys):
        _fail(source, "data_keys", "must be a list of parameter names")
    config = SweepConfig(name, task, seed, clean_grid, dict(fixed), replicates, scheduler, workers,
                         tuple(data_keys), str(data.get("description", "")))
    TASKS[task].validate(config, source)
    return config


def load_config(path) -> SweepConfig:
    """Read and validate a TOML sweep configuration."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))  # TOML is UTF-8, whatever the locale
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML (a TOML file is UTF-8): {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(data, str(path))


def stable_int(obj) -> int:
    """A 63-bit integer determined by the canonical JSON of ``obj`` (platform independent)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def expand(config: SweepConfig) -> list[Cell]:
    """All cells of the sweep, in grid order (replicates innermost).

    Ids and seeds are computed from the parameters with the task's defaults filled in and the
    task's version: a config that spells out a default names the same cells as one that omits
    it, and a store written before a default (or the task's meaning) changed is not reused.
    """
    from .tasks import TASKS

    task = TASKS[config.task]
    axes = list(config.grid)
    cells = []
    for values in itertools.product(*(config.grid[a] for a in axes)):
        params = dict(config.fixed)
        params.update(zip(axes, values))
        resolved = {**task.defaults, **params}
        data_params = {k: resolved[k] for k in config.data_keys if k in resolved}
        for replicate in range(config.replicates):
            ident = {"task": config.task, "version": task.version, "params": resolved,
                     "replicate": replicate, "seed": config.seed}
            cell_id = f"{stable_int(ident):016x}"
            data_key = (replicate, stable_int({"data": data_params}))
            method_key = (replicate, stable_int({"cell": resolved}))
            cells.append(Cell(config.task, params, replicate, cell_id,
                              (config.seed, data_key), (config.seed, method_key)))
    return cells
