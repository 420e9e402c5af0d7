"""The stage contract: one result type per stage, one layout table, and how results are written and read.

Every stage of the data flow returns one frozen result object with the same members:

``stage``
    The stage's name (a key of :data:`LAYOUT`).
``parameters``
    The settings actually used, seeds and resolved defaults included.
``dropped``
    What was excluded and why: a table with columns ``kind`` (``"sample"``, ``"feature"``,
    ``"gene"``, ``"case"``, ``"probe"``...), ``item`` and ``reason`` (stages may add columns
    after these three). Nothing is ever dropped without a row here.
``synthetic``
    The inputs were the synthetic demo cohort (the flag follows results from stage to stage).
``tables()``
    Name → DataFrame, the names being the file stems of :data:`LAYOUT`.
``figures()``
    Name → matplotlib Figure, drawn by :mod:`radiogenomics.plotting` from the tables; each
    figure's caption is its label (``fig.get_label()``).
``write(folder, *, inputs)``
    Tables as Parquet and CSV, figures as PNG and ``provenance.json`` (with the list of what was
    written), into a fresh temporary folder that replaces ``folder`` only when complete: a
    stage's folder is whole or absent, never a mix of two runs.
``read(folder)``
    Class method: the result again, from what :meth:`write` wrote.

The folder and file names of every stage are defined here once (:data:`LAYOUT`); the CLI,
the Snakemake workflow, the report and :func:`read_results` all take them from this table.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import shutil
import sys
import types
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pandas as pd

from ._io import read_json, umask_mode, write_json, write_table
from ._logging import get_logger
from ._validation import DataFileError, InputError, ParameterError

if TYPE_CHECKING:  # plotting is imported only when figures are drawn
    from matplotlib.figure import Figure

__all__ = [
    "DROPPED_COLUMNS",
    "LAYOUT",
    "StageLayout",
    "StageResult",
    "Results",
    "dropped_table",
    "features_and_labels",
    "is_synthetic",
    "read_results",
    "report_paths",
    "stage_folder",
    "callable_stage",
]

log = get_logger(__name__)

R = TypeVar("R", bound="StageResult")

#: The first three columns of every stage's ``dropped`` table.
DROPPED_COLUMNS = ("kind", "item", "reason")


@dataclass(frozen=True)
class StageLayout:
    """Where one stage writes its result, relative to a results root.

    Attributes
    ----------
    stage
        Stage name.
    folder
        Folder under the results root; ``{cohort}`` or ``{series}`` are filled in per cohort or
        expression series.
    tables
        Every table the stage may write (file stems; Parquet and CSV each).
    primary
        The table that every complete result holds (read first; its absence means the stage
        did not run).
    files
        Other files the stage writes (GraphML, checkpoints, HTML...).
    """

    stage: str
    folder: str
    tables: tuple[str, ...]
    primary: str
    files: tuple[str, ...] = ()


_LAYOUTS = (
    StageLayout("extraction", "imaging/{cohort}",
                ("features_patient", "labels", "features_image", "diagnostics", "patients", "cases", "dropped"),
                primary="features_patient"),
    StageLayout("series", "expression/series/{series}",
                ("expression", "labels", "label_decisions", "counts", "probes", "dropped"), primary="expression"),
    StageLayout("expression", "expression/merged",
                ("expression", "labels", "series_genes", "batch_check", "dropped"), primary="expression"),
    StageLayout("differential", "differential", ("differential", "top_values", "dropped"), primary="differential"),
    StageLayout("association", "association",
                ("positive_specific", "associated", "hits_positive", "hits_negative", "top_genes", "null_summary",
                 "null_checks", "null_counts", "draws", "dropped"), primary="positive_specific"),
    StageLayout("enrichment", "enrichment", ("enrichment", "summary", "dropped"), primary="enrichment",
                files=("clusterprofiler.csv",)),
    StageLayout("module", "module",
                ("module", "similarity", "similarity_matrix", "replication", "network_nodes", "network_edges",
                 "dropped"), primary="module", files=("network.graphml", "network.cyjs")),
    StageLayout("models", "models",
                ("summary", "splits", "comparison", "validation", "validation_predictions",
                 "validation_comparison", "oof_predictions", "pca", "lasso_cv", "lasso_coefficients",
                 "learning_curves", "calibration", "decision_curve", "baseline_her2", "baseline_split",
                 "nomogram_coefficients", "nomogram_points", "nomogram_total_points", "nomogram_validation",
                 "nomogram_calibration", "dropped"),
                primary="summary"),
    StageLayout("deep", "deep",
                ("predictions", "predictions_image", "metrics", "history", "splits", "embeddings_patient",
                 "embeddings_image", "labels", "gradcam", "dropped"),
                primary="predictions", files=("model.pt", "gradcam.npz", "gradcam/")),
    StageLayout("deep_comparison", "deep_comparison", ("comparison", "history", "predictions", "splits", "dropped"),
                primary="comparison", files=("model.pt",)),
    StageLayout("deep_features", "deep_features",
                ("features", "features_all", "features_image", "icc", "folds", "fold_metrics", "labels",
                 "features_external", "labels_external", "dropped"), primary="features"),
)

_LAYOUTS += (
    # the models stage run a second time, on the cross-fitted deep features (its own folder)
    dataclasses.replace(next(lay for lay in _LAYOUTS if lay.stage == "models"), stage="models_deep",
                        folder="models_deep"),
)

#: Stage name → :class:`StageLayout`: the one table of folder and file names.
LAYOUT: dict[str, StageLayout] = {lay.stage: lay for lay in _LAYOUTS}

#: Folder of the HTML report under the results root (the report is not a stage result).
REPORT_FOLDER = "report"


def report_paths(root: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """The HTML report and its figures folder under ``root`` (the results folder).

    The workflow's report rule, ``radiogenomics run`` and ``radiogenomics demo`` (which print
    where the report is) all take them from here.

    Parameters
    ----------
    root
        Results folder; ``None`` gives the paths relative to it.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        ``report/report.html`` and ``report/figures``.
    """
    base = Path(REPORT_FOLDER) if root is None else Path(root) / REPORT_FOLDER
    return base / "report.html", base / "figures"


PROVENANCE = "provenance.json"


def stage_folder(stage: str, root: str | os.PathLike | None = None, **wildcards: str) -> Path:
    """The folder of a stage's result under ``root`` (the results folder).

    Parameters
    ----------
    stage
        A key of :data:`LAYOUT`.
    root
        Results folder; ``None`` gives the path relative to it.
    **wildcards
        ``cohort`` (``"training"``/``"validation"``) for extraction, ``series`` for a series.

    Returns
    -------
    pathlib.Path
    """
    if stage not in LAYOUT:
        raise ParameterError(f"The 'stage' parameter must be one of {', '.join(map(repr, LAYOUT))}. Got {stage!r} instead.")
    try:
        rel = LAYOUT[stage].folder.format(**wildcards)
    except KeyError as exc:
        raise ParameterError(f"stage {stage!r} needs the wildcard {exc.args[0]!r}.") from None
    return Path(rel) if root is None else Path(root) / rel


def dropped_table(rows: Iterable[Mapping[str, Any]] = (), *, extra: Iterable[str] = ()) -> pd.DataFrame:
    """A ``dropped`` table: columns ``kind``, ``item``, ``reason`` (then any ``extra`` columns).

    Parameters
    ----------
    rows
        One mapping per excluded item.
    extra
        Further columns after the three standard ones.

    Returns
    -------
    pandas.DataFrame
    """
    cols = [*DROPPED_COLUMNS, *[c for c in extra if c not in DROPPED_COLUMNS]]
    df = pd.DataFrame(list(rows))
    for c in cols:
        if c not in df.columns:
            df[c] = pd.Series(dtype=object)
    rest = [c for c in df.columns if c not in cols]
    out = df[cols + rest].reset_index(drop=True)
    for c in DROPPED_COLUMNS:
        out[c] = out[c].astype(object)
    return out


def is_synthetic(*objects: Any) -> bool:
    """Whether any input is (derived from) the synthetic demo cohort.

    The one rule of the package: a stage result or cohort with ``synthetic=True``, a table with
    ``attrs["synthetic"]``, or a file or folder that :func:`radiogenomics._provenance.inputs_are_synthetic`
    recognises (a ``SYNTHETIC*`` marker beside it, or a provenance record marked synthetic).

    Parameters
    ----------
    *objects
        Results, DataFrames, Series, paths (``None`` is ignored).

    Returns
    -------
    bool
    """
    from ._provenance import inputs_are_synthetic

    for obj in objects:
        if obj is None:
            continue
        if getattr(obj, "synthetic", False) is True:
            return True
        attrs = getattr(obj, "attrs", None)
        if isinstance(attrs, Mapping) and attrs.get("synthetic"):
            return True
        if isinstance(obj, (str, os.PathLike)) and inputs_are_synthetic(obj):
            return True
        if isinstance(obj, Mapping) and not isinstance(obj, pd.DataFrame):
            if is_synthetic(*obj.values()):
                return True
        elif isinstance(obj, (list, tuple)) and is_synthetic(*obj):
            return True
    return False


def features_and_labels(
    data: Any, labels: pd.Series | None = None, *, name: str = "features"
) -> tuple[pd.DataFrame, pd.Series]:
    """A feature table and its labels, given either both or an upstream result that holds both.

    Parameters
    ----------
    data
        A table (rows = samples) or a result with ``features`` and ``labels`` (an
        :class:`~radiogenomics.imaging.ExtractionResult`).
    labels
        0/1 labels; with a result, they replace the result's own.
    name
        What the table is, for messages.

    Returns
    -------
    tuple of (pandas.DataFrame, pandas.Series)
    """
    if isinstance(data, pd.DataFrame):
        if labels is None:
            raise ParameterError(f"{name}: a feature table needs its labels (pass labels=...).")
        return data, labels
    feats = getattr(data, "features", None)
    own = getattr(data, "labels", None)
    if isinstance(feats, pd.DataFrame):
        chosen = labels if labels is not None else own
        if chosen is None:
            raise ParameterError(f"{name}: {type(data).__name__} holds no labels; pass labels=....")
        return feats, chosen
    raise InputError(
        f"{name} must be a DataFrame (rows = samples) or a result with features and labels "
        f"(e.g. rg.extract's); got {type(data).__name__}."
    )


def _is_default_index(index: pd.Index) -> bool:
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None


def _is_result_folder(folder: Path) -> bool:
    prov = folder / PROVENANCE
    if not prov.exists():
        return False
    try:
        return "stages" in read_json(prov)
    except Exception:  # noqa: BLE001 - an unreadable record is not ours to trust
        return False


def check_output_folder(folder: str | os.PathLike) -> Path:
    """Check that ``folder`` may receive a stage result; call before computing anything.

    A folder may be replaced when it is absent, empty, or an earlier radiogenomics result
    (it holds a ``provenance.json``); anything else (a file, a folder of other data) is
    refused so that ``--out .`` never deletes a user's files.

    Parameters
    ----------
    folder
        Destination.

    Returns
    -------
    pathlib.Path
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is a file; the output must be a folder.")
    if folder.is_dir() and any(folder.iterdir()) and not _is_result_folder(folder):
        raise InputError(
            f"{folder}: the folder exists, is not empty and is not a radiogenomics result folder "
            "(no provenance.json); choose a new or empty output folder."
        )
    parent = folder.resolve().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise InputError(f"{folder}: cannot write in {probe} (permission denied).")
    return folder


