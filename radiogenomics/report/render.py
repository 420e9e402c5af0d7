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
        cap = caption or fig.get_label() or name.replace("_", " ")
        sec.figures.append(_Figure(caption=cap, data=base64.b64encode(data).decode("ascii"), name=name))

    def add_all(self, sec: _Section, figures: Mapping[str, Any], *, prefix: str, names: tuple[str, ...] | None = None) -> None:
        for name in (names if names is not None else tuple(figures)):
            if name in figures:
                self.add(sec, figures[name], f"{prefix}_{name}")


def _html_table(df: pd.DataFrame, *, max_rows: int = 25, index: bool = True) -> str:
    shown = df.head(max_rows)
    if isinstance(df.index, pd.RangeIndex):
        index = False
    html = shown.to_html(classes="data", border=0, index=index, float_format=lambda v: f"{v:.4g}",
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
        if len(res.extraction.dropped):
            sec.notes.append(f"{len(res.extraction.dropped)} image(s) failed extraction; see the imaging stage's "
                             "dropped table.")
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
    cols = [c for c in ("mean_positive", "mean_negative", "fold_change", "p_value", "q_value", "direction") if c in table]
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
    cols = [c for c in ("observed", "permutation_mean", "permutation_low95", "permutation_high95", "empirical_p",
                        "empirical_fdr", "beats_null", "expected_binomial", "binomial_low99", "binomial_high99",
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
    cols = [c for c in ("feature", "library", "term", "overlap", "set_size", "p_value", "q_value", "odds_ratio",
                        "empirical_fdr", "beats_null") if c in table]
    sec.tables.append(_Table("Enriched terms (smallest q first; the feature's verdict against the null on the right)",
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
    if mod.graph is not None:
        sec.notes.append("Network exports for Cytoscape / Gephi are in the module stage's folder (GraphML, "
                         "Cytoscape.js JSON, node and edge tables); feature nodes carry beats_null, empirical_p "
                         "and empirical_fdr.")
    sec.tables.append(_Table("Feature module", _html_table(mod.module, index=False)))
    return sec


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


def _models_section(key: str, title: str) -> Callable[[Any, _Figures], _Section]:
    fig_names, table_names = _MODEL_SECTIONS[key]

    def build(res: Any, figs: _Figures) -> _Section:
        models = _need(res.models, "models")
        sec = _Section(key, title)
        if key == "models":
            sec.notes.append(_protocol_note(models))
            infl = models.protocol_inflation() if hasattr(models, "protocol_inflation") else None
            if infl is not None and len(infl):
                sec.tables.append(_Table("Paper protocol against nested protocol (mean split AUC, paired)",
                                         _html_table(infl, max_rows=50)))
        figs.add_all(sec, figs.of(models), prefix="models", names=fig_names)
        tables = models.tables()
        for name in table_names:
            t = tables.get(name)
            if t is not None:
                sec.tables.append(_Table(name.replace("_", " ").capitalize(),
                                         _html_table(t, index=not isinstance(t.index, pd.RangeIndex))))
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


def _provenance(res: Any, figs: _Figures) -> _Section:
    sec = _Section("provenance", "Provenance")
    rows, inputs = [], []
    packages: dict[str, Any] = {}
    for folder, rec in res.provenance.items():
        rows.append({
            "folder": folder, "stage": rec.get("stage", ""), "created": rec.get("created", ""),
            "synthetic": rec.get("synthetic", False),
            "parameters": ", ".join(f"{k}={v}" for k, v in (rec.get("parameters") or {}).items()),
            "seeds": ", ".join(f"{k}={v}" for k, v in (rec.get("seeds") or {}).items()),
        })
        for key, entry in (rec.get("inputs") or {}).items():
            inputs.append({"stage": rec.get("stage", ""), "input": key, "path": (entry or {}).get("path", ""),
                           "sha256": ((entry or {}).get("sha256") or "")[:16]})
        packages = packages or {k: v for k, v in (rec.get("packages") or {}).items() if v}
    if not rows:
        raise _NotRunError("no stage recorded its provenance")
    sec.tables.append(_Table("Stages (parameters and seeds)", _html_table(pd.DataFrame(rows), max_rows=100, index=False)))
    if inputs:
        sec.tables.append(_Table("Input files (SHA-256, first 16 hex digits)",
                                 _html_table(pd.DataFrame(inputs), max_rows=100, index=False)))
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
        sections.append(sec)

    env = Environment(loader=PackageLoader("radiogenomics.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(
        title=title,
        synthetic=bool(synthetic),
        sections=sections,
        version=__version__,
        created=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        results_dir=str(results.root),
    )
    out = Path(out_path)
    with atomic_write(out) as fh:
        fh.write(html)
    n_ok = sum(s.status == "ok" for s in sections)
    log.info("wrote report %s (%d of %d sections rendered)", out, n_ok, len(sections))
    return out
