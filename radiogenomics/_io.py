"""File input and output: atomic writes and table readers that check orientation.

Only this module, the CLI and workflow scripts touch files. Every write goes to a temporary
file in the destination folder and is renamed into place, so a failed stage leaves no partial
file behind. Readers return rows = samples with unique string ids, and say which file is at
fault when the layout is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ._logging import get_logger
from ._validation import DataFileError, InputError, MissingDataFileError, check_labels, format_names

__all__ = [
    "cache_folder",
    "umask_mode",
    "atomic_write",
    "write_table",
    "write_tables",
    "write_json",
    "read_json",
    "read_table",
    "read_labels",
    "orient_samples",
    "file_sha256",
]

log = get_logger(__name__)

TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz", ".parquet", ".pq")


def _current_umask() -> int:
    """The process umask, read without changing it (Linux: /proc; elsewhere: set and restore)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def cache_folder(kind: str, cache_dir: str | os.PathLike | None = None, *, env: str | None = None) -> Path:
    """The package's cache folder for one kind of download or result (never inside a result folder).

    ``cache_dir`` when given; else ``$<env>`` when that variable is set; else
    ``$RADIOGENOMICS_CACHE/<kind>``; else ``~/.cache/radiogenomics/<kind>``.

    Parameters
    ----------
    kind
        ``"geo"``, ``"features"``, ``"genesets"``...
    cache_dir
        Explicit folder.
    env
        A variable naming this kind's folder itself (e.g. ``RADIOGENOMICS_GENESETS``).

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if env and os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    root = os.environ.get("RADIOGENOMICS_CACHE")
    if root:
        return Path(root).expanduser() / kind
    return Path("~/.cache/radiogenomics").expanduser() / kind


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` as the user's umask leaves it (0o644 for files under umask 022).

    ``tempfile`` creates files with mode 0600 and folders with 0700 whatever the umask; every
    output of the package is given this mode instead, so colleagues and web servers can read
    results as they can read the user's other files.

    Parameters
    ----------
    mode
        Requested permission bits (0o666 for files, 0o777 for folders).

    Returns
    -------
    int
        ``mode & ~umask``.
    """
    return mode & ~_current_umask()


@contextmanager
def atomic_write(path: str | os.PathLike, *, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path`` and rename it onto ``path`` on success.

    Parameters
    ----------
    path
        Destination file; its folder is created.
    mode
        ``"w"`` for text or ``"wb"`` for bytes.
    encoding
        Text encoding (ignored in binary mode).

    Yields
    ------
    file object
        Writable handle of the temporary file. On an exception the temporary file is removed
        and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, umask_mode(0o666))
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for writers that need a file name.

    Parameters
    ----------
    path
        Destination file.

    Yields
    ------
    pathlib.Path
        Temporary path; renamed onto ``path`` on success, removed on failure.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.fchmod(fd, umask_mode(0o666))
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_table(
    table: pd.DataFrame,
    out_dir: str | os.PathLike,
    name: str,
    *,
    formats: Sequence[str] = ("parquet", "csv"),
    index: bool = True,
) -> dict[str, Path]:
    """Write ``table`` as ``<out_dir>/<name>.parquet`` and ``.csv``, atomically.

    Parameters
    ----------
    table
        The table to write.
    out_dir
        Output folder (created).
    name
        File stem.
    formats
        Any of ``"parquet"`` and ``"csv"``.
    index
        Write the index as the first column.

    Returns
    -------
    dict
        Format → written path.
    """
    out_dir = Path(out_dir)
    table = table.copy(deep=False)
    table.columns = table.columns.map(str)
    written: dict[str, Path] = {}
    for fmt in formats:
        dest = out_dir / f"{name}.{fmt}"
        with atomic_path(dest) as tmp:
            if fmt == "parquet":
                table.to_parquet(tmp, index=index)
            elif fmt == "csv":
                table.to_csv(tmp, index=index)
            else:
                raise InputError(f"unknown table format {fmt!r}; expected 'parquet' or 'csv'.")
        written[fmt] = dest
    log.debug("wrote %s (%d x %d) to %s", name, table.shape[0], table.shape[1], out_dir)
    return written


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | os.PathLike,
    *,
    formats: Sequence[str] = ("parquet", "csv"),
) -> dict[str, dict[str, Path]]:
    """Write several tables with :func:`write_table`.

    Parameters
    ----------
    tables
        Name → table.
    out_dir
        Output folder.
    formats
        Formats to write.

    Returns
    -------
    dict
        Name → format → path.
    """
    return {name: write_table(t, out_dir, name, formats=formats) for name, t in tables.items()}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, os.PathLike)):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON, atomically.

    Parameters
    ----------
    obj
        JSON-serialisable object (numpy scalars, arrays and paths are converted).
    path
        Destination.

    Returns
    -------
    pathlib.Path
    """
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, default=_json_default, sort_keys=False)
        fh.write("\n")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file when it is missing or malformed.

    Parameters
    ----------
    path
        JSON file.

    Returns
    -------
    Any
    """
    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: file not found.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: not valid JSON ({exc}).") from exc


