"""Figures of the models stage. Every function returns a matplotlib Figure (never shows or saves)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from ._style import captioned, logs_warnings

__all__ = [
    "plot_roc",
    "plot_roc_by_set",
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


def _roc_axes(ax: Any, scores: pd.DataFrame, y: np.ndarray, ci: Mapping[str, tuple[float, float]] | None,
              title: str) -> None:
    for name in scores.columns:
        fpr, tpr, _ = roc_curve(y, scores[name].to_numpy(float))
        label = f"{name} (AUC {_area(fpr, tpr):.3f}"
        if ci and name in ci:
            label += f", {ci[name][0]:.3f}-{ci[name][1]:.3f}"
        ax.plot(fpr, tpr, lw=1.5, label=label + ")")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="Sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=7)


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
    _roc_axes(fig.add_subplot(), scores, y, ci, title)
    return fig


def plot_roc_by_set(predictions: pd.DataFrame, *, title: str = "ROC curves") -> Figure:
    """ROC curves of every classifier, one panel per feature set, AUC and DeLong 95% CI in each legend.

    Parameters
    ----------
    predictions
        Long table (a models result's ``validation_predictions`` or ``oof_predictions`` of one
        cohort): ``sample``, ``feature_set``, ``classifier``, ``label``, ``score``.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..models.metrics import delong_ci
    from ..models.validation import _wide_scores

    sets = list(dict.fromkeys(predictions["feature_set"]))
    ncol = min(3, max(len(sets), 1))
    nrow = int(np.ceil(len(sets) / ncol))
    fig = Figure(figsize=(4.6 * ncol, 4.4 * nrow + 0.4))
    for i, fs in enumerate(sets):
        scores, labels = _wide_scores(predictions[predictions["feature_set"] == fs])
        y = labels.to_numpy(int)
        ci = {c: (d["ci_low"], d["ci_high"]) for c in scores.columns for d in [delong_ci(y, scores[c])]}
        _roc_axes(fig.add_subplot(nrow, ncol, i + 1), scores, y, ci, f"feature set '{fs}' (n={len(y)})")
    fig.suptitle(title)
    fig.tight_layout()
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
        low = np.nanmin(t[["train_auc_mean", "test_auc_mean"]].to_numpy(float)
                         - t[["train_auc_sd", "test_auc_sd"]].fillna(0).to_numpy(float))
        ax.axhline(0.5, ls=":", color="grey", lw=0.8)
        ax.set(title=str(name), xlabel="Training samples", ylabel="AUC",
               ylim=(max(0.0, min(0.4, np.floor(low * 10) / 10)) if np.isfinite(low) else 0.4, 1.02))
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


#: Font size (points) of the nomogram's tick labels, and the least gap (points) between two of them.
_TICK_FONT = 7.0
_TICK_PAD = 4.0


