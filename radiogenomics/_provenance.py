"""Provenance records: what produced a result folder, with which versions, parameters and inputs."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ._io import file_sha256, read_json, write_json

__all__ = ["package_versions", "build_provenance", "write_provenance", "inputs_are_synthetic"]

TRACKED_PACKAGES = (
    "radiogenomics", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "networkx",
    "matplotlib", "seaborn", "pyarrow", "pyradiomics-bhklab", "SimpleITK", "GEOparse", "gseapy",
    "inmoose", "neuroHarmonize", "dask", "snakemake", "torch", "monai",
)


def package_versions(packages: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that shape results (``None`` when absent).

    Parameters
    ----------
    packages
        Distribution names.

    Returns
    -------
    dict
        Name → version string or ``None``.
    """
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def inputs_are_synthetic(*paths: str | os.PathLike | None) -> bool:
    """Whether inputs come from the synthetic demo cohort.

    True when the environment variable ``RADIOGENOMICS_SYNTHETIC`` is ``1``, when a file named
    ``SYNTHETIC*`` lies in an input's folder or the folder above it (the demo writes one), or
    when an input's folder holds a ``provenance.json`` marked synthetic (so the flag follows
    results from stage to stage).

    Parameters
    ----------
    paths
        Input files or folders (``None`` entries are ignored).

    Returns
    -------
    bool
    """
    if os.environ.get("RADIOGENOMICS_SYNTHETIC") == "1":
        return True
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        folder = p if p.is_dir() else p.parent
        if any(folder.glob("SYNTHETIC*")) or any(folder.parent.glob("SYNTHETIC*")):
            return True
        prov = folder / "provenance.json"
        if prov.exists():
            try:
                if read_json(prov).get("synthetic"):
                    return True
            except Exception:  # noqa: BLE001 - an unreadable record says nothing either way
                pass
    return False


def build_provenance(
    stage: str,
    *,
    parameters: Mapping[str, Any] | None = None,
    seeds: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str | os.PathLike] | None = None,
    extra: Mapping[str, Any] | None = None,
    synthetic: bool = False,
) -> dict[str, Any]:
    """Build the provenance record of one stage.

    Parameters
    ----------
    stage
        Stage name (``"differential"``, ``"association"``...).
    parameters
        Every parameter that shaped the result.
    seeds
        Random seeds used.
    inputs
        Input name → file; each is hashed (SHA-256).
    extra
        Anything else worth recording (library versions, counts).
    synthetic
        The inputs are the synthetic demo cohort. Also set when :func:`inputs_are_synthetic`
        finds it from ``inputs``, so stages need not check themselves.

    Returns
    -------
    dict
        Keys ``stage``, ``created``, ``python``, ``platform``, ``packages``, ``parameters``,
        ``seeds``, ``inputs`` (name → path and sha256), ``synthetic`` and ``extra``.
    """
    hashed = {}
    for name, path in (inputs or {}).items():
        p = Path(path)
        hashed[name] = {"path": str(p), "sha256": file_sha256(p) if p.exists() else None}
    return {
        "stage": stage,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "parameters": dict(parameters or {}),
        "seeds": dict(seeds or {}),
        "inputs": hashed,
        "synthetic": bool(synthetic) or inputs_are_synthetic(*(inputs or {}).values()),
        "extra": dict(extra or {}),
    }


def write_provenance(out_dir: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Add ``record`` to ``<out_dir>/provenance.json`` under its stage name, atomically.

    Several stages may share a folder; each keeps its own entry under ``stages``.

    Parameters
    ----------
    out_dir
        Result folder.
    record
        Output of :func:`build_provenance`.

    Returns
    -------
    pathlib.Path
        The provenance file.
    """
    path = Path(out_dir) / "provenance.json"
    doc: dict[str, Any] = {"stages": {}}
    if path.exists():
        try:
            doc = read_json(path)
            doc.setdefault("stages", {})
        except Exception:  # noqa: BLE001 - a corrupt file is replaced, never half-updated
            doc = {"stages": {}}
    doc["stages"][record["stage"]] = dict(record)
    doc["synthetic"] = any(s.get("synthetic", False) for s in doc["stages"].values())
    return write_json(doc, path)
