"""The sweep runner: every cell of a config, resumable, on local processes or a Dask cluster.

``run_sweep(config, out)`` expands the grid, skips the cells already in ``out/NAME.jsonl``, runs
the rest (a process pool by default, a Dask ``distributed`` cluster when a scheduler address is
given) and appends each finished cell to the store at once. Killing the sweep loses at most the
cells in flight; rerunning the same command resumes. A cell that raises does not stop the
others: they all run and are stored, and then :class:`SweepError` lists the failed cells (which
are not stored, so a rerun retries them).

Each cell runs with BLAS and torch limited to one thread, whatever the executor, so a cell's
numbers do not depend on where it ran: the local and the Dask results are identical.
"""

from __future__ import annotations

import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .._validation import check_int
from .config import Cell, SweepConfig, expand
from .store import ResultStore

__all__ = ["CellFailure", "SchedulerError", "SweepError", "SweepResult", "run_sweep", "run_cell"]


class SchedulerError(RuntimeError):
    """The Dask scheduler could not be reached, or its address is malformed.

    Raised by :func:`run_sweep` (and ``overlapcal sweep`` / ``overlapcal reproduce``, which turn
    it into an error message) before any cell runs; the message names the address and what to
    check. Running on a cluster needs the ``dask`` extra (``pip install overlapcal[dask]``);
    without it :func:`run_sweep` raises ``ImportError`` instead.

    Examples
    --------
    >>> from overlapcal.experiments.sweep import SchedulerError
    >>> issubclass(SchedulerError, RuntimeError)
    True

    With the ``dask`` extra installed, a malformed address fails at once:

    >>> import tempfile
    >>> from overlapcal.experiments.config import config_from_dict
    >>> from overlapcal.experiments.sweep import run_sweep
    >>> config = config_from_dict({"name": "demo", "task": "calibration", "seed": 0,
    ...                            "grid": {"n_classes": [2, 4]}})
    >>> try:  # doctest: +SKIP
    ...     run_sweep(config, tempfile.mkdtemp(), scheduler="nonsense://nowhere:1")
    ... except SchedulerError as exc:
    ...     print(str(exc).split(" (")[0])
    invalid Dask scheduler address 'nonsense://nowhere:1'
    """


@dataclass(frozen=True)
class CellFailure:
    """A cell whose task raised: which cell, and the exception (nothing of it is stored).

    Attributes
    ----------
    cell_id : str
        The cell's id (``Cell.cell_id``).
    params : dict
        The cell's parameters (``Cell.params``).
    replicate : int
    error : str
        ``"ExceptionType: message"``.
    traceback : str
        The formatted traceback, from the process that ran the cell.

    Examples
    --------
    >>> from overlapcal.experiments.sweep import CellFailure
    >>> failure = CellFailure("0123456789abcdef", {"n_classes": 4, "overlap": 0.5}, 0,
    ...                       "ValueError: math domain error", "Traceback ...")
    >>> print(failure.line(["n_classes"]))
    cell 0123456789abcdef (n_classes=4, replicate 0): ValueError: math domain error
    """

    cell_id: str
    params: dict
    replicate: int
    error: str
    traceback: str

    def line(self, keys=None) -> str:
        """One line naming the cell by ``keys`` of its parameters (default: all of them)."""
        keys = list(self.params) if keys is None else [k for k in keys if k in self.params]
        shown = ", ".join(f"{k}={self.params[k]!r}" for k in keys)
        return f"cell {self.cell_id} ({shown + ', ' if shown else ''}replicate {self.replicate}): " \
               f"{self.error}"


