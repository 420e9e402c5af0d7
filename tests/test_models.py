"""Tests of radiogenomics.models: DeLong, bootstrap, splits, leakage, validation, selection, clinical, the stage."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from radiogenomics._validation import InputError, ParameterError
from radiogenomics.models import (
    CLASSIFIERS,
    LassoSelector,
    auc_score,
    baseline_table,
    bootstrap_auc_ci,
    brier_score,
    calibration_slope_intercept,
    calibration_table,
    decision_curve,
    delong_ci,
    delong_roc_variance,
    delong_test,
    fit_nomogram,
    icc_filter,
    lasso_path,
    make_classifier,
    make_classifiers,
    pca_variance,
    repeated_splits,
    stratified_split,
    validate,
    youden_threshold,
)

pytestmark = [
    # lifelines (imported by dcurves) and pandas in dcurves' own code
    pytest.mark.filterwarnings("ignore::UserWarning:lifelines"),
]


def cohort(n: int = 200, p: int = 6, shift: float = 0.0, seed: int = 0, prefix: str = "P") -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    X = rng.normal(size=(n, p))
    X[:, : min(3, p)] += shift * y[:, None]
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    return (pd.DataFrame(X, index=ids, columns=[f"f{j}" for j in range(p)]),
            pd.Series(y, index=ids, name="her2"))


# ----------------------------------------------------------------------------- DeLong
def brute_delong(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) from the O(mn) pairwise kernel, independent of the fast algorithm."""
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]).astype(float) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / x.size + v01.var(ddof=1) / z.size


def test_delong_hand_worked_case() -> None:
    # positives 0.8, 0.6, 0.4; negatives 0.5, 0.2. Placement values: V10 = [1, 1, 1/2],
    # V01 = [2/3, 1]; S10 = 1/12, S01 = 1/18; var = S10/3 + S01/2 = 1/36 + 1/36 = 1/18.
    y = np.array([1, 1, 1, 0, 0])
    s = np.array([0.8, 0.6, 0.4, 0.5, 0.2])
    aucs, cov = delong_roc_variance(y, s)
    assert aucs[0] == pytest.approx(5 / 6)
    assert cov[0, 0] == pytest.approx(1 / 18)


def test_delong_hand_worked_case_with_ties() -> None:
    # positives 0.8, 0.5; negatives 0.5, 0.2 (one tie counted 1/2): V10 = [1, 3/4], V01 = [3/4, 1];
    # S10 = S01 = 1/32; var = 1/64 + 1/64 = 1/32; AUC = 3.5/4.
    y = np.array([1, 1, 0, 0])
    s = np.array([0.8, 0.5, 0.5, 0.2])
    aucs, cov = delong_roc_variance(y, s)
    assert aucs[0] == pytest.approx(0.875)
    assert cov[0, 0] == pytest.approx(1 / 32)


def test_delong_matches_pairwise_definition_on_hanley_mcneil_ratings() -> None:
    # Hanley & McNeil (1982) 5-point CT ratings: 58 normal, 51 abnormal; AUC 0.893.
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    s = np.concatenate([normal, abnormal]).astype(float)
    y = np.concatenate([np.zeros(58, int), np.ones(51, int)])
    auc, var = brute_delong(y, s)
    aucs, cov = delong_roc_variance(y, s)
    assert aucs[0] == pytest.approx(0.893, abs=5e-4)
    assert aucs[0] == pytest.approx(auc)
    assert cov[0, 0] == pytest.approx(var, rel=1e-12)
    ci = delong_ci(y, s)
    assert ci["se"] == pytest.approx(np.sqrt(var))
    assert ci["ci_low"] < 0.893 < ci["ci_high"]
    assert 0.02 < ci["se"] < 0.045  # Hanley-McNeil's own SE for these data is 0.032


def test_delong_covariance_of_two_models_and_test() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(80) < 0.5).astype(int)
    a = y + rng.normal(size=80)
    b = 0.5 * a + rng.normal(size=80)
    aucs, cov = delong_roc_variance(y, np.vstack([a, b]))
    # off-diagonal from the pairwise definition
    def x(s):
        return (s[y == 1][:, None] > s[y == 0][None, :]) + 0.5 * (s[y == 1][:, None] == s[y == 0][None, :])

    pa, pb = x(a), x(b)
    c = np.cov(pa.mean(1), pb.mean(1))[0, 1] / (y == 1).sum() + np.cov(pa.mean(0), pb.mean(0))[0, 1] / (y == 0).sum()
    assert cov[0, 1] == pytest.approx(c)
    t = delong_test(y, a, b)
    assert t["difference"] == pytest.approx(aucs[0] - aucs[1])
    assert t["p_value"] == pytest.approx(2 * stats.norm.sf(abs(t["z"])))
    assert delong_test(y, a, a)["p_value"] == 1.0


def test_auc_score_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    s = rng.integers(0, 5, 50)
    assert auc_score(y, s) == pytest.approx(roc_auc_score(y, s))


def test_bootstrap_ci_covers_point_and_agrees_with_delong() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(200) < 0.4).astype(int)
    s = y * 0.8 + rng.normal(size=200)
    b = bootstrap_auc_ci(y, s, n_bootstrap=1000, seed=0)
    d = delong_ci(y, s)
    assert b["ci_low"] < b["auc"] < b["ci_high"]
    assert b["auc"] == pytest.approx(d["auc"])
    assert b["se"] == pytest.approx(d["se"], rel=0.2)
    assert bootstrap_auc_ci(y, s, n_bootstrap=200, seed=5) == bootstrap_auc_ci(y, s, n_bootstrap=200, seed=5)


