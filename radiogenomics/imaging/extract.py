"""Radiomic feature extraction with pyradiomics: presets, parallel and cached batch runs.

One case = one image and its mask. :func:`extract_features` runs a case sheet (see
:mod:`radiogenomics.imaging.cases`) through pyradiomics serially, in a process pool
(``n_jobs``) or on a Dask distributed cluster (``scheduler``), and

* keeps every case's failure (missing/unreadable file, geometry mismatch, empty mask, absent
  label, ROI too small...) in a ``failures`` table instead of losing the others' results;
* caches each case's result under a key made of the SHA-256 of the image file, the mask file,
  the mask label, the settings and the pyradiomics version, so a re-run only computes new or
  changed cases;
* returns features (one row per image), pyradiomics' ``diagnostics_*`` in a side table, and
  the failures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._io import atomic_write, file_sha256
from .._logging import get_logger, progress
from .._validation import InputError, ParameterError, check_int, format_names
from .aggregate import aggregate_patients, patient_table

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = [
    "PRESET_DIR",
    "list_presets",
    "load_preset",
    "validate_params",
    "extract_case",
    "extract_images",
    "extract_features",
    "case_cache_key",
    "ExtractionResult",
]

log = get_logger(__name__)

PRESET_DIR = Path(__file__).with_name("presets")
#: bump when the readers change the pixels handed to pyradiomics (invalidates caches)
READER_VERSION = 1


def list_presets() -> list[str]:
    """Names of the shipped presets.

    Returns
    -------
    list of str
        e.g. ``["ct", "log_wavelet", "mri", "ultrasound2d"]``.
    """
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def validate_params(params: Mapping[str, Any], *, name: str = "settings") -> dict[str, Any]:
    """Validate pyradiomics settings against pyradiomics' own schema.

    Parameters
    ----------
    params
        Mapping with pyradiomics' keys ``imageType``, ``featureClass``, ``setting``.
    name
        Preset name or file, used in messages.

    Returns
    -------
    dict
        A plain-dict copy of ``params`` (missing top-level keys filled with ``{}``).
    """
    if not isinstance(params, Mapping):
        raise ParameterError(f"{name}: pyradiomics settings must be a mapping; got {type(params).__name__}.")
    unknown = set(params) - {"imageType", "featureClass", "setting", "voxelSetting"}
    if unknown:
        raise ParameterError(
            f"{name}: unknown top-level key(s) {format_names(sorted(unknown))}; pyradiomics settings have "
            "'imageType', 'featureClass' and 'setting'."
        )
    clean = json.loads(json.dumps({k: params.get(k) or {} for k in ("imageType", "featureClass", "setting")}))
    _extractor(json.dumps(clean, sort_keys=True), name)  # raises on schema errors
    return clean


@lru_cache(maxsize=16)
def _extractor(params_json: str, name: str = "settings"):
    """Build (once per process and settings) a validated pyradiomics extractor."""
    import pykwalify.core
    import pykwalify.errors
    from radiomics import featureextractor

    _quiet_radiomics()
    logging.getLogger(pykwalify.core.log.name).setLevel(logging.CRITICAL)
    try:
        return featureextractor.RadiomicsFeatureExtractor(json.loads(params_json))
    except (pykwalify.errors.PyKwalifyException, ValueError, KeyError) as exc:
        msg = getattr(exc, "msg", None) or str(exc)
        raise ParameterError(f"{name}: invalid pyradiomics settings ({str(msg).strip()[:300]}).") from exc


class _DropSumAverageNote(logging.Filter):
    """pyradiomics warns once per case that symmetrical GLCMs make SumAverage = 2 JointAverage."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("GLCM is symmetrical")


def _quiet_radiomics() -> None:
    """pyradiomics logs at INFO by default (per feature class, per case): keep WARNING and above."""
    logger = logging.getLogger("radiomics")
    logger.setLevel(logging.WARNING)
    glcm = logging.getLogger("radiomics.glcm")
    if not any(isinstance(f, _DropSumAverageNote) for f in glcm.filters):
        glcm.addFilter(_DropSumAverageNote())


