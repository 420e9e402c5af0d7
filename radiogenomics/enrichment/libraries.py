"""Gene-set libraries: local GMT files and Enrichr libraries fetched once and cached.

A library is a named mapping term → genes with a record of where it came from (file path and
SHA-256, or the Enrichr library name, the date it was fetched and the gseapy version), so that
every enrichment result can say exactly which version of GO or KEGG it used.

GMT lines are ``term <TAB> description <TAB> gene <TAB> gene ...`` (Enrichr writes an empty
description or ``NA``). Genes are kept as written (no case conversion); Enrichr's weighted form
``GENE,1.0`` is reduced to ``GENE``; a gene repeated within a term is counted once.

Enrichr names (e.g. ``KEGG_2021_Human``) are downloaded through ``gseapy.get_library`` the first
time they are asked for and cached as ``<cache>/<name>.gmt`` with a sidecar ``<name>.json``
(organism, fetch date, gseapy version, SHA-256). The cache folder is
``$RADIOGENOMICS_GENESETS`` if set, else ``~/.cache/radiogenomics/genesets``. Offline, with
nothing cached, the error names the path where the GMT file can be placed by hand.

This module is the one place of the enrichment stage that reads and writes files (the gene-set
cache); the statistics in :mod:`.ora` work on in-memory libraries.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write, cache_folder, file_sha256, read_json, write_json
from .._logging import get_logger
from .._validation import DataFileError, InputError, MissingDataFileError, ParameterError, check_gene_symbols

__all__ = [
    "GeneSetLibrary",
    "read_gmt",
    "write_gmt",
    "load_library",
    "load_libraries",
    "default_cache_dir",
    "library_from_dict",
]

log = get_logger(__name__)

CACHE_ENV = "RADIOGENOMICS_GENESETS"


@dataclass(frozen=True)
class GeneSetLibrary:
    """A named gene-set library (term → genes) and where it came from.

    Attributes
    ----------
    name
        Library name (file stem or Enrichr name, e.g. ``GO_Biological_Process_2021``).
    sets
        Term → tuple of unique genes, in file order.
    source
        ``"gmt"`` (local file), ``"enrichr"`` (fetched and cached) or ``"memory"``.
    path
        The GMT file read, if any.
    sha256
        SHA-256 of that file (``None`` for in-memory libraries).
    version
        A version string: the year in the name if there is one, plus the fetch date for
        Enrichr downloads; ``None`` when unknown.
    fetched
        ISO date the library was downloaded from Enrichr (cached libraries only).
    """

    name: str
    sets: Mapping[str, tuple[str, ...]]
    source: str = "memory"
    path: str | None = None
    sha256: str | None = None
    version: str | None = None
    fetched: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_terms(self) -> int:
        """Number of terms."""
        return len(self.sets)

    @property
    def genes(self) -> set[str]:
        """Every gene annotated to at least one term."""
        out: set[str] = set()
        for genes in self.sets.values():
            out.update(genes)
        return out

    def info(self) -> dict[str, Any]:
        """Provenance record of the library.

        Returns
        -------
        dict
            Keys ``name``, ``source``, ``path``, ``sha256``, ``version``, ``fetched``,
            ``n_terms``, ``n_genes`` and any extra fields (e.g. ``organism``, ``gseapy``).
        """
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "sha256": self.sha256,
            "version": self.version,
            "fetched": self.fetched,
            "n_terms": self.n_terms,
            "n_genes": len(self.genes),
            **dict(self.extra),
        }


def _version_from_name(name: str) -> str | None:
    years = re.findall(r"(?<!\d)(19\d\d|20\d\d)(?!\d)", name)
    return years[-1] if years else None


def _clean_genes(genes: Iterable[Any]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for g in genes:
        g = str(g).strip()
        if "," in g:  # Enrichr's weighted form GENE,1.0
            g = g.split(",", 1)[0].strip()
        if g:
            out[g] = None
    return tuple(out)


def library_from_dict(sets: Mapping[str, Iterable[str]], *, name: str = "custom") -> GeneSetLibrary:
    """Build an in-memory library from a mapping term → genes.

    Parameters
    ----------
    sets
        Term → genes (duplicates within a term are counted once).
    name
        Library name used in result tables.

    Returns
    -------
    GeneSetLibrary
    """
    if not isinstance(sets, Mapping):
        raise InputError(f"gene sets of library {name!r} must be a mapping term -> genes; got {type(sets).__name__}.")
    clean = {str(t): _clean_genes(g if not isinstance(g, str) else [g]) for t, g in sets.items()}
    empty = [t for t, g in clean.items() if not g]
    if empty:
        log.warning("library %s: %d term(s) without genes ignored (e.g. %r)", name, len(empty), empty[0])
        clean = {t: g for t, g in clean.items() if g}
    if not clean:
        raise InputError(f"library {name!r} holds no term with genes.")
    return GeneSetLibrary(name=name, sets=clean, source="memory", version=_version_from_name(name))


def read_gmt(path: str | os.PathLike, *, name: str | None = None) -> GeneSetLibrary:
    """Read a GMT file (term, description, genes; tab-separated).

    Parameters
    ----------
    path
        The ``.gmt`` file.
    name
        Library name; the file stem by default.

    Returns
    -------
    GeneSetLibrary
        With ``source="gmt"``, the file's path and SHA-256.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataFileError(f"{path}: gene-set library (GMT file) not found.")
    sets: dict[str, tuple[str, ...]] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if not line.strip() or line.startswith("#"):
                    continue
                fields = line.split("\t")
                if len(fields) < 3:
                    raise DataFileError(
                        f"{path}, line {lineno}: expected 'term<TAB>description<TAB>genes...', "
                        f"got {len(fields)} field(s)."
                    )
                term = fields[0].strip()
                genes = _clean_genes(fields[2:])
                if not genes:
                    log.warning("%s, line %d: term %r has no genes; ignored", path, lineno, term)
                    continue
                if term in sets:
                    raise DataFileError(f"{path}, line {lineno}: term {term!r} appears twice.")
                sets[term] = genes
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not a UTF-8 text GMT file ({exc}).") from exc
    if not sets:
        raise DataFileError(f"{path}: no gene sets found.")
    check_gene_symbols(dict.fromkeys(g for genes in sets.values() for g in genes), name=str(path))
    name = name or path.name.removesuffix(".gz").removesuffix(".txt").removesuffix(".gmt")
    return GeneSetLibrary(
        name=name,
        sets=sets,
        source="gmt",
        path=str(path),
        sha256=file_sha256(path),
        version=_version_from_name(name),
    )