def _text_width(text: str, fontsize: float = _TICK_FONT) -> float:
    """Width in points of ``text`` at ``fontsize`` in the default font (the renderer's own measure)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    width, _, _ = text_to_path.get_text_width_height_descent(text, FontProperties(size=fontsize), ismath=False)
    return float(width)


def _tick_label(value: float, digits: int | None = None) -> str:
    """A tick value as written on an axis: ``29``, ``32.5``, ``0.3``, ``-2`` (never ``-0`` or float noise).

    ``digits``: significant digits (for an observed end such as ``-3.215`` -> ``-3.22``); ``None``
    writes a round tick value exactly.
    """
    if abs(value) < 1e-12:
        return "0"
    if digits is None:
        return np.format_float_positional(round(float(value), 10), trim="-")
    return np.format_float_positional(float(value), precision=digits, unique=True, fractional=False, trim="-")


def _labels_fit(xs: Sequence[float], labels: Sequence[str], pt_per_unit: float) -> bool:
    """True when centred labels at ``xs`` (data units) keep at least ``_TICK_PAD`` points apart."""
    order = np.argsort(xs)
    x = np.asarray(xs, float)[order] * pt_per_unit
    w = np.array([_text_width(labels[i]) for i in order])
    return bool(np.all(np.diff(x) >= (w[1:] + w[:-1]) / 2 + _TICK_PAD))


def _value_ticks(vmin: float, vmax: float, to_x: Any, pt_per_unit: float, *, binary: bool = False,
                 max_ticks: int = 11) -> list[tuple[float, str, str]]:
    """Ticks of one nomogram axis: (x, label, alignment), as many as fit without two labels touching.

    Round values inside the observed range ``[vmin, vmax]`` (``MaxNLocator``), the most that fit
    the axis' length in points; when not even two fit, the two ends are labelled outward (the
    lower end's label ending at its tick, the upper one's starting at its tick), so they can
    never overprint.
    """
    from matplotlib.ticker import MaxNLocator

    if binary:
        candidates = [np.array([0.0, 1.0])]
    else:
        candidates = []
        for nbins in range(max_ticks, 0, -1):
            locs = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
            span = vmax - vmin
            locs = locs[(locs >= vmin - 1e-9 * span) & (locs <= vmax + 1e-9 * span)]
            if len(locs) >= 2 and not any(len(c) == len(locs) and np.allclose(c, locs) for c in candidates):
                candidates.append(locs)
    for locs in candidates:
        labels = [_tick_label(v) for v in locs]
        xs = [float(to_x(v)) for v in locs]
        if _labels_fit(xs, labels, pt_per_unit):
            return [(x, t, "center") for x, t in zip(xs, labels)]
    # not even two round values fit: label the observed ends, outward
    ends = sorted([(float(to_x(vmin)), _tick_label(vmin, 3)), (float(to_x(vmax)), _tick_label(vmax, 3))])
    return [(ends[0][0], ends[0][1], "right"), (ends[1][0], ends[1][1], "left")]


#: Probabilities offered to the nomogram's probability axis, roundest first (taken while they fit).
_PROBABILITIES = (0.5, 0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.05, 0.95, 0.01, 0.99, 0.02, 0.98,
                  0.001, 0.999, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85)


def _probability_ticks(to_x: Any, x_max: float, pt_per_unit: float) -> list[tuple[float, str, str]]:
    """Probability ticks inside ``[0, x_max]``, roundest first, each kept only if it overprints none kept."""
    kept: list[tuple[float, str]] = []
    for p in _PROBABILITIES:
        x = float(to_x(p))
        if not 0 <= x <= x_max:
            continue
        trial = [*kept, (x, f"{p:g}")]
        if _labels_fit([t[0] for t in trial], [t[1] for t in trial], pt_per_unit):
            kept = trial
    return [(x, t, "center") for x, t in sorted(kept)]


def plot_nomogram(
    nomogram: Any,
    points: pd.DataFrame | None = None,
    total_points: pd.DataFrame | None = None,
    *,
    title: str = "Nomogram",
) -> Figure:
    """Draw a nomogram: a points axis, one axis per variable, total points and probability.

    Every variable's axis spans its observed range (``minimum`` to ``maximum`` of the
    coefficients table) at its true length in points; its ticks are round values, as many as
    fit the axis' length in points without two labels touching (measured with the font's own
    widths), and the two ends labelled outward when not even two fit. The probability axis
    takes the roundest probabilities that fall on the total-points axis and fit there.

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
    width_in = 8.0
    fig = Figure(figsize=(width_in, 0.55 * n_rows + 0.8))
    left, right = 0.01, 0.99
    ax = fig.add_axes((left, 0.02, right - left, 0.9))
    max_pts = float(coef["max_points"].max())
    tp = nomogram.total_points
    total_max = float(tp["total_points"].max())
    xlim = (-0.35 * max_pts, 1.05 * max_pts)
    pt_per_unit = (right - left) * width_in * 72 / (xlim[1] - xlim[0])  # points of paper per nomogram point
    row = n_rows - 1

    def axis(y: float, ticks: list[tuple[float, str, str]], label: str, span: tuple[float, float]) -> None:
        ax.plot(span, [y, y], color="black", lw=1)
        for x, txt, ha in ticks:
            ax.plot([x, x], [y, y + 0.12], color="black", lw=1)
            shift = {"center": 0.0, "right": -1.5, "left": 1.5}[ha] / pt_per_unit
            ax.text(x + shift, y + 0.18, txt, ha=ha, va="bottom", fontsize=_TICK_FONT)
        ax.text(-0.02 * max_pts, y, label, ha="right", va="center", fontsize=9)

    axis(row, _value_ticks(0.0, max_pts, lambda v: v, pt_per_unit), "Points", (0, max_pts))
    for _, c in coef.iterrows():
        row -= 1
        t = nomogram.points[nomogram.points["variable"] == c["variable"]]
        values = t["value"].to_numpy(float)
        lo = float(c["minimum"]) if "minimum" in c and pd.notna(c["minimum"]) else float(values.min())
        hi = float(c["maximum"]) if "maximum" in c and pd.notna(c["maximum"]) else float(values.max())
        ref, ppu = float(c["reference"]), float(c["points_per_unit"])

        def to_x(v: float, ref: float = ref, ppu: float = ppu) -> float:
            return (v - ref) * ppu

        binary = len(values) == 2 and set(np.round(values, 12)) == {0.0, 1.0}
        axis(row, _value_ticks(lo, hi, to_x, pt_per_unit, binary=binary), str(c["variable"]),
             tuple(sorted((to_x(lo), to_x(hi)))))
    # total points, rescaled onto the points axis width
    row -= 1
    f = max_pts / total_max if total_max > 0 else 1.0
    axis(row, _value_ticks(0.0, total_max, lambda v: v * f, pt_per_unit), "Total points", (0, max_pts))
    row -= 1
    base = float(tp["linear_predictor"].iloc[0]) - float(tp["total_points"].iloc[0]) * nomogram.scale

    def prob_x(p: float) -> float:
        return (np.log(p / (1 - p)) - base) / nomogram.scale * f

    prob_ticks = _probability_ticks(prob_x, max_pts, pt_per_unit)
    axis(row, prob_ticks, "Probability", (0, max_pts))
    if len(prob_ticks) < 3:  # a model so steep that 0.01 and 0.99 nearly meet: say so instead of piling ticks
        lo, hi = sorted((prob_x(0.01), prob_x(0.99)))
        ax.text(max_pts, row - 0.32, f"the probability rises from 0.01 to 0.99 within {(hi - lo) / f:.2g} total "
                "points: a nearly deterministic model", ha="right", va="center", fontsize=7, style="italic",
                color="#555555")
    ax.set_xlim(*xlim)
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
    fig = Figure(figsize=(max(6.0, 0.9 * len(clfs) * len(protocols) + 1.5) + 2.2, 3.6 * len(sets) + 0.6))
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
        auc = sub["auc"].dropna().to_numpy(float)
        if auc.size:  # the boxes fill the panel when the AUCs are moderate (0.5, chance, stays in view)
            ax.set_ylim(max(0.0, min(0.45, float(auc.min())) - 0.03), min(1.0, float(auc.max())) + 0.03)
        ax.set_xticks(np.arange(len(clfs)), clfs)
        ax.set(ylabel="Test AUC", title=f"feature set '{fs}'")
        if i == 0:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # off the boxes
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _bins_text(table: pd.DataFrame) -> str:
    """How the calibration curve of one table was binned, for a caption."""
    k, n = len(table), int(table["n"].sum()) if "n" in table else 0
    return (f"{k} quantile bin(s) of about {n // max(k, 1)} patients each (n // 10, at most 10, so each "
            "observed fraction rests on enough patients)") if n else f"{k} bin(s)"