class SweepError(RuntimeError):
    """Some cells of a sweep raised; every other cell ran and is in the store.

    Raised by :func:`run_sweep` after the last cell, so one failing cell costs no other cell's
    result. The failed cells are not stored: once the cause is fixed, the same call runs
    just them. ``overlapcal sweep`` and ``overlapcal reproduce`` print one line per failed
    cell, write the tracebacks to ``OUT/NAME.failures.txt`` and exit with status 1.

    Attributes
    ----------
    failures : tuple of CellFailure
    result : SweepResult
        What did finish (the same object a successful call returns; ``result.failures`` is
        ``failures``).
    keys : tuple of str
        The config's grid axes: what tells the failed cells apart (``failure.line(keys)``).

    Examples
    --------
    A stand-in for a task that fails on one grid point (here: k = 4):

    >>> import tempfile
    >>> from overlapcal.experiments.config import config_from_dict
    >>> from overlapcal.experiments.sweep import SweepError, run_sweep
    >>> config = config_from_dict({
    ...     "name": "demo", "task": "calibration", "seed": 0,
    ...     "grid": {"n_classes": [2, 4]},
    ...     "fixed": {"method": "hard_interpolator", "n_val": 200, "n_test": 200,
    ...               "kl_samples": 500, "recalibrations": ["none"]}})
    >>> import dataclasses
    >>> from overlapcal.experiments import tasks
    >>> original = tasks.TASKS["calibration"]
    >>> def fails_at_k4(cell):
    ...     if cell.params["n_classes"] == 4:
    ...         raise ValueError("cannot do k = 4")
    ...     return original.run(cell)
    >>> tasks.TASKS["calibration"] = dataclasses.replace(original, run=fails_at_k4)
    >>> try:
    ...     run_sweep(config, tempfile.mkdtemp(), workers=1, progress=False)
    ... except SweepError as exc:
    ...     error = exc
    ... finally:
    ...     tasks.TASKS["calibration"] = original
    >>> failure = error.failures[0]
    >>> failure.params["n_classes"], failure.error
    (4, 'ValueError: cannot do k = 4')
    >>> error.result.n_run, [row["n_classes"] for row in error.result.rows]   # k = 2 is stored
    (1, [2])
    """

    def __init__(self, failures, result, keys=()):
        self.failures = tuple(failures)
        self.result = result
        self.keys = tuple(keys)
        super().__init__(
            f"{len(self.failures)} of {result.n_cells} cells of sweep {result.name!r} failed "
            f"(the other {result.n_cells - len(self.failures)} are stored in {result.store.path}; "
            f"rerunning retries only the failed ones); first: "
            f"{self.failures[0].line(self.keys)}"
        )


@dataclass(frozen=True)
class SweepResult:
    """What a sweep produced: the store, the tidy rows of this config's cells, and counts.

    Attributes
    ----------
    store : ResultStore
        The append-only store ``OUT/<config.name>.jsonl`` (it may also hold cells of other
        versions of the config, which ``rows`` leaves out).
    rows : list of dict
        The tidy table of this config's cells: one dict per result row (for the calibration
        task, one per recalibration), with the cell's id, replicate, seeds and parameters.
    n_cells : int
        Cells in the config, ``config.n_cells``.
    n_run : int
        Cells computed (and stored) by this call.
    n_skipped : int
        Cells already in the store, not recomputed (``n_run + n_skipped + len(failures) ==
        n_cells``).
    seconds : float
        Wall time of the call.
    name : str
        The config's name.
    failures : tuple of CellFailure
        Cells that raised in this call (empty unless the result came with a
        :class:`SweepError`).

    Examples
    --------
    >>> import tempfile
    >>> from overlapcal.experiments.config import config_from_dict
    >>> from overlapcal.experiments.sweep import run_sweep
    >>> config = config_from_dict({
    ...     "name": "demo", "task": "calibration", "seed": 0, "grid": {"n_classes": [2, 4]},
    ...     "fixed": {"method": "hard_interpolator", "n_val": 200, "n_test": 200,
    ...               "kl_samples": 500, "recalibrations": ["none", "oracle"]}})
    >>> result = run_sweep(config, tempfile.mkdtemp(), workers=1, progress=False)
    >>> result.n_cells, result.n_run, result.n_skipped, len(result.rows)
    (2, 2, 0, 4)
    >>> result.store.path.name
    'demo.jsonl'
    >>> [(r["n_classes"], r["recalibration"], r["kl_method"]) for r in result.rows]
    [(2, 'none', 'exact'), (2, 'oracle', 'exact'), (4, 'none', 'exact'), (4, 'oracle', 'exact')]
    """

    store: ResultStore
    rows: list[dict]
    n_cells: int
    n_run: int
    n_skipped: int
    seconds: float
    name: str = ""
    failures: tuple = field(default=())