def write_gmt(library: GeneSetLibrary | Mapping[str, Iterable[str]], path: str | os.PathLike) -> Path:
    """Write a library as an Enrichr-style GMT file (empty description), atomically.

    Parameters
    ----------
    library
        A library or a mapping term → genes.
    path
        Destination file.

    Returns
    -------
    pathlib.Path
    """
    sets = library.sets if isinstance(library, GeneSetLibrary) else library
    with atomic_write(path) as fh:
        for term, genes in sets.items():
            if "\t" in str(term) or "\n" in str(term):
                raise InputError(f"term {term!r} contains a tab or newline and cannot be written to GMT.")
            fh.write("\t".join([str(term), "", *map(str, genes)]) + "\n")
    return Path(path)


def default_cache_dir() -> Path:
    """The Enrichr cache folder: ``$RADIOGENOMICS_GENESETS``, else ``$RADIOGENOMICS_CACHE/genesets``, else
    ``~/.cache/radiogenomics/genesets``.

    Returns
    -------
    pathlib.Path
    """
    return cache_folder("genesets", env=CACHE_ENV)


def _looks_like_path(spec: str) -> bool:
    return spec.endswith((".gmt", ".gmt.txt", ".txt")) or os.sep in spec or "/" in spec


def load_library(
    spec: str | os.PathLike | GeneSetLibrary,
    *,
    cache_dir: str | os.PathLike | None = None,
    organism: str = "Human",
    offline: bool = False,
) -> GeneSetLibrary:
    """Load a library from a GMT path or an Enrichr library name (fetched once, then cached).

    Parameters
    ----------
    spec
        A ``.gmt`` file, an Enrichr library name such as ``"KEGG_2021_Human"``, or a library.
    cache_dir
        Cache folder for Enrichr libraries; :func:`default_cache_dir` by default.
    organism
        Enrichr organism (``gseapy.get_library``'s ``organism``).
    offline
        Never download: use the cache or fail.

    Returns
    -------
    GeneSetLibrary
        For Enrichr names: ``source="enrichr"``, the cached GMT's path and SHA-256, the fetch
        date and the gseapy version that fetched it.
    """
    if isinstance(spec, GeneSetLibrary):
        return spec
    spec_str = str(spec)
    if Path(spec_str).expanduser().is_file():
        return read_gmt(Path(spec_str).expanduser())
    if isinstance(spec, os.PathLike) or _looks_like_path(spec_str):
        raise MissingDataFileError(f"{spec_str}: gene-set library (GMT file) not found.")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", spec_str):
        raise ParameterError(
            f"The 'spec' parameter of load_library must be a GMT file or an Enrichr library name "
            f"(letters, digits, '_', '-', '.'). Got {spec_str!r} instead."
        )
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    gmt_path = cache / f"{spec_str}.gmt"
    meta_path = cache / f"{spec_str}.json"
    if not gmt_path.is_file():
        if offline:
            raise MissingDataFileError(
                f"Enrichr library {spec_str!r} is not cached and offline mode is on; place its GMT "
                f"file at {gmt_path} (or pass a local .gmt path)."
            )
        _fetch_enrichr(spec_str, gmt_path, meta_path, organism=organism)
    try:
        lib = read_gmt(gmt_path, name=spec_str)
    except (InputError, OSError, UnicodeError) as exc:  # a corrupt entry names the file and the fix
        raise DataFileError(
            f"{gmt_path}: the cached Enrichr library {spec_str!r} cannot be read ({' '.join(str(exc).split())}); "
            "it is corrupt: delete it (and its .json beside it) to download it again, or place a good GMT file "
            "there."
        ) from exc
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        try:
            meta = read_json(meta_path)
        except DataFileError:
            log.warning("%s: unreadable sidecar; library version unknown", meta_path)
    fetched = meta.get("fetched")
    if meta.get("sha256") and meta["sha256"] != lib.sha256:
        log.warning("%s: content differs from the hash recorded when it was fetched (edited or corrupt?); delete "
                    "it to download it again", gmt_path)
    version = _version_from_name(spec_str)
    if fetched:
        version = f"{version or spec_str} (Enrichr, fetched {fetched})"
    extra = {k: meta[k] for k in ("organism", "gseapy", "url") if k in meta}
    return GeneSetLibrary(
        name=spec_str, sets=lib.sets, source="enrichr", path=str(gmt_path), sha256=lib.sha256,
        version=version, fetched=fetched, extra=extra,
    )


