"""Reading GEO series: SOFT family files (GEOparse), series-matrix files, local tables, downloads.

All readers return a :class:`GeoSeries`: sample values (rows = samples, columns = probes or
genes, as deposited), sample characteristics (rows = samples, columns = normalised field names,
raw text) and the platform table when the file carries one.

Downloads go to a cache folder (``~/.cache/radiogenomics/geo``; ``$RADIOGENOMICS_CACHE/geo``
when that variable is set; or an explicit ``cache_dir``), are reused offline, retried with
exponential backoff, and without network and cache fail with :class:`MissingDataFileError`
naming the exact file to place where.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import cache_folder
from .._logging import get_logger, timed
from .._results import dropped_table
from .._validation import (
    DataFileError,
    InputError,
    MissingDataFileError,
    ParameterError,
    check_choice,
    check_float,
    check_int,
    format_names,
)
from .labels import normalize_field

__all__ = [
    "GeoSeries",
    "default_cache_dir",
    "geo_url",
    "cached_file",
    "fetch_geo",
    "read_soft",
    "read_soft_platform",
    "read_series_matrix",
    "read_local_series",
    "parse_characteristics",
]

log = get_logger(__name__)

#: Sample metadata fields kept beside the characteristics (normalised names).
SAMPLE_FIELDS = ("title", "geo_accession", "source_name_ch1", "platform_id", "organism_ch1",
                 "molecule_ch1", "description")


@dataclass
class GeoSeries:
    """One GEO series as read from a file.

    Attributes
    ----------
    accession
        Series accession (or the file's series name).
    values
        Rows = samples, columns = probe ids (or genes), numeric, as deposited.
    characteristics
        Rows = samples, columns = normalised field names, raw text (NaN when absent).
    platform
        GPL accession of the samples (``None`` when unknown).
    platform_table
        Probe annotation table of the platform when the file carries one.
    source
        File read.
    gene_level
        ``values`` columns are already gene symbols (local tables, RNA-seq matrices).
    dropped
        Samples dropped while reading (columns ``kind``, ``item``, ``reason``, ``series``,
        ``detail``; see :func:`radiogenomics._results.dropped_table`).
    """

    accession: str
    values: pd.DataFrame
    characteristics: pd.DataFrame
    platform: str | None = None
    platform_table: pd.DataFrame | None = None
    source: Path | None = None
    gene_level: bool = False
    dropped: pd.DataFrame = field(default_factory=lambda: _dropped_frame([]))


def _dropped_frame(rows: list[dict]) -> pd.DataFrame:
    return dropped_table(rows, extra=("series", "detail"))


# --------------------------------------------------------------------------- characteristics
def parse_characteristics(entries: list[str] | None, *, prefix: str = "") -> dict[str, str]:
    """Split GEO ``key: value`` characteristic strings into a dict of normalised fields.

    Parameters
    ----------
    entries
        Strings such as ``"her2 status: positive"``; an entry without ``:`` is stored under
        ``characteristics`` (joined with ``"; "`` when several).
    prefix
        Prefix for the field names (``"ch2 "`` for the second channel).

    Returns
    -------
    dict
        Normalised field name → raw value text (repeated fields joined with ``"; "``).
    """
    out: dict[str, str] = {}
    for entry in entries or []:
        if entry is None or (isinstance(entry, float) and np.isnan(entry)):
            continue
        entry = str(entry).strip()
        if not entry:
            continue
        if ":" in entry:
            key, value = entry.split(":", 1)
            key = prefix + normalize_field(key)
            value = value.strip()
        else:
            key, value = prefix + "characteristics", entry
        out[key] = f"{out[key]}; {value}" if key in out else value
    return out


NA_TEXT = ["", "na", "NA", "nan", "NaN", "null", "NULL", "n/a", "N/A"]


def _numeric_values(table: pd.DataFrame, *, source: str, samples_are: str = "rows") -> pd.DataFrame:
    """Convert text columns to floats (empty/NA/null → NaN), naming the first bad cell.

    Numeric columns pass untouched (fast path); only text columns are parsed cell by cell.
    """
    obj = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if obj:
        sub = table[obj].apply(lambda s: s.astype("string").str.strip())
        sub = sub.mask(sub.apply(lambda s: s.str.lower().isin({x.lower() for x in NA_TEXT})))
        num = sub.apply(pd.to_numeric, errors="coerce")
        bad = (num.isna() & sub.notna()).to_numpy()
        if bad.any():
            r, c = np.argwhere(bad)[0]
            row, col = sub.index[r], sub.columns[c]
            sample, probe = (row, col) if samples_are == "rows" else (col, row)
            raise DataFileError(
                f"{source}: non-numeric value {sub.iat[r, c]!r} for sample {sample!r}, probe/gene "
                f"{probe!r} ({int(bad.sum())} such cell(s)); expected numbers or empty cells."
            )
        table = table.copy()
        table[obj] = num.astype(float)
    return table.astype(float)


def _check_unique(index: pd.Index, *, what: str, source: str) -> None:
    dup = index[index.duplicated()].unique()
    if len(dup):
        raise DataFileError(f"{source}: duplicated {what} {format_names(dup)}; each must appear once.")


# --------------------------------------------------------------------------- SOFT (GEOparse)
def read_soft(
    path: str | os.PathLike,
    *,
    geotype: str = "GSE",
    accession: str | None = None,
) -> GeoSeries:
    """Read a SOFT family file offline through GEOparse.

    Parameters
    ----------
    path
        ``GSE..._family.soft[.gz]`` file.
    geotype
        GEO record type passed to GEOparse (set explicitly: GEOparse otherwise guesses it from
        the file name). Only ``"GSE"`` files hold several samples.
    accession
        Name to give the series (the file's ``^SERIES`` name by default).

    Returns
    -------
    GeoSeries
        Values from each sample table's ``VALUE`` column (rows = samples keyed by the
        ``^SAMPLE`` name), characteristics of channel 1 (and channel 2 prefixed ``ch2``) plus
        the sample fields in ``SAMPLE_FIELDS``, and the platform table when present.

    Raises
    ------
    MissingDataFileError
        The file does not exist.
    DataFileError
        GEOparse cannot parse it, a duplicated probe in a sample table, or a non-numeric value.
    """
    import GEOparse

    path = Path(path)
    check_choice(geotype, "geotype", owner="read_soft", choices=("GSE",))
    if not path.exists():
        raise MissingDataFileError(f"{path}: SOFT file not found.")
    try:
        with timed(f"parsing SOFT file {path.name}", logger=log):
            gse = GEOparse.get_GEO(filepath=str(path), geotype=geotype, silent=True)
    except Exception as exc:  # GEOparse raises bare exceptions on malformed files
        raise DataFileError(f"{path}: GEOparse cannot read it as a {geotype} SOFT file "
                             f"({' '.join(repr(exc).split())}).") from exc
    name = accession or str(gse.name)
    listed = [str(v).strip() for v in (getattr(gse, "metadata", None) or {}).get("sample_id", []) if str(v).strip()]
    absent = [s for s in dict.fromkeys(listed) if s not in gse.gsms]
    # some samples present, others listed but missing: cut short (a file without any sample
    # section, as GEO writes for some series, reads as empty and is refused by series_sample_check)
    if absent and len(gse.gsms):
        raise DataFileError(
            f"{path}: truncated or incomplete SOFT file: {len(absent)} of the {len(set(listed))} samples its "
            f"!Series_sample_id lists have no ^SAMPLE section ({format_names(absent)}); download the file again."
        )
    columns: dict[str, pd.Series] = {}
    chars: dict[str, dict[str, str]] = {}
    platforms: dict[str, str] = {}
    for gsm_name, gsm in gse.gsms.items():
        meta = gsm.metadata
        fields = parse_characteristics(meta.get("characteristics_ch1"))
        fields.update(parse_characteristics(meta.get("characteristics_ch2"), prefix="ch2 "))
        for key in SAMPLE_FIELDS:
            if key in meta and normalize_field(key) not in fields:
                fields[normalize_field(key)] = "; ".join(str(v) for v in meta[key])
        chars[str(gsm_name)] = fields
        platforms[str(gsm_name)] = "; ".join(meta.get("platform_id", []))
        table = gsm.table
        if table is None or table.empty:
            columns[str(gsm_name)] = pd.Series(dtype=object)
            continue
        if "ID_REF" not in table.columns or "VALUE" not in table.columns:
            raise DataFileError(
                f"{path}: sample {gsm_name!r} table has no ID_REF/VALUE columns (has {format_names(table.columns)})."
            )
        ids = table["ID_REF"].map(_probe_id)
        _check_unique(pd.Index(ids), what=f"probe ids in sample {gsm_name!r}", source=str(path))
        columns[str(gsm_name)] = pd.Series(table["VALUE"].to_numpy(), index=ids)
    values = pd.DataFrame(columns) if columns else pd.DataFrame()
    values = _numeric_values(values, source=str(path), samples_are="columns").T if values.size else values.astype(float)
    characteristics = pd.DataFrame.from_dict(chars, orient="index")
    characteristics.index.name = "sample_id"
    values.index.name = "sample_id"
    platform_ids = sorted({p for p in platforms.values() if p})
    platform = platform_ids[0] if len(platform_ids) == 1 else None
    if len(platform_ids) > 1:
        log.warning("%s: samples on several platforms (%s); map each platform separately", name, ", ".join(platform_ids))
    if not platform_ids and len(gse.gpls) == 1:
        platform = str(next(iter(gse.gpls)))
    ptable = None
    if platform is not None and platform in gse.gpls and not gse.gpls[platform].table.empty:
        ptable = gse.gpls[platform].table.copy()
        if "ID" in ptable.columns:
            ptable["ID"] = ptable["ID"].map(_probe_id)
    log.info("%s: %d samples x %d probes from %s (platform %s)", name, values.shape[0], values.shape[1], path.name, platform)
    return GeoSeries(accession=name, values=values, characteristics=characteristics, platform=platform,
                     platform_table=ptable, source=path)


def read_soft_platform(path: str | os.PathLike) -> pd.DataFrame:
    """Read the probe table of a platform SOFT file (``GPL..._family.soft``) offline through GEOparse.

    Parameters
    ----------
    path
        Platform SOFT file.

    Returns
    -------
    pandas.DataFrame
        The platform table (column ``ID`` as text plus the platform's annotation columns).
    """
    import GEOparse

    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: SOFT file not found.")
    try:
        gpl = GEOparse.get_GEO(filepath=str(path), geotype="GPL", silent=True)
    except Exception as exc:  # GEOparse raises bare exceptions on malformed files
        raise DataFileError(f"{path}: GEOparse cannot read it as a GPL SOFT file ({exc!r}).") from exc
    table = gpl.table.copy()
    if table.empty or "ID" not in table.columns:
        raise DataFileError(f"{path}: platform {gpl.name} has no probe table with an ID column.")
    table["ID"] = table["ID"].map(_probe_id)
    return table


def _probe_id(value: object) -> str:
    """Probe ids as text; integral floats (``272.0``) read back as ``272``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --------------------------------------------------------------------------- series matrix
def _split_line(line: str) -> list[str]:
    return [c[1:-1] if len(c) >= 2 and c[0] == c[-1] == '"' else c for c in line.rstrip("\r\n").split("\t")]


def read_series_matrix(path: str | os.PathLike, *, accession: str | None = None) -> GeoSeries:
    """Read a GEO series-matrix file (``GSE..._series_matrix.txt[.gz]``) with pandas.

    GEOparse cannot read these files. The ``!Sample_*`` header lines give one value per
    sample (characteristics lines hold ``key: value`` per cell, and the key may differ
    between samples on the same line); the table between ``!series_matrix_table_begin`` and
    ``!series_matrix_table_end`` has probes as rows and samples as columns.

    Parameters
    ----------
    path
        Series-matrix file, plain or gzipped.
    accession
        Name to give the series (``!Series_geo_accession`` by default).

    Returns
    -------
    GeoSeries
        No platform table (series-matrix files carry none; pass one to the mapping).

    Raises
    ------
    MissingDataFileError
        The file does not exist.
    DataFileError
        No table markers, header and table samples disagree, duplicated samples or probes,
        or a non-numeric value (named by sample and probe).
    """
    import gzip

    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: series-matrix file not found.")
    opener = gzip.open if path.suffix == ".gz" else open
    header: dict[str, list[list[str]]] = {}
    table_lines: list[str] = []
    in_table = ended = False
    series_name = None
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if in_table:
                    if line.startswith("!series_matrix_table_end"):
                        in_table, ended = False, True
                        continue
                    table_lines.append(line)
                elif line.startswith("!series_matrix_table_begin"):
                    in_table = True
                elif line.startswith("!Sample_"):
                    cells = _split_line(line)
                    header.setdefault(cells[0][len("!Sample_"):], []).append(cells[1:])
                elif line.startswith("!Series_geo_accession"):
                    series_name = _split_line(line)[1]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot be read as a series-matrix file ({exc}).") from exc
    if not ended:
        raise DataFileError(
            f"{path}: no complete '!series_matrix_table_begin' ... '!series_matrix_table_end' block; "
            "is this a GEO series-matrix file?"
        )
    name = accession or series_name or path.name.split("_")[0]
    if "geo_accession" not in header:
        raise DataFileError(f"{path}: no '!Sample_geo_accession' line; cannot tell the sample ids.")
    samples = header["geo_accession"][0]
    _check_unique(pd.Index(samples), what="sample ids (!Sample_geo_accession)", source=str(path))
    n = len(samples)
    chars: dict[str, dict[str, str]] = {s: {} for s in samples}
    for key, lines in header.items():
        for cells in lines:
            if len(cells) != n:
                raise DataFileError(
                    f"{path}: line '!Sample_{key}' has {len(cells)} values for {n} samples."
                )
        if key.startswith("characteristics_ch"):
            prefix = "" if key == "characteristics_ch1" else f"ch{key[-1]} "
            for i, s in enumerate(samples):
                parsed = parse_characteristics([cells[i] for cells in lines], prefix=prefix)
                for k, v in parsed.items():
                    chars[s][k] = f"{chars[s][k]}; {v}" if k in chars[s] else v
        elif key in SAMPLE_FIELDS:
            for i, s in enumerate(samples):
                if normalize_field(key) not in chars[s]:
                    chars[s][normalize_field(key)] = "; ".join(c[i] for c in lines if c[i])
    characteristics = pd.DataFrame.from_dict(chars, orient="index").reindex(samples)
    characteristics.index.name = "sample_id"
    try:
        table = pd.read_csv(io.StringIO("".join(table_lines)), sep="\t", keep_default_na=False,
                            na_values=NA_TEXT, dtype={0: str}, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFileError(f"{path}: the series-matrix table cannot be parsed ({exc}).") from exc
    if table.shape[1] < 2:
        raise DataFileError(f"{path}: the series-matrix table has no sample columns.")
    table = table.set_index(table.columns[0])
    table.index = table.index.map(_probe_id)
    table.columns = table.columns.map(str)
    _check_unique(table.index, what="probe ids", source=str(path))
    _check_unique(table.columns, what="sample columns", source=str(path))
    if list(table.columns) != samples:
        missing = set(samples) ^ set(table.columns)
        raise DataFileError(
            f"{path}: table columns do not match the !Sample_geo_accession line ({format_names(sorted(missing))})."
        )
    values = _numeric_values(table, source=str(path), samples_are="columns").T
    values.index.name = "sample_id"
    platforms = sorted(set(header.get("platform_id", [[]])[0]))
    platform = platforms[0] if len(platforms) == 1 else None
    log.info("%s: %d samples x %d probes from %s (platform %s)", name, values.shape[0], values.shape[1], path.name, platform)
    return GeoSeries(accession=name, values=values, characteristics=characteristics, platform=platform,
                     platform_table=None, source=path)


# --------------------------------------------------------------------------- local tables
def read_local_series(
    samples: str | os.PathLike | pd.DataFrame,
    expression: str | os.PathLike | pd.DataFrame,
    *,
    accession: str,
    sample_id: str = "geo_accession",
    expression_column: str | None = None,
    platform: str | None = None,
) -> GeoSeries:
    """Read a local "samples table + expression matrix" copy of a series.

    Parameters
    ----------
    samples
        Table (file or DataFrame) with one row per sample; every column becomes a
        characteristic field (e.g. ``her2_status`` → ``her2 status``).
    expression
        Genes × samples matrix (file: first column = gene symbols), whose columns are the
        values of ``expression_column`` in ``samples``.
    accession
        Series accession.
    sample_id
        Column of ``samples`` with the ids used in the output.
    expression_column
        Column of ``samples`` naming the matrix columns (``sample_id`` when ``None``).
    platform
        GPL accession, recorded.

    Returns
    -------
    GeoSeries
        Gene-level values (``gene_level=True``), rows = samples indexed by ``sample_id``.
        Matrix columns without a samples-table row, and samples without a matrix column, are
        listed in ``dropped`` (the latter are also absent from ``values``).

    Raises
    ------
    DataFileError
        Missing id columns, duplicated ids or genes, non-numeric values.
    """
    src_s = str(samples) if not isinstance(samples, pd.DataFrame) else "samples table"
    src_e = str(expression) if not isinstance(expression, pd.DataFrame) else "expression matrix"
    if not isinstance(samples, pd.DataFrame):
        if not Path(samples).exists():
            raise MissingDataFileError(f"{samples}: samples table not found.")
        samples = pd.read_csv(samples, dtype=str, keep_default_na=False, sep=None, engine="python")
    if not isinstance(expression, pd.DataFrame):
        if not Path(expression).exists():
            raise MissingDataFileError(f"{expression}: expression matrix not found.")
        with timed(f"reading {Path(expression).name}", logger=log):
            expression = pd.read_csv(expression, index_col=0, keep_default_na=False, na_values=NA_TEXT,
                                     sep="\t" if ".tsv" in str(expression) or ".txt" in str(expression) else ",")
    expression_column = expression_column or sample_id
    for col in {sample_id, expression_column}:
        if col not in samples.columns:
            raise DataFileError(f"{src_s}: no column {col!r} (columns: {format_names(samples.columns)}).")
    samples = samples.astype(str).replace({"nan": ""})
    _check_unique(pd.Index(samples[sample_id]), what=f"sample ids (column {sample_id!r})", source=src_s)
    _check_unique(pd.Index(samples[expression_column]), what=f"ids in column {expression_column!r}", source=src_s)
    expression.index = expression.index.map(str)
    expression.columns = expression.columns.map(str)
    _check_unique(expression.index, what="genes", source=src_e)
    _check_unique(expression.columns, what="sample columns", source=src_e)
    to_id = dict(zip(samples[expression_column], samples[sample_id]))
    rows = []
    extra = [c for c in expression.columns if c not in to_id]
    for c in extra:
        rows.append({"item": c, "kind": "sample", "series": accession, "reason": "no row in samples table",
                     "detail": f"matrix column {c!r} of {src_e}"})
    absent = [(s, e) for s, e in zip(samples[sample_id], samples[expression_column]) if e not in expression.columns]
    for s, e in absent:
        rows.append({"item": s, "kind": "sample", "series": accession, "reason": "no expression column",
                     "detail": f"{expression_column}={e!r} not in {src_e}"})
    if extra or absent:
        log.warning("%s: %d matrix column(s) without annotation and %d annotated sample(s) without expression; "
                    "listed in dropped", accession, len(extra), len(absent))
    keep = [c for c in expression.columns if c in to_id]
    if not keep:
        raise DataFileError(
            f"{src_e}: none of its columns match column {expression_column!r} of {src_s} "
            f"(e.g. {format_names(list(expression.columns[:3]))}); is the matrix genes x samples?"
        )
    values = _numeric_values(expression[keep], source=src_e, samples_are="columns").T
    values.index = [to_id[c] for c in keep]
    values.index.name = "sample_id"
    values.columns.name = None
    chars = samples.set_index(sample_id, drop=False)
    chars.index = chars.index.map(str)
    chars.index.name = "sample_id"
    chars = chars.replace({"": np.nan})
    log.info("%s: %d samples x %d genes from local tables", accession, values.shape[0], values.shape[1])
    return GeoSeries(accession=accession, values=values, characteristics=chars, platform=platform,
                     platform_table=None, source=None if src_e == "expression matrix" else Path(src_e),
                     gene_level=True, dropped=_dropped_frame(rows))


# --------------------------------------------------------------------------- download + cache
def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The GEO cache folder: ``cache_dir``, else ``$RADIOGENOMICS_CACHE/geo``, else ``~/.cache/radiogenomics/geo``.

    Parameters
    ----------
    cache_dir
        Explicit folder.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    return cache_folder("geo", cache_dir)


KINDS = ("soft", "series_matrix")


def _check_accession(accession: str) -> str:
    if not isinstance(accession, str) or not re.fullmatch(r"GSE\d+", accession):
        raise ParameterError(f"The 'accession' parameter of fetch_geo must be like 'GSE45827'. Got {accession!r} instead.")
    return accession


def cached_file(accession: str, *, kind: str = "soft", cache_dir: str | os.PathLike | None = None) -> Path:
    """Path a series' file has in the cache (whether or not it is there).

    Parameters
    ----------
    accession
        ``GSE...`` accession.
    kind
        ``"soft"`` (``<GSE>_family.soft.gz``) or ``"series_matrix"`` (``<GSE>_series_matrix.txt.gz``).
    cache_dir
        Cache folder (see :func:`default_cache_dir`).

    Returns
    -------
    pathlib.Path
    """
    _check_accession(accession)
    check_choice(kind, "kind", owner="cached_file", choices=KINDS)
    name = f"{accession}_family.soft.gz" if kind == "soft" else f"{accession}_series_matrix.txt.gz"
    return default_cache_dir(cache_dir) / name


def geo_url(accession: str, *, kind: str = "soft") -> str:
    """HTTPS address of a series' SOFT family or series-matrix file on GEO's FTP site.

    Parameters
    ----------
    accession
        ``GSE...`` accession.
    kind
        ``"soft"`` or ``"series_matrix"``.

    Returns
    -------
    str
    """
    _check_accession(accession)
    stub = accession[:-3] + "nnn" if len(accession) > 6 else "GSEnnn"
    base = f"https://ftp.ncbi.nlm.nih.gov/geo/series/{stub}/{accession}"
    if kind == "soft":
        return f"{base}/soft/{accession}_family.soft.gz"
    return f"{base}/matrix/{accession}_series_matrix.txt.gz"


def _download(accession: str, kind: str, dest: Path) -> None:
    """Default downloader: GEOparse for SOFT files, urllib for series matrices, into ``dest``."""
    if kind == "soft":
        import logging

        import GEOparse

        geo_log = logging.getLogger("GEOparse")
        level = geo_log.level
        geo_log.setLevel(logging.CRITICAL)  # GEOparse logs tracebacks itself; we report the failure once
        try:
            path, _ = GEOparse.get_GEO_file(geo=accession, destdir=str(dest.parent), how="full", silent=True)
        finally:
            geo_log.setLevel(level)
        if Path(path) != dest:
            shutil.move(path, dest)
    else:
        from urllib.request import urlopen

        with urlopen(geo_url(accession, kind=kind), timeout=60) as resp, open(dest, "wb") as fh:
            shutil.copyfileobj(resp, fh)


def fetch_geo(
    accession: str,
    *,
    kind: str = "soft",
    cache_dir: str | os.PathLike | None = None,
    retries: int = 3,
    backoff: float = 2.0,
    downloader: Callable[[str, str, Path], None] | None = None,
) -> Path:
    """Return the cached SOFT or series-matrix file of a series, downloading it if needed.

    A file already in the cache is used without any network access. Otherwise the file is
    downloaded into a temporary folder inside the cache and renamed into place on success,
    trying ``retries`` times with waits of ``backoff * 2**attempt`` seconds.

    Parameters
    ----------
    accession
        ``GSE...`` accession.
    kind
        ``"soft"`` (through GEOparse) or ``"series_matrix"``.
    cache_dir
        Cache folder (see :func:`default_cache_dir`).
    retries
        Download attempts (≥ 1).
    backoff
        Base wait in seconds between attempts (0 for none).
    downloader
        ``downloader(accession, kind, dest)`` writes the file to ``dest``; the default uses
        GEOparse (SOFT) or urllib (series matrix). Tests pass a stub.

    Returns
    -------
    pathlib.Path
        The cached file.

    Raises
    ------
    MissingDataFileError
        Every attempt failed and the file is not cached; the message names the file, the
        folder to place it in and the address to get it from.
    """
    _check_accession(accession)
    check_choice(kind, "kind", owner="fetch_geo", choices=KINDS)
    retries = check_int(retries, "retries", owner="fetch_geo", min_value=1)
    backoff = check_float(backoff, "backoff", owner="fetch_geo", min_value=0.0)
    target = cached_file(accession, kind=kind, cache_dir=cache_dir)
    if target.exists() and target.stat().st_size > 0:
        log.info("%s: using cached %s", accession, target)
        return target
    downloader = downloader or _download
    errors: list[str] = []
    for attempt in range(retries):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".{accession}.", dir=target.parent) as tmp:
                dest = Path(tmp) / target.name
                log.info("%s: downloading %s (attempt %d of %d)", accession, geo_url(accession, kind=kind),
                         attempt + 1, retries)
                downloader(accession, kind, dest)
                if not dest.exists() or dest.stat().st_size == 0:
                    raise OSError(f"download produced no file at {dest}")
                os.replace(dest, target)
            return target
        except Exception as exc:  # noqa: BLE001 - network errors come as many types (URLError, socket, ftplib, GEOparse)
            errors.append(f"{type(exc).__name__}: {exc}")
            log.warning("%s: download attempt %d of %d failed (%s)", accession, attempt + 1, retries, errors[-1])
            if attempt + 1 < retries and backoff > 0:
                time.sleep(backoff * 2**attempt)
    raise MissingDataFileError(
        f"{accession}: could not download the {kind.replace('_', '-')} file ({errors[-1]}) and it is not "
        f"cached. Without network, download {geo_url(accession, kind=kind)} elsewhere and place it as "
        f"{target} (cache folder {target.parent}; set --cache or RADIOGENOMICS_CACHE to use another), "
        "or pass the local file with --soft/--series-matrix."
    )


def series_sample_check(series: GeoSeries) -> None:
    """Check that a series has samples and values; raise :class:`InputError` naming it otherwise."""
    if series.values.shape[0] == 0 or series.values.shape[1] == 0:
        raise InputError(
            f"{series.accession}: no sample values in {series.source or 'input'} "
            f"({series.values.shape[0]} samples x {series.values.shape[1]} probes)."
        )