def file_sha256(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content (folders: of their files' names and contents, sorted).

    Parameters
    ----------
    path
        File or folder.
    chunk
        Read size in bytes.

    Returns
    -------
    str
        Hex digest.
    """
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def _read_raw(path: Path, *, index_col: int | str | None = 0) -> pd.DataFrame:
    if not path.exists():
        raise MissingDataFileError(f"{path}: file not found.")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path)
            if index_col is not None and not isinstance(df.index, pd.RangeIndex):
                return df
            if index_col is not None:
                col = df.columns[index_col] if isinstance(index_col, int) else index_col
                df = df.set_index(col)
            return df
        sep = "\t" if any(name.endswith(s) for s in (".tsv", ".tsv.gz", ".txt", ".txt.gz")) else ","
        return pd.read_csv(path, sep=sep, index_col=index_col)
    except (ValueError, KeyError, OSError, pd.errors.ParserError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise MissingDataFileError(f"{path}: file not found.") from exc
        raise DataFileError(f"{path}: cannot be read as a table ({exc}).") from exc


def read_table(
    path: str | os.PathLike,
    *,
    transpose: bool = False,
    numeric: bool = True,
    index_col: int | str | None = 0,
) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet table with rows = samples and check its ids.

    Parameters
    ----------
    path
        ``.csv``, ``.tsv``, ``.txt`` (optionally gzipped) or ``.parquet`` file whose first
        column (or Parquet index) holds the sample ids.
    transpose
        The file stores samples as columns (e.g. genes × samples expression files); transpose
        after reading. Use :func:`orient_samples` to detect this from known sample ids.
    numeric
        Require every column to be numeric.
    index_col
        Column holding the ids.

    Returns
    -------
    pandas.DataFrame
        Rows = samples with unique ``str`` ids.
    """
    path = Path(path)
    df = _read_raw(path, index_col=index_col)
    if transpose:
        df = df.T
    df.index = df.index.map(str)
    df.columns = df.columns.map(str)
    dup = df.index[df.index.duplicated()].unique()
    if len(dup):
        raise DataFileError(f"{path}: duplicated row ids {format_names(dup)}; each row must be one sample.")
    dupc = df.columns[df.columns.duplicated()].unique()
    if len(dupc):
        raise DataFileError(f"{path}: duplicated column names {format_names(dupc)}.")
    if numeric:
        bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        if bad:
            example = df[bad[0]].dropna()
            example = example[pd.to_numeric(example, errors="coerce").isna()]
            where = f"; e.g. {example.iloc[0]!r} at row {example.index[0]!r}" if len(example) else ""
            raise DataFileError(
                f"{path}: non-numeric column(s) {format_names(bad)}{where}; expected numbers only."
            )
    return df


def orient_samples(table: pd.DataFrame, samples: pd.Index | Sequence[str], *, name: str) -> pd.DataFrame:
    """Return ``table`` with rows = samples, transposing it if its columns are the samples.

    Parameters
    ----------
    table
        A table read from file.
    samples
        Known sample ids (e.g. the labels' index).
    name
        File or table name used in messages.

    Returns
    -------
    pandas.DataFrame
    """
    samples = pd.Index([str(s) for s in samples])
    in_rows = table.index.isin(samples).sum()
    in_cols = table.columns.isin(samples).sum()
    if in_rows == 0 and in_cols == 0:
        raise InputError(
            f"{name}: none of its row or column ids match the {len(samples)} labelled samples "
            f"(e.g. {format_names(samples[:3])}); rows must be samples."
        )
    if in_cols > in_rows:
        log.info("%s: samples are columns; transposing to rows = samples", name)
        return table.T
    return table


def read_labels(path: str | os.PathLike, *, column: str | None = None) -> pd.Series:
    """Read HER2 labels (sample id, 0/1) from a CSV/TSV/Parquet file.

    Parameters
    ----------
    path
        File whose first column holds sample ids.
    column
        Label column; by default the only column, else the first of ``her2``, ``label``,
        ``HER2``, ``her2_status``.

    Returns
    -------
    pandas.Series
        0/1 labels (see :func:`radiogenomics._validation.check_labels`).
    """
    path = Path(path)
    df = _read_raw(path)
    df.index = df.index.map(str)
    if column is None:
        if df.shape[1] == 1:
            column = df.columns[0]
        else:
            for cand in ("her2", "label", "HER2", "her2_status"):
                if cand in df.columns:
                    column = cand
                    break
    if column is None or column not in df.columns:
        raise DataFileError(
            f"{path}: cannot tell which column holds the labels (columns: {format_names(df.columns)}); "
            "pass the label column name."
        )
    return check_labels(df[column], name=str(path))