def test_auc_inputs_are_checked() -> None:
    with pytest.raises(InputError, match="single class"):
        delong_ci([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="0/1"):
        auc_score([0, 2, 1], [0.1, 0.2, 0.3])


def test_youden_threshold() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    r = youden_threshold(y, s)
    # candidates: >=0.7 -> sens 2/3, spec 1 (J 0.667); >=0.4 -> sens 1, spec 2/3 (J 0.667);
    # roc_curve order keeps the first maximum (the higher threshold)
    assert r["youden_j"] == pytest.approx(2 / 3)
    assert r["threshold"] in (0.7, 0.4)


# ----------------------------------------------------------------------------- classifiers
def test_make_classifiers_are_pipelines_with_scaler_and_seed() -> None:
    models = make_classifiers(random_state=7)
    assert list(models) == list(CLASSIFIERS)
    for name, pipe in models.items():
        assert pipe.steps[0][0] == "scale" and pipe.steps[-1][0] == "clf"
        for k, v in pipe.get_params().items():
            if k.endswith("random_state"):
                assert v == 7, (name, k)
    assert hasattr(models["svm"], "predict_proba")
    with pytest.raises(ParameterError, match="Unknown parameter"):
        make_classifier("rf", params={"n_trees": 3})
    with pytest.raises(ParameterError, match="'name' parameter"):
        make_classifier("xgb")


# ----------------------------------------------------------------------------- repeated splits
def test_stratified_split_keeps_class_proportions() -> None:
    y = np.array([1] * 30 + [0] * 70)
    train, test = stratified_split(y, test_size=0.3, seed=1)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 100
    assert y[test].sum() == 9 and (1 - y[test]).sum() == 21


def test_identical_results_for_any_n_jobs_and_batch_size() -> None:
    X, y = cohort(100, 5, shift=1.0)
    sets = {"a": ["f0", "f1"], "b": list(X.columns)}
    r1 = repeated_splits(X, y, feature_sets=sets, n_splits=12, n_jobs=1, seed=3, batch_size=5, show_progress=False)
    r2 = repeated_splits(X, y, feature_sets=sets, n_splits=12, n_jobs=2, seed=3, batch_size=2, show_progress=False)
    pd.testing.assert_frame_equal(r1.splits, r2.splits)
    pd.testing.assert_frame_equal(r1.summary, r2.summary)
    r3 = repeated_splits(X, y, feature_sets=sets, n_splits=12, n_jobs=1, seed=4, show_progress=False)
    assert not np.allclose(r1.splits["auc"], r3.splits["auc"])


def test_splits_equal_plain_pipeline_fits() -> None:
    # the engine (shared scaler, SVC ranked by decision_function, fast metrics) computes what
    # fitting each full pipeline on the same split would give
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    from radiogenomics.models.classifiers import set_random_state
    from radiogenomics.models.splits import _splits_variant, split_seeds

    X, y = cohort(90, 4, shift=1.0, seed=2)
    res = repeated_splits(X, y, n_splits=3, seed=11, show_progress=False)
    seeds = split_seeds(3, seed=11)
    for i in range(3):
        tr, te = stratified_split(y.to_numpy(), seed=int(seeds[i]))
        for name, pipe in make_classifiers(random_state=0).items():
            est = set_random_state(_splits_variant(clone(pipe)), int(seeds[i])).fit(X.iloc[tr], y.iloc[tr])
            score = est.decision_function(X.iloc[te]) if name == "svm" else est.predict_proba(X.iloc[te])[:, 1]
            row = res.splits[(res.splits["split"] == i) & (res.splits["classifier"] == name)].iloc[0]
            assert row["auc"] == auc_score(y.iloc[te], score), name  # exact: the same scores, the same ranks
            assert row["auc"] == pytest.approx(roc_auc_score(y.iloc[te], score), abs=1e-12), name
            assert row["accuracy"] == accuracy_score(y.iloc[te], est.predict(X.iloc[te])), name


def test_planted_signal_all_seven_above_0_8_and_paired_comparison() -> None:
    X, y = cohort(200, 6, shift=1.6, seed=5)
    sets = {"signal": ["f0", "f1", "f2"], "noise": ["f3", "f4", "f5"]}
    res = repeated_splits(X, y, feature_sets=sets, n_splits=30, n_jobs=1, seed=0, show_progress=False)
    sig = res.summary[res.summary["feature_set"] == "signal"].set_index("classifier")
    assert set(sig.index) == set(CLASSIFIERS)
    assert (sig["auc_mean"] > 0.8).all(), sig["auc_mean"]
    assert (sig["auc_low"] <= sig["auc_mean"]).all() and (sig["auc_mean"] <= sig["auc_high"]).all()
    comp = res.comparison.set_index("classifier")
    assert (comp["difference_mean"] > 0.25).all()
    assert (comp["fraction_a_better"] == 1.0).all()
    assert len(res.splits) == 30 * 2 * 7


def test_noise_mean_auc_is_one_half() -> None:
    X, y = cohort(200, 6, shift=0.0, seed=9)
    res = repeated_splits(X, y, n_splits=50, n_jobs=1, seed=1, show_progress=False)
    means = res.summary.set_index("classifier")["auc_mean"]
    assert means.mean() == pytest.approx(0.5, abs=0.05)
    assert ((means - 0.5).abs() < 0.05).all(), means


def test_no_leakage_through_pipeline_selection() -> None:
    # 60 patients, 1,000 pure-noise features: choosing the 10 "best" features on all samples
    # before splitting inflates the test AUC; the same selection inside the pipeline does not.
    X, y = cohort(60, 1000, shift=0.0, seed=4)
    leaky_cols = list(X.columns[SelectKBest(f_classif, k=10).fit(X, y).get_support()])
    leaky = repeated_splits(X[leaky_cols], y, classifiers=["lr"], n_splits=30, seed=0, show_progress=False)
    pipe = {"lr": make_classifier("lr", selection=SelectKBest(f_classif, k=10))}
    honest = repeated_splits(X, y, classifiers=pipe, n_splits=30, seed=0, show_progress=False)
    leaky_auc = leaky.summary["auc_mean"].iloc[0]
    honest_auc = honest.summary["auc_mean"].iloc[0]
    assert leaky_auc > 0.8
    assert abs(honest_auc - 0.5) < 0.08


def test_lasso_selector_inside_pipeline() -> None:
    X, y = cohort(120, 15, shift=1.2, seed=6)
    pipe = make_classifier("lr", selection=LassoSelector(Cs=5, cv=3), random_state=1)
    pipe.fit(X, y)
    sel = pipe.named_steps["select"]
    assert sel.support_.sum() >= 1 and sel.random_state == 1
    assert set(np.flatnonzero(sel.support_)) & {0, 1, 2}
    res = repeated_splits(X, y, classifiers={"lasso_lr": pipe}, n_splits=4, seed=0, show_progress=False)
    assert res.summary["auc_mean"].iloc[0] > 0.75


def test_feature_set_errors_name_the_feature() -> None:
    X, y = cohort(40, 3)
    with pytest.raises(InputError, match="'nope'"):
        repeated_splits(X, y, feature_sets={"s": ["f0", "nope"]}, n_splits=2, show_progress=False)
    with pytest.raises(ParameterError, match="n_splits"):
        repeated_splits(X, y, n_splits=0)


# ----------------------------------------------------------------------------- validation
def test_validation_threshold_from_training_and_cis() -> None:
    X, y = cohort(150, 5, shift=1.0, seed=10)
    Xv, yv = cohort(80, 5, shift=1.0, seed=11, prefix="V")
    res = validate(X, y, validation_features=Xv, validation_labels=yv, classifiers=["lr", "nb", "svm"],
                   n_bootstrap=300, seed=0)
    v = res.validation.set_index("classifier")
    assert (v["delong_low"] < v["auc"]).all() and (v["auc"] < v["delong_high"]).all()
    assert (v["bootstrap_low"] < v["auc"]).all() and (v["auc"] < v["bootstrap_high"]).all()
    for clf in ["lr", "nb", "svm"]:
        p = res.predictions[res.predictions["classifier"] == clf]
        oof = p[p["cohort"] == "training_oof"]
        val = p[p["cohort"] == "validation"]
        assert v.loc[clf, "threshold"] == pytest.approx(youden_threshold(oof["label"], oof["score"])["threshold"])
        pred = val["score"] >= v.loc[clf, "threshold"]
        sens = (pred & (val["label"] == 1)).sum() / (val["label"] == 1).sum()
        assert v.loc[clf, "sensitivity"] == pytest.approx(sens)
        assert v.loc[clf, "auc"] == pytest.approx(roc_auc_score(val["label"], val["score"]))
        assert val["score"].between(0, 1).all()  # SVM has probabilities here
    with pytest.raises(InputError, match="both the training and the validation"):
        validate(X, y, validation_features=X, validation_labels=y, classifiers=["lr"])


# ----------------------------------------------------------------------------- selection
def test_pca_variance_matches_sklearn() -> None:
    X, _ = cohort(80, 10, seed=1)
    X["f9"] = X["f0"] * 2 + 0.01 * X["f1"]
    table, n = pca_variance(X, variance=0.91)
    ref = PCA(n_components=0.91, svd_solver="full").fit(StandardScaler().fit_transform(X))
    assert n == ref.n_components_
    assert table["cumulative_variance"].iloc[-1] == pytest.approx(1.0)
    assert table["kept"].sum() == n


def test_lasso_path_selects_signal() -> None:
    X, y = cohort(150, 12, shift=1.2, seed=2)
    r = lasso_path(X, y, Cs=8, cv=4, seed=0)
    assert {"f0", "f1", "f2"} <= set(r.selected)
    assert list(r.cv_curve.columns) == ["C", "log10_C", "log_lambda", "auc_mean", "auc_sd", "n_nonzero"]


def test_icc_filter_table_and_list() -> None:
    X, _ = cohort(10, 4)
    icc = pd.DataFrame({"icc_agreement": [0.95, 0.5, 0.91], "icc_consistency": [0.96, 0.95, 0.2]},
                       index=["f0", "f1", "f2"])
    kept, dropped = icc_filter(X, icc, threshold=0.9)
    assert list(kept.columns) == ["f0", "f2"]
    assert dict(zip(dropped["feature"], dropped["reason"])) == {
        "f1": "icc below threshold 0.9", "f3": "no ICC available"}
    kept, _ = icc_filter(X, icc, column="icc_consistency")
    assert list(kept.columns) == ["f0", "f1"]
    kept, dropped = icc_filter(X, ["f3"])
    assert list(kept.columns) == ["f3"] and len(dropped) == 3
    with pytest.raises(InputError, match="icc_agreement"):
        icc_filter(X, icc.rename(columns={"icc_agreement": "x"}))


# ----------------------------------------------------------------------------- clinical
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_bins_equal_scikit_learn(strategy: str) -> None:
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(8)
    for trial in range(60):
        n = int(rng.integers(12, 250))
        p = rng.random(n)
        if trial % 2 == 0:
            p = np.round(p, 1)  # probabilities on the bin edges (0.1, 0.2, ...): where left- and right-closed differ
        if trial % 3 == 0:
            p[: n // 5] = 0.0
            p[-2:] = 1.0
        y = (rng.random(n) < p).astype(int)
        y[:2] = [0, 1]
        for n_bins in (3, 5, 10):
            t = calibration_table(y, p, n_bins=n_bins, strategy=strategy)
            prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
            assert len(t) == len(prob_true)
            np.testing.assert_allclose(t["observed_fraction"], prob_true, rtol=0, atol=1e-12)
            np.testing.assert_allclose(t["mean_predicted"], prob_pred, rtol=0, atol=1e-12)
            assert t["n"].sum() == n
    # a probability on an inner edge belongs to the bin below it (right-closed), as in scikit-learn
    t = calibration_table([0, 1, 1, 0], [0.5, 0.5, 0.75, 0.25], n_bins=2, strategy="uniform")
    assert t["n"].tolist() == [3, 1] and t["upper"].tolist() == [0.5, 1.0]


def test_calibration_slope_and_intercept_match_statsmodels() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(9)
    for trial in range(20):
        p = np.clip(rng.beta(2, 3, 250), 0.005, 0.995)
        y = (rng.random(250) < p ** (0.6 + 0.05 * trial)).astype(int)
        r = calibration_slope_intercept(y, p)
        lp = np.log(p / (1 - p))
        slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-12).params
        intercept = sm.GLM(y, np.ones(250), family=sm.families.Binomial(), offset=lp).fit(tol=1e-12).params
        assert r["calibration_slope"] == pytest.approx(slope[1], abs=1e-8)
        assert r["calibration_slope_intercept"] == pytest.approx(slope[0], abs=1e-8)
        assert r["calibration_intercept"] == pytest.approx(intercept[0], abs=1e-8)
        assert r["n_clipped"] == 0
    # perfectly calibrated on average: slope about 1, intercept about 0; too extreme: slope < 1
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(int)
    r = calibration_slope_intercept(y, p)
    assert r["calibration_slope"] == pytest.approx(1, abs=0.05) and r["calibration_intercept"] == pytest.approx(0, abs=0.05)
    extreme = 1 / (1 + np.exp(-3 * np.log(p / (1 - p))))
    assert calibration_slope_intercept(y, extreme)["calibration_slope"] == pytest.approx(1 / 3, abs=0.03)
    # probabilities of exactly 0 or 1 are clipped and counted; separation gives NaN, not a huge number
    r = calibration_slope_intercept([0, 0, 1, 1, 0], [0.0, 0.2, 1.0, 0.7, 0.5])
    assert r["n_clipped"] == 2
    assert np.isnan(calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])["calibration_slope"])
    t = calibration_table(y[:500], p[:500])
    assert t.attrs["calibration_slope"] == pytest.approx(calibration_slope_intercept(y[:500], p[:500])["calibration_slope"])


