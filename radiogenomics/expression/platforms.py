"""Probe → gene symbol mapping and collapsing several probes per gene.

The rule, applied in this order (each decision counted, logged and listed in ``dropped``):

1. **Not in the platform table**: a probe of the data absent from the table is dropped.
2. **Unmapped**: a probe whose symbol is empty, ``NA``, ``NA_NA``, ``---`` or similar is
   dropped (control probes such as ``AFFX-*`` usually land here).
3. **Several genes** (``A /// B``): ``multi="drop"`` (default) drops the probe, because a
   cross-hybridising probe set measures no single gene; ``"first"`` keeps it for the first
   listed symbol (what many GEO pipelines do); ``"split"`` assigns it to every listed gene.
4. **Several probes per gene**: ``collapse="max_mean"`` (default) keeps, per gene, the probe
   with the highest mean across samples (ties: the first probe id in sort order) and drops the
   others; ``"mean"`` and ``"median"`` average the probes sample by sample (nothing dropped).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .._logging import get_logger
from .._results import dropped_table
from .._validation import (
    DataFileError,
    InputError,
    MissingDataFileError,
    check_choice,
    format_names,
)

__all__ = ["ProbeMapping", "UNMAPPED_SYMBOLS", "read_platform_table", "symbol_column", "map_probes"]

log = get_logger(__name__)

#: Symbols that mean "no gene" (compared case-insensitively after stripping).
UNMAPPED_SYMBOLS = frozenset({"", "na", "na_na", "nan", "---", "--", "-", "none", "null", "n/a"})

_SYMBOL_CANDIDATES = ("symbol", "gene symbol", "gene_symbol", "genesymbol", "gene_sym", "gene", "symbols",
                      "gene_name", "gene name", "ilmn_gene", "orf")
_ID_CANDIDATES = ("id", "probe", "probe_id", "probeset", "probeset_id", "id_ref")


@dataclass
class ProbeMapping:
    """Result of :func:`map_probes`.

    Attributes
    ----------
    expression
        Rows = samples, columns = gene symbols (sorted).
    probes
        One row per probe of the input (index ``probe``) with columns ``symbol`` (as in the
        table, missing when absent), ``gene`` (the gene it counts for, missing when dropped;
        for ``multi="split"`` the genes joined by ``" /// "``), ``decision`` (``kept``,
        ``merged``, ``not_in_platform``, ``unmapped``, ``multi_gene``, ``collapsed``) and
        ``mean`` (mean value across samples).
    dropped
        Dropped probes: ``kind`` (``probe``), ``item``, ``reason``, ``series``, ``detail``.
    counts
        Number of probes per decision plus ``genes`` (output columns).
    """

    expression: pd.DataFrame
    probes: pd.DataFrame
    dropped: pd.DataFrame
    counts: dict[str, int]


def symbol_column(table: pd.DataFrame, *, name: str = "platform table") -> str:
    """Find the gene-symbol column of a platform table.

    Parameters
    ----------
    table
        Platform table.
    name
        Used in messages.

    Returns
    -------
    str
        The column name (first of ``symbol``, ``Gene Symbol``, ``GENE_SYMBOL``, ``Gene_Sym``... ,
        case-insensitive).
    """
    lower = {str(c).strip().lower(): c for c in table.columns}
    for cand in _SYMBOL_CANDIDATES:
        if cand in lower:
            return lower[cand]
    raise DataFileError(
        f"{name}: no gene-symbol column (looked for {', '.join(_SYMBOL_CANDIDATES[:5])}...; "
        f"columns are {format_names(table.columns, limit=10)}); pass symbol_column."
    )


def _id_column(table: pd.DataFrame, *, name: str) -> str:
    lower = {str(c).strip().lower(): c for c in table.columns}
    for cand in _ID_CANDIDATES:
        if cand in lower:
            return lower[cand]
    raise DataFileError(f"{name}: no probe id column (looked for ID, probe, probe_id...; columns are "
                        f"{format_names(table.columns, limit=10)}).")


def read_platform_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a probe → symbol table (CSV/TSV, optionally gzipped), e.g. ``GPL570_probe_to_symbol.csv.gz``.

    Parameters
    ----------
    path
        File with a probe id column (``id``/``ID``/``probe``...) and a symbol column.

    Returns
    -------
    pandas.DataFrame
        Columns ``ID`` and ``symbol`` (text; empty cells kept as missing).
    """
    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: platform table not found.")
    sep = "\t" if re.search(r"\.(tsv|txt)(\.gz)?$", path.name) else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, comment=None)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataFileError(f"{path}: cannot be read as a platform table ({exc}).") from exc
    id_col = _id_column(table, name=str(path))
    sym_col = symbol_column(table, name=str(path))
    out = pd.DataFrame({"ID": table[id_col].astype(str).str.strip(), "symbol": table[sym_col]})
    dup = out["ID"][out["ID"].duplicated()].unique()
    if len(dup):
        raise DataFileError(f"{path}: duplicated probe ids {format_names(dup)}.")
    return out


