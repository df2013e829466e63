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
import re
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

_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_TOP_LEVEL = {"name", "task", "seed", "replicates", "grid", "fixed", "scheduler", "workers",
              "data_keys", "description"}


class ConfigError(ValueError):
    """A malformed sweep configuration; the message names the source, the field and the problem.

    Raised by :func:`load_config` and ``config_from_dict`` before any cell runs, so a typo
    in a config costs nothing. It is a ``ValueError``, so ``except ValueError`` catches it.

    Examples
    --------
    >>> from overlapcal.experiments.config import ConfigError, config_from_dict
    >>> try:
    ...     config_from_dict({"name": "demo", "task": "calibration", "seed": -1,
    ...                       "grid": {"n_classes": [2, 4]}}, source="demo.toml")
    ... except ConfigError as exc:
    ...     print(exc)
    demo.toml: field 'seed' must be a non-negative integer, got -1
    >>> issubclass(ConfigError, ValueError)
    True
    """


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: ``task`` run on every point of ``grid`` x ``replicates``.

    Build one with :func:`load_config` (from TOML) or ``config_from_dict`` (from a parsed
    table), which validate every field; the constructor itself checks nothing. The property
    ``n_cells`` is the number of cells, ``replicates * prod(len(values) for values in
    grid.values())``.

    Attributes
    ----------
    name : str
        The sweep's name; its results are stored in ``OUT/<name>.jsonl``.
    task : str
        The computation each cell runs, a key of ``overlapcal.experiments.tasks.TASKS``
        (``"calibration"``).
    seed : int
        The base seed (``>= 0``) from which every cell's seeds are derived.
    grid : dict of str to tuple
        The axes crossed: ``{parameter: (value, ...)}``, in the order given.
    fixed : dict of str to scalar or list, default {}
        Parameters shared by every cell (never also a grid axis).
    replicates : int, default 1
        Independent repetitions of every grid point (different data and method seeds).
    scheduler : str or None, default None
        A Dask scheduler address (``tcp://HOST:8786``) to run on; None runs locally.
    workers : int or None, default None
        Local worker processes; None uses every CPU.
    data_keys : tuple of str, default ()
        The parameters that determine the data (the distribution and the sample sizes): cells
        that agree on them and on the replicate share one data seed, so different methods are
        compared on the same samples (common random numbers). Defaults to the task's.
    description : str, default ""
        Free text, kept for the reader.

    Examples
    --------
    >>> from overlapcal.experiments.config import config_from_dict
    >>> config = config_from_dict({
    ...     "name": "demo", "task": "calibration", "seed": 0, "replicates": 2,
    ...     "grid": {"n_classes": [2, 4], "method": ["hard_interpolator", "bayes"]},
    ...     "fixed": {"n_val": 200, "n_test": 200, "kl_samples": 500}})
    >>> config.grid
    {'n_classes': (2, 4), 'method': ('hard_interpolator', 'bayes')}
    >>> config.n_cells                      # 2 x 2 grid points x 2 replicates
    8
    >>> "method" in config.data_keys, "n_classes" in config.data_keys
    (False, True)
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
        """``replicates * prod(len(values) for values in grid.values())``."""
        size = self.replicates
        for values in self.grid.values():
            size *= len(values)
        return size


@dataclass(frozen=True)
class Cell:
    """One unit of work: the parameters of a grid point, a replicate index and its seeds.

    Cells are made by ``expand``, never by hand: the id and the seeds are functions of the
    parameters (see ``expand``'s Notes).

    Attributes
    ----------
    task : str
        The task that computes the cell.
    params : dict
        The config's ``fixed`` parameters updated with this grid point's values (the task's
        defaults are not filled in).
    replicate : int
        The replicate index, ``0 <= replicate < config.replicates``.
    cell_id : str
        16 hex digits naming the cell in the results store.
    data_seed, method_seed : tuple of (int, tuple of int)
        ``(entropy, spawn_key)`` of a ``numpy.random.SeedSequence``: the data seed draws
        the samples (shared by cells with the same data parameters and replicate), the method
        seed drives the fitting method (networks' initialisation and batches).

    Examples
    --------
    >>> from overlapcal.experiments.config import config_from_dict, expand
    >>> config = config_from_dict({"name": "demo", "task": "calibration", "seed": 0,
    ...                            "grid": {"n_classes": [2, 4]}})
    >>> cell = expand(config)[0]
    >>> cell.params, cell.replicate, len(cell.cell_id)
    ({'n_classes': 2}, 0, 16)
    >>> cell.data_seed[0]                   # the config's seed is the entropy
    0
    >>> a, b = cell.data_rng().integers(1000, size=3), cell.data_rng().integers(1000, size=3)
    >>> bool((a == b).all())                # a fresh, identical generator on every call
    True
    """

    task: str
    params: dict[str, Any]
    replicate: int
    cell_id: str
    data_seed: tuple[int, tuple[int, ...]]   # (entropy, spawn_key) of a numpy SeedSequence
    method_seed: tuple[int, tuple[int, ...]]

    def data_rng(self) -> np.random.Generator:
        """A new generator seeded with ``data_seed`` (the samples); same stream on every call.

        Returns
        -------
        numpy.random.Generator
        """
        entropy, key = self.data_seed
        return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))

    def method_rng(self) -> np.random.Generator:
        """A new generator seeded with ``method_seed`` (the fitting method); same stream on
        every call.

        Returns
        -------
        numpy.random.Generator
        """
        entropy, key = self.method_seed
        return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))


