"""Enrichment tables written by other tools, read as the toolkit's own, and ours written in clusterProfiler's layout.

Three layouts (``enrichment_format``):

``"radiogenomics"``
    :data:`~radiogenomics.enrichment.ENRICHMENT_COLUMNS`: ``feature``, ``library``, ``term``,
    ``overlap``, ``set_size``, ``query_size``, ``background_size``, ``p_value``, ``q_value``,
    ``odds_ratio``, ``genes`` (``;``-separated).
``"clusterprofiler"``
    ``as.data.frame()`` of an ``enrichGO`` / ``enrichKEGG`` / ``enricher`` result (one feature
    per file) or of a ``compareCluster`` result (one table, the feature in ``Cluster``):
    ``ONTOLOGY`` (``enrichGO(ont = "ALL")`` only), ``ID``, ``Description``, ``GeneRatio``
    (``k/n``: genes of the feature in the term / genes of the feature annotated), ``BgRatio``
    (``M/N``: term size / annotated universe), ``pvalue``, ``p.adjust``, ``qvalue``, ``geneID``
    (``A/B/C``), ``Count``. Read as ``overlap = k``, ``query_size = n``, ``set_size = M``,
    ``background_size = N``, ``p_value = pvalue``, ``q_value = p.adjust`` (clusterProfiler's
    default ``pAdjustMethod = "BH"``, the toolkit's q), Storey's ``qvalue`` kept as
    ``storey_q``; ``library`` = ``ONTOLOGY`` when present, else the ``library`` argument; ``term``
    = ``"<Description> (<ID>)"`` (Enrichr's naming of GO terms), or the ``Description`` when it is
    the ID; the odds ratio is computed from the four counts as :func:`~radiogenomics.enrich` does
    (Haldane–Anscombe).
``"gseapy"``
    ``gseapy.enrich(...).results`` / ``gseapy.enrichr(...).results`` (one feature per file, or a
    ``Cluster`` / ``feature`` column): ``Gene_set``, ``Term``, ``Overlap`` (``k/M``: genes shared /
    term size), ``P-value``, ``Adjusted P-value`` (BH), ``Odds Ratio``, ``Combined Score``,
    ``Genes`` (``A;B``). ``query_size`` and ``background_size`` are not in gseapy's table and are
    left missing.

Per-feature files (a folder: one file per feature, named ``<feature>.csv``/``.tsv``/``.txt``)
are read with :func:`read_enrichment_files`, which adds the ``Cluster`` column from the file
names; :func:`enrichment_table` converts any layout to the toolkit's. :func:`to_clusterprofiler`
writes the toolkit's table back in compareCluster's columns, so R users read it with
``read.csv`` and hand it to their tools.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import DataFileError, InputError, MissingDataFileError, check_choice, format_names
from .ora import ENRICHMENT_COLUMNS

__all__ = [
    "ENRICHMENT_FORMATS",
    "CLUSTERPROFILER_COLUMNS",
    "GSEAPY_COLUMNS",
    "detect_format",
    "enrichment_table",
    "from_clusterprofiler",
    "from_gseapy",
    "read_enrichment_files",
    "to_clusterprofiler",
    "check_enrichment_table",
]

log = get_logger(__name__)

#: The layouts :func:`enrichment_table` reads.
ENRICHMENT_FORMATS = ("radiogenomics", "clusterprofiler", "gseapy")

#: The columns of clusterProfiler's ``as.data.frame(compareCluster(...))`` (``ONTOLOGY`` with ``ont = "ALL"``).
CLUSTERPROFILER_COLUMNS = ("Cluster", "ONTOLOGY", "ID", "Description", "GeneRatio", "BgRatio", "pvalue", "p.adjust",
                           "qvalue", "geneID", "Count")

#: The columns of gseapy's enrichment results.
GSEAPY_COLUMNS = ("Gene_set", "Term", "Overlap", "P-value", "Adjusted P-value", "Odds Ratio", "Combined Score", "Genes")

_REQUIRED = {
    "clusterprofiler": ("ID", "Description", "GeneRatio", "BgRatio", "pvalue", "p.adjust", "geneID"),
    "gseapy": ("Term", "Overlap", "P-value", "Adjusted P-value", "Genes"),
}
_FEATURE_COLUMNS = ("Cluster", "feature", "Feature")
_TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz", ".parquet", ".pq")
_GO_ID = re.compile(r"^(?P<desc>.*\S)\s+\((?P<id>[A-Za-z]+:\d+|hsa\d+|R-HSA-\d+)\)$")
_OPTION = "--enrichment-format (config: module.enrichment_format)"


def detect_format(columns: Any) -> str | None:
    """Which layout a table's columns are in (``None`` when none fits).

    Parameters
    ----------
    columns
        Column names.

    Returns
    -------
    str or None
        ``"radiogenomics"``, ``"clusterprofiler"`` or ``"gseapy"``.
    """
    cols = {str(c) for c in columns}
    if {"feature", "library", "term", "p_value"} <= cols:
        return "radiogenomics"
    if {"GeneRatio", "BgRatio"} <= cols or {"p.adjust", "geneID"} <= cols:
        return "clusterprofiler"
    if {"Overlap", "Adjusted P-value"} <= cols or {"Term", "P-value"} <= cols:
        return "gseapy"
    return None


def _ratio(values: pd.Series, column: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``"k/n"`` text → two integer arrays."""
    parts = values.astype(str).str.strip().str.split("/", n=1, expand=True)
    if parts.shape[1] != 2:
        raise InputError(f"{name}: column {column!r} must hold ratios 'k/n' (e.g. '3/25'); got {values.iloc[0]!r}.")
    num, den = pd.to_numeric(parts[0], errors="coerce"), pd.to_numeric(parts[1], errors="coerce")
    bad = values.index[num.isna() | den.isna()]
    if len(bad):
        raise InputError(f"{name}: column {column!r} must hold ratios 'k/n'; row(s) {format_names(bad + 2)} hold "
                         f"{format_names(values.loc[bad].astype(str))}.")
    return num.to_numpy(dtype=np.int64), den.to_numpy(dtype=np.int64)


