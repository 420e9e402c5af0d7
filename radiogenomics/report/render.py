"""Render a workflow's ``results/`` folder as one self-contained HTML report.

Every figure is embedded as a base64 PNG, so the file can be mailed or archived alone. Each
section reads the tables its stage wrote; a stage that did not run gives a visible "not run"
note, and a section that fails to render gives an error note, never a crash.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._io import atomic_write, read_json
from .._logging import get_logger

__all__ = ["render", "SECTION_IDS"]

log = get_logger(__name__)

SECTION_IDS = (
    "cohort", "differential", "association", "top-genes", "enrichment", "similarity", "module",
    "models", "validation", "calibration", "dca", "nomogram", "pca", "gradcam", "provenance",
)


@dataclass
class _Figure:
    caption: str
    data: str  # base64 PNG
    name: str


@dataclass
class _Table:
    caption: str
    html: str


@dataclass
class _Section:
    id: str
    title: str
    status: str = "ok"  # ok | notrun | error
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    figures: list[_Figure] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)
    subsections: list[Any] = field(default_factory=list)
    pre: str = ""


class _NotRun(Exception):
    """A section's stage left no results."""


# --------------------------------------------------------------------------- helpers


def _find(results: Path, *stems: str) -> Path | None:
    """First existing ``<stem>.parquet`` / ``.csv`` under ``results``."""
    for stem in stems:
        for ext in (".parquet", ".csv"):
            p = results / f"{stem}{ext}"
            if p.exists():
                return p
    return None


def _read(results: Path, *stems: str, required: bool = True) -> pd.DataFrame | None:
    path = _find(results, *stems)
    if path is None:
        if required:
            raise _NotRun(f"no {' or '.join(s + '.parquet' for s in stems)} in {results}")
        return None
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, index_col=0)