def load_preset(preset: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
    """Load and validate extraction settings: a shipped preset name, a YAML file or a mapping.

    Parameters
    ----------
    preset
        ``"ultrasound2d"``, ``"ct"``, ``"mri"``, ``"log_wavelet"``, a path to a pyradiomics
        parameter YAML, or the settings themselves.

    Returns
    -------
    dict
        Validated settings with keys ``imageType``, ``featureClass``, ``setting``.
    """
    import yaml

    if isinstance(preset, Mapping):
        return validate_params(preset, name="settings")
    text = str(preset)
    path = Path(text)
    if not (path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists()):
        if text not in list_presets():
            raise ParameterError(
                f"The 'preset' parameter must be one of {', '.join(repr(p) for p in list_presets())} or a "
                f"YAML file. Got {text!r} instead."
            )
        path = PRESET_DIR / f"{text}.yaml"
    if not path.exists():
        from .._validation import MissingDataFileError

        raise MissingDataFileError(f"{path}: settings file not found.")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML ({exc}).") from exc
    return validate_params(params or {}, name=str(path))


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _split_result(result: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    features: dict[str, float] = {}
    diagnostics: dict[str, Any] = {}
    for key, value in result.items():
        if key.startswith("diagnostics_"):
            v = _to_jsonable(value)
            diagnostics[key] = v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v)
        else:
            features[key] = float(np.asarray(value, dtype=float))
    return features, diagnostics


def _execute(image, mask, params: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    extractor = _extractor(json.dumps(dict(params), sort_keys=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = extractor.execute(image, mask, label=1)
    features, diagnostics = _split_result(result)
    diagnostics["diagnostics_radiogenomics_warnings"] = "; ".join(
        sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    )
    return features, diagnostics


def extract_case(
    image: str | os.PathLike,
    mask: str | os.PathLike,
    *,
    params: Mapping[str, Any] | str = "ultrasound2d",
    mask_label: int | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Extract the features of one image and mask.

    Parameters
    ----------
    image, mask
        Files or DICOM folders (see :mod:`radiogenomics.imaging.readers`).
    params
        Preset name, YAML path or settings mapping.
    mask_label
        Lesion value in the mask; ``None`` accepts any binary mask.

    Returns
    -------
    features : dict
        Feature name (``original_glcm_Contrast``...) → value.
    diagnostics : dict
        pyradiomics' ``diagnostics_*`` entries plus ``diagnostics_radiogenomics_warnings``.
    """
    from .readers import read_case

    settings = load_preset(params)
    img, msk = read_case(image, mask, mask_label=mask_label)
    return _execute(img, msk, settings)


def extract_images(
    image: sitk.Image,
    mask: sitk.Image,
    *,
    params: Mapping[str, Any] | str = "ultrasound2d",
) -> tuple[dict[str, float], dict[str, Any]]:
    """Extract features from in-memory SimpleITK images (already read and binarised).

    Parameters
    ----------
    image
        SimpleITK image (float).
    mask
        SimpleITK 0/1 mask on the same grid.
    params
        Preset name, YAML path or settings mapping.

    Returns
    -------
    features : dict
        Feature name → value.
    diagnostics : dict
        pyradiomics' ``diagnostics_*`` entries.
    """
    return _execute(image, mask, load_preset(params))


def case_cache_key(image_hash: str, mask_hash: str, *, params: Mapping[str, Any], mask_label: int | None) -> str:
    """Cache key of one case: SHA-256 of image and mask content, mask label, settings and versions.

    Parameters
    ----------
    image_hash, mask_hash
        SHA-256 of the image and mask files (:func:`radiogenomics._io.file_sha256`).
    params
        Validated settings.
    mask_label
        Lesion value, or ``None``.

    Returns
    -------
    str
        Hex digest.
    """
    from importlib import metadata

    doc = {
        "image": image_hash, "mask": mask_hash, "mask_label": mask_label, "params": params,
        "pyradiomics": metadata.version("pyradiomics-bhklab"), "reader_version": READER_VERSION,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _classify(exc: BaseException) -> str:
    msg = str(exc).lower()
    if isinstance(exc, FileNotFoundError) or "not found" in msg:
        return "missing file"
    if "cannot be read" in msg or "components per pixel" in msg or "dimensions" in msg:
        return "unreadable file"
    if "mismatch" in msg:
        return "geometry mismatch"
    if "empty mask" in msg:
        return "empty mask"
    if "is absent" in msg:
        return "mask label absent"
    if "not binary" in msg:
        return "non-binary mask"
    if "too small" in msg or "roi" in msg or "dimension" in msg:
        return "ROI too small"
    return "extraction error"


def _run_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """Worker: read, check and extract one case; never raises (failures are returned)."""
    from .readers import read_case

    _quiet_radiomics()
    start = time.perf_counter()
    out: dict[str, Any] = {"case_id": task["case_id"], "key": task.get("key")}
    try:
        image, mask = read_case(task["image"], task["mask"], mask_label=task.get("mask_label"))
    except Exception as exc:  # noqa: BLE001 - isolation: every error becomes a failure row
        msg = str(exc)
        file = task["mask"] if msg.startswith("mask") or str(task["mask"]) in msg.split(":")[0] else task["image"]
        out.update(status="failed", kind=_classify(exc), file=str(file), reason=msg)
        return out
    try:
        features, diagnostics = _execute(image, mask, task["params"])
    except Exception as exc:  # noqa: BLE001
        out.update(status="failed", kind=_classify(exc), file=str(task["mask"]),
                   reason=f"pyradiomics: {exc}".strip())
        return out
    out.update(status="ok", features=features, diagnostics=diagnostics, seconds=time.perf_counter() - start)
    return out


@dataclass
class ExtractionResult:
    """Result of :func:`extract_features`.

    Attributes
    ----------
    features
        One row per successfully extracted image (index ``case_id``), one column per feature.
    diagnostics
        pyradiomics' ``diagnostics_*`` per image plus ``patient_id``, ``cached`` and ``seconds``.
    failures
        One row per failed image: ``case_id``, ``patient_id``, ``file``, ``kind`` (missing file,
        unreadable file, geometry mismatch, empty mask, mask label absent, non-binary mask, ROI
        too small, extraction error) and ``reason``.
    cases
        The normalised case sheet (see :func:`radiogenomics.imaging.cases.normalize_cases`).
    params
        The validated settings.
    n_computed, n_cached
        How many cases were extracted now and how many came from the cache.
    """

    features: pd.DataFrame
    diagnostics: pd.DataFrame
    failures: pd.DataFrame
    cases: pd.DataFrame
    params: dict[str, Any]
    n_computed: int = 0
    n_cached: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def patient_features(self, *, how: str = "mean") -> pd.DataFrame:
        """Per-patient features: mean (paper) or median over each patient's extracted images.

        Parameters
        ----------
        how
            ``"mean"`` or ``"median"``.

        Returns
        -------
        pandas.DataFrame
            Index ``sample_id`` (= patient id), one column per feature.
        """
        return aggregate_patients(self.features, self.cases["patient_id"], how=how)

    def patients(self) -> pd.DataFrame:
        """Per-patient summary (see :func:`radiogenomics.imaging.aggregate.patient_table`).

        Returns
        -------
        pandas.DataFrame
            Index ``sample_id``; columns ``n_images``, ``n_extracted``, ``n_failed``, ``label``.
        """
        return patient_table(self.cases, self.features.index, self.failures["case_id"])

    def labels(self) -> pd.Series:
        """Patient-level HER2 labels of the patients with at least one extracted image.

        Returns
        -------
        pandas.Series
            ``her2`` (1/0) indexed by ``sample_id``; empty when the sheet has no labels.
        """
        table = self.patients()
        table = table[(table["n_extracted"] > 0) & table["label"].notna()]
        out = table["label"].astype("int8").rename("her2")
        out.index.name = "sample_id"
        return out


def _hash_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def extract_features(
    cases: pd.DataFrame,
    *,
    preset: str | os.PathLike | Mapping[str, Any] = "ultrasound2d",
    n_jobs: int = 1,
    scheduler: str | Any | None = None,
    cache_dir: str | os.PathLike | None = None,
    strict: bool = False,
) -> ExtractionResult:
    """Extract features for every case of a case sheet, in parallel and with a cache.

    Parameters
    ----------
    cases
        Normalised case sheet (:func:`radiogenomics.imaging.cases.read_cases`); a raw sheet
        with absolute paths is normalised here.
    preset
        Preset name, YAML file or settings mapping (:func:`load_preset`).
    n_jobs
        Worker processes (1 = serial in this process).
    scheduler
        Dask distributed scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``;
        overrides ``n_jobs``.
    cache_dir
        Folder of cached per-case results (JSON, one file per cache key); ``None`` disables
        caching.
    strict
        Raise :class:`~radiogenomics.InputError` if any case fails, instead of reporting it.

    Returns
    -------
    ExtractionResult
        Features per image, diagnostics, failures, the case sheet and counts.
    """
    from .cases import normalize_cases

    n_jobs = check_int(n_jobs, "n_jobs", owner="extract_features", min_value=1)
    if "image" in cases.columns and cases.index.name != "case_id":
        cases = normalize_cases(cases.reset_index(drop=cases.index.name is None))
    params = load_preset(preset)
    cache = Path(cache_dir) if cache_dir is not None else None

    results: dict[str, dict[str, Any]] = {}
    tasks: list[dict[str, Any]] = []
    n_cached = 0
    for case_id, row in cases.iterrows():
        ml = None if pd.isna(row["mask_label"]) else int(row["mask_label"])
        task = {"case_id": case_id, "image": row["image"], "mask": row["mask"], "mask_label": ml, "params": params}
        if cache is not None:
            ih, mh = _hash_or_none(row["image"]), _hash_or_none(row["mask"])
            if ih is not None and mh is not None:
                key = case_cache_key(ih, mh, params=params, mask_label=ml)
                task["key"] = key
                hit = cache / f"{key}.json"
                if hit.exists():
                    try:
                        doc = json.loads(hit.read_text())
                        results[case_id] = {"case_id": case_id, "status": "ok", "cached": True,
                                            "features": doc["features"], "diagnostics": doc["diagnostics"],
                                            "seconds": 0.0}
                        n_cached += 1
                        continue
                    except (json.JSONDecodeError, KeyError):
                        log.warning("cache entry %s is corrupt; recomputing case %s", hit, case_id)
        tasks.append(task)

    log.info("extracting %d case(s) (%d from cache) with %s", len(tasks), n_cached,
             f"Dask at {scheduler}" if scheduler is not None else f"{n_jobs} process(es)")
    for res in _dispatch(tasks, n_jobs=n_jobs, scheduler=scheduler):
        res["cached"] = False
        results[res["case_id"]] = res
        if cache is not None and res["status"] == "ok" and res.get("key"):
            with atomic_write(cache / f"{res['key']}.json") as fh:
                json.dump({"case_id": res["case_id"], "features": res["features"],
                           "diagnostics": res["diagnostics"]}, fh)

    feats, diags, fails = {}, {}, []
    for case_id in cases.index:  # keep the sheet's order whatever the completion order
        res = results[case_id]
        if res["status"] == "ok":
            feats[case_id] = res["features"]
            d = dict(res["diagnostics"])
            d.update(patient_id=cases.at[case_id, "patient_id"], cached=res["cached"],
                     seconds=float(res.get("seconds", 0.0)))
            diags[case_id] = d
        else:
            fails.append({"case_id": case_id, "patient_id": cases.at[case_id, "patient_id"],
                          "file": res["file"], "kind": res["kind"], "reason": res["reason"]})
            log.warning("case %s failed (%s): %s", case_id, res["kind"], res["reason"])
    failures = pd.DataFrame(fails, columns=["case_id", "patient_id", "file", "kind", "reason"])
    if strict and len(failures):
        lines = "; ".join(f"{r.case_id}: {r.reason}" for r in failures.head(3).itertuples())
        raise InputError(f"{len(failures)} of {len(cases)} case(s) failed (strict mode): {lines}"
                         f"{' ...' if len(failures) > 3 else ''}")
    features = pd.DataFrame.from_dict(feats, orient="index")
    features.index.name = "case_id"
    diagnostics = pd.DataFrame.from_dict(diags, orient="index")
    diagnostics.index.name = "case_id"
    if features.empty:
        log.warning("no case was extracted successfully (%d failure(s))", len(failures))
    return ExtractionResult(features=features, diagnostics=diagnostics, failures=failures, cases=cases,
                            params=params, n_computed=len(tasks), n_cached=n_cached)


def _dispatch(tasks: Sequence[dict[str, Any]], *, n_jobs: int, scheduler: Any):
    """Yield task results as they complete: serial, process pool, or Dask distributed."""
    if not tasks:
        return
    if scheduler is not None:
        yield from _dispatch_dask(tasks, scheduler)
        return
    if n_jobs == 1 or len(tasks) == 1:
        for task in progress(tasks, desc="extract", total=len(tasks)):
            yield _run_task(task)
        return
    with ProcessPoolExecutor(max_workers=min(n_jobs, len(tasks))) as pool:
        futures = [pool.submit(_run_task, t) for t in tasks]
        for fut in progress(as_completed(futures), desc="extract", total=len(futures)):
            yield fut.result()


def _dispatch_dask(tasks: Sequence[dict[str, Any]], scheduler: Any):
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is a core dependency
        from .._validation import OptionalDependencyError

        raise OptionalDependencyError("the Dask backend needs 'distributed' (pip install distributed).") from exc
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, set_as_default=False) if own else scheduler
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParameterError(f"cannot connect to the Dask scheduler at {scheduler!r} ({exc}).") from exc
    try:
        futures = client.map(_run_task, list(tasks), pure=False)
        # results are collected in submission order (distributed.as_completed needs a default client)
        for fut in progress(futures, desc="extract (dask)", total=len(futures)):
            yield fut.result()
    finally:
        if own:
            client.close()
