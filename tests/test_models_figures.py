"""Figures of the models stage read back from the drawn objects: nomogram axes and ticks, calibration bins,
learning-curve sizes, warnings turned into log lines (issue 16)."""

from __future__ import annotations

import logging
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from radiogenomics._logging import warnings_to_log
from radiogenomics.models import calibration_bins, calibration_table, fit_nomogram, learning_curves
from radiogenomics.plotting._models import plot_nomogram


def _clinical_nomogram(n: int = 400, score_scale: float = 1.0, age_coef: float = 0.04, seed: int = 0):
    """A nomogram shaped like the demo's: a radiomic score, age (29-67), tumour size and grade."""
    rng = np.random.default_rng(seed)
    score = rng.normal(0, 1.2, n)
    age = np.round(rng.uniform(29, 67, n))
    age[:2] = [29, 67]
    size = np.round(rng.uniform(0.6, 4.8, n), 1)
    grade = rng.choice(["G1", "G2", "G3"], n)
    lp = score_scale * score + age_coef * (age - 48) + 0.3 * (size - 2.7) + 0.4 * (grade == "G3")
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    pred = pd.DataFrame({"radiomic_score": score, "age": age, "size": size,
                         "grade_G2": (grade == "G2").astype(float), "grade_G3": (grade == "G3").astype(float)})
    return fit_nomogram(pred, pd.Series(y)), pred


def _rows(fig):
    """The nomogram's tick labels per axis row (y of the row -> texts) and its horizontal axis lines."""
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    labels: dict[float, list] = {}
    for t in ax.texts:
        if t.get_fontsize() == 7.0:  # tick labels (the axis names are 9 pt)
            labels.setdefault(round(t.get_position()[1] - 0.18, 6), []).append(t)
    lines = {round(float(ln.get_ydata()[0]), 6): tuple(ln.get_xdata()) for ln in ax.lines
             if len(ln.get_ydata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]}
    return labels, lines, renderer


def _assert_no_overprint(texts, renderer) -> None:
    boxes = sorted((t.get_window_extent(renderer) for t in texts), key=lambda b: b.x0)
    for a, b in zip(boxes, boxes[1:]):  # each label ends before the next one starts: "29" and "67" never "2967"
        assert a.x1 <= b.x0, (a, b)


def test_nomogram_axes_span_the_observed_ranges_and_ticks_never_overprint() -> None:
    nomo, pred = _clinical_nomogram()
    fig = plot_nomogram(nomo)
    labels, lines, renderer = _rows(fig)
    coef = nomo.coefficients.reset_index(drop=True)
    n_rows = len(coef) + 3
    for i, c in coef.iterrows():
        row = n_rows - 2 - i
        x_lo, x_hi = sorted(((c["minimum"] - c["reference"]) * c["points_per_unit"],
                             (c["maximum"] - c["reference"]) * c["points_per_unit"]))
        # the axis is drawn on the variable's observed range, at its true length in points
        assert lines[row] == pytest.approx((x_lo, x_hi), abs=1e-9)
        assert (c["minimum"], c["maximum"]) == (pred[c["variable"]].min(), pred[c["variable"]].max())
        texts = labels[row]
        assert len(texts) >= 2, c["variable"]
        _assert_no_overprint(texts, renderer)
        values = [float(t.get_text()) for t in texts]
        assert min(values) >= c["minimum"] - 1e-9 and max(values) <= c["maximum"] + 1e-9
    assert lines[n_rows - 1] == (0, pytest.approx(100.0))  # the points axis
    age = [t.get_text() for t in labels[n_rows - 2 - int(coef.index[coef["variable"] == "age"][0])]]
    assert set(age) <= {"29", "30", "35", "40", "45", "50", "55", "60", "65", "67"}, age
    for row in (n_rows - 1, 1, 0):  # points, total points, probability
        _assert_no_overprint(labels[row], renderer)
    # the probability ticks spread over the total-points axis (0-100): from below 0.1 to above 0.9
    probs = {float(t.get_text()): t.get_position()[0] for t in labels[0]}
    assert len(probs) >= 5 and min(probs) <= 0.1 and max(probs) >= 0.9
    xs = sorted(probs.values())
    assert xs[-1] - xs[0] >= 0.5 * 100, xs
    # every tick where the model puts it: logit(p) = base + total * scale
    base = float(nomo.total_points["linear_predictor"].iloc[0])
    f = 100.0 / float(nomo.total_points["total_points"].max())
    for p, x in probs.items():
        assert x == pytest.approx((np.log(p / (1 - p)) - base) / nomo.scale * f, abs=1e-9)


def test_nomogram_short_axis_labels_its_ends_outward() -> None:
    # a radiomic score far stronger than age: age's axis is a point or two long; its two ends stay readable
    nomo, _ = _clinical_nomogram(score_scale=6.0, age_coef=0.002, seed=1)
    fig = plot_nomogram(nomo)
    labels, lines, renderer = _rows(fig)
    coef = nomo.coefficients.reset_index(drop=True)
    n_rows = len(coef) + 3
    for i, _c in coef.iterrows():
        _assert_no_overprint(labels[n_rows - 2 - i], renderer)
    short = [i for i, c in coef.iterrows() if c["max_points"] < 5]
    assert short, coef[["variable", "max_points"]]
    for i in short:
        texts = sorted(labels[n_rows - 2 - i], key=lambda t: t.get_position()[0])
        assert [t.get_ha() for t in texts] in (["right", "left"], ["center", "center"])
    _assert_no_overprint(labels[0], renderer)


