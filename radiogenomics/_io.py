"""File input and output: atomic writes and table readers that check orientation.

Only this module, the CLI and workflow scripts touch files. Every write goes to a temporary
file in the destination folder and is renamed into place, so a failed stage leaves no partial
file behind. Readers return rows = samples with unique string ids, and say which file is at
fault when the layout is wrong.
"""

from __future__ import annotations

import gzip
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
    "staged_folder",
    "write_table",
    "write_tables",
    "write_json",
    "read_json",
    "read_table",
    "read_labels",
    "orient_samples",
    "split_label_column",
    "check_numeric_columns",
    "labels_with_unknown",
    "MISSING_LABELS",
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


@contextmanager
def staged_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary folder beside ``folder`` that replaces it, whole, on success.

    For commands that write plain tables rather than a stage result (``stability``,
    ``harmonize``): the same contract as :meth:`radiogenomics.StageResult.write`. ``folder``
    is checked first (absent, empty or an earlier result); on an exception the temporary
    folder is removed and ``folder`` is left as it was.

    Parameters
    ----------
    folder
        Destination folder.

    Yields
    ------
    pathlib.Path
        The temporary folder to write into.
    """
    import shutil
    import uuid

    from ._results import _replace_folder, check_output_folder

    folder = check_output_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(mode=umask_mode(0o777))
    try:
        yield tmp
        _replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
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


def _header_names(path: Path, sep: str) -> list[str]:
    """The header row as written; refuses duplicated names (pandas would rename the second ``X.1``)."""
    head = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    names = [str(v).strip() for v in head.iloc[0]] if len(head) else []
    seen: set[str] = set()
    dup = [n for n in names if n and (n in seen or seen.add(n))]
    if dup:
        raise DataFileError(
            f"{path}: duplicated column name(s) {format_names(list(dict.fromkeys(dup)))} in the header; "
            "each column must have its own name."
        )
    return names


#: Spreadsheet workbooks: refused with the way to export them (a sheet, merged cells and formats are
#: choices only the user can make).
_WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
#: Field separators a text table may use, by the order they are tried when the name's own is absent.
_SEPARATORS = ("\t", ",", ";")


def _separator(path: Path, name: str) -> str:
    """The table's field separator: the one its suffix says (tab for .tsv/.txt, else comma) when
    its header holds it, else the first of tab, comma and semicolon (the CSV of a spreadsheet in
    a decimal-comma locale) that the header holds."""
    sep = "\t" if any(name.endswith(s) for s in (".tsv", ".tsv.gz", ".txt", ".txt.gz")) else ","
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
    except (OSError, EOFError):
        return sep  # pandas names the fault when it reads the file
    if sep in first:
        return sep
    found = next((c for c in _SEPARATORS if c in first), sep)
    if found != sep:
        log.info("%s: fields are separated by %r (not %r, as its name suggests)", path, found, sep)
    return found


def _decimal_commas(df: pd.DataFrame) -> bool:
    """Whether a semicolon-separated table holds numbers written with a decimal comma (``1,5``):
    some text column whose every value is such a number."""
    for col in df.columns:
        if df[col].dtype == object:
            values = df[col].dropna().astype(str).str.strip()
            if len(values) and values.str.fullmatch(r"[-+]?\d*,\d+([eE][-+]?\d+)?").all():
                return True
    return False


def _read_raw(path: Path, *, index_col: int | str | None = 0) -> pd.DataFrame:
    if not path.exists():
        raise MissingDataFileError(f"{path}: file not found.")
    name = path.name.lower()
    if name.endswith(_WORKBOOKS):
        raise DataFileError(
            f"{path}: a spreadsheet workbook is not read as a table; save the sheet as CSV (UTF-8) and give that "
            "file (rows = samples, the sample id in the first column)."
        )
    try:
        if name.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path)
            if index_col is not None and not isinstance(df.index, pd.RangeIndex):
                return df
            if index_col is not None:
                col = df.columns[index_col] if isinstance(index_col, int) else index_col
                df = df.set_index(col)
            return df
        sep = _separator(path, name)
        header = _header_names(path, sep)
        pos = None
        if index_col is not None and header:  # ids are text: 001, 01 and 1 stay three samples
            pos = index_col if isinstance(index_col, int) else (header.index(index_col) if index_col in header else None)
        if pos is None or pos >= len(header):
            return pd.read_csv(path, sep=sep, index_col=index_col)
        df = pd.read_csv(path, sep=sep, dtype={pos: str})
        if sep == ";" and _decimal_commas(df.drop(columns=df.columns[pos])):
            log.info("%s: numbers are written with a decimal comma; read as such", path)
            df = pd.read_csv(path, sep=sep, dtype={pos: str}, decimal=",")
        col = df.columns[pos]
        df = df.set_index(col)
        if str(col).startswith("Unnamed: ") and not header[pos]:
            df.index.name = None
        return df
    except DataFileError:
        raise
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
        check_numeric_columns(df, name=str(path))
    return df


def check_numeric_columns(table: pd.DataFrame, *, name: str) -> pd.DataFrame:
    """Refuse a table with a non-numeric column, naming the column, an example value and the fix.

    Parameters
    ----------
    table
        Rows = samples (or features as rows: the check is per column either way).
    name
        The file or table, for messages.

    Returns
    -------
    pandas.DataFrame
        ``table`` unchanged.
    """
    bad = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        example = table[bad[0]].dropna()
        example = example[pd.to_numeric(example, errors="coerce").isna()]
        where = f"; e.g. {example.iloc[0]!r} at row {example.index[0]!r}" if len(example) else ""
        raise DataFileError(
            f"{name}: non-numeric column(s) {format_names(bad)}{where}; expected numbers only. A column of "
            "HER2 labels inside the table is named with --label-column (config: imaging.label_column); "
            "pyradiomics batch output is recognised by its Image, Mask and diagnostics_* columns."
        )
    return table


def orient_samples(table: pd.DataFrame, samples: pd.Index | Sequence[str], *, name: str) -> pd.DataFrame:
    """Return ``table`` with rows = samples, transposing it if its columns are the samples.

    The one orientation rule of the package, used by every reader of a table that comes with
    labels (imaging features, expression matrices): the side (rows or columns) holding more of
    the labelled sample ids is the samples' side; ties keep rows = samples.

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
    rows, cols = table.index.map(str), table.columns.map(str)
    in_rows = rows.isin(samples).sum()
    in_cols = cols.isin(samples).sum()
    if in_rows == 0 and in_cols == 0:
        raise InputError(
            f"{name}: none of its row or column ids match the {len(samples)} labelled sample ids (rows e.g. "
            f"{format_names(rows[:3])}; columns e.g. {format_names(cols[:3])}; labels e.g. "
            f"{format_names(samples[:3])}); the table and its labels must use the same sample ids "
            "(rows = samples, or samples as columns: detected)."
        )
    if in_cols > in_rows:
        log.info("%s: samples are columns; transposing to rows = samples", name)
        out = table.T
        out.attrs.update(table.attrs)
        return out
    return table