def _fail(source: str, where: str, problem: str):
    raise ConfigError(f"{source}: field {where!r} {problem}")


def _is_scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def config_from_dict(data: dict, source: str = "config") -> SweepConfig:
    """Validate a parsed config (a table as read from TOML); every problem names its field.

    Parameters
    ----------
    data : dict
        The fields: ``name`` (str), ``task`` (str), ``seed`` (int >= 0) and ``grid`` (a
        non-empty table of ``axis = [values]``) are required; ``replicates`` (int >= 1),
        ``fixed`` (a table of ``parameter = value``), ``scheduler`` (str), ``workers``
        (int >= 1), ``data_keys`` (list of str) and ``description`` (str) are optional.
    source : str, default "config"
        Where the table came from, the first word of every error message (a file name).

    Returns
    -------
    SweepConfig
        The validated configuration; the task has also checked every parameter value and
        that every grid point describes a distribution that can be built.

    Raises
    ------
    ConfigError
        On the first problem found: an unknown or missing field, a value of the wrong type or
        range, a parameter given both in ``grid`` and ``fixed``, or a grid point the task
        rejects. The message names ``source`` and the field.

    Examples
    --------
    >>> from overlapcal.experiments.config import ConfigError, config_from_dict
    >>> table = {"name": "demo", "task": "calibration", "seed": 0,
    ...          "grid": {"n_classes": [2, 4]}, "fixed": {"method": "hard_interpolator"}}
    >>> config = config_from_dict(table)
    >>> config.name, config.n_cells, config.fixed
    ('demo', 2, {'method': 'hard_interpolator'})
    >>> try:
    ...     config_from_dict({**table, "grid": {"n_classes": [2, 2]}}, source="demo.toml")
    ... except ConfigError as exc:
    ...     print(exc)
    demo.toml: field 'grid.n_classes' has repeated values: [2, 2]
    """
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
    # The name becomes the file names OUT/NAME.jsonl and OUT/NAME.csv: no path, nothing hidden.
    if not _FILE_NAME.fullmatch(name):
        _fail(source, "name", "must be a file name (letters, digits, '.', '_', '-'; not "
                              f"starting with '.'), got {name!r}")
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
    description = data.get("description", "")
    if not isinstance(description, str):
        _fail(source, "description", f"must be a string, got {description!r}")
    config = SweepConfig(name, task, seed, clean_grid, dict(fixed), replicates, scheduler, workers,
                         tuple(data_keys), description)
    TASKS[task].validate(config, source)
    return config


