"""Radiomic feature extraction with pyradiomics: presets, one case, and the batch engine.

One case = one image and its mask. :func:`run_cases` (used by the stage function
:func:`radiogenomics.imaging.extract`) runs a normalised case sheet through pyradiomics
serially, on threads, in a process pool or on a Dask distributed cluster, and

* keeps every case's failure (missing/unreadable file, geometry mismatch, empty mask, absent
  label, ROI too small...) instead of losing the others' results;
* caches each case's result under a key made of the SHA-256 of the image file, the mask file,
  the mask label, the settings and the pyradiomics version, so a re-run only computes new or
  changed cases. The cache lives outside any result folder (:func:`default_cache_dir`),
  because a stage's folder is replaced as a whole when its result is written;
* returns features (one row per image), pyradiomics' ``diagnostics_*`` in a side table, and
  the failures, always in the sheet's order whatever the completion order.

Note: ``radiogenomics.imaging.extract`` (the attribute of the package) is the stage
function; this module is imported by its full name (``from radiogenomics.imaging.extract
import load_preset``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._io import atomic_write, cache_folder, file_sha256
from .._logging import get_logger, progress
from .._validation import BACKENDS, ParameterError, check_choice, format_names
from .readers import failed_file, failure_kind

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = [
    "PRESET_DIR",
    "list_presets",
    "load_preset",
    "validate_params",
    "extract_case",
    "extract_images",
    "case_cache_key",
    "default_cache_dir",
    "run_cases",
    "CaseBatch",
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


#: pyradiomics validates its settings with pykwalify, whose YAML parsing of the schema is not
#: thread-safe: extractors built at once by the threads of one worker (a threaded Dask cluster, the
#: thread backend) failed at random ("'MappingEndEvent' object has no attribute 'anchor'", "pop
#: from empty list"; 227 of 240 concurrent builds in a stress test). One build at a time; the
#: extractors themselves are shared (``execute`` reads its settings from a copy).
_EXTRACTOR_LOCK = threading.Lock()


def _extractor(params_json: str, name: str = "settings"):
    """A validated pyradiomics extractor for these settings (built once per process, one build at a time)."""
    with _EXTRACTOR_LOCK:
        return _build_extractor(params_json, name)


@lru_cache(maxsize=16)
def _build_extractor(params_json: str, name: str = "settings"):
    """Build a validated pyradiomics extractor (see :func:`_extractor`)."""
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


def _run_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """Worker: read, check and extract one case; never raises (failures are returned)."""
    from .readers import read_case

    _quiet_radiomics()
    start = time.perf_counter()
    out: dict[str, Any] = {"case_id": task["case_id"], "key": task.get("key")}
    try:
        image, mask = read_case(task["image"], task["mask"], mask_label=task.get("mask_label"))
    except Exception as exc:  # noqa: BLE001 - isolation: every error becomes a failure row
        out.update(status="failed", failure=failure_kind(exc), file=failed_file(exc, task["image"], task["mask"]),
                   reason=str(exc))
        return out
    try:
        features, diagnostics = _execute(image, mask, task["params"])
    except Exception as exc:  # noqa: BLE001
        out.update(status="failed", failure=failure_kind(exc), file=str(task["mask"]),
                   reason=f"pyradiomics: {exc}".strip())
        return out
    out.update(status="ok", features=features, diagnostics=diagnostics, seconds=time.perf_counter() - start)
    return out




def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The extraction cache: ``cache_dir``, else ``$RADIOGENOMICS_CACHE/features``, else
    ``~/.cache/radiogenomics/features``.

    The same root as the GEO downloads (:func:`radiogenomics.expression.geo.default_cache_dir`);
    never inside a result folder, which :meth:`~radiogenomics._results.StageResult.write`
    replaces as a whole.

    Parameters
    ----------
    cache_dir
        Explicit folder.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    return cache_folder("features", cache_dir)


@dataclass(frozen=True)
class CaseBatch:
    """What :func:`run_cases` returns: per-image tables of one batch.

    Attributes
    ----------
    features
        One row per extracted image (index ``case_id``, sheet order), one column per feature.
    diagnostics
        pyradiomics' ``diagnostics_*`` per extracted image plus ``patient_id``, ``cached``,
        ``seconds``.
    failures
        One row per failed image: ``case_id``, ``patient_id``, ``file``, ``failure`` (one of
        :data:`~radiogenomics.imaging.readers.FAILURE_KINDS`) and ``reason``.
    n_computed, n_cached
        Cases extracted now, and taken from the cache.
    workers
        Workers used (1 when serial).
    """

    features: pd.DataFrame
    diagnostics: pd.DataFrame
    failures: pd.DataFrame
    n_computed: int
    n_cached: int
    workers: int


def _hash_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def _from_cache(cache: Path, key: str, case_id: str) -> dict[str, Any] | None:
    hit = cache / f"{key}.json"
    if not hit.exists():
        return None
    try:
        doc = json.loads(hit.read_text())
        return {"case_id": case_id, "status": "ok", "cached": True, "features": doc["features"],
                "diagnostics": doc["diagnostics"], "seconds": 0.0}
    except (json.JSONDecodeError, KeyError, OSError):
        log.warning("cache entry %s is corrupt; recomputing case %s", hit, case_id)
        return None


def run_cases(
    cases: pd.DataFrame,
    *,
    params: Mapping[str, Any],
    n_jobs: int = 1,
    backend: str = "processes",
    scheduler: str | Any | None = None,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool | None = None,
) -> CaseBatch:
    """Extract every case of a normalised sheet: the batch engine of the imaging stage.

    Parameters
    ----------
    cases
        Normalised case sheet (:func:`radiogenomics.imaging.cases.load_cases`).
    params
        Validated settings (:func:`load_preset`).
    n_jobs
        Workers (already resolved, >= 1); 1 runs serially in this process (threads and
        processes backends).
    backend
        ``"threads"``, ``"processes"`` or ``"dask"``.
    scheduler
        With ``"dask"``: an address or a ``distributed.Client``; ``None`` uses the active client,
        else starts a local cluster of ``n_jobs`` worker processes for this call.
    cache_dir
        Folder of cached per-case results (one JSON file per cache key); ``None`` disables it.
    show_progress
        Progress bar; ``None`` follows the package log level.

    Returns
    -------
    CaseBatch
    """
    check_choice(backend, "backend", owner="run_cases", choices=BACKENDS)
    cache = Path(cache_dir) if cache_dir is not None else None
    results: dict[str, dict[str, Any]] = {}
    tasks: list[dict[str, Any]] = []
    for case_id, row in cases.iterrows():
        ml = None if pd.isna(row["mask_label"]) else int(row["mask_label"])
        task = {"case_id": case_id, "image": row["image"], "mask": row["mask"], "mask_label": ml, "params": params}
        if cache is not None:
            ih, mh = _hash_or_none(row["image"]), _hash_or_none(row["mask"])
            if ih is not None and mh is not None:
                task["key"] = case_cache_key(ih, mh, params=params, mask_label=ml)
                hit = _from_cache(cache, task["key"], case_id)
                if hit is not None:
                    results[case_id] = hit
                    continue
        tasks.append(task)
    n_cached = len(results)
    workers = 1 if backend != "dask" and (n_jobs == 1 or len(tasks) <= 1) else min(n_jobs, max(len(tasks), 1))
    log.info("extracting %d case(s) (%d from cache) with %s", len(tasks), n_cached,
             f"Dask ({scheduler or 'local or active client'})" if backend == "dask" else f"{workers} {backend}")
    for res in _dispatch(tasks, n_jobs=workers, backend=backend, scheduler=scheduler, show_progress=show_progress):
        res["cached"] = False
        results[res["case_id"]] = res
        if cache is not None and res["status"] == "ok" and res.get("key"):
            with atomic_write(cache / f"{res['key']}.json") as fh:
                json.dump({"case_id": res["case_id"], "features": res["features"],
                           "diagnostics": res["diagnostics"]}, fh)

    feats, diags, fails = {}, {}, []
    for case_id in cases.index:  # the sheet's order whatever the completion order
        res = results[case_id]
        if res["status"] == "ok":
            feats[case_id] = res["features"]
            d = dict(res["diagnostics"])
            d.update(patient_id=cases.at[case_id, "patient_id"], cached=res["cached"],
                     seconds=float(res.get("seconds", 0.0)))
            diags[case_id] = d
        else:
            fails.append({"case_id": case_id, "patient_id": cases.at[case_id, "patient_id"],
                          "file": res["file"], "failure": res["failure"], "reason": res["reason"]})
            log.warning("case %s failed (%s): %s", case_id, res["failure"], res["reason"])
    features = pd.DataFrame.from_dict(feats, orient="index")
    features.index.name = "case_id"
    diagnostics = pd.DataFrame.from_dict(diags, orient="index")
    diagnostics.index.name = "case_id"
    failures = pd.DataFrame(fails, columns=["case_id", "patient_id", "file", "failure", "reason"])
    return CaseBatch(features=features, diagnostics=diagnostics, failures=failures, n_computed=len(tasks),
                     n_cached=n_cached, workers=workers)


def _dispatch(tasks: Sequence[dict[str, Any]], *, n_jobs: int, backend: str, scheduler: Any,
              show_progress: bool | None):
    """Yield task results as they complete: serial, threads, processes, or Dask distributed."""
    if not tasks:
        return
    disable = None if show_progress is None else not show_progress
    if backend == "dask":
        yield from _dispatch_dask(tasks, scheduler, n_jobs=n_jobs, disable=disable)
        return
    if n_jobs == 1:
        for task in progress(tasks, desc="extract", total=len(tasks), disable=disable):
            yield _run_task(task)
        return
    pool_cls: type[Executor] = ThreadPoolExecutor if backend == "threads" else ProcessPoolExecutor
    with pool_cls(max_workers=n_jobs) as pool:
        futures = [pool.submit(_run_task, t) for t in tasks]
        for fut in progress(as_completed(futures), desc="extract", total=len(futures), disable=disable):
            yield fut.result()


def _dask_client(scheduler: Any, n_jobs: int) -> tuple[Any, list[Any]]:
    """The client to submit to, and what to close afterwards (what this call started)."""
    try:
        from distributed import Client, LocalCluster, get_client
    except ImportError as exc:  # pragma: no cover - distributed is a core dependency
        from .._validation import OptionalDependencyError

        raise OptionalDependencyError("the Dask backend needs 'distributed' (pip install distributed).") from exc
    if isinstance(scheduler, Client):
        return scheduler, []
    if scheduler is not None:
        try:
            client = Client(scheduler, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ParameterError(f"cannot connect to the Dask scheduler at {scheduler!r} ({exc}).") from exc
        return client, [client]
    try:
        return get_client(), []
    except ValueError:  # no active client: a local cluster for this call
        cluster = LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster, set_as_default=False)
        return client, [client, cluster]


def _dispatch_dask(tasks: Sequence[dict[str, Any]], scheduler: Any, *, n_jobs: int, disable: bool | None):
    client, owned = _dask_client(scheduler, n_jobs)
    try:
        futures = client.map(_run_task, list(tasks), pure=False)
        # results are collected in submission order (distributed.as_completed needs a default client)
        for fut in progress(futures, desc="extract (dask)", total=len(futures), disable=disable):
            yield fut.result()
    finally:
        for obj in owned:
            obj.close()