def run_cell(cell: Cell) -> dict:
    """Compute one cell (single-threaded) and return its store record.

    BLAS (through ``threadpoolctl``) and torch are limited to one thread while the cell runs,
    so its numbers do not depend on the executor it ran on.

    Parameters
    ----------
    cell : Cell
        A cell from ``expand(config)``.

    Returns
    -------
    dict
        The record :func:`run_sweep` appends to the store: ``cell_id``, ``task``, ``params``
        (as the config gave them), ``resolved`` (with the task's defaults filled in: what the
        cell computed), ``replicate``, ``seeds`` (``{"data": [entropy, spawn_key], "method":
        [...]}``), ``rows`` (the task's list of result rows) and ``seconds`` (the cell's wall
        time).

    Raises
    ------
    Exception
        Whatever the task raises; nothing is stored for a cell that fails.

    Examples
    --------
    >>> from overlapcal.experiments.config import config_from_dict, expand
    >>> from overlapcal.experiments.sweep import run_cell
    >>> config = config_from_dict({
    ...     "name": "demo", "task": "calibration", "seed": 0, "grid": {"n_classes": [2, 4]},
    ...     "fixed": {"method": "hard_interpolator", "n_val": 200, "n_test": 200,
    ...               "kl_samples": 500}})
    >>> cell = expand(config)[0]
    >>> record = run_cell(cell)
    >>> sorted(record)
    ['cell_id', 'params', 'replicate', 'resolved', 'rows', 'seconds', 'seeds', 'task']
    >>> record["cell_id"] == cell.cell_id, record["seeds"]["data"][0]
    (True, 0)
    >>> [row["recalibration"] for row in record["rows"]]
    ['none', 'oracle', 'fitted']

    The cell is a pure function of its seeds: running it again gives the same numbers.

    >>> run_cell(cell)["rows"][2]["temperature"] == record["rows"][2]["temperature"]
    True
    """
    from threadpoolctl import threadpool_limits

    from .tasks import TASKS

    start = time.perf_counter()
    with threadpool_limits(limits=1):
        torch_threads = _limit_torch_threads()
        try:
            rows = TASKS[cell.task].run(cell)
        finally:
            _restore_torch_threads(torch_threads)
    return {
        "cell_id": cell.cell_id,
        "task": cell.task,
        "params": cell.params,
        "resolved": {**TASKS[cell.task].defaults, **cell.params},  # what the cell computed
        "replicate": cell.replicate,
        "seeds": {"data": [cell.data_seed[0], list(cell.data_seed[1])],
                  "method": [cell.method_seed[0], list(cell.method_seed[1])]},
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }


def _attempt(cell: Cell):
    """``run_cell`` in the worker, with an exception returned as a :class:`CellFailure`
    (formatted where it happened: the traceback survives any executor, and an exception that
    does not pickle cannot take the pool down). Ctrl-C and SystemExit still propagate."""
    try:
        return run_cell(cell)
    except Exception as exc:
        return CellFailure(cell.cell_id, cell.params, cell.replicate,
                           f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _limit_torch_threads():
    """Set torch to one intra-op thread for the cell; returns the previous count (None: no torch).

    torch is imported here when it is installed, not only when already loaded: a network cell
    imports it inside the task, after this point, and would otherwise run its first cell per
    worker with every core (measured: 54-63 s instead of 3-5 s per cell with 2 workers on 2 cores).
    The import statement (not ``sys.modules``) is used so that a cell running in a thread while
    another thread is still importing torch waits for the import to finish instead of getting
    a half-initialised module (Dask workers with threads).
    """
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    return previous


def _restore_torch_threads(previous) -> None:
    if previous is not None:
        import torch

        torch.set_num_threads(previous)


def _progress(total: int, initial: int, enabled: bool, name: str):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="cell", dynamic_ncols=True)