def test_calibration_hand_computation() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    t = calibration_table(y, p, n_bins=2)
    assert t["mean_predicted"].tolist() == pytest.approx([0.2, 0.8])
    assert t["observed_fraction"].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert t["n"].tolist() == [3, 3]
    assert t.attrs["brier"] == pytest.approx(1.48 / 6)
    assert brier_score(y, p) == pytest.approx(1.48 / 6)


def test_decision_curve_hand_computation_and_dcurves_parity() -> None:
    y = np.array([1, 0, 1, 0, 0])
    p = np.array([0.9, 0.6, 0.4, 0.3, 0.1])
    t = decision_curve(y, {"m": p}, thresholds=[0.35])
    nb = t.set_index("model")["net_benefit"]
    # treat p >= 0.35: TP 2, FP 1 of 5 -> 2/5 - 1/5 * 0.35/0.65
    assert nb["m"] == pytest.approx(0.4 - 0.2 * 0.35 / 0.65)
    assert nb["all"] == pytest.approx(0.4 - 0.6 * 0.35 / 0.65)
    assert nb["none"] == 0
    dcurves = pytest.importorskip("dcurves")
    rng = np.random.default_rng(1)
    yy = (rng.random(80) < 0.4).astype(int)
    pp = np.clip(0.4 * yy + rng.random(80) * 0.6, 0, 1)
    ours = decision_curve(yy, {"m": pp})
    ref = dcurves.dca(data=pd.DataFrame({"y": yy, "m": pp}), outcome="y", modelnames=["m"])
    merged = ours.merge(ref, on=["model", "threshold"], suffixes=("", "_ref"))
    assert len(merged) == 300
    np.testing.assert_allclose(merged["net_benefit"], merged["net_benefit_ref"], atol=1e-12)


