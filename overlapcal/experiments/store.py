"""The results store: an append-only JSON-lines file, one line per finished cell.

Each line is one complete record ``{"cell_id", "task", "params", "replicate", "seeds", "rows",
"seconds"}``, written by one ``O_APPEND`` write (repeated only if the kernel writes part of it)
followed by ``fsync``. A crash can therefore only leave a partial *last* line; opening the store
drops such a tail, so a rerun recomputes exactly the cells whose lines are missing and nothing
else.

Several processes may share one store (two sweeps of one config started at once, or a sweep
resumed while the first is still running): appends and the tail repair hold an exclusive
``flock`` on the file (where the platform has one), so no process cuts a line another is
writing; and a cell stored twice (both runs computed it, with identical numbers, as ids and
seeds depend only on the config) is read once, the first record kept.
"""

from __future__ import annotations

import csv
import json
import os
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: appends are still one write each
    fcntl = None

__all__ = ["ResultStore", "write_rows_csv"]


class ResultStore:
    """Append-only store of finished cells at ``path`` (created on first write).

    Parameters
    ----------
    path : str or path-like
        The JSON-lines file. Opening an existing store truncates a partial last line (left
        by a crash mid-write), so :meth:`records` never sees half a record.

    Attributes
    ----------
    path : pathlib.Path

    Raises
    ------
    ValueError
        From :meth:`records` (and the methods built on it): a complete line that is not JSON.

    Notes
    -----
    One line per finished cell: ``{"cell_id", "task", "params", "resolved", "replicate",
    "seeds", "rows", "seconds"}``, where ``rows`` is the cell's list of result rows (dicts) and
    ``resolved`` the parameters with the task's defaults filled in. A sweep
    skips every cell whose id is in :meth:`completed`, so an interrupted sweep resumes where
    it stopped. :meth:`rows` is the tidy table: one row per result row, prefixed with the
    cell's id, replicate and parameters. Safe to share between processes: writes and the
    tail repair are locked, and :meth:`records` keeps the first record of a cell stored
    twice.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from overlapcal.experiments.store import ResultStore
    >>> folder = tempfile.TemporaryDirectory()
    >>> store = ResultStore(Path(folder.name) / "demo.jsonl")
    >>> store.append({"cell_id": "c1", "task": "demo", "params": {"k": 2}, "replicate": 0,
    ...               "seeds": [7], "rows": [{"ece": 0.1}, {"ece": 0.2}], "seconds": 0.5})
    >>> store.completed()
    {'c1'}
    >>> store.rows()
    [{'cell_id': 'c1', 'replicate': 0, 'k': 2, 'ece': 0.1},
     {'cell_id': 'c1', 'replicate': 0, 'k': 2, 'ece': 0.2}]
    >>> store.write_csv(Path(folder.name) / "demo.csv").read_text().splitlines()
    ['cell_id,replicate,k,ece', 'c1,0,2,0.1', 'c1,0,2,0.2']

    A crash in the middle of a write leaves a partial last line; reopening drops it:

    >>> with open(store.path, "a") as handle:
    ...     _ = handle.write('{"cell_id": "c2", "ta')
    >>> ResultStore(store.path).completed()
    {'c1'}
    >>> folder.cleanup()
    """

    def __init__(self, path):
        self.path = Path(path)
        self._repair_tail()

    @staticmethod
    @contextmanager
    def _locked(fd: int):
        """Hold an exclusive advisory lock on the open file ``fd`` (a no-op without fcntl)."""
        if fcntl is None:  # pragma: no cover
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _repair_tail(self) -> None:
        """Drop a partial last line left by a crash mid-write (under the lock, so a line
        another process is appending is never taken for one)."""
        try:
            handle = open(self.path, "r+b")
        except FileNotFoundError:
            return
        except PermissionError:
            return  # a read-only store: records() stops before a partial last line anyway
        with handle, self._locked(handle.fileno()):
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)

    def records(self) -> list[dict]:
        """Every complete record, in the order written; a cell stored again (by a concurrent
        run of the same config) is skipped, its first record kept."""
        if not self.path.exists():
            return []
        out = []
        seen: set[str] = set()
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if not raw.endswith(b"\n"):
                    break  # a line still being written by another process
                line = raw.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise ValueError(f"{self.path}:{number}: corrupt record ({exc})") from None
                if not isinstance(record, dict) or not isinstance(record.get("cell_id"), str):
                    raise ValueError(f"{self.path}:{number}: corrupt record (not an object "
                                     "with a string 'cell_id')")
                if record["cell_id"] not in seen:
                    seen.add(record["cell_id"])
                    out.append(record)
        return out

    def completed(self) -> set[str]:
        """Ids of the cells already stored."""
        return {record["cell_id"] for record in self.records()}

    def append(self, record: dict) -> None:
        """Write one record durably: one line, appended under the lock, then fsynced."""
        data = (json.dumps(record, sort_keys=True, allow_nan=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            with self._locked(fd):
                view = memoryview(data)
                while view:  # a regular file takes it whole; a short write continues
                    view = view[os.write(fd, view):]
                os.fsync(fd)
        finally:
            os.close(fd)

    def rows(self) -> list[dict]:
        """The tidy table: one row per result row of every cell, with the cell's parameters
        (every one the task used, defaults included) and its seeds: ``seed`` (the entropy),
        ``data_seed_key`` and ``method_seed_key``, so that
        ``SeedSequence(seed, spawn_key=(replicate, key))`` regenerates a cell's streams."""
        table = []
        for record in self.records():
            base = {"cell_id": record["cell_id"], "replicate": record["replicate"]}
            seeds = record.get("seeds")
            if isinstance(seeds, dict) and {"data", "method"} <= set(seeds):
                base.update(seed=seeds["data"][0], data_seed_key=seeds["data"][1][-1],
                            method_seed_key=seeds["method"][1][-1])
            params = record.get("resolved", record["params"])
            base.update({k: v for k, v in params.items() if not isinstance(v, list)})
            for row in record["rows"]:
                table.append({**base, **row})
        return table

    def write_csv(self, path, rows=None) -> Path:
        """Write ``rows`` (default: :meth:`rows`, the whole store) with :func:`write_rows_csv`."""
        return write_rows_csv(self.rows() if rows is None else rows, path)


def write_rows_csv(rows, path) -> Path:
    """Write a tidy table (a list of dicts) to ``path`` as CSV, atomically.

    The columns are the union of the rows' keys in order of first appearance (a missing value
    is an empty field). The table goes to a temporary file that is then renamed over ``path``,
    so a failed or interrupted write leaves the old file and no debris.
    """
    path = Path(path)
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