def _connect(address: str, timeout: float):
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Running on a Dask cluster needs the 'dask' extra: pip install overlapcal[dask]"
        ) from exc
    try:
        return Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({exc}). "
            "Check the address (e.g. tcp://HOST:8786) and that the scheduler is running."
        ) from None
    except ValueError as exc:  # a malformed address, e.g. an unknown scheme
        raise SchedulerError(
            f"invalid Dask scheduler address {address!r} ({exc}). "
            "Expected an address such as tcp://HOST:8786."
        ) from None


def check_writable(folder, caller: str) -> Path:
    """Create ``folder`` if needed and prove it is writable, before any cell runs.

    A probe file is written and removed, so a read-only folder fails now, not after the first
    (possibly long) cell.

    Parameters
    ----------
    folder : str or path-like
        The output folder; missing parents are created.
    caller : str
        The public function to name in the error message.

    Returns
    -------
    pathlib.Path
        ``folder``, as a path.

    Raises
    ------
    PermissionError or OSError
        Of the type the operating system raised, naming ``caller``, the folder and the reason.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from overlapcal.experiments.sweep import check_writable
    >>> root = Path(tempfile.mkdtemp())
    >>> folder = check_writable(root / "results" / "sweeps", "demo")
    >>> folder.is_dir(), list(folder.iterdir())
    (True, [])
    >>> _ = (root / "a-file").write_text("not a folder")
    >>> try:
    ...     check_writable(root / "a-file", "demo")
    ... except OSError as exc:
    ...     print(type(exc).__name__, str(exc).split(":")[0])
    FileExistsError demo
    """
    folder = Path(folder)
    probe = folder / ".overlapcal-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise type(exc)(f"{caller}: the output folder {str(folder)!r} is not writable: "
                        f"{exc.strerror or exc}") from None
    return folder