def _numeric_where_possible(table: pd.DataFrame) -> pd.DataFrame:
    """Columns of text that are all numbers become numbers (a transposed table of mixed rows)."""
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object:
            conv = pd.to_numeric(out[col], errors="coerce")
            if int(conv.notna().sum()) == int(out[col].notna().sum()):
                out[col] = conv
    return out


def split_label_column(table: pd.DataFrame, column: str, *, name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Take the labels out of a table that holds them (a ``label_column`` column, or row when samples are columns).

    Parameters
    ----------
    table
        Rows = samples with a label column, or features as rows with a label row.
    column
        Name of the column (or row) holding the labels.
    name
        File or table name used in messages.

    Returns
    -------
    tuple of (pandas.DataFrame, pandas.Series)
        The table with rows = samples and without the labels, and the raw labels (not checked
        yet) on the same index.
    """
    column = str(column)
    table = table.copy(deep=False)
    table.columns = table.columns.map(str)
    table.index = table.index.map(str)
    if column in table.columns:
        labels = table[column]
        rest = table.drop(columns=column)
    elif column in table.index:
        log.info("%s: labels are the row %r; samples are columns, transposing to rows = samples", name, column)
        labels = table.loc[column]
        rest = table.drop(index=column).T
        rest = _numeric_where_possible(rest)
    else:
        raise InputError(
            f"{name}: no column (or row) {column!r} holding the labels (--label-column, config "
            f"imaging.label_column); columns: {format_names(table.columns, limit=8)}."
        )
    rest.attrs.update(table.attrs)
    return rest, labels.rename("her2")


#: Label values that mean "not known" (compared lower-cased, stripped): such samples are excluded
#: with their reason where the stage allows it (expression series), never guessed.
MISSING_LABELS = ("", "na", "n/a", "nan", "none", "null", "unknown", "not available", "nd", "-", "?", "missing")


def _label_column(df: pd.DataFrame, path: Path, column: str | None) -> str:
    if column is not None:
        if column not in df.columns:
            raise DataFileError(
                f"{path}: no column {column!r} (--label-column); columns: {format_names(df.columns)}."
            )
        return column
    if df.shape[1] == 1:
        return str(df.columns[0])
    for cand in ("her2", "label", "HER2", "her2_status"):
        if cand in df.columns:
            return cand
    raise DataFileError(
        f"{path}: cannot tell which column holds the labels (columns: {format_names(df.columns)}); "
        "name it with --label-column (config: label_column), or keep only the sample id and 'her2' columns."
    )


def read_labels(path: str | os.PathLike, *, column: str | None = None, missing: str = "error") -> pd.Series:
    """Read HER2 labels (sample id, 0/1) from a CSV/TSV/Parquet file.

    Parameters
    ----------
    path
        File whose first column holds sample ids.
    column
        Label column; by default the only column, else the first of ``her2``, ``label``,
        ``HER2``, ``her2_status``.
    missing
        ``"error"``: every value must be 0 or 1. ``"keep"``: empty cells and the markers of
        :data:`MISSING_LABELS` (``NA``, ``unknown``...) are returned as ``<NA>`` (the caller
        excludes those samples and says why); any other value is still an error.

    Returns
    -------
    pandas.Series
        0/1 labels (see :func:`radiogenomics._validation.check_labels`); ``Int8`` with ``<NA>``
        for unknown ones when ``missing="keep"``.
    """
    path = Path(path)
    df = _read_raw(path)
    df.index = df.index.map(str)
    df.columns = df.columns.map(str)
    column = _label_column(df, path, column)
    if missing == "keep":
        return labels_with_unknown(df[column], name=str(path))
    return check_labels(df[column], name=str(path))


def labels_with_unknown(labels: pd.Series, *, name: str) -> pd.Series:
    """0/1 labels where unknown ones (empty, ``NA``, ``unknown``...) are kept as ``<NA>``.

    Parameters
    ----------
    labels
        Raw labels indexed by sample id.
    name
        What they are, for messages.

    Returns
    -------
    pandas.Series
        ``Int8`` 0/1 with ``<NA>`` for the unknown ones, named ``her2``.
    """
    from ._validation import LabelError

    raw = labels.copy()
    raw.index = raw.index.map(str)
    dup = raw.index[raw.index.duplicated()].unique()
    if len(dup):
        raise LabelError(f"{name}: duplicated sample ids {format_names(dup)}.")
    text = raw.astype("string").str.strip().str.lower()
    unknown = raw.isna() | text.isin(MISSING_LABELS).fillna(True)
    values = pd.to_numeric(raw.where(~unknown), errors="coerce")
    bad = raw.index[~unknown & ~values.isin([0, 1])]
    if len(bad):
        shown = format_names([f"{s}={raw[s]!r}" for s in bad])
        raise LabelError(
            f"{name}: labels must be 1 (HER2-positive), 0 (HER2-negative) or empty/NA (unknown: the sample is "
            f"excluded); sample(s) {shown} are none of these."
        )
    out = values.astype("Int8")
    out[unknown.to_numpy()] = pd.NA
    return out.rename("her2")