def test_nomogram_points_reproduce_the_logistic_model() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n = 150
    y = (rng.random(n) < 0.4).astype(int)
    pred = pd.DataFrame({"radiomic_score": y * 1.5 + rng.normal(size=n), "age": rng.normal(55, 10, n),
                         "er": rng.integers(0, 2, n).astype(float)}, index=[f"p{i}" for i in range(n)])
    labels = pd.Series(y, index=pred.index)
    nomo = fit_nomogram(pred, labels)
    assert nomo.coefficients["max_points"].max() == pytest.approx(100)
    assert (nomo.points["points"] >= -1e-9).all()
    ref = LogisticRegression(C=np.inf, max_iter=10_000).fit(pred, y).predict_proba(pred)[:, 1]
    np.testing.assert_allclose(nomo.score(pred)["probability"], ref, rtol=1e-6)
    assert set(nomo.points.loc[nomo.points["variable"] == "er", "value"]) == {0.0, 1.0}


def test_baseline_table_tests_match_scipy() -> None:
    rng = np.random.default_rng(2)
    n = 40
    groups = pd.Series(np.r_[np.ones(12, int), np.zeros(28, int)], index=[f"p{i}" for i in range(n)])
    data = pd.DataFrame({"age": rng.normal(50, 8, n), "er": rng.integers(0, 2, n),
                         "grade": rng.choice(["G1", "G2", "G3"], n)}, index=groups.index)
    data.loc["p3", "age"] = np.nan
    t = baseline_table(data, groups)
    age = t[t["variable"] == "age"].iloc[0]
    ok = data["age"].notna()
    ref = stats.mannwhitneyu(data.loc[ok & (groups == 0), "age"], data.loc[ok & (groups == 1), "age"])
    assert age["p_value"] == pytest.approx(ref.pvalue) and age["missing"] == 1
    er = t[t["variable"] == "er"].iloc[0]
    tab = pd.crosstab(data["er"], groups).to_numpy()
    if (stats.contingency.expected_freq(tab) < 5).any():
        assert er["test"] == "Fisher exact" and er["p_value"] == pytest.approx(stats.fisher_exact(tab)[1])
    else:
        assert er["test"] == "chi-square" and er["p_value"] == pytest.approx(stats.chi2_contingency(tab)[1])
    grade = t[t["variable"] == "grade"].iloc[0]
    assert grade["test"] == "chi-square"
    assert grade["p_value"] == pytest.approx(stats.chi2_contingency(pd.crosstab(data["grade"], groups))[1])
    assert (t["variable"] == "grade").sum() == 3


