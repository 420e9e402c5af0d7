"""Clinical evaluation: calibration (bins, Brier score, slope and intercept), decision curves, nomogram, baseline table.

Decision curve analysis follows Vickers & Elkin (2006): at a threshold probability ``pt`` a
patient is treated when the predicted risk is >= ``pt``, and

    net benefit = TP / n - FP / n * pt / (1 - pt)

against "treat all" (``prevalence - (1 - prevalence) * pt / (1 - pt)``) and "treat none" (0);
the same definitions as the ``dcurves`` package, with which the tests check parity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats
from sklearn.linear_model import LogisticRegression

from .._logging import get_logger
from .._validation import (
    InputError,
    align_samples,
    check_choice,
    check_float,
    check_int,
    check_labels,
    check_table,
    format_names,
)

__all__ = [
    "brier_score",
    "calibration_bins",
    "calibration_table",
    "calibration_slope_intercept",
    "decision_curve",
    "Nomogram",
    "fit_nomogram",
    "baseline_table",
]

log = get_logger(__name__)


def _y_p(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=float)
    if y.ndim != 1 or p.shape != y.shape:
        raise InputError(f"labels and probabilities must be 1-D of the same length; got {y.shape} and {p.shape}.")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0/1.")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise InputError("predicted probabilities must lie in [0, 1] (convert scores to probabilities first).")
    return y.astype(int), p


def brier_score(y_true: Any, proba: Any) -> float:
    """Brier score: mean squared difference between predicted probability and outcome.

    Parameters
    ----------
    y_true
        0/1 outcomes.
    proba
        Predicted probabilities of class 1.

    Returns
    -------
    float
        ``mean((p - y)^2)``; 0 is perfect, ``prevalence * (1 - prevalence)`` is the
        uninformative constant prediction.
    """
    y, p = _y_p(y_true, proba)
    return float(np.mean((p - y) ** 2))


#: Most bins of a calibration curve, and the least patients per bin on average (``n // PATIENTS_PER_BIN``).
MAX_CALIBRATION_BINS = 10
PATIENTS_PER_BIN = 10


def calibration_bins(n: int) -> int:
    """Bins of a calibration curve of ``n`` patients: ``n // 10``, at least 1 and at most 10.

    Ten patients per bin on average keep each observed fraction from jumping by more than one
    patient's worth (24 validation patients give 2 bins, not 10, and no zig-zag line).

    Parameters
    ----------
    n
        Patients of the cohort.

    Returns
    -------
    int
    """
    n = check_int(n, "n", owner="calibration_bins", min_value=1)
    return max(1, min(MAX_CALIBRATION_BINS, n // PATIENTS_PER_BIN))


def calibration_table(
    y_true: Any,
    proba: Any,
    *,
    n_bins: int | None = None,
    strategy: str = "quantile",
) -> pd.DataFrame:
    """Calibration curve: observed fraction of positives against mean predicted probability.

    The bins are exactly those of :func:`sklearn.calibration.calibration_curve` (the tests
    compare both to 1e-12): edges ``linspace(0, 1, n_bins + 1)`` (``"uniform"``) or the
    ``n_bins``-quantiles of the probabilities (``"quantile"``, ``numpy.percentile``; edges
    that coincide give empty bins, which are left out); a probability goes to bin
    ``searchsorted(inner_edges, p)``, i.e. bins are *right-closed* ``(lower, upper]`` and the
    first one also holds ``lower``. By default the bins adapt to the cohort: quantile bins
    (equal numbers of patients), :func:`calibration_bins` of them (``n // 10``, 1 to 10).

    Parameters
    ----------
    y_true
        0/1 outcomes.
    proba
        Predicted probabilities of class 1.
    n_bins
        Number of bins; ``None``: :func:`calibration_bins` of the number of patients.
    strategy
        ``"quantile"`` (equal numbers of samples) or ``"uniform"`` (equal width on [0, 1]).

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin``, ``lower``, ``upper``, ``n``, ``mean_predicted``
        (scikit-learn's ``prob_pred``), ``observed_fraction`` (its ``prob_true``),
        ``observed_low`` / ``observed_high`` (Wilson 95% interval). ``attrs`` hold ``brier``
        (:func:`brier_score`), ``calibration_slope`` and ``calibration_intercept``
        (:func:`calibration_slope_intercept`), ``n_bins`` and ``strategy`` (the bins asked for).
    """
    owner = "calibration_table"
    check_choice(strategy, "strategy", owner=owner, choices=("uniform", "quantile"))
    y, p = _y_p(y_true, proba)
    n_bins = calibration_bins(len(y)) if n_bins is None else check_int(n_bins, "n_bins", owner=owner, min_value=1)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)
    which = np.searchsorted(edges[1:-1], p)  # scikit-learn's rule: side="left", bins (lower, upper]
    sums = np.bincount(which, weights=p, minlength=n_bins)
    positives = np.bincount(which, weights=y, minlength=n_bins)
    totals = np.bincount(which, minlength=n_bins)
    rows = []
    z = stats.norm.ppf(0.975)
    for b in np.flatnonzero(totals):
        n = int(totals[b])
        frac = positives[b] / totals[b]
        denom = 1 + z**2 / n
        centre = (frac + z**2 / (2 * n)) / denom
        half = z * np.sqrt(frac * (1 - frac) / n + z**2 / (4 * n**2)) / denom
        rows.append({"bin": int(b), "lower": float(edges[b]), "upper": float(edges[b + 1]), "n": n,
                     "mean_predicted": float(sums[b] / totals[b]), "observed_fraction": float(frac),
                     "observed_low": float(centre - half), "observed_high": float(centre + half)})
    table = pd.DataFrame(rows, columns=["bin", "lower", "upper", "n", "mean_predicted", "observed_fraction",
                                        "observed_low", "observed_high"])
    recal = calibration_slope_intercept(y, p)
    table.attrs.update(brier=brier_score(y, p), calibration_slope=recal["calibration_slope"],
                       calibration_intercept=recal["calibration_intercept"], n_bins=n_bins, strategy=strategy)
    return table


#: Probabilities are clipped to [CLIP, 1 - CLIP] before the logit of the recalibration models.
CLIP = 1e-6


def _logistic_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray, *, max_iter: int = 100,
                  tol: float = 1e-10) -> np.ndarray | None:
    """Maximum-likelihood logistic regression by Newton's method with step halving; ``None`` if none exists."""
    beta = np.zeros(X.shape[1])

    def nll(b: np.ndarray) -> float:
        eta = offset + X @ b
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    current = nll(beta)
    for _ in range(max_iter):
        mu = special.expit(offset + X @ beta)
        grad = X.T @ (y - mu)
        hess = (X * (mu * (1 - mu))[:, None]).T @ X
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        t = 1.0
        while t > 1e-8:
            trial = beta + t * step
            value = nll(trial)
            if value <= current + 1e-12:
                break
            t /= 2
        beta, current = trial, value
        if np.max(np.abs(t * step)) < tol * (1 + np.max(np.abs(beta))):
            return beta if np.all(np.isfinite(beta)) and np.max(np.abs(beta)) < 1e6 else None
    return None


def calibration_slope_intercept(y_true: Any, proba: Any) -> dict[str, float]:
    """Calibration slope and intercept by logistic recalibration (Cox 1958; Van Calster et al. 2016).

    With ``lp = logit(p)``: the *slope* ``b`` of ``logit P(y = 1) = a + b * lp`` (1 when the
    predictions are neither too extreme nor too modest, below 1 when they are too extreme,
    the usual sign of overfitting) and the *intercept* ``alpha`` of
    ``logit P(y = 1) = alpha + lp`` (calibration-in-the-large: 0 when the mean risk is right,
    negative when the model over-predicts). Maximum likelihood, the same fits as
    ``statsmodels`` ``GLM(y, [1, lp], Binomial())`` and ``GLM(y, 1, Binomial(), offset=lp)``
    (checked in the tests). Probabilities of exactly 0 or 1 (trees, forests) have no finite
    logit: they are clipped to ``[1e-6, 1 - 1e-6]`` first (:data:`CLIP`; counted in
    ``n_clipped``).

    Parameters
    ----------
    y_true
        0/1 outcomes.
    proba
        Predicted probabilities of class 1.

    Returns
    -------
    dict
        ``calibration_slope``, ``calibration_slope_intercept`` (``a`` of the slope model),
        ``calibration_intercept`` (``alpha``), ``n``, ``n_clipped``. A quantity without a
        maximum-likelihood estimate (separated outcomes, constant predictions) is NaN.
    """
    y, p = _y_p(y_true, proba)
    y = y.astype(float)
    clipped = np.clip(p, CLIP, 1 - CLIP)
    lp = np.log(clipped / (1 - clipped))
    ones = np.ones((y.size, 1))
    slope_fit = None if np.ptp(lp) == 0 else _logistic_fit(np.column_stack([ones, lp]), y, np.zeros(y.size))
    intercept_fit = _logistic_fit(ones, y, lp) if 0 < y.sum() < y.size else None
    return {
        "calibration_slope": float(slope_fit[1]) if slope_fit is not None else float("nan"),
        "calibration_slope_intercept": float(slope_fit[0]) if slope_fit is not None else float("nan"),
        "calibration_intercept": float(intercept_fit[0]) if intercept_fit is not None else float("nan"),
        "n": int(y.size),
        "n_clipped": int(np.sum(clipped != p)),
    }


def decision_curve(
    y_true: Any,
    probabilities: Mapping[str, Any] | pd.DataFrame,
    *,
    thresholds: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Decision curve analysis: net benefit of each model against treat-all and treat-none.

    Parameters
    ----------
    y_true
        0/1 outcomes.
    probabilities
        Model name -> predicted probabilities (or a DataFrame with one column per model).
    thresholds
        Threshold probabilities ``pt`` in [0, 1); default 0.00, 0.01, ..., 0.99 (as dcurves).

    Returns
    -------
    pandas.DataFrame
        Long table, one row per model (the given ones, then ``"all"`` and ``"none"``) and
        threshold: ``model``, ``threshold``, ``n``, ``prevalence``, ``test_positive_rate``,
        ``tp_rate`` (TP / n), ``fp_rate`` (FP / n), ``net_benefit``,
        ``net_intervention_avoided`` (net reduction in interventions per patient, as dcurves
        with ``nper=1``; undefined at threshold 0).
    """
    if isinstance(probabilities, pd.DataFrame):
        probabilities = {str(c): probabilities[c].to_numpy() for c in probabilities.columns}
    if not probabilities:
        raise InputError("decision_curve needs at least one model's probabilities.")
    reserved = {"all", "none"} & set(probabilities)
    if reserved:
        raise InputError(f"Model names {sorted(reserved)} are reserved for the reference strategies.")
    th = np.round(np.arange(0, 100) / 100, 2) if thresholds is None else np.asarray(thresholds, dtype=float)
    if th.ndim != 1 or th.size == 0 or (th < 0).any() or (th >= 1).any():
        raise InputError("thresholds must be a non-empty list of values in [0, 1).")
    y = np.asarray(y_true).astype(int)
    n = y.size
    prevalence = y.mean()
    odds = th / (1 - th)
    frames = []
    for name, proba in probabilities.items():
        yy, p = _y_p(y, proba)
        treat = p[None, :] >= th[:, None]
        tp = (treat & (yy == 1)[None, :]).sum(axis=1) / n
        fp = (treat & (yy == 0)[None, :]).sum(axis=1) / n
        frames.append(pd.DataFrame({"model": name, "threshold": th, "test_positive_rate": treat.mean(axis=1),
                                    "tp_rate": tp, "fp_rate": fp}))
    frames.append(pd.DataFrame({"model": "all", "threshold": th, "test_positive_rate": 1.0,
                                "tp_rate": prevalence, "fp_rate": 1 - prevalence}))
    frames.append(pd.DataFrame({"model": "none", "threshold": th, "test_positive_rate": 0.0,
                                "tp_rate": 0.0, "fp_rate": 0.0}))
    out = pd.concat(frames, ignore_index=True)
    o = np.tile(odds, len(frames))
    out["net_benefit"] = out["tp_rate"] - out["fp_rate"] * o
    nb_all = np.tile(prevalence - (1 - prevalence) * odds, len(frames))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["net_intervention_avoided"] = (out["net_benefit"] - nb_all) / o
    out.insert(2, "n", n)
    out.insert(3, "prevalence", prevalence)
    return out


@dataclass
class Nomogram:
    """A logistic-regression nomogram (see :func:`fit_nomogram`).

    Attributes
    ----------
    coefficients
        One row per variable: ``variable``, ``coefficient`` (log odds per unit), ``odds_ratio``,
        ``minimum``, ``maximum``, ``reference`` (the value that scores 0 points),
        ``points_per_unit``, ``max_points``.
    points
        The axes: ``variable``, ``value``, ``points`` (tick marks; a binary 0/1 variable gets
        its two values).
    total_points
        ``total_points``, ``linear_predictor``, ``probability``: the conversion scale.
    intercept
        Model intercept.
    scale
        Log-odds per point.
    """

    coefficients: pd.DataFrame
    points: pd.DataFrame
    total_points: pd.DataFrame
    intercept: float
    scale: float

    @classmethod
    def from_tables(cls, coefficients: pd.DataFrame, points: pd.DataFrame, total_points: pd.DataFrame) -> Nomogram:
        """The nomogram again from its three tables (as a models result writes them).

        The scale (log-odds per point) and the intercept follow from the total-points table:
        ``linear_predictor = intercept + sum(coefficient * reference) + total_points * scale``.

        Parameters
        ----------
        coefficients, points, total_points
            The tables :attr:`coefficients`, :attr:`points` and :attr:`total_points`.

        Returns
        -------
        Nomogram
        """
        need = {"coefficients": (coefficients, ("variable", "coefficient", "reference", "points_per_unit", "max_points")),
                "points": (points, ("variable", "value", "points")),
                "total_points": (total_points, ("total_points", "linear_predictor", "probability"))}
        for name, (table, cols) in need.items():
            if not isinstance(table, pd.DataFrame):
                raise InputError(f"nomogram {name} must be a DataFrame; got {type(table).__name__}.")
            missing = [c for c in cols if c not in table.columns]
            if missing:
                raise InputError(f"nomogram {name} table lacks column(s) {format_names(missing)}.")
        tp = total_points["total_points"].to_numpy(float)
        lp = total_points["linear_predictor"].to_numpy(float)
        if tp.size < 2 or tp[-1] == tp[0]:
            raise InputError("nomogram total_points table needs at least two distinct total points.")
        scale = float((lp[-1] - lp[0]) / (tp[-1] - tp[0]))
        base = float(lp[0] - tp[0] * scale)
        intercept = base - float((coefficients["coefficient"] * coefficients["reference"]).sum())
        return cls(coefficients=coefficients, points=points, total_points=total_points, intercept=intercept,
                   scale=scale)

    def score(self, data: pd.DataFrame) -> pd.DataFrame:
        """Points of each patient and the predicted probability.

        Parameters
        ----------
        data
            Rows = patients, the nomogram's variables as columns.

        Returns
        -------
        pandas.DataFrame
            One ``points_<variable>`` column per variable, ``total_points``,
            ``linear_predictor`` and ``probability``.
        """
        coef = self.coefficients.set_index("variable")
        missing = [v for v in coef.index if v not in data.columns]
        if missing:
            raise InputError(f"nomogram: data lack variable(s) {format_names(missing)}.")
        out = pd.DataFrame(index=data.index)
        for v, row in coef.iterrows():
            out[f"points_{v}"] = (data[v].astype(float) - row["reference"]) * row["points_per_unit"]
        out["total_points"] = out.sum(axis=1)
        lp = self.intercept + float((coef["coefficient"] * coef["reference"]).sum()) + out["total_points"] * self.scale
        out["linear_predictor"] = lp
        out["probability"] = 1 / (1 + np.exp(-lp))
        return out


def fit_nomogram(
    predictors: pd.DataFrame,
    labels: pd.Series,
    *,
    max_points: float = 100.0,
    n_ticks: int = 6,
    penalty_C: float | None = None,
) -> Nomogram:
    """Fit a logistic model (radiomic score + clinical variables) and build its nomogram.

    Classic construction: the variable with the largest effect range ``|beta| * (max - min)``
    spans ``max_points``; every other variable gets points in proportion; the total points map
    to the linear predictor and the probability.

    Parameters
    ----------
    predictors
        Rows = patients; numeric columns (the radiomic score, age, ...; encode categorical
        variables as 0/1 columns first).
    labels
        0/1 outcomes.
    max_points
        Points of the most influential variable.
    n_ticks
        Tick marks per continuous axis.
    penalty_C
        ``None``: unpenalised maximum likelihood (as R's ``rms::lrm``); else an L2 penalty with
        this inverse strength.

    Returns
    -------
    Nomogram
        Coefficients, points table and total-points scale.
    """
    owner = "fit_nomogram"
    check_float(max_points, "max_points", owner=owner, min_value=0, closed="neither")
    n_ticks = check_int(n_ticks, "n_ticks", owner=owner, min_value=2)
    predictors = check_table(predictors, name="nomogram predictors", min_rows=4)
    labels = check_labels(labels)
    predictors, labels = align_samples(predictors, labels, data_name="nomogram predictors")
    X, y = predictors.to_numpy(float), labels.to_numpy(int)
    const = [c for c in predictors.columns if np.ptp(predictors[c].to_numpy(float)) == 0]
    if const:
        raise InputError(f"nomogram predictors {format_names(const)} are constant; drop them.")
    C = np.inf if penalty_C is None else check_float(penalty_C, "penalty_C", owner=owner, min_value=0, closed="neither")
    model = LogisticRegression(C=C, max_iter=10_000).fit(X, y)
    beta, intercept = model.coef_.ravel(), float(model.intercept_[0])
    lo, hi = X.min(axis=0), X.max(axis=0)
    effect = np.abs(beta) * (hi - lo)
    if effect.max() == 0:
        raise InputError("nomogram: every coefficient is zero; the predictors carry no information.")
    scale = effect.max() / max_points  # log-odds per point
    reference = np.where(beta >= 0, lo, hi)
    ppu = beta / scale  # points per unit (signed; points >= 0 from the reference)
    coef = pd.DataFrame({"variable": predictors.columns, "coefficient": beta, "odds_ratio": np.exp(beta),
                         "minimum": lo, "maximum": hi, "reference": reference, "points_per_unit": ppu,
                         "max_points": effect / scale})
    rows = []
    for j, v in enumerate(predictors.columns):
        col = X[:, j]
        values = np.array([0.0, 1.0]) if set(np.unique(col)) <= {0.0, 1.0} else np.linspace(lo[j], hi[j], n_ticks)
        for val in values:
            rows.append({"variable": v, "value": float(val), "points": float((val - reference[j]) * ppu[j])})
    points = pd.DataFrame(rows)
    total_max = float(effect.sum() / scale)
    tp = np.linspace(0, total_max, 11)
    base = intercept + float((beta * reference).sum())
    lp = base + tp * scale
    total = pd.DataFrame({"total_points": tp, "linear_predictor": lp, "probability": 1 / (1 + np.exp(-lp))})
    return Nomogram(coefficients=coef, points=points, total_points=total, intercept=intercept, scale=float(scale))


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def baseline_table(
    data: pd.DataFrame,
    groups: pd.Series,
    *,
    categorical: Sequence[str] | None = None,
    fisher_min_expected: float = 5.0,
) -> pd.DataFrame:
    """Baseline characteristics by group (Table 1): HER2 status, or training vs validation.

    Continuous variables: median [IQR] per group and the two-sided Wilcoxon rank-sum
    (Mann–Whitney U) test (Kruskal–Wallis for more than two groups). Categorical variables:
    n (%) per level and the chi-square test of independence (with Yates' correction for 2x2),
    or Fisher's exact test for a 2x2 table with any expected count below
    ``fisher_min_expected``. Missing values are counted per variable, never dropped silently.

    Parameters
    ----------
    data
        Rows = patients; columns = characteristics (numbers or categories).
    groups
        Group of each patient (e.g. HER2 1/0 or ``"training"``/``"validation"``).
    categorical
        Columns to treat as categorical; default: non-numeric columns and numeric columns with
        at most 2 distinct values.
    fisher_min_expected
        Expected-count threshold below which a 2x2 table uses Fisher's exact test.

    Returns
    -------
    pandas.DataFrame
        One row per continuous variable and per level of each categorical variable:
        ``variable``, ``level`` (empty for continuous), ``type``, then one column per group
        (``"<group> (n=..)"``: median [Q1, Q3] or n (%)), ``missing`` (count), ``test`` and
        ``p_value`` (on the variable's first row).
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a DataFrame of patient characteristics; got {type(data).__name__}.")
    data = data.copy()
    data.index = data.index.map(str)
    groups = pd.Series(groups).copy()
    groups.index = groups.index.map(str)
    missing_g = data.index.difference(groups.index)
    if len(missing_g):
        raise InputError(f"baseline_table: {len(missing_g)} patient(s) have no group ({format_names(missing_g)}).")
    groups = groups.loc[data.index]
    if groups.isna().any():
        raise InputError(f"baseline_table: missing group for {format_names(groups.index[groups.isna()])}.")
    levels = sorted(groups.unique(), key=lambda g: (str(type(g)), g))
    if len(levels) < 2:
        raise InputError(f"baseline_table needs at least two groups; got {levels}.")
    if categorical is None:
        categorical = [c for c in data.columns
                       if not pd.api.types.is_numeric_dtype(data[c]) or data[c].dropna().nunique() <= 2]
    unknown = [c for c in categorical if c not in data.columns]
    if unknown:
        raise InputError(f"baseline_table: categorical column(s) {format_names(unknown)} are not in data.")
    names = {g: f"{g} (n={int((groups == g).sum())})" for g in levels}
    rows = []
    for var in data.columns:
        col = data[var]
        n_missing = int(col.isna().sum())
        ok = col.notna()
        if var in categorical:
            tab = pd.crosstab(col[ok].astype(str), groups[ok])
            tab = tab.reindex(columns=levels, fill_value=0)
            test, p = "", np.nan
            if tab.shape[0] >= 2:
                expected = stats.contingency.expected_freq(tab.to_numpy())
                if tab.shape == (2, 2) and (expected < fisher_min_expected).any():
                    test, p = "Fisher exact", float(stats.fisher_exact(tab.to_numpy())[1])
                else:
                    test, p = "chi-square", float(stats.chi2_contingency(tab.to_numpy())[1])
            for i, level in enumerate(tab.index):
                row = {"variable": var, "level": level, "type": "categorical"}
                for g in levels:
                    total = int(tab[g].sum())
                    k = int(tab.loc[level, g])
                    row[names[g]] = f"{k} ({100 * k / total:.1f}%)" if total else "0 (-)"
                row.update({"missing": n_missing if i == 0 else np.nan, "test": test if i == 0 else "",
                            "p_value": p if i == 0 else np.nan})
                rows.append(row)
        else:
            values = pd.to_numeric(col, errors="coerce")
            bad = col.notna() & values.isna()
            if bad.any():
                raise InputError(f"baseline_table: column {var!r} mixes numbers and text "
                                 f"(e.g. {col[bad].iloc[0]!r}); list it in 'categorical'.")
            parts = [values[ok & (groups == g)].to_numpy(float) for g in levels]
            row = {"variable": var, "level": "", "type": "continuous"}
            for g, v in zip(levels, parts):
                row[names[g]] = (f"{_fmt(np.median(v))} [{_fmt(np.percentile(v, 25))}, {_fmt(np.percentile(v, 75))}]"
                                 if v.size else "-")
            if all(v.size for v in parts):
                if len(parts) == 2:
                    test, p = "Wilcoxon rank-sum", float(stats.mannwhitneyu(*parts, alternative="two-sided").pvalue)
                else:
                    test, p = "Kruskal-Wallis", float(stats.kruskal(*parts).pvalue)
            else:
                test, p = "", np.nan
            row.update({"missing": n_missing, "test": test, "p_value": p})
            rows.append(row)
    cols = ["variable", "level", "type", *names.values(), "missing", "test", "p_value"]
    return pd.DataFrame(rows, columns=cols)