@pytest.mark.parametrize("n", [5, 9, 10, 24, 57, 100, 250, 1000])
def test_calibration_bins_adapt_to_the_cohort_and_equal_scikit_learn(n: int) -> None:
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(n)
    p = rng.beta(2, 2, n)
    y = (rng.random(n) < p).astype(int)
    y[:2] = [0, 1]
    k = calibration_bins(n)
    assert k == max(1, min(10, n // 10)) and k <= max(n / 10, 1)
    t = calibration_table(y, p)
    assert len(t) <= k and t.attrs["n_bins"] == k and t.attrs["strategy"] == "quantile"
    prob_true, prob_pred = calibration_curve(y, p, n_bins=k, strategy="quantile")
    np.testing.assert_allclose(t["observed_fraction"], prob_true, rtol=0, atol=1e-12)
    np.testing.assert_allclose(t["mean_predicted"], prob_pred, rtol=0, atol=1e-12)
    assert t["n"].sum() == n
    if n == 24:  # the demo's validation cohort: 2 bins of 12 patients, not 10 bins of 2 or 3
        assert t["n"].tolist() == [12, 12]


def test_learning_curves_share_sizes_feasible_for_knn(caplog) -> None:
    rng = np.random.default_rng(3)
    y = pd.Series((rng.random(40) < 0.5).astype(int), index=[f"P{i}" for i in range(40)])
    X = pd.DataFrame(rng.normal(size=(40, 3)) + y.to_numpy()[:, None], index=y.index, columns=["a", "b", "c"])
    with caplog.at_level(logging.INFO, logger="radiogenomics"):
        lc = learning_curves(X, y, classifiers=["knn", "nb"], train_sizes=(0.2, 0.5, 1.0), seed=0)
    sizes = {c: g["train_size"].tolist() for c, g in lc.groupby("classifier")}
    # 5 folds of 40 train on 32; 0.2 x 32 = 6 < n_neighbors=7: every curve starts at 7, none loses its first point
    assert sizes["knn"] == sizes["nb"] == [7, 16, 32]
    assert lc.attrs["dropped"] == []
    assert [r.getMessage() for r in caplog.records if "learning curves start at" in r.getMessage()] == [
        "learning curves start at 7 training samples (knn: n_neighbors=7) for every classifier: size(s) 6 raised to it"]
    assert not [r for r in caplog.records if "Traceback" in r.getMessage()]


def test_warnings_become_one_log_line_per_kind(caplog) -> None:
    from sklearn.exceptions import ConvergenceWarning

    with caplog.at_level(logging.DEBUG, logger="radiogenomics"), \
            warnings_to_log(logging.getLogger("radiogenomics.test"), where="models: "):
        for it in range(10):  # one per split, each with its own number
            warnings.warn(f"lbfgs failed to converge after {100 + it} iterations.\nIncrease max_iter.",
                          ConvergenceWarning, stacklevel=1)
        warnings.warn("A value is trying to be set on a copy", UserWarning, stacklevel=1)
    lines = [r for r in caplog.records if r.name == "radiogenomics.test"]
    assert len(lines) == 2
    conv, user = lines
    assert conv.levelno == logging.WARNING and "\n" not in conv.getMessage()
    assert conv.getMessage().startswith("models: ConvergenceWarning from ")
    assert conv.getMessage().endswith("lbfgs failed to converge after 100 iterations. Increase max_iter. (10 times)")
    assert user.getMessage().endswith("UserWarning from test_models_figures: A value is trying to be set on a copy")


def test_nomogram_of_a_nearly_deterministic_model_says_so() -> None:
    from radiogenomics.models import Nomogram

    # 10 log-odds per unit over -10..10: probability 0.01 to 0.99 within 4.6 of the 100 total points
    coef = pd.DataFrame({"variable": ["radiomic_score"], "coefficient": [10.0], "reference": [-10.0],
                         "points_per_unit": [5.0], "max_points": [100.0], "minimum": [-10.0], "maximum": [10.0]})
    points = pd.DataFrame({"variable": "radiomic_score", "value": [-10.0, 10.0], "points": [0.0, 100.0]})
    total = pd.DataFrame({"total_points": [0.0, 100.0], "linear_predictor": [-100.0, 100.0]})
    total["probability"] = 1 / (1 + np.exp(-total["linear_predictor"]))
    fig = plot_nomogram(Nomogram.from_tables(coef, points, total))
    labels, _, renderer = _rows(fig)
    assert [t.get_text() for t in labels[0]] == ["0.5"]  # 0.1 and 0.9 would overprint it
    assert labels[0][0].get_position()[0] == pytest.approx(50.0)
    notes = [t.get_text() for t in fig.axes[0].texts if "nearly deterministic" in t.get_text()]
    assert notes == ["the probability rises from 0.01 to 0.99 within 4.6 total points: a nearly deterministic model"]


def test_learning_curve_of_a_knn_larger_than_a_fold_is_left_out_and_listed(caplog) -> None:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(4)
    y = pd.Series([0, 1] * 6, index=[f"P{i}" for i in range(12)])
    X = pd.DataFrame(rng.normal(size=(12, 2)) + y.to_numpy()[:, None], index=y.index, columns=["a", "b"])
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=9))
    with caplog.at_level(logging.INFO, logger="radiogenomics"):
        lc = learning_curves(X, y, classifiers={"knn9": knn}, cv=3)
    # 3 folds of 12 train on 8 < 9 neighbours: no curve, one line, one dropped row; no traceback
    assert lc.empty and list(lc.columns)[:2] == ["classifier", "train_size"]
    assert lc.attrs["dropped"] == [{"kind": "learning curve", "item": "knn9",
                                    "reason": "learning curve left out: n_neighbors=9 exceeds the 8 training samples "
                                              "of a fold"}]
    assert [r.getMessage() for r in caplog.records if "knn9" in r.getMessage()] == [
        "learning curve of knn9: n_neighbors=9 exceeds the 8 training samples of a fold: left out"]