def test_fisher_used_for_small_2x2() -> None:
    groups = pd.Series([1, 1, 1, 0, 0, 0, 0, 0], index=list("abcdefgh"))
    data = pd.DataFrame({"er": [1, 1, 0, 0, 0, 0, 1, 0]}, index=groups.index)
    row = baseline_table(data, groups).iloc[0]
    assert row["test"] == "Fisher exact"
    assert row["p_value"] == pytest.approx(stats.fisher_exact(pd.crosstab(data["er"], groups).to_numpy())[1])


# ----------------------------------------------------------------------------- figures
def test_figures_are_returned() -> None:
    from radiogenomics.models import learning_curves
    from radiogenomics.plotting import _models as P

    X, y = cohort(80, 4, shift=1.0)
    Xv, yv = cohort(40, 4, shift=1.0, seed=1, prefix="V")
    res = validate(X, y, validation_features=Xv, validation_labels=yv, classifiers=["lr", "nb"], n_bootstrap=50)
    scores, lab = res.score_table(feature_set="all")
    pred = res.predictions[res.predictions["cohort"] == "validation"].pivot(index="sample", columns="classifier",
                                                                           values="predicted")
    table, n = pca_variance(X)
    lc = learning_curves(X, y, classifiers=["nb"], cv=3, train_sizes=(0.5, 1.0))
    assert list(lc.columns) == ["classifier", "train_size", "train_auc_mean", "train_auc_sd", "test_auc_mean", "test_auc_sd"]
    splits = repeated_splits(X, y, classifiers=["nb", "lr"], n_splits=3, show_progress=False).splits
    nomo = fit_nomogram(pd.DataFrame({"score": scores["lr"], "x": np.arange(len(scores)) % 2}, index=scores.index), lab)
    figs = [
        P.plot_roc(scores, lab, ci={"lr": (0.6, 0.9)}),
        P.plot_precision_recall(scores, lab),
        P.plot_confusion_matrices(pred, lab),
        P.plot_learning_curves(lc),
        P.plot_pca_variance(table, n),
        P.plot_lasso(lasso_path(X, y, Cs=4, cv=3)),
        P.plot_calibration({c: calibration_table(lab.to_numpy(), scores[c].to_numpy()) for c in scores}),
        P.plot_decision_curve(decision_curve(lab.to_numpy(), scores)),
        P.plot_nomogram(nomo),
        P.plot_split_auc(splits),
    ]
    assert all(isinstance(f, Figure) and f.axes for f in figs)
    # the table forms draw the same figures
    lasso = lasso_path(X, y, Cs=4, cv=3)
    cv = lasso.cv_curve.assign(chosen=lasso.cv_curve["C"] == lasso.C)
    a, b = P.plot_lasso(lasso), P.plot_lasso(cv, lasso.coefficients)
    assert a.axes[0].lines[-1].get_xdata()[0] == b.axes[0].lines[-1].get_xdata()[0] == pytest.approx(-np.log(lasso.C))
    n1 = P.plot_nomogram(nomo)
    n2 = P.plot_nomogram(nomo.coefficients, nomo.points, nomo.total_points)
    assert [t.get_text() for t in n1.axes[0].texts] == [t.get_text() for t in n2.axes[0].texts]
    cal = pd.concat([calibration_table(lab.to_numpy(), scores[c].to_numpy()).assign(classifier=c, brier=0.1)
                     for c in scores], ignore_index=True)
    assert len(P.plot_calibration(cal).axes[0].lines) == 1 + scores.shape[1]


def test_nomogram_from_tables_scores_the_same() -> None:
    from radiogenomics.models import Nomogram

    rng = np.random.default_rng(4)
    pred = pd.DataFrame({"score": rng.normal(size=60), "er": rng.integers(0, 2, 60).astype(float)})
    y = pd.Series((pred["score"] + rng.normal(size=60) > 0).astype(int))
    nomo = fit_nomogram(pred, y)
    again = Nomogram.from_tables(nomo.coefficients, nomo.points, nomo.total_points)
    assert again.scale == pytest.approx(nomo.scale) and again.intercept == pytest.approx(nomo.intercept)
    pd.testing.assert_frame_equal(again.score(pred), nomo.score(pred), rtol=1e-9)


# ----------------------------------------------------------------------------- the stage: evaluate()
CLF = ["lr", "nb"]