def _replace_folder(tmp: Path, folder: Path) -> None:
    """Move the finished ``tmp`` folder onto ``folder`` (an earlier result there is removed)."""
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(folder, old)
        try:
            os.replace(tmp, folder)
        except BaseException:
            os.replace(old, folder)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)


class StageResult:
    """Base of every stage's result (see the module docstring for the contract).

    Subclasses are frozen dataclasses with a ``stage`` class attribute, one field per table
    named as in :data:`LAYOUT` (``None`` when absent), and the fields ``parameters``,
    ``dropped`` and ``synthetic``.
    """

    stage: ClassVar[str] = ""
    #: table stem → attribute, where the attribute is not named as the file
    TABLE_ATTRS: ClassVar[Mapping[str, str]] = {}
    #: tables held as a Series (written as a one-column table, read back as a Series)
    SERIES_TABLES: ClassVar[tuple[str, ...]] = ()
    parameters: Mapping[str, Any]
    dropped: pd.DataFrame
    synthetic: bool

    # ------------------------------------------------------------------ tables and figures
    def tables(self) -> dict[str, pd.DataFrame]:
        """The result's tables by file stem (absent ones left out).

        Returns
        -------
        dict
            Stem → DataFrame, in the order of :data:`LAYOUT`.
        """
        out: dict[str, pd.DataFrame] = {}
        for name in LAYOUT[self.stage].tables:
            value = getattr(self, self.TABLE_ATTRS.get(name, name), None)
            if isinstance(value, pd.Series):
                value = value.to_frame(value.name if value.name is not None else name)
            if isinstance(value, pd.DataFrame):
                out[name] = value
        return out

    def figures(self) -> dict[str, Figure]:
        """The stage's figures, drawn from its tables by :mod:`radiogenomics.plotting`.

        Returns
        -------
        dict
            Name → matplotlib Figure; each figure's caption is ``fig.get_label()``.
        """
        from . import plotting

        return plotting.figures(self)

    def overview(self) -> dict[str, Any]:
        """A few counts that say what the result holds (logged and stored in the provenance).

        Returns
        -------
        dict
            Name → int, float or str.
        """
        return {"dropped": int(len(self.dropped))}

    def _files(self) -> dict[str, bytes]:
        """Non-table files to write (name → content); none by default."""
        return {}

    def _drawn_files(self) -> dict[str, bytes]:
        """Drawn files beside the figures (name → PNG content, e.g. per-case overlays), by :mod:`.plotting`."""
        from . import plotting

        return plotting.files(self)

    # ------------------------------------------------------------------ write and read
    def write(
        self,
        folder: str | os.PathLike,
        *,
        inputs: Mapping[str, str | os.PathLike] | None = None,
        figures: bool = True,
    ) -> list[Path]:
        """Write the result into ``folder``: whole, or not at all.

        Everything goes into a fresh temporary folder beside ``folder``, which replaces
        ``folder`` (and an earlier result there) only once every file is written.

        Parameters
        ----------
        folder
            Destination folder (created; an existing result folder is replaced).
        inputs
            Input name → file, hashed into ``provenance.json``.
        figures
            Also draw and save the figures as PNG (and the drawn files beside them, such as the
            deep stage's per-case Grad-CAM overlays).

        Returns
        -------
        list of pathlib.Path
            The files written, in ``folder``.
        """
        from ._provenance import build_provenance

        folder = check_output_folder(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(mode=umask_mode(0o777))
        written: list[str] = []
        try:
            for name, table in self.tables().items():
                write_table(table, tmp, name, index=not _is_default_index(table.index))
                written += [f"{name}.parquet", f"{name}.csv"]
            for name, content in {**self._files(), **(self._drawn_files() if figures else {})}.items():
                path = tmp / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                os.chmod(path, umask_mode(0o666))
                written.append(name)
            if figures:
                written += _save_figures(self.figures(), tmp)
            seeds = {k: v for k, v in self.parameters.items() if k == "seed" or k.endswith("_seed")}
            record = build_provenance(
                self.stage, parameters=dict(self.parameters), seeds=seeds, inputs=inputs,
                synthetic=self.synthetic, extra={"outputs": written, "overview": self.overview()},
            )
            write_json({"stages": {self.stage: record}, "synthetic": record["synthetic"]}, tmp / PROVENANCE)
            _replace_folder(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("%s: wrote %d file(s) to %s", self.stage, len(written) + 1, folder)
        return [folder / w for w in written] + [folder / PROVENANCE]

    @classmethod
    def read(cls: type[R], folder: str | os.PathLike) -> R:
        """Read a result written by :meth:`write`.

        Parameters
        ----------
        folder
            The stage's folder.

        Returns
        -------
        StageResult
            The same type, with every table found and the recorded parameters.
        """
        folder = Path(folder)
        layout = LAYOUT[cls.stage]
        primary = folder / f"{layout.primary}.parquet"
        if not primary.exists():
            raise DataFileError(f"{folder}: no {layout.primary}.parquet; not a {cls.stage} result folder.")
        record: dict[str, Any] = {}
        if (folder / PROVENANCE).exists():
            doc = read_json(folder / PROVENANCE)
            record = (doc.get("stages") or {}).get(cls.stage) or {}
        tables = {name: read_parquet(folder / f"{name}.parquet") for name in layout.tables
                  if (folder / f"{name}.parquet").exists()}
        return cls._from_tables(tables, record=record, folder=folder)

    @classmethod
    def _from_tables(cls: type[R], tables: dict[str, pd.DataFrame], *, record: Mapping[str, Any], folder: Path) -> R:
        """Build the result from its tables (subclasses with other members override this)."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {}
        for stem, table in tables.items():
            attr = cls.TABLE_ATTRS.get(stem, stem)
            if stem in cls.SERIES_TABLES and table.shape[1] == 1:
                table = table.iloc[:, 0]
            if attr in names:
                kwargs[attr] = table
        kwargs["parameters"] = dict(record.get("parameters") or {})
        kwargs["synthetic"] = bool(record.get("synthetic", False))
        kwargs.setdefault("dropped", dropped_table())
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                kwargs[f.name] = None
        return cls(**kwargs)


def read_parquet(path: Path) -> pd.DataFrame:
    """Read one Parquet table of a result folder, naming the file when it is unreadable.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    pandas.DataFrame
    """
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise DataFileError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc}).") from exc


def _save_figures(figures: Mapping[str, Figure], folder: Path) -> list[str]:
    """Save figures as ``<name>.png`` in ``folder`` and close them."""
    written = []
    for name, fig in figures.items():
        path = folder / f"{name}.png"
        fig.savefig(path, format="png", dpi=150, bbox_inches="tight")
        os.chmod(path, umask_mode(0o666))
        written.append(path.name)
    return written


class _StageModule(types.ModuleType):
    """A stage package that is also its stage function: ``rg.differential(features, labels)``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__stage__(*args, **kwargs)


def callable_stage(module_name: str, func: Any) -> None:
    """Make the package ``module_name`` callable as ``func`` (same signature and docstring).

    ``radiogenomics.differential`` and ``radiogenomics.module`` are folders of the data flow and
    the names of their stage functions; this keeps both meanings without import-order surprises
    (``rg.differential.DifferentialResult`` and ``rg.differential(features, labels)`` both work).

    Parameters
    ----------
    module_name
        ``__name__`` of the package.
    func
        Its stage function.
    """
    mod = sys.modules[module_name]
    mod.__class__ = _StageModule
    mod.__stage__ = func  # type: ignore[attr-defined]
    mod.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------- results
def _result_class(stage: str) -> type[StageResult]:
    """The result class of a stage (imported on demand: optional extras stay optional)."""
    import importlib

    module, name = {
        "extraction": ("radiogenomics.imaging.result", "ExtractionResult"),
        "series": ("radiogenomics.expression.series", "SeriesResult"),
        "expression": ("radiogenomics.expression.merge", "ExpressionResult"),
        "differential": ("radiogenomics.differential", "DifferentialResult"),
        "association": ("radiogenomics.association", "AssociationResult"),
        "enrichment": ("radiogenomics.enrichment", "EnrichmentResult"),
        "module": ("radiogenomics.module", "ModuleResult"),
        "models": ("radiogenomics.models", "ModelsResult"),
        "deep": ("radiogenomics.deep.result", "DeepResult"),
        "deep_comparison": ("radiogenomics.deep.compare", "DeepComparisonResult"),
        "deep_features": ("radiogenomics.deep.crossfit", "DeepFeaturesResult"),
        "models_deep": ("radiogenomics.models", "ModelsResult"),
    }[stage]
    return getattr(importlib.import_module(module), name)


def read_stage(stage: str, folder: str | os.PathLike) -> StageResult | None:
    """Read one stage's result folder, or ``None`` when the stage did not run there.

    Parameters
    ----------
    stage
        A key of :data:`LAYOUT`.
    folder
        The stage's folder.

    Returns
    -------
    StageResult or None
    """
    folder = Path(folder)
    if not (folder / f"{LAYOUT[stage].primary}.parquet").exists():
        return None
    return _result_class(stage).read(folder)


@dataclass(frozen=True)
class Results:
    """Every stage's result under one results folder (see :func:`read_results`).

    Attributes
    ----------
    root
        The results folder.
    extraction, extraction_validation
        Imaging features of the training and validation cohorts.
    series
        Expression series by name.
    expression
        The merged expression table.
    differential, association, enrichment, module, models, deep
        The later stages. A stage that did not run is ``None``.
    deep_comparison, deep_features, models_deep
        The deep path's backbone comparison, its cross-fitted features, and the models stage on
        those features.
    """

    root: Path
    extraction: StageResult | None = None
    extraction_validation: StageResult | None = None
    series: Mapping[str, StageResult] = dataclasses.field(default_factory=dict)
    expression: StageResult | None = None
    differential: StageResult | None = None
    association: StageResult | None = None
    enrichment: StageResult | None = None
    module: StageResult | None = None
    models: StageResult | None = None
    deep: StageResult | None = None
    deep_comparison: StageResult | None = None
    deep_features: StageResult | None = None
    models_deep: StageResult | None = None
    provenance: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict, repr=False)

    STAGES: ClassVar[tuple[str, ...]] = (
        "extraction", "extraction_validation", "expression", "differential", "association", "enrichment",
        "module", "models", "deep", "deep_comparison", "deep_features", "models_deep",
    )

    def stages(self) -> dict[str, StageResult]:
        """The stages that ran, by attribute name (series as ``series/<name>``).

        Returns
        -------
        dict
        """
        out: dict[str, StageResult] = {}
        for name in self.STAGES:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for name, value in self.series.items():
            out[f"series/{name}"] = value
        return out

    @property
    def synthetic(self) -> bool:
        """Whether any stage's inputs were synthetic."""
        return any(r.synthetic for r in self.stages().values())

    def __repr__(self) -> str:
        ran = ", ".join(self.stages()) or "no stage"
        return f"Results({str(self.root)!r}: {ran})"


def read_results(root: str | os.PathLike) -> Results:
    """Read every stage's result under a results folder.

    Parameters
    ----------
    root
        A results folder (the workflow's ``results/``, or any folder laid out as
        :data:`LAYOUT`).

    Returns
    -------
    Results
        One attribute per stage; a stage that did not run is ``None`` (never an error). A stage
        folder that exists but cannot be read raises an error naming the file.
    """
    root = Path(root)
    if not root.is_dir():
        from ._validation import MissingDataFileError

        raise MissingDataFileError(f"{root}: results folder not found.")
    kwargs: dict[str, Any] = {"root": root}
    provenance: dict[str, Mapping[str, Any]] = {}

    def read(stage: str, folder: Path) -> StageResult | None:
        res = read_stage(stage, folder)
        if res is not None and (folder / PROVENANCE).exists():
            # a layout entry may reuse another stage's result (models_deep holds a models result)
            record = (read_json(folder / PROVENANCE).get("stages") or {}).get(res.stage)
            if record:
                provenance[folder.relative_to(root).as_posix()] = record
        return res

    kwargs["extraction"] = read("extraction", stage_folder("extraction", root, cohort="training"))
    kwargs["extraction_validation"] = read("extraction", stage_folder("extraction", root, cohort="validation"))
    series_root = stage_folder("series", root, series="x").parent
    series = {}
    if series_root.is_dir():
        for sub in sorted(p for p in series_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            res = read("series", sub)
            if res is not None:
                series[sub.name] = res
    kwargs["series"] = series
    for stage in ("expression", "differential", "association", "enrichment", "module", "models", "deep",
                  "deep_comparison", "deep_features", "models_deep"):
        kwargs[stage] = read(stage, stage_folder(stage, root))
    kwargs["provenance"] = provenance
    return Results(**kwargs)
