"""Render a run's results as one self-contained HTML report.

The report takes the loaded results (:func:`radiogenomics.read_results`) and shows each stage's
tables and figures through the stage contract: ``result.tables()`` / the result's attributes and
``result.figures()`` (drawn by :mod:`radiogenomics.plotting`, captions included). It knows no
folder or file name of any stage. Every figure is embedded as a base64 PNG, so the file can be
mailed or archived alone. A stage that did not run gives a visible "not run" note, and a section
that fails to render gives an error note, never a crash.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import atomic_write, umask_mode
from .._logging import get_logger

__all__ = ["render", "SECTION_IDS"]

log = get_logger(__name__)

#: The Cytoscape.js release shipped in ``radiogenomics/report/vendor`` (MIT licence beside it).
CYTOSCAPE_VERSION = "3.35.0"


def _vendor(name: str) -> str:
    """A JavaScript file shipped with the package (``report/vendor``), embedded in the report as is."""
    from importlib.resources import files

    return files("radiogenomics.report").joinpath("vendor").joinpath(name).read_text(encoding="utf-8")

SECTION_IDS = (
    "cohort", "differential", "association", "top-genes", "enrichment", "similarity", "module",
    "models", "validation", "calibration", "dca", "nomogram", "pca", "gradcam", "deep-comparison", "deep-features",
    "deep-models", "provenance",
)

#: Which of the models stage's figures and tables each models section shows.
_MODEL_SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "models": (("split_auc", "learning_curves", "lasso"), ("summary", "comparison")),
    "validation": (("roc", "precision_recall", "confusion_matrices"), ("validation", "validation_comparison")),
    "calibration": (("calibration",), ()),
    "dca": (("decision_curve",), ()),
    "nomogram": (("nomogram", "nomogram_calibration"), ("nomogram_validation", "nomogram_coefficients",
                                                       "nomogram_points")),
    "pca": (("pca_variance",), ("pca",)),
}

#: What each section shows and how to read it: the sentences it opens with.
INTRODUCTIONS: dict[str, str] = {
    "cohort": (
        "Who is in the analysis: the imaging cohorts (training and independent validation) and the expression "
        "cohort, with their HER2-positive and HER2-negative patients. Read it first: every later number depends on "
        "these group sizes, and a small or unbalanced group weakens every test below."),
    "differential": (
        "Each radiomic feature compared between HER2-positive and HER2-negative patients (two-sided Wilcoxon "
        "rank-sum test). In the volcano plot, the further a point lies from the centre the larger its fold change, "
        "and the higher it lies the smaller its p-value; coloured points pass the selection rule. The table lists "
        "the features smallest p first, with the Benjamini–Hochberg q beside it."),
    "association": (
        "For each feature, the genes whose expression follows it in HER2-positive patients but not in HER2-negative "
        "ones (perturbation association over repeated random draws). A count of such genes means nothing alone: "
        "the permutation null says how many genes the same rule selects by chance, so read each feature's bar "
        "against its null band. Only a feature whose empirical p is below the level (beats_null) has more links "
        "than chance gives."),
    "top-genes": (
        "Genes ranked by how many features they are linked to in HER2-positive patients only. A gene high in this "
        "list whose features all stay within chance is what the rule selects by chance, not a finding."),
    "enrichment": (
        "Which GO / KEGG terms are over-represented in each feature's gene set (hypergeometric test, "
        "Benjamini–Hochberg within each feature). A term describes a feature only when the feature's gene set "
        "beats the permutation null: the right-hand columns carry that verdict."),
    "similarity": (
        "How much two features' significant term sets overlap (Simpson index: shared terms over the smaller set). "
        "Dark cells are pairs of features pointing to the same biology; a non-differential feature above the "
        "threshold to a differential one joins the module as an auxiliary feature."),
    "module": (
        "The feature module: the differential features and the auxiliary features that share their biology, with "
        "their top terms and genes. In the interactive view the colour gives the kind (red differential, orange "
        "auxiliary, blue term, green gene) and a filled feature beats the permutation null while a hollow one is "
        "within chance; type in the search box to find a feature, term or gene, and click a feature to list its "
        "genes and terms. Drag to pan, scroll to zoom; the static figure below shows the module alone."),
    "models": (
        "Seven classifiers (SVM, logistic regression, naive Bayes, decision tree, random forest, MLP, KNN) trained "
        "on each feature set over repeated stratified 70/30 splits of the training cohort; each box holds the test "
        "AUC of every split. An AUC of 0.5 is chance. Compare the nested protocol (the honest estimate) with the "
        "paper protocol: the gap between them is the optimism of choosing the features on all patients."),
    "validation": (
        "The models refitted on the whole training cohort and applied once to the independent validation cohort, "
        "the test that matters most. The ROC and precision-recall curves show each classifier's trade-off between "
        "errors; each caption names the feature set. The tables give AUC with its 95 % CI and sensitivity and "
        "specificity at the threshold chosen on the training cohort."),
    "calibration": (
        "Whether the predicted probabilities match what happens, on the validation cohort: a well-calibrated model "
        "lies on the diagonal, one below it over-predicts HER2 positivity and one above it under-predicts. The "
        "Brier score (lower is better) is in the legend; the caption names the feature set."),
    "dca": (
        "Decision curves: the net benefit of acting on a classifier's prediction at each threshold probability, "
        "against treating every patient (treat-all) or none (treat-none), on the validation cohort. A model is "
        "useful over the range of thresholds where its curve lies above both references."),
    "nomogram": (
        "A logistic model combining the radiomic score with clinical variables, drawn as a nomogram: read each "
        "variable's points on its axis, add them, and read the predicted probability of HER2 positivity on the "
        "bottom axes. Its calibration on the training cohort (apparent) and the validation cohort (independent) "
        "says how far to trust it."),
    "pca": (
        "Principal components of a feature set on the training cohort: how many components carry most of its "
        "variance. Radiomic features are strongly correlated, so many of them usually collapse onto a few "
        "components."),
    "gradcam": (
        "The deep model's predictions and Grad-CAM maps: where in the image the network looked for its "
        "prediction. A map on the lesion is reassuring; one on the background or the image border suggests a "
        "shortcut."),
    "deep-comparison": (
        "Backbones and hyper-parameters compared on one patient-wise split. The setting is chosen on validation "
        "AUC only, so the chosen row's test AUC is an honest estimate and the best test AUC of the table is not."),
    "deep-features": (
        "Deep features computed out of fold (each patient embedded by a network that never saw them) and kept only "
        "when stable across mask and crop perturbations (ICC). These, not the deep model's own embeddings, enter "
        "the models."),
    "deep-models": (
        "The models stage of the radiomic features above, on the cross-fitted deep features instead: read it the "
        "same way, and compare its nested AUCs with the radiomic ones."),
    "provenance": (
        "What produced each result: per stage, its key parameters, seeds and input files (with the first digits "
        "of their SHA-256), and its full record, collapsed. Two runs with the same parameters and input hashes "
        "here give the same results."),
}

#: Captions of the figures that a plotting function left without one (never the figure's file name).
_FALLBACK_CAPTIONS: dict[str, str] = {
    "split_auc": "Test AUC of each classifier over the repeated train/test splits.",
    "learning_curves": "Learning curves: training and cross-validated AUC against the training-set size.",
    "lasso": "LASSO (L1 logistic regression): cross-validated AUC along the penalty path and the selected features.",
    "roc": "ROC curves of the classifiers on the validation cohort.",
    "precision_recall": "Precision-recall curves of the classifiers on the validation cohort.",
    "confusion_matrices": "Confusion matrices of the classifiers on the validation cohort.",
    "calibration": "Calibration of the classifiers' predicted probabilities on the validation cohort.",
    "decision_curve": "Decision curves (net benefit against threshold probability) on the validation cohort.",
    "nomogram": "Nomogram of the logistic model on the radiomic score and clinical variables.",
    "nomogram_calibration": "Calibration of the nomogram's predicted probability.",
    "pca_variance": "Explained variance of the principal components.",
    "network": "Feature module network: features, their terms and genes.",
    "similarity": "Similarity between features' significant term sets.",
}


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
class _Stage:
    """One stage's provenance: a compact table of its key parameters and inputs, and the full record."""

    folder: str
    stage: str
    created: str
    parameters: str  # HTML table
    inputs: str  # HTML table ("" without inputs)
    record: str  # the full record as indented JSON