@pytest.fixture(scope="module")
def stage_data() -> dict:
    X, y = cohort(90, 6, shift=1.0, seed=20)
    Xv, yv = cohort(50, 6, shift=1.0, seed=21, prefix="V")
    rng = np.random.default_rng(22)
    ids = list(X.index) + list(Xv.index)
    clin = pd.DataFrame({"age": rng.normal(55, 9, len(ids)).round(), "grade": rng.choice(["G1", "G2", "G3"], len(ids)),
                         "site": "A", "size": rng.normal(size=len(ids))}, index=ids)
    clin.loc[X.index[3], "size"] = np.nan  # a variable with a missing value: not in the nomogram
    return {"X": X, "y": y, "Xv": Xv, "yv": yv, "clin": clin}


@pytest.fixture(scope="module")
def with_validation(stage_data: dict):
    import radiogenomics as rg

    d = stage_data
    return rg.evaluate(d["X"], d["y"], feature_sets={"signal": ["f0", "f1", "f2"], "all": list(d["X"].columns)},
                       validation=(d["Xv"], d["yv"]), clinical=d["clin"], classifiers=CLF, n_splits=5,
                       n_bootstrap=50, seed=2, show_progress=False)


@pytest.fixture(scope="module")
def without_validation(stage_data: dict):
    from radiogenomics.models import evaluate

    d = stage_data
    return evaluate(d["X"], d["y"], feature_sets={"signal": ["f0", "f1", "f2"]}, classifiers=CLF, n_splits=4, seed=1,
                    show_progress=False)


def test_evaluate_with_validation_is_the_composition_of_the_parts(stage_data: dict, with_validation) -> None:
    d, res = stage_data, with_validation
    sets = {"signal": ["f0", "f1", "f2"], "all": list(d["X"].columns)}
    ref = repeated_splits(d["X"], d["y"], feature_sets=sets, classifiers=CLF, n_splits=5, seed=2, show_progress=False)
    pd.testing.assert_frame_equal(res.summary, ref.summary)
    pd.testing.assert_frame_equal(res.splits, ref.splits)
    val = validate(d["X"], d["y"], validation_features=d["Xv"], validation_labels=d["yv"], feature_sets=sets,
                   classifiers=CLF, n_bootstrap=50, seed=2)
    pd.testing.assert_frame_equal(res.validation, val.validation)
    pd.testing.assert_frame_equal(res.validation_predictions, val.predictions)
    assert res.oof_predictions is None and set(res.models) == set(val.models)
    # PCA, LASSO, calibration and decision curve are those of the primary (first) set on the validation cohort
    table, n = pca_variance(d["X"][sets["signal"]], variance=0.91)
    pd.testing.assert_frame_equal(res.pca, table)
    assert res.parameters["primary_feature_set"] == "signal" and res.parameters["pca_components"] == n
    scores, lab = val.score_table(feature_set="signal")
    t = calibration_table(lab.to_numpy(), scores["lr"].to_numpy())
    got = res.calibration[res.calibration["classifier"] == "lr"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[t.columns], t, check_dtype=False)
    assert got["brier"].iloc[0] == pytest.approx(t.attrs["brier"])
    assert set(res.calibration["cohort"]) == {"validation"} and set(res.decision_curve["feature_set"]) == {"signal"}
    dca = decision_curve(lab.to_numpy(), scores)
    pd.testing.assert_frame_equal(res.decision_curve[dca.columns], dca)
    # clinical: both baseline tables, the nomogram; the constant and the incomplete variables are reported
    assert res.baseline_split is not None and "training (n=90)" in res.baseline_split.columns
    assert list(res.nomogram_coefficients["variable"]) == ["radiomic_score", "age", "grade_G2", "grade_G3"]
    assert dict(zip(res.dropped["item"], res.dropped["reason"])) == {
        "site": "a single value in the training cohort: left out of the nomogram",
        "size": "1 missing value(s) in the training cohort: left out of the nomogram"}
    assert set(res.dropped["kind"]) == {"clinical variable"}
    p = res.parameters
    assert (p["seed"], p["n_splits"], p["n_bootstrap"], p["classifiers"]) == (2, 5, 50, CLF)
    assert p["feature_sets"]["signal"] == ["f0", "f1", "f2"] and "random_state=2" in p["classifier_settings"]["lr"]
    ov = res.overview()
    assert ov["n_validation"] == 50 and set(ov["best_mean_auc"]) == {"signal/paper", "all/paper"}
    assert ov["protocols"] == ["paper"] and ov["paper_inflation"] == {}
    assert "paper protocol only" in p["protocol_notes"]["signal"]
    # the nomogram evaluated on both cohorts, by hand: its probability, DeLong AUC, Brier, recalibration
    nv = res.nomogram_validation.set_index("cohort")
    assert list(nv.index) == ["training", "validation"] and nv.loc["validation", "n"] == 50
    lr = make_classifier("lr", random_state=2).fit(d["X"][sets["signal"]], d["y"])
    pv = np.clip(lr.predict_proba(d["Xv"][sets["signal"]])[:, 1], 1e-6, 1 - 1e-6)
    enc = pd.get_dummies(d["clin"].loc[d["Xv"].index, ["age", "grade"]], drop_first=True, dtype=float)
    pred = pd.concat([pd.Series(np.log(pv / (1 - pv)), index=d["Xv"].index, name="radiomic_score"), enc], axis=1)
    prob = res.nomogram().score(pred)["probability"]
    assert nv.loc["validation", "auc"] == pytest.approx(roc_auc_score(d["yv"], prob), abs=1e-12)
    assert nv.loc["validation", "brier"] == pytest.approx(brier_score(d["yv"], prob), abs=1e-12)
    recal = calibration_slope_intercept(d["yv"], prob)
    assert nv.loc["validation", "calibration_slope"] == pytest.approx(recal["calibration_slope"])
    cal_v = res.nomogram_calibration[res.nomogram_calibration["cohort"] == "validation"]
    np.testing.assert_allclose(cal_v["observed_fraction"], calibration_table(d["yv"], prob)["observed_fraction"])