def _features(df: pd.DataFrame, feature: str | None, name: str) -> pd.Series:
    col = next((c for c in _FEATURE_COLUMNS if c in df.columns), None)
    if col is not None:
        return df[col].astype(str)
    if feature is None:
        raise InputError(
            f"{name}: which feature is this enrichment of? Give one table per feature in a folder (named "
            "<feature>.csv), or a compareCluster table with a 'Cluster' column."
        )
    return pd.Series(str(feature), index=df.index)


def _check_columns(df: pd.DataFrame, fmt: str, name: str) -> None:
    missing = [c for c in _REQUIRED[fmt] if c not in df.columns]
    if missing:
        seen = detect_format(df.columns)
        hint = (f" The columns look like the {seen} layout: pass --enrichment-format {seen} (config: "
                "module.enrichment_format)." if seen and seen != fmt else "")
        raise InputError(f"{name}: missing column(s) {format_names(missing)} of the {fmt} layout (columns: "
                         f"{format_names(df.columns, limit=12)}).{hint}")


def _odds(k: np.ndarray, n: np.ndarray, big_n: np.ndarray, big_m: np.ndarray) -> np.ndarray:
    """Haldane–Anscombe odds ratio of a 2 × 2 table (+0.5 per cell), as :func:`~radiogenomics.enrich`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((k + 0.5) * (big_m - n - big_n + k + 0.5)) / ((n - k + 0.5) * (big_n - k + 0.5))


def _sorted_genes(values: pd.Series, sep: str) -> list[str]:
    return [";".join(sorted(g for g in str(v).split(sep) if g)) if pd.notna(v) else "" for v in values]


def from_clusterprofiler(table: pd.DataFrame, *, feature: str | None = None, library: str | None = None,
                         name: str = "clusterProfiler table") -> pd.DataFrame:
    """A clusterProfiler result (``as.data.frame`` of enrichGO/enrichKEGG/enricher/compareCluster) as the toolkit's table.

    Parameters
    ----------
    table
        The table as R wrote it (see the module docstring for the columns).
    feature
        The feature of a single-feature table (without a ``Cluster`` column).
    library
        Library name when the table has no ``ONTOLOGY`` column (default ``"clusterProfiler"``).
    name
        The file, for messages.

    Returns
    -------
    pandas.DataFrame
        :data:`~radiogenomics.enrichment.ENRICHMENT_COLUMNS`, plus ``term_id``, ``storey_q`` and
        any other column of the input (``RichFactor``, ``FoldEnrichment``...).
    """
    df = table.reset_index(drop=True)
    _check_columns(df, "clusterprofiler", name)
    k, n_query = _ratio(df["GeneRatio"], "GeneRatio", name)
    m_set, n_bg = _ratio(df["BgRatio"], "BgRatio", name)
    if "Count" in df.columns:
        count = pd.to_numeric(df["Count"], errors="coerce").to_numpy()
        if not np.array_equal(count, k):
            bad = df.index[count != k]
            raise InputError(f"{name}: 'Count' disagrees with the k of 'GeneRatio' in row(s) {format_names(bad + 2)}.")
    ids, desc = df["ID"].astype(str), df["Description"].astype(str)
    terms = np.where(ids == desc, desc, desc + " (" + ids + ")")
    lib = df["ONTOLOGY"].astype(str) if "ONTOLOGY" in df.columns else pd.Series(library or "clusterProfiler",
                                                                                 index=df.index)
    out = pd.DataFrame({
        "feature": _features(df, feature, name).to_numpy(),
        "library": lib.to_numpy(),
        "term": terms,
        "overlap": k,
        "set_size": m_set,
        "query_size": n_query,
        "background_size": n_bg,
        "p_value": pd.to_numeric(df["pvalue"], errors="coerce").to_numpy(dtype=float),
        "q_value": pd.to_numeric(df["p.adjust"], errors="coerce").to_numpy(dtype=float),
        "odds_ratio": _odds(k, m_set, n_query, n_bg),
        "genes": _sorted_genes(df["geneID"], "/"),
        "term_id": ids.to_numpy(),
        "storey_q": pd.to_numeric(df["qvalue"], errors="coerce").to_numpy(dtype=float) if "qvalue" in df.columns
        else np.nan,
    })
    known = set(CLUSTERPROFILER_COLUMNS) | set(_FEATURE_COLUMNS)
    for col in df.columns:
        if col not in known and not str(col).startswith("Unnamed: "):
            out[str(col)] = df[col].to_numpy()
    return out


def from_gseapy(table: pd.DataFrame, *, feature: str | None = None, library: str | None = None,
                name: str = "gseapy table") -> pd.DataFrame:
    """A gseapy enrichment result (``gseapy.enrich(...).results``) as the toolkit's table.

    Parameters
    ----------
    table
        The results table (see the module docstring for the columns).
    feature
        The feature of a single-feature table (without a ``Cluster`` or ``feature`` column).
    library
        Library name when the table has no ``Gene_set`` column (default ``"gseapy"``).
    name
        The file, for messages.

    Returns
    -------
    pandas.DataFrame
        :data:`~radiogenomics.enrichment.ENRICHMENT_COLUMNS` (``query_size`` and
        ``background_size`` missing: gseapy does not report them), plus ``combined_score``.
    """
    df = table.reset_index(drop=True)
    _check_columns(df, "gseapy", name)
    k, m_set = _ratio(df["Overlap"], "Overlap", name)
    lib = df["Gene_set"].astype(str) if "Gene_set" in df.columns else pd.Series(library or "gseapy", index=df.index)
    odds = pd.to_numeric(df["Odds Ratio"], errors="coerce").to_numpy(dtype=float) if "Odds Ratio" in df.columns \
        else np.full(len(df), np.nan)
    out = pd.DataFrame({
        "feature": _features(df, feature, name).to_numpy(),
        "library": lib.to_numpy(),
        "term": df["Term"].astype(str).to_numpy(),
        "overlap": k,
        "set_size": m_set,
        "query_size": pd.array([pd.NA] * len(df), dtype="Int64"),
        "background_size": pd.array([pd.NA] * len(df), dtype="Int64"),
        "p_value": pd.to_numeric(df["P-value"], errors="coerce").to_numpy(dtype=float),
        "q_value": pd.to_numeric(df["Adjusted P-value"], errors="coerce").to_numpy(dtype=float),
        "odds_ratio": odds,
        "genes": _sorted_genes(df["Genes"], ";"),
        "combined_score": pd.to_numeric(df["Combined Score"], errors="coerce").to_numpy(dtype=float)
        if "Combined Score" in df.columns else np.nan,
    })
    return out


def check_enrichment_table(table: pd.DataFrame, *, column: str = "q_value", name: str = "enrichment") -> pd.DataFrame:
    """Refuse an enrichment table the module stage cannot use, naming the column and the option.

    Parameters
    ----------
    table
        A table in the toolkit's layout.
    column
        The term rule's column (``q_value`` or ``p_value``).
    name
        What it is, for messages.

    Returns
    -------
    pandas.DataFrame
        The same table.
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{name} must be a DataFrame (an enrichment table); got {type(table).__name__}.")
    need = list(dict.fromkeys(["feature", "library", "term", "overlap", "p_value", "q_value", column]))
    missing = [c for c in need if c not in table.columns]
    if missing:
        seen = detect_format(table.columns)
        hint = (f" Its columns are {seen}'s layout: pass --enrichment-format {seen} (config: module.enrichment_format)."
                if seen in ("clusterprofiler", "gseapy") else
                f" Expected the enrichment stage's table, or another tool's table with {_OPTION} "
                "(clusterprofiler or gseapy).")
        raise InputError(f"{name}: missing column(s) {format_names(missing)} (columns: "
                         f"{format_names(table.columns, limit=12)}).{hint}")
    for c in ("p_value", "q_value"):
        values = pd.to_numeric(table[c], errors="coerce")
        bad = table.index[values.isna() | (values < 0) | (values > 1)]
        if len(bad):
            raise InputError(f"{name}: column {c!r} must hold probabilities in [0, 1]; row(s) {format_names(bad)} do "
                             f"not ({format_names(table.loc[bad, c].astype(str))}).")
    return table