def run_sweep(
    config: SweepConfig,
    out,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    connect_timeout: float = 10.0,
) -> SweepResult:
    """Run (or resume) ``config``, storing results in ``out/<config.name>.jsonl``.

    Each finished cell is appended to the store at once; at the end the tidy table of the
    config's cells, ``rows``, is (re)written to ``out/<config.name>.csv`` (also when some cells
    failed).

    Parameters
    ----------
    config : SweepConfig
    out : path
        Output folder (created if needed).
    scheduler : str, optional
        A Dask scheduler address; overrides ``config.scheduler``. None runs locally.
    workers : int, optional
        Local processes (default ``config.workers`` or the number of CPUs); 1 runs in-process.
    progress : bool
        Show a progress bar with ETA.
    connect_timeout : float
        Seconds to wait for the scheduler before failing.

    Returns
    -------
    SweepResult
        The store, the tidy rows of every cell of ``config`` (those run now and those found in
        the store) and the counts of cells run and skipped.

    Raises
    ------
    SchedulerError
        When ``scheduler`` is malformed or cannot be reached within ``connect_timeout``.
    SweepError
        After the last cell, when some cells raised; its ``result`` holds what finished (all
        stored) and ``failures`` the failed cells (not stored: a rerun retries them).
    ValueError
        When ``workers`` is not an int >= 1.
    PermissionError or OSError
        When ``out`` cannot be created or written (checked before any cell runs).
    ImportError
        When ``scheduler`` is given and the ``dask`` extra is not installed.

    Notes
    -----
    A cell is skipped when its id (``expand``: a hash of the task, its version, the
    parameters with defaults filled in, the replicate and the seed) is already in the store;
    each finished cell is appended at once, so an interrupted sweep loses at most the cells in
    flight, and the same call resumes it. Every cell runs single-threaded from its own seeds
    (``run_cell``), so local processes, in-process runs and a Dask cluster give identical
    numbers.

    Examples
    --------
    >>> import tempfile
    >>> from overlapcal.experiments.config import config_from_dict
    >>> from overlapcal.experiments.sweep import run_sweep
    >>> config = config_from_dict({
    ...     "name": "demo", "task": "calibration", "seed": 0, "grid": {"n_classes": [2, 4]},
    ...     "fixed": {"method": "hard_interpolator", "overlap": 0.5, "n_val": 200,
    ...               "n_test": 200, "kl_samples": 500, "recalibrations": ["oracle"]}})
    >>> out = tempfile.mkdtemp()
    >>> result = run_sweep(config, out, workers=1, progress=False)
    >>> result.n_run, result.n_skipped
    (2, 0)
    >>> [(r["n_classes"], round(r["kl"], 3), round(r["corollary2_bound"], 3))
    ...  for r in result.rows]                  # KL after oracle TS >= Corollary 2's bound
    [(2, 0.216, 0.216), (4, 0.497, 0.49)]

    The same call again finds every cell in the store and runs none:

    >>> again = run_sweep(config, out, workers=1, progress=False)
    >>> again.n_run, again.n_skipped, again.rows == result.rows
    (0, 2, True)
    """
    if workers is not None:
        check_int(workers, "workers", "run_sweep", low=1)
    start = time.perf_counter()
    check_writable(out, "run_sweep")
    store = ResultStore(Path(out) / f"{config.name}.jsonl")
    cells = expand(config)
    done = store.completed()
    todo = [cell for cell in cells if cell.cell_id not in done]
    scheduler = scheduler or config.scheduler
    workers = workers or config.workers or os.cpu_count() or 1
    # connect first: an unreachable scheduler fails before a progress bar is drawn
    client = _connect(scheduler, connect_timeout) if scheduler is not None and todo else None
    bar = _progress(len(cells), len(cells) - len(todo), progress and bool(todo), config.name)
    failures = []
    try:
        for outcome in _execute(todo, client, workers):
            if isinstance(outcome, CellFailure):
                failures.append(outcome)
                if bar is not None:
                    bar.set_postfix(failed=len(failures))
            else:
                store.append(outcome)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if client is not None:
            client.close()
    ids = {cell.cell_id for cell in cells}
    rows = [row for row in store.rows() if row["cell_id"] in ids]
    store.write_csv(Path(out) / f"{config.name}.csv", rows)
    result = SweepResult(store, rows, len(cells), len(todo) - len(failures),
                         len(cells) - len(todo), time.perf_counter() - start, config.name,
                         tuple(failures))
    if failures:
        raise SweepError(failures, result, keys=tuple(config.grid))
    return result


def _process_context():
    """``fork`` (fast, and no ``if __name__ == "__main__"`` guard needed in user scripts) unless
    torch is already loaded in this process, whose thread pools do not survive a fork: then
    ``spawn``."""
    import multiprocessing
    import sys

    if "torch" not in sys.modules and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _execute(cells: list[Cell], client, workers: int):
    """Yield each cell's record, or its :class:`CellFailure`, as the cells complete (on the
    Dask ``client`` if one is given, else locally)."""
    if not cells:
        return
    if client is not None:
        from distributed import as_completed as dask_completed

        futures = client.map(_attempt, cells, pure=False)
        try:
            for future in dask_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
        return
    if workers == 1 or len(cells) == 1:
        for cell in cells:
            yield _attempt(cell)
        return
    context = _process_context()
    pool = ProcessPoolExecutor(max_workers=min(workers, len(cells)), mp_context=context)
    finished = False
    try:
        futures = [pool.submit(_attempt, cell) for cell in cells]
        for future in as_completed(futures):
            yield future.result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _abandon(pool)


def _abandon(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once (Ctrl-C, a failed cell, the caller stopped reading): cancel the
    queued cells and terminate the workers, so nothing waits for the cells in flight (their
    results would be lost anyway: only what reached the store counts)."""
    if hasattr(pool, "terminate_workers"):  # Python >= 3.14
        pool.terminate_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # gone after shutdown
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)