def test_evaluate_without_validation_uses_out_of_fold_predictions(stage_data: dict, without_validation) -> None:
    from radiogenomics.models import out_of_fold_scores

    d, res = stage_data, without_validation
    assert res.validation is None and res.validation_predictions is None and res.evaluation_cohort == "training_oof"
    oof = res.oof_predictions
    assert set(oof["cohort"]) == {"training_oof"} and set(oof["classifier"]) == set(CLF) and len(oof) == 2 * 90
    X1, y = d["X"][["f0", "f1", "f2"]], d["y"].to_numpy(int)
    from sklearn.model_selection import StratifiedKFold

    for name, est in make_classifiers(CLF, random_state=1).items():
        ref = out_of_fold_scores(est, X1.to_numpy(float), y, seed=1)
        got = oof[oof["classifier"] == name]
        np.testing.assert_array_equal(got["score"].to_numpy(), ref)
        # the threshold applied to each fold is chosen inside that fold's training part, never on its own scores
        for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=1).split(X1, y)):
            inner = out_of_fold_scores(est, X1.to_numpy(float)[tr], y[tr], seed=1)
            thr = youden_threshold(y[tr], inner)["threshold"]
            np.testing.assert_array_equal(got["threshold"].to_numpy()[te], thr)
            np.testing.assert_array_equal(got["predicted"].to_numpy()[te], (ref[te] >= thr).astype(int))
            assert (got["fold"].to_numpy()[te] == k).all()
        assert got["threshold"].nunique() > 1
        cal = calibration_table(y, ref)
        np.testing.assert_allclose(res.calibration.loc[res.calibration["classifier"] == name, "observed_fraction"],
                                   cal["observed_fraction"])
    assert set(res.calibration["cohort"]) == {"training_oof"}
    assert res.baseline_her2 is None and res.nomogram_coefficients is None and res.nomogram() is None
    assert res.overview()["n_validation"] is None
    figs = res.figures()
    assert {"roc", "calibration", "decision_curve", "split_auc"} <= set(figs) and "nomogram" not in figs
    assert "out-of-fold" in figs["roc"].get_label() and "'signal'" in figs["roc"].get_label()


def test_models_result_round_trip(tmp_path, with_validation) -> None:
    from radiogenomics.models import ModelsResult

    res = with_validation
    res.write(tmp_path / "models", figures=False)
    back = ModelsResult.read(tmp_path / "models")
    assert set(back.tables()) == set(res.tables())
    for name, table in res.tables().items():
        pd.testing.assert_frame_equal(back.tables()[name], table, check_dtype=False, obj=name)
    assert back.parameters["seed"] == 2 and back.parameters["primary_feature_set"] == "signal"
    assert back.overview() == res.overview()
    figs, again = res.figures(), back.figures()
    assert set(figs) == {"split_auc", "pca_variance", "lasso", "learning_curves", "roc", "precision_recall",
                         "confusion_matrices", "calibration", "decision_curve", "nomogram", "nomogram_calibration"}
    assert set(again) == set(figs)
    for name, fig in figs.items():
        assert fig.get_label() == again[name].get_label() and fig.get_label(), name
    assert "validation cohort" in figs["calibration"].get_label()
    nomo = back.nomogram()
    np.testing.assert_allclose(nomo.score(pd.DataFrame({"radiomic_score": [0.0], "age": [50.0], "grade_G2": [1.0],
                                                        "grade_G3": [0.0]}))["probability"],
                               res.nomogram().score(pd.DataFrame({"radiomic_score": [0.0], "age": [50.0],
                                                                  "grade_G2": [1.0], "grade_G3": [0.0]}))["probability"])


def test_models_figures_name_their_feature_set_protocol_and_bins(with_validation) -> None:
    res = with_validation
    figs = res.figures()
    # the ROC covers every feature set: one panel each, every classifier in each
    roc = figs["roc"]
    assert [ax.get_title() for ax in roc.axes] == ["feature set 'signal' (n=50)", "feature set 'all' (n=50)"]
    assert all(len(ax.lines) == len(CLF) + 1 for ax in roc.axes)  # + chance
    assert "one panel per feature set ('signal', 'all')" in roc.get_label()
    for name in ("roc", "precision_recall", "confusion_matrices", "calibration", "decision_curve"):
        label = figs[name].get_label()
        assert "protocol: validation refit" in label and "validation cohort" in label, name
        assert "90 training patients" in label and "50 independent validation patients" in label, name
    for name in ("precision_recall", "confusion_matrices", "calibration", "decision_curve"):
        assert "feature set 'signal'" in figs[name].get_label(), name
    assert figs["calibration"].axes[0].get_title() == "Calibration ('signal', validation cohort)"
    assert figs["decision_curve"].axes[0].get_title() == "Decision curve ('signal', validation cohort)"
    # 50 validation patients: at most 5 quantile bins per classifier (n // 10), said in the caption
    assert (res.calibration.groupby("classifier").size() <= 5).all()
    assert "5 quantile bin(s) of about 10 patients each" in figs["calibration"].get_label()
    for name in ("pca_variance", "lasso", "learning_curves"):
        assert "feature set 'signal', training cohort (all 90 patients)" in figs[name].get_label(), name
    assert "paper protocol: optimistic" in figs["learning_curves"].get_label()
    assert "'signal', 'all'" in figs["split_auc"].get_label() and "protocol: paper" in figs["split_auc"].get_label()
    assert "feature set 'signal'" in figs["nomogram"].get_label()
    assert ("training: 9 quantile bin(s) of about 10 patients each; validation: 5 quantile bin(s)"
            in figs["nomogram_calibration"].get_label())