def enrichment_table(table: pd.DataFrame, *, enrichment_format: str = "radiogenomics", feature: str | None = None,
                     library: str | None = None, name: str = "enrichment") -> pd.DataFrame:
    """Any accepted layout as the toolkit's enrichment table.

    Parameters
    ----------
    table
        The table, in the layout ``enrichment_format``.
    enrichment_format
        ``"radiogenomics"``, ``"clusterprofiler"`` or ``"gseapy"``.
    feature, library
        See :func:`from_clusterprofiler` / :func:`from_gseapy`.
    name
        What it is, for messages.

    Returns
    -------
    pandas.DataFrame
        The toolkit's columns, checked by :func:`check_enrichment_table`.
    """
    check_choice(enrichment_format, "enrichment_format", owner="enrichment_table", choices=ENRICHMENT_FORMATS)
    if enrichment_format == "clusterprofiler":
        table = from_clusterprofiler(table, feature=feature, library=library, name=name)
    elif enrichment_format == "gseapy":
        table = from_gseapy(table, feature=feature, library=library, name=name)
    return check_enrichment_table(table, column="p_value", name=name)


def _read_one(path: Path) -> pd.DataFrame:
    from .._io import _read_raw

    df = _read_raw(path, index_col=None)
    # R's write.csv writes the row names as a first, unnamed column; write.table(sep = "\t") a header one short
    df = df.loc[:, [c for c in df.columns if not str(c).startswith("Unnamed: ")]]
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index(drop=True)
    return df


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(_TABLE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_enrichment_files(source: str | os.PathLike | Mapping[str, str | os.PathLike]) -> pd.DataFrame:
    """Read another tool's enrichment output: one table, a folder of per-feature tables, or feature → file.

    Parameters
    ----------
    source
        A table file (a compareCluster table with ``Cluster``, or any table with a ``feature``
        column); a folder whose table files are one feature each (``<feature>.csv``, ``.tsv``,
        ``.txt``, ``.parquet``; the feature is the file's name); or a mapping feature → file.

    Returns
    -------
    pandas.DataFrame
        The rows of every file in the tool's own layout, with a ``Cluster`` column naming the
        feature for per-feature files (what :func:`enrichment_table` reads).
    """
    if isinstance(source, Mapping):
        files = {str(f): Path(p) for f, p in source.items()}
    else:
        path = Path(source)
        if not path.exists():
            raise MissingDataFileError(f"{path}: not found.")
        if not path.is_dir():
            return _read_one(path)
        files = {_stem(p): p for p in sorted(path.iterdir())
                 if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(_TABLE_SUFFIXES)}
        if not files:
            raise DataFileError(f"{path}: a folder without table files (expected one <feature>.csv/.tsv per feature).")
    frames = []
    for feat, p in files.items():
        if not p.exists():
            raise MissingDataFileError(f"{p}: not found (enrichment of feature {feat!r}).")
        df = _read_one(p)
        if any(c in df.columns for c in _FEATURE_COLUMNS):
            raise DataFileError(f"{p}: a per-feature file with its own feature column; give such a table alone.")
        frames.append(df.assign(Cluster=feat))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    log.info("read %d per-feature enrichment file(s), %d row(s)", len(files), len(out))
    return out


def _split_term(term: str) -> tuple[str, str]:
    """``"apoptotic process (GO:0006915)"`` → ``("GO:0006915", "apoptotic process")``; other terms are their own ID."""
    m = _GO_ID.match(term)
    if m:
        return m.group("id"), m.group("desc")
    return term, term


def to_clusterprofiler(table: pd.DataFrame) -> pd.DataFrame:
    """The toolkit's enrichment table in the columns of clusterProfiler's ``as.data.frame(compareCluster(...))``.

    ``Cluster`` = feature, ``ONTOLOGY`` = library, ``ID`` and ``Description`` split from the term
    (``"name (GO:0006915)"`` → ``GO:0006915``, ``name``; a term without an ID is both),
    ``GeneRatio`` = ``overlap/query_size``, ``BgRatio`` = ``set_size/background_size``,
    ``pvalue``, ``p.adjust`` (BH, = ``q_value``), ``qvalue`` (Storey's q is not computed: left
    missing, ``NA`` in R), ``geneID`` (``/``-separated), ``Count``. Every tested pair is
    written (clusterProfiler's own cutoffs are not applied). :func:`from_clusterprofiler`
    reads it back to the same table.

    Parameters
    ----------
    table
        An enrichment table (:attr:`~radiogenomics.enrichment.EnrichmentResult.table`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CLUSTERPROFILER_COLUMNS`.
    """
    missing = [c for c in ENRICHMENT_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"to_clusterprofiler: the table lacks column(s) {format_names(missing)}.")
    if "term_id" in table.columns:  # read from clusterProfiler: its own IDs
        split = [(str(i), str(t).removesuffix(f" ({i})")) for i, t in zip(table["term_id"], table["term"])]
    else:
        split = [_split_term(str(t)) for t in table["term"]]

    def ratio(a: pd.Series, b: pd.Series) -> list[Any]:
        return [f"{int(x)}/{int(y)}" if pd.notna(x) and pd.notna(y) else pd.NA for x, y in zip(a, b)]

    out = pd.DataFrame({
        "Cluster": table["feature"].astype(str).to_numpy(),
        "ONTOLOGY": table["library"].astype(str).to_numpy(),
        "ID": [i for i, _ in split],
        "Description": [d for _, d in split],
        "GeneRatio": ratio(table["overlap"], table["query_size"]),
        "BgRatio": ratio(table["set_size"], table["background_size"]),
        "pvalue": table["p_value"].astype(float).to_numpy(),
        "p.adjust": table["q_value"].astype(float).to_numpy(),
        "qvalue": table["storey_q"].astype(float).to_numpy() if "storey_q" in table.columns else np.nan,
        "geneID": table["genes"].fillna("").astype(str).str.replace(";", "/", regex=False).to_numpy(),
        "Count": table["overlap"].astype("int64").to_numpy(),
    }, columns=list(CLUSTERPROFILER_COLUMNS))
    return out