def _png(fig: Any, name: str, caption: str, figures_dir: Path | None) -> _Figure:
    """Encode a matplotlib Figure as base64 PNG (and save it for Snakemake's report)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = buf.getvalue()
    if figures_dir is not None:
        with atomic_write(figures_dir / f"{name}.png", mode="wb") as fh:
            fh.write(data)
    return _Figure(caption=caption, data=base64.b64encode(data).decode("ascii"), name=name)


def _png_file(path: Path, caption: str | None = None, figures_dir: Path | None = None, *, prefix: str = "") -> _Figure:
    """Embed a PNG a stage wrote (and copy it for Snakemake's report)."""
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG"):
        raise ValueError(f"{path}: not a PNG file")
    if figures_dir is not None:
        with atomic_write(figures_dir / f"{prefix}{path.stem}.png", mode="wb") as fh:
            fh.write(data)
    cap = caption or path.stem.replace("_", " ")
    return _Figure(caption=cap, data=base64.b64encode(data).decode("ascii"), name=path.stem)


def _html_table(df: pd.DataFrame, *, max_rows: int = 25, index: bool = True) -> str:
    shown = df.head(max_rows)
    if isinstance(df.index, pd.RangeIndex):
        index = False
    html = shown.to_html(classes="data", border=0, index=index, float_format=lambda v: f"{v:.4g}",
                         na_rep="", escape=True)
    if len(df) > max_rows:
        html += f'<p class="note">First {max_rows} of {len(df)} rows; the full table is in the results folder.</p>'
    return html


def _pngs(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*.png") if p.is_file() and not p.name.startswith("."))


def _labels_counts(path: Path) -> tuple[int, int]:
    from .._io import read_labels  # noqa: PLC0415

    lab = read_labels(path)
    return int((lab == 1).sum()), int((lab == 0).sum())


def _stage_input(results: Path, stage_dir: str, key: str) -> Path | None:
    """Path of input ``key`` recorded in a stage's provenance (resolved as written)."""
    prov = results / stage_dir / "provenance.json"
    if not prov.exists():
        return None
    try:
        doc = read_json(prov)
    except Exception:  # noqa: BLE001
        return None
    for rec in doc.get("stages", {}).values():
        entry = (rec.get("inputs") or {}).get(key)
        if entry and entry.get("path"):
            p = Path(entry["path"])
            for cand in (p, results.parent / p, results / p):
                if cand.exists():
                    return cand
    return None


# --------------------------------------------------------------------------- sections


def _cohort(results: Path, figs: Path | None) -> _Section:
    from ..plotting.report import cohort_figure  # noqa: PLC0415

    sec = _Section("cohort", "Cohort summary")
    rows = {}
    for cohort in ("training", "validation"):
        lab = _find(results, f"imaging/{cohort}/labels")
        if lab is None and cohort == "training":
            lab = _stage_input(results, "differential", "labels")
        if lab is not None:
            rows[f"imaging ({cohort})"] = _labels_counts(lab)
    series_dir = results / "expression" / "series"
    if series_dir.exists():
        for d in sorted(p for p in series_dir.iterdir() if p.is_dir()):
            lab = _find(d, "labels")
            if lab is not None:
                rows[f"expression {d.name}"] = _labels_counts(lab)
    merged = _find(results, "expression/merged/labels")
    if merged is not None:
        rows["expression (merged)"] = _labels_counts(merged)
    if not rows:
        raise _NotRun("no labels found under imaging/ or expression/")
    counts = pd.DataFrame.from_dict(rows, orient="index", columns=["positive", "negative"])
    counts["total"] = counts.sum(axis=1)
    feats = _find(results, "imaging/training/features_patient")
    if feats is not None:
        table = _read(results, "imaging/training/features_patient")
        sec.notes.append(f"Imaging feature table: {table.shape[0]} patients × {table.shape[1]} features.")
    expr = _find(results, "expression/merged/expression")
    if expr is not None:
        table = _read(results, "expression/merged/expression")
        sec.notes.append(f"Merged expression table: {table.shape[0]} samples × {table.shape[1]} genes.")
    failures = _read(results, "imaging/training/failures", required=False)
    if failures is not None and len(failures):
        sec.notes.append(f"{len(failures)} image(s) failed extraction; see imaging/training/failures.csv.")
    sec.figures.append(_png(cohort_figure(counts), "cohort", "HER2-positive and -negative samples per cohort.", figs))
    sec.tables.append(_Table("Samples per cohort", _html_table(counts)))
    return sec


def _differential(results: Path, figs: Path | None) -> _Section:
    from ..plotting.report import feature_boxplots, volcano_figure  # noqa: PLC0415
    from .._io import read_labels, read_table  # noqa: PLC0415

    sec = _Section("differential", "Differential features (HER2+ vs HER2−)")
    diff = _read(results, "differential/differential")
    selected = diff.index[diff["selected"].astype(bool)] if "selected" in diff else diff.index[:0]
    sec.notes.append(
        f"{len(selected)} of {len(diff)} features differ between HER2-positive and -negative patients "
        "(two-sided Wilcoxon rank-sum; the paper selects p < 0.05 without FDR control; BH q shown beside)."
    )
    sec.figures.append(_png(volcano_figure(diff), "differential_volcano",
                            "Volcano plot: log2 fold change (mean HER2+ / mean HER2−) against −log10 p.", figs))
    feats_path = _find(results, "imaging/training/features_patient") or _stage_input(results, "differential", "features")
    labels_path = _find(results, "imaging/training/labels") or _stage_input(results, "differential", "labels")
    if feats_path is not None and labels_path is not None:
        order = diff.sort_values("p_value").index
        top = [c for c in order if c in set(selected)][:6] or list(order[:6])
        fig = feature_boxplots(read_table(feats_path), read_labels(labels_path), columns=top)
        sec.figures.append(_png(fig, "differential_boxplots", "Most significant features by HER2 class.", figs))
    cols = [c for c in ("mean_positive", "mean_negative", "fold_change", "p_value", "q_value", "direction") if c in diff]
    sec.tables.append(_Table("Differential features (smallest p first)",
                             _html_table(diff.sort_values("p_value")[cols])))
    return sec


def _association(results: Path, figs: Path | None) -> _Section:
    from ..plotting.report import association_null_figure  # noqa: PLC0415

    sec = _Section("association", "Perturbation association and its null model")
    specific = _read(results, "association/positive_specific")
    if "feature" not in specific.columns:
        specific = specific.reset_index()
    null = _read(results, "association/null_summary", required=False)
    n_feat = specific["feature"].nunique() if len(specific) else 0
    sec.notes.append(
        f"{len(specific)} HER2-positive-specific feature–gene links over {n_feat} features. "
        "With unpaired cohorts (different patients imaged and sequenced) every pairing is random: "
        "compare each feature's count with the null model, i.e. how many genes the same rule "
        "selects by chance (analytic binomial and permutation)."
    )
    if null is not None and "observed" in null.columns:
        if "feature" in null.columns:
            null = null.set_index("feature")
        sec.figures.append(_png(association_null_figure(null), "association_null",
                                "HER2-positive-specific genes per feature against the null model "
                                "(solid line: binomial expectation; dashed: its 99 % upper bound; "
                                "diamonds: permutation 95th percentile).", figs))
        if "permutation_mean" in null and null["permutation_mean"].notna().any() and null["observed"].sum() > 0:
            ratio = float(null["permutation_mean"].sum() / max(null["observed"].sum(), 1))
            sec.notes.append(f"Across features the permutation null selects {100 * min(ratio, 1):.0f} % as many "
                             "genes as observed (an estimate of the false-discovery proportion).")
        sec.tables.append(_Table("Null model per feature", _html_table(null.sort_values("observed", ascending=False))))
    else:
        sec.notes.append("No null-model summary (association/null_summary) was found.")
    if len(specific):
        sec.tables.append(_Table("HER2-positive-specific links", _html_table(specific, index=False)))
    return sec


def _top_genes(results: Path, figs: Path | None) -> _Section:
    sec = _Section("top-genes", "Top genes")
    top = _read(results, "association/top_genes")
    sec.notes.append("Genes linked to the most features in HER2-positive patients only.")
    sec.tables.append(_Table("Top genes", _html_table(top, max_rows=30)))
    return sec


def _enrichment(results: Path, figs: Path | None) -> _Section:
    from ..plotting.report import enrichment_dotplot  # noqa: PLC0415

    sec = _Section("enrichment", "Enrichment (GO / KEGG) per feature")
    enr = _read(results, "enrichment/enrichment")
    if "feature" not in enr.columns:
        enr = enr.reset_index()
    qcol = "q_value" if "q_value" in enr else "p_value"
    sig = enr[enr[qcol].astype(float) < 0.05] if len(enr) else enr
    sec.notes.append(
        f"{len(sig)} significant (q < 0.05) term–feature pairs over {sig['feature'].nunique() if len(sig) else 0} "
        "features (hypergeometric over-representation, BH per feature)."
    )
    ranked = enr.groupby("feature")[qcol].min().sort_values() if len(enr) else pd.Series(dtype=float)
    for k, feature in enumerate(ranked.index[:4]):
        sec.figures.append(_png(enrichment_dotplot(enr, feature=feature), f"enrichment_dotplot_{k + 1}",
                                f"Most enriched terms of {feature}.", figs))
    if not len(enr):
        sec.notes.append("No feature had genes to test.")
    cols = [c for c in ("feature", "library", "term", "overlap", "set_size", "p_value", "q_value", "odds_ratio") if c in enr]
    sec.tables.append(_Table("Enriched terms (smallest q first)", _html_table(enr.sort_values(qcol)[cols], index=False)))
    return sec


def _square(similarity: pd.DataFrame) -> pd.DataFrame:
    """Similarity as a square matrix, whether stored square or long."""
    if similarity.shape[0] == similarity.shape[1] and set(map(str, similarity.index)) == set(map(str, similarity.columns)):
        return similarity.astype(float)
    df = similarity.reset_index() if not isinstance(similarity.index, pd.RangeIndex) else similarity
    obj = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    num = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    pref = [c for c in num if "simpson" in str(c).lower() or "similar" in str(c).lower()] or num
    if len(obj) < 2 or not pref:
        raise ValueError(f"cannot read the similarity table (columns {list(similarity.columns)})")
    mat = df.pivot_table(index=obj[0], columns=obj[1], values=pref[0], aggfunc="max")
    names = sorted(set(mat.index) | set(mat.columns))
    mat = mat.reindex(index=names, columns=names)
    mat = mat.combine_first(mat.T).fillna(0.0)
    for n in names:
        mat.loc[n, n] = 1.0
    return mat


def _similarity(results: Path, figs: Path | None) -> _Section:
    from ..plotting.report import simpson_heatmap  # noqa: PLC0415

    sec = _Section("similarity", "Simpson similarity of features' functions")
    sim = _read(results, "module/similarity_matrix", "module/similarity")
    mat = _square(sim).fillna(0.0)
    keep = [f for f in mat.index if (mat.loc[f].drop(f, errors="ignore") > 0).any() or mat.loc[f].get(f, 0) > 0]
    mat = mat.loc[keep, keep]
    if mat.shape[0] < 2:
        sec.notes.append(f"{mat.shape[0]} feature(s) have significant terms (q < 0.05): "
                         "no pair of features to compare, so no auxiliary feature can be found.")
        return sec
    sec.notes.append("Simpson index |Fi ∩ Fj| / min(|Fi|, |Fj|) of two features' significant term sets; "
                     "a non-differential feature above the threshold to a differential one is auxiliary.")
    sec.figures.append(_png(simpson_heatmap(mat), "simpson_heatmap", "Simpson index between features.", figs))
    return sec


def _module(results: Path, figs: Path | None) -> _Section:
    sec = _Section("module", "Feature module and network")
    module = _read(results, "module/module")
    for p in _pngs(results / "module"):
        sec.figures.append(_png_file(p, "Feature module network (differential and auxiliary features, "
                                     "their genes and terms)." if "network" in p.stem else None, figs,
                                     prefix="module_"))
    exports = [n for n in ("network.graphml", "network.cyjs", "network_nodes.csv", "network_edges.csv")
               if (results / "module" / n).exists()]
    if exports:
        sec.notes.append("Network exports for Cytoscape / Gephi: " + ", ".join(f"module/{n}" for n in exports) + ".")
    sec.tables.append(_Table("Feature module", _html_table(module if "feature" in module.columns else module,
                                                           index="feature" not in module.columns)))
    return sec


_MODEL_FIGS = {
    "models": ("split_auc", "learning_curve", "lasso"),
    "validation": ("roc", "precision_recall", "confusion"),
    "calibration": ("calibration",),
    "dca": ("decision", "dca"),
    "nomogram": ("nomogram",),
    "pca": ("pca",),
}


def _model_pngs(results: Path, key: str) -> list[Path]:
    pngs = [p for p in _pngs(results / "models") if p.parent == results / "models"]
    words = _MODEL_FIGS[key]
    return [p for p in pngs if any(w in p.stem.lower() for w in words)]


def _models_section(key: str, title: str, tables: tuple[str, ...], what: str) -> Callable[[Path, Path | None], _Section]:
    def build(results: Path, figs: Path | None) -> _Section:
        if not (results / "models").exists():
            raise _NotRun("the models stage left no results (models/)")
        sec = _Section(key, title)
        for p in _model_pngs(results, key):
            sec.figures.append(_png_file(p, None, figs, prefix="models_"))
        for stem in tables:
            t = _read(results, f"models/{stem}", required=False)
            if t is not None:
                sec.tables.append(_Table(stem.replace("_", " ").capitalize(),
                                         _html_table(t, index=not isinstance(t.index, pd.RangeIndex))))
        if not sec.figures and not sec.tables:
            raise _NotRun(f"the models stage wrote no {what} figure or table")
        return sec

    return build


def _gradcam(results: Path, figs: Path | None) -> _Section:
    sec = _Section("gradcam", "Deep model: Grad-CAM examples")
    deep = results / "deep"
    if not deep.exists():
        raise _NotRun("the deep path was not enabled (config deep.enabled: false)")
    for p in _pngs(deep / "gradcam")[:8]:
        sec.figures.append(_png_file(p, f"Grad-CAM: {p.stem}", figs, prefix="gradcam_"))
    for p in [p for p in _pngs(deep) if p.relative_to(deep).parts[0] != "gradcam"][:4]:
        sec.figures.append(_png_file(p, None, figs, prefix="deep_"))
    for stem in ("metrics", "summary", "predictions"):
        t = _read(results, f"deep/{stem}", required=False)
        if t is not None:
            sec.tables.append(_Table(stem.capitalize(), _html_table(t, max_rows=15)))
    if not sec.figures and not sec.tables:
        raise _NotRun("deep/ holds no predictions or Grad-CAM figures")
    return sec


def _provenance(results: Path, figs: Path | None) -> _Section:
    sec = _Section("provenance", "Provenance")
    rows = []
    inputs = []
    packages: dict[str, Any] = {}
    for prov in sorted(results.rglob("provenance.json")):
        try:
            doc = read_json(prov)
        except Exception as exc:  # noqa: BLE001
            sec.notes.append(f"{prov}: unreadable ({exc}).")
            continue
        for name, rec in (doc.get("stages") or {}).items():
            rows.append({
                "folder": str(prov.parent.relative_to(results)),
                "stage": name,
                "created": rec.get("created", ""),
                "synthetic": rec.get("synthetic", False),
                "parameters": ", ".join(f"{k}={v}" for k, v in (rec.get("parameters") or {}).items()),
                "seeds": ", ".join(f"{k}={v}" for k, v in (rec.get("seeds") or {}).items()),
            })
            for key, entry in (rec.get("inputs") or {}).items():
                inputs.append({"stage": name, "input": key, "path": (entry or {}).get("path", ""),
                               "sha256": ((entry or {}).get("sha256") or "")[:16]})
            packages = packages or {k: v for k, v in (rec.get("packages") or {}).items() if v}
    if not rows:
        raise _NotRun("no provenance.json under the results folder")
    sec.tables.append(_Table("Stages (parameters and seeds)", _html_table(pd.DataFrame(rows), max_rows=100, index=False)))
    if inputs:
        sec.tables.append(_Table("Input files (SHA-256, first 16 hex digits)",
                                 _html_table(pd.DataFrame(inputs), max_rows=100, index=False)))
    if packages:
        sec.tables.append(_Table("Package versions", _html_table(
            pd.DataFrame(sorted(packages.items()), columns=["package", "version"]), max_rows=100, index=False)))
    return sec


_BUILDERS: tuple[tuple[str, str, Callable[[Path, Path | None], _Section]], ...] = (
    ("cohort", "Cohort summary", _cohort),
    ("differential", "Differential features (HER2+ vs HER2−)", _differential),
    ("association", "Perturbation association and its null model", _association),
    ("top-genes", "Top genes", _top_genes),
    ("enrichment", "Enrichment (GO / KEGG) per feature", _enrichment),
    ("similarity", "Simpson similarity of features' functions", _similarity),
    ("module", "Feature module and network", _module),
    ("models", "Classifiers over repeated 70/30 splits",
     _models_section("models", "Classifiers over repeated 70/30 splits", ("summary", "comparison"), "split")),
    ("validation", "Validation: ROC curves and metrics",
     _models_section("validation", "Validation: ROC curves and metrics", ("validation", "validation_comparison"),
                     "validation")),
    ("calibration", "Calibration",
     _models_section("calibration", "Calibration", (), "calibration")),
    ("dca", "Decision curve analysis", _models_section("dca", "Decision curve analysis", (), "decision-curve")),
    ("nomogram", "Nomogram", _models_section("nomogram", "Nomogram", ("nomogram_coefficients", "nomogram_points"),
                                             "nomogram (needs models.clinical)")),
    ("pca", "PCA", _models_section("pca", "PCA", ("pca",), "PCA")),
    ("gradcam", "Deep model: Grad-CAM examples", _gradcam),
    ("provenance", "Provenance", _provenance),
)


def _any_synthetic(results: Path) -> bool:
    for prov in results.rglob("provenance.json"):
        try:
            doc = read_json(prov)
        except Exception:  # noqa: BLE001
            continue
        if doc.get("synthetic") or any((r or {}).get("synthetic") for r in (doc.get("stages") or {}).values()):
            return True
    return False


def render(
    results_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    synthetic: bool | None = None,
    title: str = "HER2 radiogenomics report",
    figures_dir: str | os.PathLike | None = None,
) -> Path:
    """Render a results folder as one self-contained HTML report.

    Parameters
    ----------
    results_dir
        The workflow's results folder (``differential/``, ``association/``, ``enrichment/``,
        ``module/``, ``models/``, ``deep/``, ``imaging/``, ``expression/`` as written by the
        stages; any may be missing).
    out_path
        HTML file to write (atomically).
    synthetic
        Show the SYNTHETIC DATA banner. ``None`` (default): show it when any stage's
        provenance says its inputs were synthetic.
    title
        Title of the report.
    figures_dir
        Also save every figure the report draws as PNG in this folder (for Snakemake's
        own report).

    Returns
    -------
    pathlib.Path
        The written HTML file.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=False)
    from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415

    results = Path(results_dir)
    figs = Path(figures_dir) if figures_dir is not None else None
    if figs is not None:
        figs.mkdir(parents=True, exist_ok=True)
    if synthetic is None:
        synthetic = _any_synthetic(results)

    sections: list[_Section] = []
    for sid, stitle, build in _BUILDERS:
        try:
            if not results.exists():
                raise _NotRun(f"results folder {results} does not exist")
            sec = build(results, figs)
        except _NotRun as exc:
            sec = _Section(sid, stitle, status="notrun", reason=str(exc))
        except Exception as exc:  # noqa: BLE001  (one broken section must not sink the report)
            log.warning("report section %r failed: %s: %s", sid, type(exc).__name__, exc)
            sec = _Section(sid, stitle, status="error", reason=f"{type(exc).__name__}: {exc}")
        if sec.status != "ok":
            log.info("report section %r: %s (%s)", sid, sec.status, sec.reason)
        sections.append(sec)

    env = Environment(loader=PackageLoader("radiogenomics.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(
        title=title,
        synthetic=bool(synthetic),
        sections=sections,
        version=__version__,
        created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        results_dir=str(results),
    )
    out = Path(out_path)
    with atomic_write(out) as fh:
        fh.write(html)
    n_ok = sum(s.status == "ok" for s in sections)
    log.info("wrote report %s (%d of %d sections rendered)", out, n_ok, len(sections))
    return out