def _fetch_enrichr(name: str, gmt_path: Path, meta_path: Path, *, organism: str) -> None:
    try:
        import gseapy
    except ImportError as exc:  # pragma: no cover - gseapy is a dependency
        raise MissingDataFileError(
            f"gseapy is needed to download Enrichr library {name!r}; or place its GMT file at {gmt_path}."
        ) from exc
    log.info("downloading Enrichr library %s (%s) through gseapy; caching at %s", name, organism, gmt_path)
    try:
        sets = gseapy.get_library(name=name, organism=organism)
    except Exception as exc:  # network errors come in many types
        raise MissingDataFileError(
            f"Enrichr library {name!r} could not be downloaded ({type(exc).__name__}: {exc}); "
            f"place its GMT file at {gmt_path} (or pass a local .gmt path)."
        ) from exc
    if not sets:
        raise MissingDataFileError(
            f"Enrichr returned no gene sets for library {name!r} (organism {organism}); place its GMT "
            f"file at {gmt_path}."
        )
    write_gmt({str(t): _clean_genes(g) for t, g in sets.items()}, gmt_path)
    write_json(
        {
            "name": name,
            "organism": organism,
            "fetched": _dt.date.today().isoformat(),
            "source": "Enrichr via gseapy.get_library",
            "gseapy": getattr(gseapy, "__version__", None),
            "sha256": file_sha256(gmt_path),
            "n_terms": len(sets),
        },
        meta_path,
    )


def load_libraries(
    specs: Iterable[str | os.PathLike | GeneSetLibrary] | Mapping[str, Mapping[str, Iterable[str]]],
    *,
    cache_dir: str | os.PathLike | None = None,
    organism: str = "Human",
    offline: bool = False,
) -> list[GeneSetLibrary]:
    """Load several libraries (see :func:`load_library`); a mapping name → sets builds them in memory.

    Parameters
    ----------
    specs
        GMT paths, Enrichr names or libraries; or a mapping library name → (term → genes).
    cache_dir, organism, offline
        As in :func:`load_library`.

    Returns
    -------
    list of GeneSetLibrary
    """
    if isinstance(specs, GeneSetLibrary) or isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    if isinstance(specs, Mapping):
        libs = [library_from_dict(sets, name=str(name)) for name, sets in specs.items()]
    else:
        libs = [load_library(s, cache_dir=cache_dir, organism=organism, offline=offline) for s in specs]
    names = [lib.name for lib in libs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"gene-set libraries must have distinct names; {dup} appear more than once.")
    if not libs:
        raise InputError("no gene-set library given.")
    return libs