def test_feature_sets_from_upstream_results(stage_data: dict) -> None:
    import radiogenomics as rg
    from radiogenomics.module import ModuleResult

    d = stage_data
    diff = rg.differential(d["X"], d["y"])
    assert diff.feature_set()  # the planted features differ
    empty = pd.DataFrame()
    mod = ModuleResult(module=pd.DataFrame({"feature": ["f0", "f3"], "role": ["differential", "auxiliary"]}),
                       similarity=empty, similarity_matrix=empty, network_nodes=empty, network_edges=empty)
    res = rg.evaluate(d["X"], d["y"], feature_sets={"differential": diff, "module": mod}, classifiers=["nb"],
                      n_splits=2, show_progress=False)
    assert res.parameters["feature_sets"] == {"differential": diff.feature_set(), "module": ["f0", "f3"]}
    assert res.parameters["feature_set_sources"] == {"differential": "DifferentialResult", "module": "ModuleResult"}
    assert set(res.summary["feature_set"]) == {"differential", "module"}
    # an upstream result (extract) as the features
    from radiogenomics.imaging.result import load_features

    ext = load_features(d["X"], d["y"])
    res2 = rg.evaluate(ext, feature_sets={"differential": diff}, classifiers=["nb"], n_splits=2, show_progress=False)
    pd.testing.assert_frame_equal(res2.summary, res.summary[res.summary["feature_set"] == "differential"]
                                  .reset_index(drop=True))


def test_empty_or_unusable_feature_set_is_an_error_before_any_computation(stage_data: dict, monkeypatch) -> None:
    import importlib

    import radiogenomics as rg

    stage_module = importlib.import_module("radiogenomics.models.evaluate")

    def never(*args, **kwargs):
        raise AssertionError("computed before the inputs were checked")

    monkeypatch.setattr(stage_module, "repeated_splits", never)
    d = stage_data
    nothing = rg.differential(d["X"], d["y"], threshold=1e-300)
    assert nothing.feature_set() == []
    with pytest.raises(InputError, match=r"'differential' is empty: DifferentialResult\.feature_set\(\) returned no"):
        rg.evaluate(d["X"], d["y"], feature_sets={"differential": nothing})
    with pytest.raises(InputError, match="'mine' is empty"):
        rg.evaluate(d["X"], d["y"], feature_sets={"mine": []})
    with pytest.raises(InputError, match="missing from the validation features"):
        rg.evaluate(d["X"], d["y"], feature_sets={"s": ["f0"]}, validation=(d["Xv"].drop(columns="f0"), d["yv"]))
    with pytest.raises(InputError, match="no clinical row"):
        rg.evaluate(d["X"], d["y"], clinical=d["clin"].drop(index=d["X"].index[:2]))
    with pytest.raises(ParameterError, match="n_bootstrap"):
        rg.evaluate(d["X"], d["y"], n_bootstrap=5)
    with pytest.raises(ParameterError, match="xgb"):
        rg.evaluate(d["X"], d["y"], classifiers=["lr", "xgb"])
    with pytest.raises(InputError, match="at least 5 of each class"):
        rg.evaluate(d["X"].iloc[:12], d["y"].iloc[:12].mask(d["y"].iloc[:12].index != "P000", 0))


def test_platt_calibration_folds_never_outnumber_the_smaller_class() -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    from radiogenomics.models.classifiers import PlattCalibration

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 4))
    for n_pos, folds in ((12, 5), (5, 5), (4, 4), (3, 3), (2, 2)):
        y = (np.arange(40) < n_pos).astype(int)
        X[:n_pos, 0] += 1.0
        ours = PlattCalibration(SVC(), method="sigmoid", cv=5, ensemble=False).fit(X, y)
        ref = CalibratedClassifierCV(SVC(), method="sigmoid", cv=folds, ensemble=False).fit(X, y)
        assert ours.cv == 5 and ours.cv_used_ == folds  # the parameter is left as given
        np.testing.assert_array_equal(ours.predict_proba(X), ref.predict_proba(X))
    with pytest.raises(ValueError, match="less than 5 examples"):  # what scikit-learn's own does at 4
        CalibratedClassifierCV(SVC(), method="sigmoid", cv=5, ensemble=False).fit(X, (np.arange(40) < 4).astype(int))


def test_models_run_with_the_fewest_patients_per_class_they_accept() -> None:
    # 5 HER2-positive patients (the stated minimum): the out-of-fold predictions fit the calibrated SVM on 4 of
    # them, and their inner CV on 3; scikit-learn's CalibratedClassifierCV(cv=5) stopped the stage there
    from radiogenomics.models import evaluate

    rng = np.random.default_rng(5)

    def cohort(n, n_pos, prefix):
        X = pd.DataFrame(rng.normal(size=(n, 6)), index=[f"{prefix}{i}" for i in range(n)],
                         columns=[f"f{j}" for j in range(6)])
        y = pd.Series((np.arange(n) < n_pos).astype(int), index=X.index)
        X.iloc[:n_pos, 0] += 1.5
        return X, y

    X, y = cohort(30, 5, "T")
    V, vy = cohort(20, 6, "V")
    for validation in (None, (V, vy)):
        res = evaluate(X, y, validation=validation, classifiers=["svm", "lr"], n_splits=5, n_bootstrap=20,
                       show_progress=False, seed=1)
        held = res.validation_predictions if validation is not None else res.oof_predictions
        svm = held[held["classifier"] == "svm"]
        assert svm["cohort"].value_counts().to_dict() == ({"training_oof": 30, "validation": 20} if validation
                                                          else {"training_oof": 30})
        assert svm["score"].between(0, 1).all() and svm["score"].nunique() > 10
