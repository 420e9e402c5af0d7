"""Figures of the models stage. Every function returns a matplotlib Figure (never shows or saves)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import auc as _area
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_curve,
)

from .._validation import InputError
from ._style import captioned

__all__ = [
    "plot_roc",
    "plot_precision_recall",
    "plot_confusion_matrices",
    "plot_learning_curves",
    "plot_pca_variance",
    "plot_lasso",
    "plot_calibration",
    "plot_decision_curve",
    "plot_nomogram",
    "plot_split_auc",
    "models",
]


def _labels(scores: pd.DataFrame, labels: Any) -> np.ndarray:
    y = np.asarray(labels.loc[scores.index] if isinstance(labels, pd.Series) else labels).astype(int)
    return y


def plot_roc(
    scores: pd.DataFrame,
    labels: pd.Series | np.ndarray,
    *,
    ci: Mapping[str, tuple[float, float]] | None = None,
    title: str = "ROC curves",
) -> Figure:
    """ROC curves of several models on one plot, with AUC (and CI) in the legend.

    Parameters
    ----------
    scores
        Rows = samples, one column of scores per model.
    labels
        0/1 outcomes (a Series is aligned on ``scores``' index).
    ci
        Model -> (low, high) AUC interval shown in the legend.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    y = _labels(scores, labels)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    for name in scores.columns:
        fpr, tpr, _ = roc_curve(y, scores[name].to_numpy(float))
        label = f"{name} (AUC {_area(fpr, tpr):.3f}"
        if ci and name in ci:
            label += f", {ci[name][0]:.3f}-{ci[name][1]:.3f}"
        ax.plot(fpr, tpr, lw=1.5, label=label + ")")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="Sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=7)
    return fig


def plot_precision_recall(scores: pd.DataFrame, labels: pd.Series | np.ndarray, *, title: str = "Precision-recall") -> Figure:
    """Precision–recall curves with average precision; the prevalence is the no-skill line.

    Parameters
    ----------
    scores
        Rows = samples, one column per model.
    labels
        0/1 outcomes.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    y = _labels(scores, labels)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    for name in scores.columns:
        s = scores[name].to_numpy(float)
        prec, rec, _ = precision_recall_curve(y, s)
        ax.plot(rec, prec, lw=1.5, label=f"{name} (AP {average_precision_score(y, s):.3f})")
    ax.axhline(y.mean(), ls="--", color="grey", lw=1, label=f"prevalence {y.mean():.2f}")
    ax.set(xlabel="Recall (sensitivity)", ylabel="Precision (PPV)", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left", fontsize=7)
    return fig


def plot_confusion_matrices(predicted: pd.DataFrame, labels: pd.Series | np.ndarray, *,
                            title: str = "Confusion matrices") -> Figure:
    """One confusion matrix per model (rows = truth, columns = prediction).

    Parameters
    ----------
    predicted
        Rows = samples, one 0/1 column per model.
    labels
        0/1 outcomes.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    y = _labels(predicted, labels)
    k = predicted.shape[1]
    ncol = min(4, k)
    nrow = int(np.ceil(k / ncol))
    fig = Figure(figsize=(2.6 * ncol, 2.5 * nrow + 0.4))
    for i, name in enumerate(predicted.columns):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        cm = confusion_matrix(y, predicted[name].to_numpy(int), labels=[0, 1])
        ax.imshow(cm, cmap="Blues")
        for (r, c), v in np.ndenumerate(cm):
            ax.text(c, r, str(v), ha="center", va="center", color="black" if v < cm.max() / 2 else "white")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["neg", "pos"], yticklabels=["neg", "pos"],
               xlabel="Predicted", ylabel="True", title=str(name))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_learning_curves(table: pd.DataFrame, *, title: str = "Learning curves") -> Figure:
    """Training and cross-validated AUC against training size, one panel per classifier.

    Parameters
    ----------
    table
        Output of :func:`radiogenomics.models.learning_curves`.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(dict.fromkeys(table["classifier"]))
    ncol = min(4, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig = Figure(figsize=(3 * ncol, 2.6 * nrow + 0.4))
    for i, name in enumerate(names):
        t = table[table["classifier"] == name]
        ax = fig.add_subplot(nrow, ncol, i + 1)
        for kind, colour in (("train", "tab:blue"), ("test", "tab:orange")):
            m, s = t[f"{kind}_auc_mean"], t[f"{kind}_auc_sd"]
            ax.plot(t["train_size"], m, "o-", color=colour, ms=3, label="training" if kind == "train" else "cross-validated")
            ax.fill_between(t["train_size"], m - s, m + s, color=colour, alpha=0.2)
        ax.set(title=str(name), xlabel="Training samples", ylabel="AUC", ylim=(0.3, 1.02))
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_pca_variance(table: pd.DataFrame, n_components: int, *, variance: float = 0.91) -> Figure:
    """Explained and cumulative variance of the principal components, with the chosen cut.

    Parameters
    ----------
    table
        First output of :func:`radiogenomics.models.pca_variance`.
    n_components
        Components kept.
    variance
        Target fraction shown as a horizontal line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.bar(table["component"], table["explained_variance_ratio"], color="lightgrey", label="per component")
    ax.plot(table["component"], table["cumulative_variance"], "o-", ms=3, label="cumulative")
    ax.axhline(variance, ls="--", color="tab:red", lw=1, label=f"{variance:.0%} of variance")
    ax.axvline(n_components, ls=":", color="tab:red", lw=1)
    ax.text(n_components, 0.05, f" {n_components} components", color="tab:red")
    ax.set(xlabel="Principal component", ylabel="Explained variance", ylim=(0, 1.02), title="PCA")
    ax.legend(fontsize=8, loc="center right")
    return fig