def load_config(path) -> SweepConfig:
    """Read and validate a TOML sweep configuration.

    Parameters
    ----------
    path : str or path-like
        The TOML file (UTF-8), with the fields described in ``config_from_dict``.

    Returns
    -------
    SweepConfig
        The validated configuration.

    Raises
    ------
    ConfigError
        When the file cannot be read, is not valid TOML, or its fields do not validate; the
        message starts with ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from overlapcal.experiments.config import load_config
    >>> path = Path(tempfile.mkdtemp()) / "demo.toml"
    >>> _ = path.write_text('''
    ... name = "demo"
    ... task = "calibration"
    ... seed = 2024
    ... replicates = 2
    ...
    ... [grid]
    ... n_classes = [2, 4, 8]
    ...
    ... [fixed]
    ... method = "hard_interpolator"
    ... overlap = 0.5
    ... ''')
    >>> config = load_config(path)
    >>> config.name, config.seed, config.n_cells
    ('demo', 2024, 6)
    >>> config.grid, config.fixed
    ({'n_classes': (2, 4, 8)}, {'method': 'hard_interpolator', 'overlap': 0.5})
    """
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
    """A 63-bit integer determined by the canonical JSON of ``obj`` (platform independent).

    Parameters
    ----------
    obj : JSON-serialisable object
        Dicts are serialised with sorted keys, so key order does not matter.

    Returns
    -------
    int
        In ``[0, 2**63)``.

    Notes
    -----
    ``stable_int(obj) = int.from_bytes(sha256(json(obj))[:8], "little") >> 1``, where
    ``json`` is ``json.dumps(obj, sort_keys=True, separators=(",", ":"))``. Unlike ``hash``,
    it does not change between processes, Python versions or machines, which is what makes
    cell ids and seeds reproducible (``expand``).

    Examples
    --------
    >>> from overlapcal.experiments.config import stable_int
    >>> stable_int({"a": 1, "b": [2, 3]}) == stable_int({"b": [2, 3], "a": 1})
    True
    >>> 0 <= stable_int("anything") < 2**63
    True
    >>> f"{stable_int({'a': 1}):016x}"     # the same on every machine
    '16bd62ae3fdead00'
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def expand(config: SweepConfig) -> list[Cell]:
    """All cells of the sweep, in grid order (replicates innermost).

    Ids and seeds are computed from the parameters with the task's defaults filled in and the
    task's version: a config that spells out a default names the same cells as one that omits
    it, and a store written before a default (or the task's meaning) changed is not reused.

    Parameters
    ----------
    config : SweepConfig
        A validated configuration.

    Returns
    -------
    list of Cell
        ``config.n_cells`` cells: the last grid axis varies fastest, then the replicate.

    Notes
    -----
    With ``p`` a cell's parameters with the task's defaults filled in, ``r`` its replicate,
    ``s = config.seed`` and ``p_data`` the entries of ``p`` named in ``config.data_keys``:

    * ``cell_id = hex16(stable_int({"task", "version", "params": p, "replicate": r,
      "seed": s}))``;
    * ``data_seed = (s, (r, stable_int({"data": p_data})))``;
    * ``method_seed = (s, (r, stable_int({"cell": p})))``,

    each pair being a ``numpy.random.SeedSequence``'s ``(entropy, spawn_key)``. Nothing
    depends on a cell's position in the grid, so adding an axis value leaves the other cells'
    ids and numbers unchanged.

    Examples
    --------
    >>> from overlapcal.experiments.config import config_from_dict, expand
    >>> table = {"name": "demo", "task": "calibration", "seed": 0, "replicates": 2,
    ...          "grid": {"method": ["hard_interpolator", "bayes"]}, "fixed": {"n_classes": 4}}
    >>> cells = expand(config_from_dict(table))
    >>> [(c.params["method"], c.replicate) for c in cells]
    [('hard_interpolator', 0), ('hard_interpolator', 1), ('bayes', 0), ('bayes', 1)]

    Both methods of a replicate see the same data (common random numbers), the replicates
    do not:

    >>> cells[0].data_seed == cells[2].data_seed, cells[0].data_seed == cells[1].data_seed
    (True, False)
    >>> len({c.cell_id for c in cells}), len({c.method_seed for c in cells})
    (4, 4)

    Spelling out a default (``overlap = 0.5``) names the same cells; adding an axis value
    keeps the old ones:

    >>> spelled = expand(config_from_dict({**table, "fixed": {"n_classes": 4, "overlap": 0.5}}))
    >>> [c.cell_id for c in spelled] == [c.cell_id for c in cells]
    True
    >>> more = expand(config_from_dict({**table, "grid": {
    ...     "method": ["hard_interpolator", "bayes", "soft_interpolator"]}}))
    >>> {c.cell_id for c in cells} <= {c.cell_id for c in more}
    True
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