def _protocol(result: Any) -> str:
    """The protocol of the held-out figures (ROC, PR, confusion, calibration, DCA), for a caption."""
    p = result.parameters
    if result.evaluation_cohort == "validation":
        return (f"protocol: validation refit (each pipeline refitted on the {p.get('n_training', '?')} training "
                f"patients with the set as given, scored on the {p.get('n_validation', '?')} independent validation "
                "patients)")
    return (f"protocol: out-of-fold on the training cohort ({p.get('cv', 5)}-fold refits on the "
            f"{p.get('n_training', '?')} training patients with the set as given; no validation cohort, and the set "
            "was selected on all of them, as in the paper protocol, so this is optimistic)")


@logs_warnings
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
        ``nomogram`` and ``nomogram_calibration`` whose tables the result holds; each figure's
        caption names the feature set(s), the protocol (paper, nested, validation refit or
        out-of-fold) and the cohort it shows (the report's caption and alt text). ``roc`` has
        one panel per feature set with held-out scores.
    """
    from ..models.evaluate import COHORTS
    from ..models.validation import _wide_scores

    figs: dict[str, Figure] = {}
    p = result.parameters
    primary = result.primary_feature_set
    n_train = p.get("n_training", "?")
    train = f"feature set '{primary}', training cohort (all {n_train} patients)"
    if result.splits is not None:
        sets = ", ".join(f"'{s}'" for s in dict.fromkeys(result.splits["feature_set"]))
        n = int(result.splits["split"].nunique())
        protocols = list(dict.fromkeys(result.splits["protocol"])) if "protocol" in result.splits.columns else ["paper"]
        both = len(protocols) > 1
        figs["split_auc"] = captioned(
            plot_split_auc(result.splits),
            f"Test AUC of each classifier over {n} repeated stratified train/test splits of the training cohort, "
            f"feature set(s) {sets} on the same splits (one panel per set; dot: mean; dashed: chance, AUC 0.5); "
            + ("hatched: the paper protocol (features selected on all patients, so every split's test patients "
               "helped choose them: optimistic), solid: the nested protocol (the same selection inside each "
               "split's training part: the honest estimate)." if both else
               f"protocol: {protocols[0]}" + (" (features selected on all patients: optimistic)."
                                             if protocols[0] == "paper" else " (selection inside each split).")))
    if result.pca is not None:
        n_comp = int(result.pca["kept"].sum())
        variance = float(p.get("variance", result.pca["cumulative_variance"].iloc[max(n_comp - 1, 0)]))
        figs["pca_variance"] = captioned(
            plot_pca_variance(result.pca, n_comp, variance=variance),
            f"Explained variance of the principal components, {train}: {n_comp} component(s) reach "
            f"{variance:.0%} of the variance (descriptive; the split AUCs never see it).")
    if result.lasso_cv is not None and result.lasso_coefficients is not None:
        n_sel = int(result.lasso_coefficients["selected"].astype(bool).sum())
        figs["lasso"] = captioned(
            plot_lasso(result.lasso_cv, result.lasso_coefficients, title=f"LASSO path ('{primary}')"),
            f"LASSO (L1 logistic regression), {train}: cross-validated AUC along the penalty path (dashed: "
            f"the penalty used) and the {n_sel} selected feature(s) (descriptive; the split AUCs never see it).")
    if result.learning_curves is not None:
        figs["learning_curves"] = captioned(
            plot_learning_curves(result.learning_curves, title=f"Learning curves ('{primary}', training cohort)"),
            f"Learning curves, {train}: training and {p.get('cv', 5)}-fold cross-validated AUC (band: ± 1 SD over "
            "the folds) against the training-set size, every classifier on the same sizes; protocol: the set as "
            "given (selected on all training patients, as the paper protocol: optimistic); dotted: chance.")
    cohort = COHORTS[result.evaluation_cohort]
    protocol = _protocol(result)
    if result.validation_predictions is not None or result.oof_predictions is not None:
        every = (result.validation_predictions if result.validation_predictions is not None
                 else result.oof_predictions)
        every = every[every["cohort"] == result.evaluation_cohort]
        roc_sets = ", ".join(f"'{s}'" for s in dict.fromkeys(every["feature_set"]))
        figs["roc"] = captioned(
            plot_roc_by_set(every, title=f"ROC ({cohort})"),
            f"ROC curves of every classifier, one panel per feature set ({roc_sets}), {cohort}; {protocol}; AUC "
            "with its DeLong 95% CI in the legend"
            + ("" if result.evaluation_cohort == "validation" else
               f" (out-of-fold scores exist for the primary set '{primary}' only)") + ".")
        pred = result.predictions()
        scores, labels = _wide_scores(pred)
        predicted = pred.pivot(index="sample", columns="classifier", values="predicted")[list(scores.columns)]
        where = f"feature set '{primary}', {cohort}; {protocol}"
        figs["precision_recall"] = captioned(
            plot_precision_recall(scores, labels, title=f"Precision-recall ('{primary}', {cohort})"),
            f"Precision-recall curves of every classifier, {where}; the dashed line is the prevalence.")
        rule = ("at the Youden threshold chosen on the training cohort's out-of-fold predictions"
                if result.evaluation_cohort == "validation" else
                "each fold's patients classified at the Youden threshold chosen inside that fold's training part "
                "(inner cross-validation), never on the scores it classifies")
        figs["confusion_matrices"] = captioned(
            plot_confusion_matrices(predicted, labels.loc[predicted.index],
                                    title=f"Confusion matrices ('{primary}', {cohort})"),
            f"Confusion matrices, {where}, {rule}.")
    if result.calibration is not None:
        cal = result.calibration
        cal_set = str(cal["feature_set"].iloc[0]) if "feature_set" in cal and len(cal) else primary
        first = cal[cal["classifier"] == cal["classifier"].iloc[0]] if len(cal) else cal
        figs["calibration"] = captioned(
            plot_calibration(cal, title=f"Calibration ('{cal_set}', {cohort})"),
            f"Calibration of every classifier's predicted probability, feature set '{cal_set}', {cohort}; "
            f"{protocol}; {_bins_text(first)}; Brier score in the legend; dashed: perfect calibration.")
    if result.decision_curve is not None:
        dca = result.decision_curve
        dca_set = str(dca["feature_set"].iloc[0]) if "feature_set" in dca and len(dca) else primary
        figs["decision_curve"] = captioned(
            plot_decision_curve(dca, title=f"Decision curve ('{dca_set}', {cohort})"),
            f"Decision curves (net benefit against threshold probability) of every classifier, feature set "
            f"'{dca_set}', {cohort}; {protocol}; with treat-all and treat-none.")
    if result.nomogram_coefficients is not None and result.nomogram_points is not None \
            and result.nomogram_total_points is not None:
        variables = ", ".join(str(v) for v in result.nomogram_coefficients["variable"])
        figs["nomogram"] = captioned(
            plot_nomogram(result.nomogram_coefficients, result.nomogram_points, result.nomogram_total_points,
                          title=f"Nomogram (radiomic score from '{primary}' + clinical variables)"),
            f"Nomogram of a logistic model fitted on the {n_train} training patients: radiomic score (out-of-fold "
            f"logistic regression on feature set '{primary}') and the clinical variables; predictors {variables}; each axis spans "
            "the variable's observed range. Read a patient's points on each axis, add them, and read the "
            "probability of HER2-positive status below the total.")
    nv = getattr(result, "nomogram_validation", None)
    nc = getattr(result, "nomogram_calibration", None)
    if nc is not None and len(nc):
        tables = {}
        bins = []
        for name, g in nc.groupby("cohort", sort=False):
            row = nv[nv["cohort"] == name].iloc[0] if nv is not None and (nv["cohort"] == name).any() else None
            label = f"nomogram, {name}" + (f" (AUC {row['auc']:.3f}, slope {row['calibration_slope']:.2f})"
                                             if row is not None else "")
            tables[label] = g.assign(brier=float(row["brier"]) if row is not None else np.nan)
            bins.append(f"{name}: {_bins_text(g).split(' (')[0]}")
        figs["nomogram_calibration"] = captioned(
            plot_calibration(tables, title="Nomogram calibration"),
            f"Calibration of the nomogram (radiomic score from feature set '{primary}' + clinical variables) on the "
            "training cohort (apparent: the patients it was fitted on) and on the validation cohort (independent: "
            f"validation refit); {'; '.join(bins)}; AUC, calibration slope and Brier score in the legend.")
    return figs
