"""Figures of the models stage. Every function returns a matplotlib Figure (never shows or saves)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import auc as _area
from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_curve, roc_curve

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


def plot_lasso(result: Any, *, top: int = 25) -> Figure:
    """LASSO: cross-validated AUC against log(lambda) and the selected coefficients.

    Parameters
    ----------
    result
        A :class:`radiogenomics.models.LassoResult`.
    top
        Largest absolute coefficients shown.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    c = result.cv_curve
    ax1.errorbar(c["log_lambda"], c["auc_mean"], yerr=c["auc_sd"], fmt="o-", ms=3, capsize=2)
    ax1.axvline(-np.log(result.C), ls="--", color="tab:red", lw=1)
    tw = ax1.twinx()
    tw.plot(c["log_lambda"], c["n_nonzero"], color="grey", lw=1)
    tw.set_ylabel("non-zero coefficients", color="grey")
    ax1.set(xlabel="log(lambda) = -log(C)", ylabel="Cross-validated AUC", title="LASSO path")
    coefs = result.coefficients[result.coefficients["coefficient"] != 0]
    coefs = coefs.reindex(coefs["coefficient"].abs().sort_values(ascending=False).index).head(top)
    ax2.barh(coefs["feature"].astype(str)[::-1], coefs["coefficient"][::-1],
             color=["tab:red" if v > 0 else "tab:blue" for v in coefs["coefficient"][::-1]])
    ax2.set(xlabel="Coefficient (standardised)", title=f"{len(result.selected)} selected features")
    ax2.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def plot_calibration(tables: Mapping[str, pd.DataFrame], *, title: str = "Calibration") -> Figure:
    """Calibration curves with their Brier scores.

    Parameters
    ----------
    tables
        Model -> output of :func:`radiogenomics.models.calibration_table`.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    for name, t in tables.items():
        brier = t.attrs.get("brier", np.nan)
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


def plot_nomogram(nomogram: Any, *, title: str = "Nomogram") -> Figure:
    """Draw a nomogram: a points axis, one axis per variable, total points and probability.

    Parameters
    ----------
    nomogram
        A :class:`radiogenomics.models.Nomogram`.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
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
    """Box plots of the per-split AUC per classifier, feature sets side by side.

    Parameters
    ----------
    splits
        ``SplitResult.splits``.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    sets = list(dict.fromkeys(splits["feature_set"]))
    clfs = list(dict.fromkeys(splits["classifier"]))
    fig = Figure(figsize=(max(6, 1.1 * len(clfs) * len(sets)), 4.5))
    ax = fig.add_subplot()
    width = 0.8 / len(sets)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for j, fs in enumerate(sets):
        data = [splits.loc[(splits["feature_set"] == fs) & (splits["classifier"] == c), "auc"].dropna().to_numpy()
                for c in clfs]
        pos = np.arange(len(clfs)) + (j - (len(sets) - 1) / 2) * width
        bp = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False)
        for patch in bp["boxes"]:
            patch.set_facecolor(colours[j % len(colours)])
            patch.set_alpha(0.6)
        ax.plot([], [], color=colours[j % len(colours)], lw=6, alpha=0.6, label=str(fs))
    ax.axhline(0.5, ls="--", color="grey", lw=1)
    ax.set_xticks(np.arange(len(clfs)), clfs)
    ax.set(ylabel="Test AUC", title=title)
    ax.legend(fontsize=8)
    return fig


def models(result: Any) -> dict[str, Figure]:
    """The figures of a models result (to be filled by the stage's own plotting).

    Parameters
    ----------
    result
        The stage's result.

    Returns
    -------
    dict
        Name → figure.
    """
    return {}