def map_probes(
    values: pd.DataFrame,
    platform: pd.DataFrame,
    *,
    symbol: str | None = None,
    multi: str = "drop",
    collapse: str = "max_mean",
    series: str = "",
) -> ProbeMapping:
    """Map a samples × probes table to samples × genes by the documented rule (module docstring).

    Parameters
    ----------
    values
        Rows = samples, columns = probe ids; NaN allowed (means ignore it).
    platform
        Platform table with a probe id column (``ID`` or similar) and a symbol column.
    symbol
        Name of the symbol column (found automatically when ``None``).
    multi
        ``"drop"``, ``"first"`` or ``"split"`` for probes listing several genes (``///``).
    collapse
        ``"max_mean"``, ``"mean"`` or ``"median"`` for several probes of one gene.
    series
        Series name written to the dropped table and logs.

    Returns
    -------
    ProbeMapping
    """
    check_choice(multi, "multi", owner="map_probes", choices=("drop", "first", "split"))
    check_choice(collapse, "collapse", owner="map_probes", choices=("max_mean", "mean", "median"))
    if not isinstance(values, pd.DataFrame) or values.shape[1] == 0:
        raise InputError(f"{series or 'values'}: map_probes needs a samples x probes DataFrame with columns.")
    sym_col = symbol or symbol_column(platform)
    if sym_col not in platform.columns:
        raise DataFileError(f"platform table: no column {sym_col!r} (columns: {format_names(platform.columns)}).")
    id_col = "ID" if "ID" in platform.columns else _id_column(platform, name="platform table")
    ids = platform[id_col].map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip())
    table = pd.Series(platform[sym_col].to_numpy(), index=ids)
    table = table[~table.index.duplicated()]
    values = values.copy()
    values.columns = values.columns.map(str)
    probes = pd.DataFrame(index=pd.Index(values.columns, name="probe"))
    probes["symbol"] = table.reindex(probes.index)
    probes["mean"] = values.mean(axis=0, skipna=True)
    in_table = probes.index.isin(table.index)
    text = probes["symbol"].astype("string").str.strip()
    unmapped = in_table & (text.isna() | text.str.lower().isin(UNMAPPED_SYMBOLS)).to_numpy()
    genes = text.fillna("").str.split(r"\s*///\s*", regex=True).map(
        lambda xs: [x for x in xs if x and x.lower() not in UNMAPPED_SYMBOLS])
    multi_mask = in_table & ~unmapped & (genes.map(len) > 1).to_numpy()
    decision = pd.Series("kept", index=probes.index, dtype=object)
    decision[~in_table] = "not_in_platform"
    decision[unmapped] = "unmapped"
    if multi == "drop":
        decision[multi_mask] = "multi_gene"
    usable = decision == "kept"
    # gene assignment (long form: probe, gene)
    assign = genes[usable]
    if multi == "first":
        assign = assign.map(lambda xs: xs[:1])
    long = assign.explode().dropna()
    long = pd.DataFrame({"probe": long.index, "gene": long.to_numpy()})
    probes["gene"] = assign.map(lambda xs: " /// ".join(xs)).reindex(probes.index)
    if collapse == "max_mean":
        long["mean"] = probes["mean"].reindex(long["probe"]).to_numpy()
        long = long.sort_values(["gene", "mean", "probe"], ascending=[True, False, True], na_position="last")
        best = long.drop_duplicates("gene", keep="first")
        losers = long[~long.index.isin(best.index)]
        # a probe survives if it is the best for at least one of its genes
        surviving = set(best["probe"])
        collapsed = sorted(set(losers["probe"]) - surviving)
        decision[collapsed] = "collapsed"
        winner_of = best.set_index("gene")["probe"]
        out = values[best["probe"].to_numpy()]
        out.columns = best["gene"].to_numpy()
        collapsed_set = set(collapsed)
        why = {p: winner_of[g] for p, g in zip(losers["probe"], losers["gene"]) if p in collapsed_set}
    else:
        multi_probe_genes = long["gene"].value_counts()
        merged = set(long.loc[long["gene"].map(multi_probe_genes) > 1, "probe"])
        decision[sorted(merged)] = "merged"
        parts = values[long["probe"].to_numpy()]
        parts.columns = long["gene"].to_numpy()
        grouped = parts.T.groupby(level=0, sort=True)
        out = (grouped.mean() if collapse == "mean" else grouped.median()).T
        why = {}
    out = out.reindex(sorted(out.columns), axis=1)
    out.index = values.index
    probes["gene"] = probes["gene"].where(decision.isin(["kept", "merged"]))
    probes["decision"] = decision
    reasons = {
        "not_in_platform": "probe not in the platform table",
        "unmapped": "no gene symbol",
        "multi_gene": "maps to several genes (///); multi='drop'",
        "collapsed": "another probe of the same gene has a higher mean (collapse='max_mean')",
    }
    gone = decision[decision.isin(list(reasons))]
    sym = probes["symbol"].reindex(gone.index)
    detail = ["symbol=" + repr(None if pd.isna(v) else v) for v in sym]
    detail = [f"gene {s}; kept {why.get(p)}" if d == "collapsed" else t
              for p, d, s, t in zip(gone.index, gone.to_numpy(), sym.to_numpy(), detail)]
    dropped = dropped_table(
        ({"kind": "probe", "item": p, "reason": reasons[d], "series": series, "detail": t}
         for p, d, t in zip(gone.index, gone.to_numpy(), detail)),
        extra=("series", "detail"),
    )
    counts = {k: int(v) for k, v in decision.value_counts().items()}
    counts["probes"] = int(len(decision))
    counts["genes"] = int(out.shape[1])
    log.info("%s: probe mapping %s", series or "series", ", ".join(f"{k}={v}" for k, v in counts.items()))
    if out.shape[1] == 0:
        raise InputError(
            f"{series or 'series'}: no probe maps to a gene ({counts}); is the platform table the right one "
            f"(data probes e.g. {format_names(values.columns[:3])}, table ids e.g. {format_names(table.index[:3])})?"
        )
    return ProbeMapping(expression=out.astype(float), probes=probes[["symbol", "gene", "decision", "mean"]],
                        dropped=dropped, counts=counts)