def plot_lasso(
    lasso: Any,
    coefficients: pd.DataFrame | None = None,
    *,
    C: float | None = None,
    top: int = 25,
    title: str = "LASSO path",
) -> Figure:
    """LASSO: cross-validated AUC against log(lambda) and the selected coefficients.

    Parameters
    ----------
    lasso
        A :class:`radiogenomics.models.LassoResult`, or its CV-curve table (``log_lambda``,
        ``auc_mean``, ``auc_sd``, ``n_nonzero``, and ``C``; a models result's ``lasso_cv``
        also marks the penalty used in ``chosen``).
    coefficients
        With a table: the coefficients (``feature``, ``coefficient``, ``selected``).
    C
        With a table: the penalty used (default: the row marked ``chosen``).
    top
        Largest absolute coefficients shown.
    title
        Title of the path panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(lasso, pd.DataFrame):
        curve = lasso
        if coefficients is None:
            raise InputError("plot_lasso: with a CV-curve table, pass the coefficients table too.")
        if C is None and "chosen" in curve.columns and curve["chosen"].astype(bool).any():
            C = float(curve.loc[curve["chosen"].astype(bool), "C"].iloc[0])
        n_selected = int(coefficients["selected"].astype(bool).sum())
    else:
        curve, coefficients = lasso.cv_curve, lasso.coefficients
        C = lasso.C if C is None else C
        n_selected = len(lasso.selected)
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    c = curve
    ax1.errorbar(c["log_lambda"], c["auc_mean"], yerr=c["auc_sd"], fmt="o-", ms=3, capsize=2)
    if C is not None:
        ax1.axvline(-np.log(C), ls="--", color="tab:red", lw=1)
    tw = ax1.twinx()
    tw.plot(c["log_lambda"], c["n_nonzero"], color="grey", lw=1)
    tw.set_ylabel("non-zero coefficients", color="grey")
    ax1.set(xlabel="log(lambda) = -log(C)", ylabel="Cross-validated AUC", title=title)
    coefs = coefficients[coefficients["coefficient"] != 0]
    coefs = coefs.reindex(coefs["coefficient"].abs().sort_values(ascending=False).index).head(top)
    ax2.barh(coefs["feature"].astype(str)[::-1], coefs["coefficient"][::-1],
             color=["tab:red" if v > 0 else "tab:blue" for v in coefs["coefficient"][::-1]])
    ax2.set(xlabel="Coefficient (standardised)", title=f"{n_selected} selected features")
    ax2.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def plot_calibration(tables: Mapping[str, pd.DataFrame] | pd.DataFrame, *, title: str = "Calibration") -> Figure:
    """Calibration curves with their Brier scores.

    Parameters
    ----------
    tables
        Model -> output of :func:`radiogenomics.models.calibration_table` (Brier score in
        ``attrs["brier"]``), or one long table with ``classifier`` and ``brier`` columns (a
        models result's ``calibration``).
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(tables, pd.DataFrame):
        tables = {str(k): g for k, g in tables.groupby("classifier", sort=False)}
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    for name, t in tables.items():
        brier = float(t["brier"].iloc[0]) if "brier" in t.columns else t.attrs.get("brier", np.nan)
        ax.plot(t["mean_predicted"], t["observed_fraction"], "o-", ms=3, label=f"{name} (Brier {brier:.3f})")
    ax.set(xlabel="Predicted probability", ylabel="Observed fraction positive", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_decision_curve(table: pd.DataFrame, *, title: str = "Decision curve") -> Figure:
    """Net benefit against threshold probability, with treat-all and treat-none.

    Parameters
    ----------
    table
        Output of :func:`radiogenomics.models.decision_curve`.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    for name in dict.fromkeys(table["model"]):
        t = table[table["model"] == name]
        style = {"all": dict(color="grey", ls="--"), "none": dict(color="black", ls=":")}.get(name, {})
        ax.plot(t["threshold"], t["net_benefit"], lw=1.5, label={"all": "treat all", "none": "treat none"}.get(name, name), **style)
    prev = float(table["prevalence"].iloc[0])
    ax.set(xlabel="Threshold probability", ylabel="Net benefit", ylim=(-0.05, max(prev, 0.05) * 1.1), xlim=(0, 1), title=title)
    ax.legend(fontsize=7)
    return fig


def plot_nomogram(
    nomogram: Any,
    points: pd.DataFrame | None = None,
    total_points: pd.DataFrame | None = None,
    *,
    title: str = "Nomogram",
) -> Figure:
    """Draw a nomogram: a points axis, one axis per variable, total points and probability.

    Parameters
    ----------
    nomogram
        A :class:`radiogenomics.models.Nomogram`, or its coefficients table (a models result's
        ``nomogram_coefficients``).
    points, total_points
        With a coefficients table: the ``nomogram_points`` and ``nomogram_total_points`` tables.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(nomogram, pd.DataFrame):
        from ..models.clinical import Nomogram

        if points is None or total_points is None:
            raise InputError("plot_nomogram: with a coefficients table, pass the points and total_points tables too.")
        nomogram = Nomogram.from_tables(nomogram, points, total_points)
    coef = nomogram.coefficients
    n_rows = len(coef) + 3
    fig = Figure(figsize=(8, 0.55 * n_rows + 0.8))
    ax = fig.add_subplot()
    max_pts = float(coef["max_points"].max())
    total_max = float(nomogram.total_points["total_points"].max())
    row = n_rows - 1

    def axis(y: float, ticks: list[tuple[float, str]], label: str, span: tuple[float, float]) -> None:
        ax.plot(span, [y, y], color="black", lw=1)
        for x, txt in ticks:
            ax.plot([x, x], [y, y + 0.12], color="black", lw=1)
            ax.text(x, y + 0.18, txt, ha="center", va="bottom", fontsize=7)
        ax.text(-0.02 * max_pts, y, label, ha="right", va="center", fontsize=9)

    pts = np.linspace(0, max_pts, 11)
    axis(row, [(p, f"{p:.0f}") for p in pts], "Points", (0, max_pts))
    for _, c in coef.iterrows():
        row -= 1
        t = nomogram.points[nomogram.points["variable"] == c["variable"]]
        ticks = [(float(p), f"{v:.3g}") for v, p in zip(t["value"], t["points"])]
        xs = [p for p, _ in ticks]
        if len(ticks) > 2 and max(xs) - min(xs) < 0.25 * max_pts:  # short axis: label its ends only
            ticks = [ticks[0], ticks[-1]]
        axis(row, ticks, str(c["variable"]), (min(xs), max(xs)))
    # total points, rescaled onto the points axis width
    row -= 1
    f = max_pts / total_max if total_max > 0 else 1.0
    tp = nomogram.total_points
    axis(row, [(float(x) * f, f"{x:.0f}") for x in tp["total_points"]], "Total points", (0, max_pts))
    row -= 1
    probs = [p for p in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)]
    base = float(tp["linear_predictor"].iloc[0])
    ticks = []
    for p in probs:
        lp = np.log(p / (1 - p))
        x = (lp - base) / nomogram.scale
        if 0 <= x <= total_max:
            ticks.append((x * f, f"{p:g}"))
    axis(row, ticks, "Probability", (0, max_pts))
    ax.set_xlim(-0.35 * max_pts, 1.05 * max_pts)
    ax.set_ylim(-0.5, n_rows)
    ax.axis("off")
    ax.set_title(title)
    return fig


def plot_split_auc(splits: pd.DataFrame, *, title: str = "AUC over repeated splits") -> Figure:
    """Box plots of the per-split AUC per classifier: one panel per feature set, protocols side by side.

    Parameters
    ----------
    splits
        ``SplitResult.splits`` (a ``protocol`` column, ``paper`` / ``nested``; without one every
        row counts as ``paper``).
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The paper protocol (features selected on all patients) in light hatched boxes, the
        nested one (selection inside each split) in solid boxes; a dot marks each box's mean.
    """
    if "protocol" not in splits.columns:
        splits = splits.assign(protocol="paper")
    sets = list(dict.fromkeys(splits["feature_set"]))
    clfs = list(dict.fromkeys(splits["classifier"]))
    protocols = [p for p in ("paper", "nested") if (splits["protocol"] == p).any()]
    style = {"paper": {"facecolor": "#f4c58a", "hatch": "//", "label": "paper (selected on all patients)"},
             "nested": {"facecolor": "#4c78a8", "hatch": "", "label": "nested (selected inside each split)"}}
    fig = Figure(figsize=(max(6.0, 0.9 * len(clfs) * len(protocols) + 1.5), 3.6 * len(sets) + 0.6))
    width = 0.8 / len(protocols)
    for i, fs in enumerate(sets):
        ax = fig.add_subplot(len(sets), 1, i + 1)
        sub = splits[splits["feature_set"] == fs]
        for j, protocol in enumerate(protocols):
            data = [sub.loc[(sub["protocol"] == protocol) & (sub["classifier"] == c), "auc"].dropna().to_numpy()
                    for c in clfs]
            pos = np.arange(len(clfs)) + (j - (len(protocols) - 1) / 2) * width
            keep = [k for k, d in enumerate(data) if d.size]
            if not keep:
                continue
            bp = ax.boxplot([data[k] for k in keep], positions=pos[keep], widths=width * 0.85, patch_artist=True,
                            showfliers=False)
            for patch in bp["boxes"]:
                patch.set_facecolor(style[protocol]["facecolor"])
                patch.set_hatch(style[protocol]["hatch"])
                patch.set_alpha(0.85)
            ax.plot(pos[keep], [data[k].mean() for k in keep], "o", color="black", ms=3)
            if i == 0:
                ax.bar([np.nan], [np.nan], color=style[protocol]["facecolor"], hatch=style[protocol]["hatch"],
                       label=style[protocol]["label"])
        ax.axhline(0.5, ls="--", color="grey", lw=1)
        ax.set_xticks(np.arange(len(clfs)), clfs)
        ax.set(ylabel="Test AUC", title=f"feature set '{fs}'")
        if i == 0:
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def models(result: Any) -> dict[str, Figure]:
    """The figures of a models result, drawn from its tables only (a result read back draws the same).

    Parameters
    ----------
    result
        A :class:`~radiogenomics.models.ModelsResult`.

    Returns
    -------
    dict
        Those of ``split_auc``, ``pca_variance``, ``lasso``, ``learning_curves``, ``roc``,
        ``precision_recall``, ``confusion_matrices``, ``calibration``, ``decision_curve``,
        ``nomogram`` and ``nomogram_calibration`` whose tables the result holds; each figure's caption names the feature
        set and the cohort it shows.
    """
    from ..models.evaluate import COHORTS
    from ..models.metrics import delong_ci
    from ..models.validation import _wide_scores

    figs: dict[str, Figure] = {}
    p = result.parameters
    primary = result.primary_feature_set
    train = f"the '{primary}' features of the training cohort"
    if result.splits is not None:
        sets = ", ".join(f"'{s}'" for s in dict.fromkeys(result.splits["feature_set"]))
        n = int(result.splits["split"].nunique())
        both = "protocol" in result.splits.columns and result.splits["protocol"].nunique() > 1
        figs["split_auc"] = captioned(
            plot_split_auc(result.splits),
            f"Test AUC of each classifier over {n} repeated stratified train/test splits of the training cohort, "
            f"feature set(s) {sets} on the same splits"
            + ("; hatched: the paper protocol (features selected on all patients, so every split's test patients "
               "helped choose them: optimistic), solid: the nested protocol (the same selection inside each "
               "split's training part: the honest estimate)." if both else "."))
    if result.pca is not None:
        n_comp = int(result.pca["kept"].sum())
        variance = float(p.get("variance", result.pca["cumulative_variance"].iloc[max(n_comp - 1, 0)]))
        figs["pca_variance"] = captioned(
            plot_pca_variance(result.pca, n_comp, variance=variance),
            f"Explained variance of the principal components of {train}: {n_comp} component(s) reach "
            f"{variance:.0%} of the variance.")
    if result.lasso_cv is not None and result.lasso_coefficients is not None:
        n_sel = int(result.lasso_coefficients["selected"].astype(bool).sum())
        figs["lasso"] = captioned(
            plot_lasso(result.lasso_cv, result.lasso_coefficients),
            f"LASSO (L1 logistic regression) on {train}: cross-validated AUC along the penalty path (dashed: "
            f"the penalty used) and the {n_sel} selected feature(s).")
    if result.learning_curves is not None:
        figs["learning_curves"] = captioned(
            plot_learning_curves(result.learning_curves),
            f"Learning curves on {train}: training and cross-validated AUC against the training-set size.")
    if result.validation_predictions is not None or result.oof_predictions is not None:
        cohort = COHORTS[result.evaluation_cohort]
        pred = result.predictions()
        scores, labels = _wide_scores(pred)
        predicted = pred.pivot(index="sample", columns="classifier", values="predicted")[list(scores.columns)]
        y = labels.to_numpy()
        ci = {c: (d["ci_low"], d["ci_high"]) for c in scores.columns for d in [delong_ci(y, scores[c])]}
        where = f"the '{primary}' features, {cohort}"
        figs["roc"] = captioned(
            plot_roc(scores, labels, ci=ci, title=f"ROC ({primary}, {cohort})"),
            f"ROC curves of every classifier on {where}; AUC with its DeLong 95% CI in the legend.")
        figs["precision_recall"] = captioned(
            plot_precision_recall(scores, labels, title=f"Precision-recall ({primary}, {cohort})"),
            f"Precision-recall curves of every classifier on {where}; the dashed line is the prevalence.")
        rule = ("at the Youden threshold chosen on the training cohort's out-of-fold predictions"
                if result.evaluation_cohort == "validation" else
                "each fold's patients classified at the Youden threshold chosen inside that fold's training part "
                "(inner cross-validation), never on the scores it classifies")
        figs["confusion_matrices"] = captioned(
            plot_confusion_matrices(predicted, labels.loc[predicted.index],
                                    title=f"Confusion matrices ({primary}, {cohort})"),
            f"Confusion matrices on {where}, {rule}.")
    if result.calibration is not None:
        figs["calibration"] = captioned(
            plot_calibration(result.calibration, title=f"Calibration ({COHORTS[result.evaluation_cohort]})"),
            f"Calibration of every classifier's predicted probability on the '{primary}' features, "
            f"{COHORTS[result.evaluation_cohort]}; Brier score in the legend.")
    if result.decision_curve is not None:
        figs["decision_curve"] = captioned(
            plot_decision_curve(result.decision_curve, title=f"Decision curve ({COHORTS[result.evaluation_cohort]})"),
            f"Decision curves (net benefit against threshold probability) of every classifier on the '{primary}' "
            f"features, {COHORTS[result.evaluation_cohort]}, with treat-all and treat-none.")
    if result.nomogram_coefficients is not None and result.nomogram_points is not None \
            and result.nomogram_total_points is not None:
        variables = ", ".join(str(v) for v in result.nomogram_coefficients["variable"])
        figs["nomogram"] = captioned(
            plot_nomogram(result.nomogram_coefficients, result.nomogram_points, result.nomogram_total_points),
            f"Nomogram of a logistic model fitted on the training cohort: radiomic score (out-of-fold logistic "
            f"regression on the '{primary}' features) and clinical variables ({variables}).")
    nv = getattr(result, "nomogram_validation", None)
    nc = getattr(result, "nomogram_calibration", None)
    if nc is not None and len(nc):
        tables = {}
        for cohort, g in nc.groupby("cohort", sort=False):
            row = nv[nv["cohort"] == cohort].iloc[0] if nv is not None and (nv["cohort"] == cohort).any() else None
            label = f"nomogram, {cohort}" + (f" (AUC {row['auc']:.3f}, slope {row['calibration_slope']:.2f})"
                                               if row is not None else "")
            tables[label] = g.assign(brier=float(row["brier"]) if row is not None else np.nan)
        figs["nomogram_calibration"] = captioned(
            plot_calibration(tables, title="Nomogram calibration"),
            "Calibration of the nomogram's predicted probability on the training cohort (apparent: the patients it "
            "was fitted on) and on the validation cohort (independent); AUC, calibration slope and Brier score in "
            "the legend.")
    return figs