@dataclass
class _Section:
    id: str
    title: str
    status: str = "ok"  # ok | notrun | error
    reason: str = ""
    intro: str = ""
    notes: list[str] = field(default_factory=list)
    figures: list[_Figure] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)
    network: str = ""  # the module network as Cytoscape.js elements (JSON) for the interactive view
    network_counts: tuple[int, int] = (0, 0)  # nodes, edges
    stages: list[_Stage] = field(default_factory=list)


class _NotRunError(Exception):
    """A section's stage left no results."""


class _Figures:
    """Encodes figures as base64 PNG (and saves each for Snakemake's report)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.drawn: dict[int, Mapping[str, Any]] = {}

    def of(self, result: Any) -> Mapping[str, Any]:
        """``result.figures()``, drawn once per report (several sections share a stage's figures)."""
        if id(result) not in self.drawn:
            self.drawn[id(result)] = result.figures()
        return self.drawn[id(result)]

    def add(self, sec: _Section, fig: Any, name: str, caption: str | None = None) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        data = buf.getvalue()
        if self.folder is not None:
            with atomic_write(self.folder / f"{name}.png", mode="wb") as fh:
                fh.write(data)
        cap = caption or fig.get_label() or _fallback_caption(fig, name)
        sec.figures.append(_Figure(caption=cap, data=base64.b64encode(data).decode("ascii"), name=name))

    def add_all(self, sec: _Section, figures: Mapping[str, Any], *, prefix: str, names: tuple[str, ...] | None = None) -> None:
        for name in (names if names is not None else tuple(figures)):
            if name in figures:
                self.add(sec, figures[name], f"{prefix}_{name}")


def _fallback_caption(fig: Any, name: str) -> str:
    """A caption for a figure its plotting function left without one: its title, or what such a figure shows."""
    titles = [t for t in [fig.get_suptitle(), *(ax.get_title() for ax in fig.get_axes())] if t]
    for key, text in _FALLBACK_CAPTIONS.items():
        if name.endswith(key):
            text = text if not titles else f"{titles[0]}. {text}"
            break
    else:
        text = (titles[0] + ".") if titles else "Figure of the " + name.split("_")[0] + " stage."
    log.warning("report figure %s has no caption; shown as: %s", name, text)
    return text


def _first(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The table with the columns that matter (those present, in this order) first, the others after."""
    head = [c for c in columns if c in df.columns]
    return df[head + [c for c in df.columns if c not in head]]


def _html_table(df: pd.DataFrame, *, max_rows: int = 25, index: bool = True) -> str:
    """An HTML table with one header row (the index becomes its first column), sortable in the page."""
    shown = df.head(max_rows)
    if isinstance(df.index, pd.RangeIndex):
        index = False
    names = [str(n) if n is not None else ("" if i == 0 else f"level {i}") for i, n in enumerate(shown.index.names)]
    if index and not isinstance(shown.columns, pd.MultiIndex) and not set(names) & set(map(str, shown.columns)) \
            and len(set(names)) == len(names):
        shown = shown.reset_index(names=names)
        index = False
    html = shown.to_html(classes="data sortable", border=0, index=index, float_format=lambda v: f"{v:.4g}",
                         na_rep="", escape=True)
    if len(df) > max_rows:
        html += f'<p class="note">First {max_rows} of {len(df)} rows; the full table is in the results folder.</p>'
    return html


def _normalization_notes(parameters: Mapping[str, Any], stage: str) -> list[str]:
    """What max-normalisation did to each table's columns (the rule of radiogenomics.expression.normalize)."""
    record = parameters.get("max_normalization")
    if not record:
        if stage == "association" and parameters.get("max_normalize") is False:
            return ["Tables were not max-normalised (Pearson r is invariant to it)."]
        return []
    notes = []
    for what, rec in record.items():
        if not isinstance(rec, Mapping):
            continue
        unchanged = list(rec.get("left_unchanged") or [])
        shown = ", ".join(unchanged[:8]) + (f" and {len(unchanged) - 8} more" if len(unchanged) > 8 else "")
        text = (f"Max-normalisation of {what}: {rec.get('divided_by_maximum', 0)} column(s) divided by their maximum"
                + (f"; {len(unchanged)} column(s) with maximum ≤ 0 left unchanged ({shown})" if unchanged else "")
                + ". Pearson r is invariant to this scaling.")
        notes.append(text)
    return notes


def _need(result: Any, what: str) -> Any:
    if result is None:
        raise _NotRunError(f"the {what} stage left no results")
    return result


# --------------------------------------------------------------------------- sections
def _cohort(res: Any, figs: _Figures) -> _Section:
    from ..plotting import cohort, cohort_counts

    sec = _Section("cohort", "Cohort summary")
    counts = cohort_counts(res)
    if counts.empty:
        raise _NotRunError("no stage holds labels (imaging or expression)")
    if res.extraction is not None:
        f = res.extraction.features
        sec.notes.append(f"Imaging feature table: {f.shape[0]} patients × {f.shape[1]} features.")
        dropped = res.extraction.dropped
        failed = dropped[dropped["kind"] == "case"] if len(dropped) else dropped
        if len(failed):
            sec.notes.append(f"{len(failed)} image(s) failed extraction; see the imaging stage's dropped table.")
        unlabelled = dropped[dropped["kind"] == "label"] if len(dropped) else dropped
        if len(unlabelled):
            sec.notes.append(f"{len(unlabelled)} patient(s) have an empty label in the case sheet and are left out "
                             "of the labels: " + ", ".join(map(str, unlabelled["item"][:8]))
                             + (" ..." if len(unlabelled) > 8 else "") + ".")
    if res.expression is not None:
        e = res.expression.expression
        sec.notes.append(f"Merged expression table: {e.shape[0]} samples × {e.shape[1]} genes.")
        sec.notes += _normalization_notes(res.expression.parameters, "expression")
    figs.add_all(sec, cohort(res), prefix="cohort")
    sec.tables.append(_Table("Samples per cohort", _html_table(counts)))
    return sec


def _differential(res: Any, figs: _Figures) -> _Section:
    diff = _need(res.differential, "differential")
    sec = _Section("differential", "Differential features (HER2+ vs HER2−)")
    by, thr = diff.parameters.get("select_by", "p"), diff.parameters.get("threshold", 0.05)
    sec.notes.append(
        f"{len(diff.selected)} of {len(diff.table)} features differ between HER2-positive and -negative patients "
        f"(two-sided Wilcoxon rank-sum, {by} < {thr:g}; the paper selects p < 0.05 without FDR control; BH q "
        "shown beside)."
    )
    if "test" in diff.table:
        n_exact = int((diff.table["test"] == "exact").sum())
        rule = {"auto": "R's wilcox.test rule: exact when both groups have fewer than 50 patients and the feature "
                        "has no ties", "exact": "exact wherever the feature has no ties",
                "asymptotic": "normal approximation throughout"}.get(str(diff.parameters.get("method")), "")
        sec.notes.append(f"p-values: {n_exact} exact, {len(diff.table) - n_exact} from the tie-corrected normal "
                         f"approximation ({rule}). Fold change and direction are on the same (un-logged) scale.")
    figs.add_all(sec, diff.figures(), prefix="differential")
    table = diff.table
    cols = [c for c in ("p_value", "q_value", "fold_change", "direction", "mean_positive", "mean_negative") if c in table]
    sec.tables.append(_Table("Differential features (smallest p first)",
                             _html_table(table.sort_values("p_value", kind="mergesort")[cols])))
    return sec


def _verdict_counts(table: pd.DataFrame) -> tuple[int, int] | None:
    """(features that beat the null, features with a verdict) of a table with ``feature``/``beats_null``; None without."""
    if table is None or "beats_null" not in table or not table["beats_null"].notna().any():
        return None
    per = table.drop_duplicates("feature") if "feature" in table else table
    flags = per["beats_null"].astype("boolean")
    return int(flags.fillna(False).sum()), int(flags.notna().sum())


def _null_notes(assoc: Any) -> list[str]:
    """What the null model says: the permutation verdict first, then where the binomial is shown and why not."""
    ns, params = assoc.null_summary, assoc.parameters
    n_feat, n_null = len(ns), int(params.get("n_null", 0) or 0)
    alpha = float(params.get("null_alpha", 0.05))
    notes = []
    counts = _verdict_counts(ns.reset_index()) if "beats_null" in ns else None
    if counts is None:
        notes.append("No permutation null was run (n_null = 0): no feature has a verdict against chance, and none "
                     "of the results below can be weighed against what the rule selects by chance.")
    else:
        k, _ = counts
        notes.append(
            f"Null model: the permutation null is the reference (the whole procedure repeated {n_null} times with the "
            f"expression rows permuted within each HER2 class). {k} of {n_feat} features beat it (empirical p < "
            f"{alpha:g}, per feature); by chance alone about {n_feat * alpha:.1f} would. Their verdict (empirical p, "
            "empirical FDR, beats_null) follows each feature into the top genes, the enrichment and the module below.")
        if 1.0 / (n_null + 1) >= alpha:
            notes.append(f"With {n_null} permutation rounds the smallest attainable empirical p is {1 / (n_null + 1):.3g}, "
                         f"so no feature can beat the null at {alpha:g}: run at least {int(np.ceil(1 / alpha))} rounds.")
    if "expected_binomial" in ns:
        shown = int(ns["expected_binomial"].notna().sum())
        if shown == n_feat:
            notes.append("The analytic binomial null is shown for every feature: its assumptions (unpaired draws, "
                         "near-Gaussian columns, uncorrelated genes) were checked and hold.")
        else:
            reasons: list[str] = []
            for note in ns.get("binomial_note", pd.Series(dtype=object)):
                for r in str(note).removeprefix("withheld: ").split("; "):
                    r = r if not r.startswith("far from Gaussian") else "the feature is far from Gaussian"
                    if r and r not in reasons:
                        reasons.append(r)
            notes.append(f"The analytic binomial null is withheld for {n_feat - shown} of {n_feat} features because "
                         "its assumptions fail: " + "; ".join(reasons[:4]) + (" ..." if len(reasons) > 4 else "")
                         + ". It assumes Gaussian columns, unpaired draws and uncorrelated genes, and is many-fold "
                         "too low (or its band too narrow) where they fail; the permutation null holds in all cases.")
    return notes


def _association(res: Any, figs: _Figures) -> _Section:
    assoc = _need(res.association, "association")
    sec = _Section("association", "Perturbation association and its null model")
    specific, null = assoc.positive_specific, assoc.null_summary
    n_feat = specific["feature"].nunique() if len(specific) else 0
    unpaired = assoc.parameters.get("mode", "unpaired") == "unpaired"
    sec.notes.append(
        f"{len(specific)} HER2-positive-specific feature–gene links over {n_feat} features. "
        + ("With unpaired cohorts (different patients imaged and sequenced) every pairing is random: "
           "compare each feature's count with the null model, i.e. how many genes the same rule "
           "selects by chance." if unpaired else
           "Paired cohort (the same patients imaged and sequenced): the draws keep the pairs; the null model says "
           "how many genes the rule selects once the pairs are broken.")
    )
    sec.notes += _normalization_notes(assoc.parameters, "association")
    sec.notes.extend(_null_notes(assoc))
    figs.add_all(sec, assoc.figures(), prefix="association")
    if null["permutation_mean"].notna().any() and null["observed"].sum() > 0:
        ratio = float(null["permutation_mean"].sum() / max(null["observed"].sum(), 1))
        sec.notes.append(f"Across features the permutation null selects {100 * min(ratio, 1):.0f} % as many "
                         "genes as observed (an estimate of the false-discovery proportion).")
    cols = [c for c in ("beats_null", "empirical_p", "empirical_fdr", "observed", "permutation_mean", "permutation_low95",
                        "permutation_high95", "expected_binomial", "binomial_low99", "binomial_high99",
                        "binomial_note") if c in null]
    order = null.sort_values(["empirical_p", "observed"], ascending=[True, False], kind="mergesort") \
        if "empirical_p" in null else null.sort_values("observed", ascending=False)
    sec.tables.append(_Table("Null model per feature (permutation null first; the binomial where its checks pass)",
                             _html_table(order[cols])))
    checks = getattr(assoc, "null_checks", None)
    if checks is not None and len(checks):
        sec.tables.append(_Table("Checks of the binomial null's assumptions", _html_table(checks, max_rows=40,
                                                                                          index=False)))
    if len(specific):
        shown = specific
        if "beats_null" in null:
            flags = null["beats_null"].astype("boolean")
            shown = specific.assign(feature_beats_null=specific["feature"].map(
                dict(zip(null.index.map(str), flags.astype(object)))))
        sec.tables.append(_Table("HER2-positive-specific links", _html_table(shown, index=False)))
    return sec


def _top_genes(res: Any, figs: _Figures) -> _Section:
    assoc = _need(res.association, "association")
    sec = _Section("top-genes", "Top genes")
    sec.notes.append("Genes linked to the most features in HER2-positive patients only.")
    top = assoc.top_genes
    if "n_features_beating_null" in top and top["n_features_beating_null"].notna().any():
        k = int((top["n_features_beating_null"].fillna(0) > 0).sum())
        sec.notes.append(
            "n_features_beating_null: how many of a gene's features beat the association's permutation null. "
            + (f"{k} of the {len(top)} top genes are linked to at least one such feature." if k else
               f"None of the {len(top)} top genes is linked to a feature that beats the null: their ranking is what "
               "the rule selects by chance."))
    else:
        sec.notes.append("No permutation null was run: no verdict on the features behind these genes.")
    sec.tables.append(_Table("Top genes", _html_table(top, max_rows=30)))
    return sec


def _enrichment(res: Any, figs: _Figures) -> _Section:
    supplied = res.module is not None and res.module.parameters.get("enrichment_format", "radiogenomics") != "radiogenomics"
    if res.enrichment is None and supplied:
        raise _NotRunError(f"the enrichment was supplied as a {res.module.parameters['enrichment_format']} table "
                           "(module.enrichment) instead of computed; the module section uses it")
    enr = _need(res.enrichment, "enrichment")
    sec = _Section("enrichment", "Enrichment (GO / KEGG) per feature")
    table, alpha = enr.table, enr.alpha
    sig = enr.significant()
    sec.notes.append(
        f"{len(sig)} significant (q < {alpha:g}) term–feature pairs over {sig['feature'].nunique() if len(sig) else 0} "
        "features (hypergeometric over-representation, BH per feature)."
    )
    counts = _verdict_counts(sig) if len(sig) else None
    if counts is not None:
        k, n = counts
        sec.notes.append(
            f"{k} of the {n} features with significant terms have gene sets that beat the association's permutation "
            "null; the others' terms are enriched in gene sets the rule selects as often by chance (their empirical "
            "FDR is in the table), so they describe chance selection, not the feature.")
    elif "beats_null" in table:
        sec.notes.append("No null verdict: " + str(enr.parameters.get("null_verdict", "none")).removeprefix("none: ")
                         + ". None of these terms can be weighed against chance.")
    figs.add_all(sec, enr.figures(), prefix="enrichment")
    if not len(table):
        sec.notes.append("No feature had genes to test.")
    cols = [c for c in ("feature", "term", "q_value", "beats_null", "empirical_fdr", "overlap", "set_size", "p_value",
                        "odds_ratio", "library") if c in table]
    sec.tables.append(_Table("Enriched terms (smallest q first; beats_null and empirical_fdr: the feature's verdict against the null)",
                             _html_table(table.sort_values("q_value", kind="mergesort")[cols], index=False)))
    return sec


def _scope_note(mod: Any) -> str:
    """Which features the module compared: all (the paper's method) or those that beat the null."""
    if mod.parameters.get("beats_null_only"):
        return ("Restricted to features whose gene sets beat the association's permutation null (module "
                "beats_null_only: true); the others were not compared.")
    return ("Every feature compared, the paper's method (module beats_null_only: false); set it to true to "
            "restrict the module to features whose gene sets beat the association's permutation null.")


def _similarity(res: Any, figs: _Figures) -> _Section:
    from ..plotting._module import comparable_features, within_chance

    mod = _need(res.module, "module")
    sec = _Section("similarity", "Simpson similarity of features' functions")
    mat = comparable_features(mod.similarity_matrix)
    n = mat.shape[0]
    rule = f"{mod.parameters.get('column', 'q_value').replace('_value', '')} < {mod.parameters.get('alpha', 0.05):g}"
    sec.notes.append(_scope_note(mod))
    if n < 2:
        sec.notes.append(f"{n} feature(s) have significant terms ({rule}): no pair of features to compare, "
                         "so no auxiliary feature can be found.")
        return sec
    sec.notes.append("Simpson index |Fi ∩ Fj| / min(|Fi|, |Fj|) of two features' significant term sets "
                     f"({rule}); a non-differential feature above the threshold to a differential one is auxiliary.")
    chance = within_chance(mod) & set(map(str, mat.index))
    if chance:
        sec.notes.append(f"{len(chance)} of the {n} features compared (marked °) have gene sets that do not beat the "
                         "association's permutation null: their similarities compare chance selections.")
    elif "beats_null_a" not in mod.similarity or not mod.similarity["beats_null_a"].notna().any():
        sec.notes.append("No null verdict: " + str(mod.parameters.get("null_verdict", "none")).removeprefix("none: ")
                         + ".")
    figs.add_all(sec, figs.of(mod), prefix="module", names=("similarity",))
    return sec


def _module(res: Any, figs: _Figures) -> _Section:
    mod = _need(res.module, "module")
    sec = _Section("module", "Feature module and network")
    sec.notes.append(_scope_note(mod))
    counts = _verdict_counts(mod.module) if len(mod.module) else None
    if counts is not None:
        k, n = counts
        sec.notes.append(f"{k} of the {n} module members have gene sets that beat the association's permutation "
                         "null" + ("" if k == n else "; the others' gene sets (hollow in the network) are no larger "
                                   "than the rule selects by chance, so their terms and similarities may be noise") + ".")
    elif "beats_null" in mod.module:
        sec.notes.append("No null verdict: " + str(mod.parameters.get("null_verdict", "none")).removeprefix("none: ")
                         + ".")
    for reason, grp in mod.dropped.groupby("reason", sort=False) if len(mod.dropped) else ():
        items = [str(i) for i in grp["item"]]
        sec.notes.append(f"{len(items)} feature(s) left out ({reason}): " + ", ".join(items[:8])
                         + (" ..." if len(items) > 8 else "") + ".")
    figs.add_all(sec, figs.of(mod), prefix="module", names=("network",))
    nodes, edges = mod.network_nodes, mod.network_edges
    if nodes is not None and len(nodes):
        sec.network = _network_json(nodes, edges)
        sec.network_counts = (len(nodes), 0 if edges is None else len(edges))
        kinds = nodes["kind"].astype(str).value_counts() if "kind" in nodes else pd.Series(dtype=int)
        sec.notes.append(
            f"The interactive network holds {len(nodes)} nodes ({int(kinds.get('feature', 0))} features, "
            f"{int(kinds.get('term', 0))} terms, {int(kinds.get('gene', 0))} genes) and {sec.network_counts[1]} edges "
            "(similarity between features, feature–term enrichment, feature–gene association).")
    if mod.graph is not None:
        sec.notes.append("Network exports for Cytoscape / Gephi are in the module stage's folder (GraphML, "
                         "Cytoscape.js JSON, node and edge tables); feature nodes carry beats_null, empirical_p "
                         "and empirical_fdr.")
    sec.tables.append(_Table("Feature module", _html_table(_first(mod.module, (
        "feature", "role", "beats_null", "empirical_p", "empirical_fdr", "n_terms", "similarity", "partner",
        "p_value", "fold_change")), index=False)))
    return sec


def _json_value(value: Any) -> Any:
    """A JSON-safe scalar of a table cell (NaN / NA: None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if math.isnan(float(value)) else float(value)
    return value if isinstance(value, (int, float, str)) else str(value)


def _network_json(nodes: pd.DataFrame, edges: pd.DataFrame | None) -> str:
    """The module network's node and edge tables as Cytoscape.js elements, JSON safe inside a ``<script>``.

    Parameters
    ----------
    nodes
        The module result's ``network_nodes`` (``id``, ``kind``, ``label`` and the node attributes).
    edges
        Its ``network_edges`` (``source``, ``target``, ``kind`` and the edge attributes).

    Returns
    -------
    str
        ``{"nodes": [{"data": ...}], "edges": [{"data": ...}]}``; each feature node also carries
        ``short`` (its label without pyradiomics' ``original_`` prefix) and ``verdict``
        (``"beats"``, ``"chance"`` or ``"none"``: against the association's permutation null).
    """
    from ..plotting._style import short_name

    out_nodes = []
    for rec in nodes.to_dict(orient="records"):
        data = {str(k): _json_value(v) for k, v in rec.items()}
        data = {k: v for k, v in data.items() if v is not None}
        data["id"], data["label"] = str(data["id"]), str(data.get("label", data["id"]))
        data["kind"] = str(data.get("kind", "other"))
        if data["kind"] == "feature":
            data["short"] = short_name(data["label"], 40)
            flag = data.get("beats_null")
            data["verdict"] = "none" if flag is None else ("beats" if flag in (True, "True", "true") else "chance")
        out_nodes.append({"data": data})
    out_edges = []
    for i, rec in enumerate(edges.to_dict(orient="records") if edges is not None else ()):
        data = {str(k): _json_value(v) for k, v in rec.items()}
        data = {k: v for k, v in data.items() if v is not None}
        data.update(id=f"e{i}", source=str(data["source"]), target=str(data["target"]))
        out_edges.append({"data": data})
    text = json.dumps({"nodes": out_nodes, "edges": out_edges}, ensure_ascii=False, allow_nan=False)
    # inside <script type="application/json"> only "</" (and "<!--") could end or confuse the element
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _protocol_note(models: Any) -> str:
    """The one paragraph that says what the two protocols of the repeated splits are, with this run's numbers."""
    text = (
        "Two protocols are reported side by side on the same splits. Paper: the differential and module "
        "features were selected on all training patients before splitting, as Cui et al. did; every split's test "
        "patients therefore helped choose the features, and its AUCs are optimistic. Nested: the same "
        "selection (the differential stage's Mann–Whitney rule and, for the module, the auxiliary features from the "
        "precomputed similarity matrix) is repeated inside the training part of each split, so the test patients "
        "play no part in it: the honest estimate of how such a model performs on new patients. A split whose "
        "nested selection finds no feature counts as a model without features (AUC 0.5). The best single split "
        "(column 'auc_best_split_optimistic') is shown only because the paper's headline AUCs match the best of "
        "its splits; it is not an estimate. The similarity matrix itself (association and enrichment) was "
        "computed once, outside the splits. The validation cohort, calibration, decision curves and nomogram use "
        "models refitted on the whole training cohort.")
    infl = models.protocol_inflation() if hasattr(models, "protocol_inflation") else None
    if infl is not None and len(infl):
        parts = []
        for fs, g in infl.groupby("feature_set", sort=False):
            parts.append(f"'{fs}': paper {g['auc_mean_paper'].mean():.3f} vs nested {g['auc_mean_nested'].mean():.3f} "
                         f"(inflation {g['inflation'].mean():+.3f}; best single paper split "
                         f"{g['auc_best_split_paper'].max():.3f})")
        text += " In this run, mean split AUC averaged over the classifiers: " + "; ".join(parts) + "."
    else:
        notes = (models.parameters or {}).get("protocol_notes") or {}
        if notes:
            text += " In this run only the paper protocol was evaluated: " + "; ".join(
                f"'{k}': {v}" for k, v in notes.items()) + "."
    return text


#: The columns that matter first in the models stage's tables.
_MODEL_TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("feature_set", "protocol", "classifier", "auc_mean", "auc_sd", "auc_low", "auc_high", "n_features",
                "sensitivity_mean", "specificity_mean", "accuracy_mean", "n_splits"),
    "comparison": ("classifier", "feature_set_a", "protocol_a", "feature_set_b", "protocol_b", "difference_mean",
                   "difference_low", "difference_high", "fraction_a_better"),
    "validation": ("feature_set", "classifier", "auc", "delong_low", "delong_high", "sensitivity", "specificity",
                   "accuracy", "ppv", "npv", "threshold"),
    "validation_comparison": ("classifier", "feature_set_a", "feature_set_b", "auc_a", "auc_b", "difference",
                              "p_value"),
}

#: Captions of the models stage's tables.
_MODEL_TABLE_CAPTIONS: dict[str, str] = {
    "summary": "Split AUC per feature set, protocol and classifier (mean, SD and 95 % interval over the splits)",
    "comparison": "Paired comparisons of feature sets and protocols on the same splits",
    "validation": "Validation cohort: AUC (DeLong 95 % CI), sensitivity and specificity per feature set and classifier",
    "validation_comparison": "Validation cohort: AUC of two feature sets compared (DeLong test)",
    "nomogram_validation": "Nomogram on the training and validation cohorts",
    "nomogram_coefficients": "Nomogram: logistic coefficients",
    "nomogram_points": "Nomogram: points per variable value",
    "pca": "Principal components: explained and cumulative variance",
}


def _feature_sets_note(models: Any) -> str | None:
    """Which feature sets the models stage compares, and how many features each holds."""
    sets = (models.parameters or {}).get("feature_sets") or {}
    if not sets:
        return None
    parts = []
    for name, feats in sets.items():
        feats = list(feats) if isinstance(feats, (list, tuple)) else []
        parts.append(f"'{name}' ({len(feats)} feature{'s' if len(feats) != 1 else ''}"
                     + {"differential": ": the features of the differential stage",
                        "module": ": the differential features and their auxiliary features (the module stage)"}
                     .get(str(name), "") + ")")
    return ("Feature sets compared: " + "; ".join(parts) + ". Each figure's caption names the feature set and, for "
            "the repeated splits, the protocol it shows.")


def _models_section(key: str, title: str) -> Callable[[Any, _Figures], _Section]:
    fig_names, table_names = _MODEL_SECTIONS[key]

    def build(res: Any, figs: _Figures) -> _Section:
        models = _need(res.models, "models")
        sec = _Section(key, title)
        if key == "models":
            sec.notes.append(_protocol_note(models))
            note = _feature_sets_note(models)
            if note:
                sec.notes.append(note)
            infl = models.protocol_inflation() if hasattr(models, "protocol_inflation") else None
            if infl is not None and len(infl):
                sec.tables.append(_Table("Paper protocol against nested protocol (mean split AUC, paired)",
                                         _html_table(infl, max_rows=50)))
        if key == "nomogram" and len(models.dropped):
            left = models.dropped[models.dropped["kind"] == "clinical variable"]
            for r in left.to_dict("records"):
                named = r.get("samples")
                sec.notes.append(f"Clinical variable {r['item']!r}: {r['reason']}"
                                 + (f" (patient(s) {named})" if isinstance(named, str) and named else "") + ".")
        figs.add_all(sec, figs.of(models), prefix="models", names=fig_names)
        tables = models.tables()
        for name in table_names:
            t = tables.get(name)
            if t is not None:
                sec.tables.append(_Table(_MODEL_TABLE_CAPTIONS.get(name, name.replace("_", " ").capitalize()),
                                         _html_table(_first(t, _MODEL_TABLE_COLUMNS.get(name, ())),
                                                     index=not isinstance(t.index, pd.RangeIndex), max_rows=50)))
        if not sec.figures and not sec.tables:
            raise _NotRunError(f"the models stage holds no {key} figure or table"
                          + (" (needs models.clinical)" if key == "nomogram" else ""))
        return sec

    return build


def _gradcam(res: Any, figs: _Figures) -> _Section:
    deep = res.deep
    if deep is None:
        raise _NotRunError("the deep path was not enabled (config deep.enabled: false)")
    sec = _Section("gradcam", "Deep model: Grad-CAM examples")
    figs.add_all(sec, deep.figures(), prefix="deep")
    tables = deep.tables()
    for name in ("metrics", "predictions"):
        if name in tables:
            sec.tables.append(_Table(name.capitalize(), _html_table(tables[name], max_rows=15)))
    if not sec.figures and not sec.tables:
        raise _NotRunError("the deep stage holds no predictions or Grad-CAM figures")
    return sec


def _deep_comparison(res: Any, figs: _Figures) -> _Section:
    comp = res.deep_comparison
    if comp is None:
        raise _NotRunError("the backbone comparison was not enabled (config deep_comparison.enabled: false)")
    sec = _Section("deep-comparison", "Deep model: backbone and hyper-parameter comparison")
    p = comp.parameters
    sec.notes.append(
        f"{len(comp.comparison)} setting(s) ({len(p.get('archs', []))} backbone(s) × {len(p.get('lrs', []))} learning "
        f"rate(s) × {len(p.get('weight_decays', []))} weight decay(s)), all trained on the same patient-wise split "
        "(seed {seed}). The model kept is {chosen}, chosen by validation AUC; the test split never took part in "
        "the choice, so its AUC is an honest estimate for that one model (the best test AUC of the table is "
        "not).".format(seed=p.get("seed"), chosen=p.get("chosen")))
    figs.add_all(sec, figs.of(comp), prefix="deep_comparison")
    cols = ["setting", "best_epoch", "train_loss", "validation_accuracy", "validation_auc", "validation_auc_low",
            "validation_auc_high", "test_accuracy", "test_auc", "test_auc_low", "test_auc_high", "chosen"]
    table = comp.comparison[[c for c in cols if c in comp.comparison.columns]]
    sec.tables.append(_Table("Comparison (patient level; AUC with DeLong 95 % CI)",
                             _html_table(table, max_rows=60, index=False)))
    return sec


def _deep_features(res: Any, figs: _Figures) -> _Section:
    feats = res.deep_features
    if feats is None:
        raise _NotRunError("cross-fitted deep features were not enabled (config deep_features.enabled: false)")
    sec = _Section("deep-features", "Deep features: cross-fitted and ICC-filtered")
    p = feats.parameters
    sec.notes.append(
        f"Each of the {len(feats.features)} patients was embedded by a network that never saw them "
        f"({p.get('folds')} patient-wise folds, {p.get('arch')}); {feats.features.shape[1]} of "
        f"{p.get('n_features')} deep features reach ICC ≥ {p.get('icc_threshold')} across "
        f"{p.get('n_perturbations')} mask/crop perturbations per case and enter the models. Out-of-fold AUC of the "
        f"fold networks' score: {p.get('heldout_auc', float('nan')):.3f}.")
    sec.notes.append(
        "Warning: embeddings of patients a network was trained on (the deep stage's own deep features) encode "
        "their labels; on a pure-noise cohort a model on them reaches a split AUC far above 0.5, while "
        "cross-fitted ones stay at 0.5. Only the cross-fitted features enter the models.")
    figs.add_all(sec, figs.of(feats), prefix="deep_features")
    if feats.fold_metrics is not None:
        sec.tables.append(_Table("Folds", _html_table(feats.fold_metrics, index=False)))
    return sec


def _deep_models(res: Any, figs: _Figures) -> _Section:
    models = res.models_deep
    if models is None:
        raise _NotRunError("the models stage did not run on deep features (config deep_features.into_models)")
    sec = _Section("deep-models", "Models on the cross-fitted deep features")
    sec.notes.append("The models stage (LASSO, the seven classifiers over repeated splits, calibration, decision "
                     "curves and, with a clinical table, the nomogram) on the stable cross-fitted deep features.")
    figs.add_all(sec, figs.of(models), prefix="models_deep",
                 names=("split_auc", "lasso", "roc", "calibration", "decision_curve", "nomogram"))
    for name in ("summary", "validation", "nomogram_coefficients"):
        t = models.tables().get(name)
        if t is not None:
            sec.tables.append(_Table(name.replace("_", " ").capitalize(),
                                     _html_table(t, index=not isinstance(t.index, pd.RangeIndex))))
    if not sec.figures and not sec.tables:
        raise _NotRunError("the models stage on deep features holds no figure or table")
    return sec


def _short(value: Any, width: int = 80) -> str:
    """One parameter's value for the compact provenance table (long values: a summary; the full one is in the JSON)."""
    if isinstance(value, Mapping):
        return f"({len(value)} entries; see the full record)"
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (str, int, float, bool)) or v is None for v in value) and len(value) <= 8:
            text = ", ".join(map(str, value))
            if len(text) <= width:
                return text
        return f"({len(value)} items; see the full record)"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _stage_provenance(folder: str, rec: Mapping[str, Any]) -> _Stage:
    params = dict(rec.get("parameters") or {})
    rows = [{"parameter": k, "value": _short(v)} for k, v in params.items()]
    rows += [{"parameter": f"seed ({k})", "value": _short(v)} for k, v in (rec.get("seeds") or {}).items()
             if params.get(k, object()) != v]  # a seed that is also a parameter is listed once
    rows.append({"parameter": "synthetic inputs", "value": str(bool(rec.get("synthetic", False)))})
    inputs = [{"input": key, "file": Path(str((entry or {}).get("path", ""))).name,
               "sha256": ((entry or {}).get("sha256") or "")[:16]}
              for key, entry in (rec.get("inputs") or {}).items()]
    full = {k: v for k, v in rec.items() if k != "packages"}
    return _Stage(folder=folder, stage=str(rec.get("stage", folder)), created=str(rec.get("created", "")),
                  parameters=_html_table(pd.DataFrame(rows, columns=["parameter", "value"]), max_rows=200,
                                         index=False),
                  inputs=_html_table(pd.DataFrame(inputs), max_rows=100, index=False) if inputs else "",
                  record=json.dumps(full, indent=1, sort_keys=False, default=str))


def _provenance(res: Any, figs: _Figures) -> _Section:
    sec = _Section("provenance", "Provenance")
    packages: dict[str, Any] = {}
    for folder, rec in res.provenance.items():
        sec.stages.append(_stage_provenance(folder, rec))
        packages = packages or {k: v for k, v in (rec.get("packages") or {}).items() if v}
    if not sec.stages:
        raise _NotRunError("no stage recorded its provenance")
    sec.notes.append(f"{len(sec.stages)} stage record(s), in the order the results folder lists them. The package "
                     "versions at the end are those of the first record that lists them.")
    if packages:
        sec.tables.append(_Table("Package versions", _html_table(
            pd.DataFrame(sorted(packages.items()), columns=["package", "version"]), max_rows=100, index=False)))
    return sec


_BUILDERS: tuple[tuple[str, str, Callable[[Any, _Figures], _Section]], ...] = (
    ("cohort", "Cohort summary", _cohort),
    ("differential", "Differential features (HER2+ vs HER2−)", _differential),
    ("association", "Perturbation association and its null model", _association),
    ("top-genes", "Top genes", _top_genes),
    ("enrichment", "Enrichment (GO / KEGG) per feature", _enrichment),
    ("similarity", "Simpson similarity of features' functions", _similarity),
    ("module", "Feature module and network", _module),
    ("models", "Classifiers over repeated 70/30 splits", _models_section("models", "Classifiers over repeated 70/30 splits")),
    ("validation", "Validation: ROC curves and metrics", _models_section("validation", "Validation: ROC curves and metrics")),
    ("calibration", "Calibration", _models_section("calibration", "Calibration")),
    ("dca", "Decision curve analysis", _models_section("dca", "Decision curve analysis")),
    ("nomogram", "Nomogram", _models_section("nomogram", "Nomogram")),
    ("pca", "PCA", _models_section("pca", "PCA")),
    ("gradcam", "Deep model: Grad-CAM examples", _gradcam),
    ("deep-comparison", "Deep model: backbone and hyper-parameter comparison", _deep_comparison),
    ("deep-features", "Deep features: cross-fitted and ICC-filtered", _deep_features),
    ("deep-models", "Models on the cross-fitted deep features", _deep_models),
    ("provenance", "Provenance", _provenance),
)


def render(
    results: Any,
    out_path: str | os.PathLike,
    *,
    synthetic: bool | None = None,
    title: str = "HER2 radiogenomics report",
    figures_dir: str | os.PathLike | None = None,
) -> Path:
    """Render a run's results as one self-contained HTML report.

    Parameters
    ----------
    results
        :class:`~radiogenomics.Results` (:func:`radiogenomics.read_results`), or a results
        folder, which is read.
    out_path
        HTML file to write (atomically).
    synthetic
        Show the SYNTHETIC DATA banner. ``None`` (default): when any stage's inputs were synthetic.
    title
        Title of the report.
    figures_dir
        Also save every figure the report shows as PNG in this folder (for Snakemake's report).

    Returns
    -------
    pathlib.Path
        The written HTML file.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from jinja2 import Environment, PackageLoader, select_autoescape

    from .. import __version__
    from .._results import Results, read_results

    if not isinstance(results, Results):
        results = read_results(results)
    folder = Path(figures_dir) if figures_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True, mode=umask_mode(0o777))
    figs = _Figures(folder)
    if synthetic is None:
        synthetic = results.synthetic

    sections: list[_Section] = []
    for sid, stitle, build in _BUILDERS:
        try:
            sec = build(results, figs)
        except _NotRunError as exc:
            sec = _Section(sid, stitle, status="notrun", reason=str(exc))
        except Exception as exc:  # noqa: BLE001  (one broken section must not sink the report)
            log.warning("report section %r failed: %s: %s", sid, type(exc).__name__, exc)
            sec = _Section(sid, stitle, status="error", reason=f"{type(exc).__name__}: {exc}")
        if sec.status != "ok":
            log.info("report section %r: %s (%s)", sid, sec.status, sec.reason)
        sec.intro = INTRODUCTIONS.get(sid, "")
        sections.append(sec)

    env = Environment(loader=PackageLoader("radiogenomics.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    page_title = title if not synthetic or "SYNTHETIC" in title.upper() else f"{title} (SYNTHETIC DATA)"
    network = any(s.network for s in sections)
    html = env.get_template("report.html.j2").render(
        title=title,
        page_title=page_title,
        synthetic=bool(synthetic),
        sections=sections,
        version=__version__,
        created=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        results_dir=str(results.root),
        cytoscape_js=_vendor("cytoscape.min.js") if network else "",
        cytoscape_version=CYTOSCAPE_VERSION,
    )
    out = Path(out_path)
    with atomic_write(out) as fh:
        fh.write(html)
    n_ok = sum(s.status == "ok" for s in sections)
    log.info("wrote report %s (%d of %d sections rendered)", out, n_ok, len(sections))
    return out
