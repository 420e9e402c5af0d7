"""The null model of the perturbation rule: how many genes it selects by chance, and which null holds.

Every feature's observed count of HER2-positive-specific genes is set against two nulls.

**Permutation null (primary, always valid).** The whole procedure is repeated ``n_null`` times
with the expression rows permuted within each class, which breaks any link while keeping every
marginal (the distributions, the gene–gene correlation, the class sizes, the overlap of the
draws). Its rounds give the mean, SD, a 95 % interval (2.5th and 97.5th percentiles, taken as
observed rounds: ``numpy.quantile`` with ``method="lower"``/``"higher"``), the 95th percentile,
the **empirical p** ``(1 + #{null >= observed}) / (rounds + 1)`` (one-sided: more genes than
chance), the **empirical FDR** ``min(1, null mean / observed)`` (the share of the feature's genes
that the rule selects by chance), and the verdict ``beats_null = empirical_p < null_alpha``
(per feature, not corrected across features: with F features about ``F * null_alpha`` beat
the null by chance alone, which the report states). Without rounds (``n_null=0``) there is no
verdict: the columns are missing values, never a guess.

**Analytic binomial (shown only where its assumptions are checked).** Under independence, a
pair hits in one perturbation with probability ``q = P(|r| > max(r_threshold, r_crit))``
(exact for bivariate normal data with ρ = 0), is associated in a class with
``π = P(Binomial(P, q) >= k)`` and is positive-specific with ``π (1 − π)``; a feature's count
is then ``Binomial(n_genes, π (1 − π))`` with its 99 % interval. This holds only for Gaussian
columns, unpaired draws and uncorrelated genes. Measured against the permutation null
(``benchmarks/bench_null.py``, 400 genes, 30 rounds): on log-normal data (σ = 1) the
permutation null selects 1.07× the binomial's count at 32 drawn samples, 14× at 64 and
6·10⁶× at 120 (the audit: 7× to over 1,000×); with gene–gene correlation 0.3 the binomial's
99 % band is 2.9× too narrow with 400 genes and 5.0× with 1,000 (the audit: 3–4×; it narrows
with the square root of the gene count); in paired mode the per-pair hit counts are
over-dispersed 24–26× against Binomial(P, q) (the audit: 31–41×). So its columns are filled
only for the features that pass every check below, and are missing values (with
``binomial_note`` saying why) elsewhere:

1. **Design**: ``mode="unpaired"``. In paired mode the draws of one pair reuse the same
   patients (80 % of a class per draw), so a pair's hits over the perturbations are strongly
   dependent and the binomial over perturbations does not apply.
2. **Gene–gene correlation**, per class: the variance of a feature's count grows with the
   correlation of the genes' hit indicators. For functions of |r| (even functions) under a
   bivariate-normal model that correlation is at most ρ², so
   ``D = 1 + (G − 1) · max(0, mean_{g≠h} r²_gh − 1/(N − 1))`` bounds the variance inflation
   (``1/(N − 1)`` is E[r²] of independent columns over the N samples of the class, removed so
   that pure sampling correlation does not count; the sum of the r² is ``‖Z Zᵀ‖²_F`` of an
   N × N matrix, over up to 2,000 evenly spaced genes: see :func:`correlation_genes`). The binomial needs ``D <= 1.5`` (its
   band at most √1.5 ≈ 1.22× too narrow). On independent genes D stays at 1.00–1.08 (its SD
   is about 2/(N − 1) whatever G); with 400 genes of correlation 0.03 it is 1.27 (band
   coverage 0.99), with 0.1 it is 4.8 (coverage 0.94), with 0.3 it is 36 (coverage 0.57).
   Real expression tables (thousands of correlated genes) do not pass, as they should not.
3. **Distributions of the columns used**, per class (the samples the draws come from):
   sample skewness and excess kurtosis (scipy's default, biased estimators). A column is
   near-Gaussian when ``|skewness| <= 1`` and ``|excess kurtosis| <= 2``. The feature itself
   must be near-Gaussian in both classes, and at most 10 % of the genes may fail in either
   class. Why these values: with the paper's rule (75 perturbations, 6 hits) at 40, 80 and
   150 samples per class, the coverage of the permutation null by the binomial's 99 % band,
   with the count scaled to 20,000 genes (the paper's scale, where the rule's far tail
   matters), is 0.98–1.00 for Gaussian and t(10) columns and for Gaussian features against
   genes of which 10 % are log-normal; it drops to 0.79 for log-normal σ = 0.25 at 40 samples
   (19 % of its genes fail the limits), 0.02–0.78 for log-normal σ = 0.5 and t(5), and to 0
   for log-normal σ = 1, also for Gaussian features against all-log-normal genes (0.67 at 80
   samples): the draws reuse the same samples, so r's exact null when one column is Gaussian
   does not carry over to the repeated draws. Every scenario the checks show has coverage
   >= 0.978, and none with coverage < 0.9 is shown. On Gaussian columns the limits are crossed
   by sampling noise for 1.5–1.8 % of the columns at 40 samples per class (0.25 % at 80), well
   below the 10 % gene limit. Below 20 samples per class the statistics are too noisy to
   check and the binomial is withheld.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .engine import critical_r

__all__ = [
    "NULL_COLUMNS",
    "binomial_null",
    "null_hit_probability",
    "null_summary_table",
]

#: Limits of the binomial null's checks (see the module docstring for why these values).
MAX_SKEWNESS = 1.0
MAX_EXCESS_KURTOSIS = 2.0
MAX_GENE_SHARE = 0.10
MAX_VARIANCE_INFLATION = 1.5
MIN_CLASS_SAMPLES = 20
#: Genes whose pairs estimate the mean squared gene–gene correlation (:func:`correlation_genes`).
MAX_CORRELATION_GENES = 2000

PERMUTATION_COLUMNS = ("permutation_mean", "permutation_sd", "permutation_low95", "permutation_high95",
                       "permutation_q95", "empirical_p", "empirical_fdr")
BINOMIAL_COLUMNS = ("expected_binomial", "binomial_low99", "binomial_high99")
#: The columns of ``null_summary``, in order.
NULL_COLUMNS = ("observed", *PERMUTATION_COLUMNS, "beats_null", *BINOMIAL_COLUMNS, "binomial_note",
                "skewness", "excess_kurtosis")
CHECK_COLUMNS = ("check", "her2_class", "value", "threshold", "passed", "note")


def null_hit_probability(n: int, *, r_threshold: float = 0.3, alpha: float = 0.05) -> float:
    """Probability that one feature–gene pair hits in one perturbation under the null.

    Exact for bivariate normal data with ρ = 0: P(|r| > max(r_threshold, r_crit)).

    Parameters
    ----------
    n
        Sample size of a draw.
    r_threshold
        |r| threshold of the rule.
    alpha
        p-value threshold of the rule.

    Returns
    -------
    float
    """
    c = max(r_threshold, critical_r(n, alpha))
    t = c * np.sqrt((n - 2) / (1 - c * c))
    return float(2 * stats.t.sf(t, n - 2))


def binomial_null(
    n_genes: int,
    *,
    n_perturbations: int,
    sample_size: int,
    r_threshold: float = 0.3,
    alpha: float = 0.05,
    min_hits: int = 6,
) -> dict[str, float]:
    """The analytic binomial null of one feature's count (valid only under its assumptions).

    Parameters
    ----------
    n_genes
        Genes tested.
    n_perturbations, sample_size, r_threshold, alpha, min_hits
        The rule's settings.

    Returns
    -------
    dict
        ``expected``, ``low99``, ``high99`` (the count's 99 % interval), ``hit_probability``
        (q), ``association_probability`` (π) and ``specific_probability`` (π (1 − π)).
    """
    q = null_hit_probability(sample_size, r_threshold=r_threshold, alpha=alpha)
    pi = float(stats.binom.sf(min_hits - 1, n_perturbations, q))
    ps = pi * (1 - pi)
    lo, hi = stats.binom.interval(0.99, n_genes, ps)
    return {"expected": n_genes * ps, "low99": float(lo), "high99": float(hi), "hit_probability": q,
            "association_probability": pi, "specific_probability": ps}


# ------------------------------------------------------------------ the binomial's checks
def column_shape(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample skewness, excess kurtosis (biased, as scipy's defaults) and constancy of columns.

    Parameters
    ----------
    x
        (n, m) array.

    Returns
    -------
    tuple of numpy.ndarray
        Skewness, excess kurtosis (NaN for constant columns) and a boolean "constant" mask.
    """
    x = np.asarray(x, dtype=float)
    mean = x.mean(axis=0)
    xc = x - mean
    m2 = np.einsum("ij,ij->j", xc, xc) / x.shape[0]
    constant = m2 <= (1e-10 * np.abs(mean)) ** 2
    safe = np.where(constant, 1.0, m2)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc2 = xc * xc
        skew = np.einsum("ij,ij->j", xc2, xc) / x.shape[0] / safe ** 1.5
        kurt = np.einsum("ij,ij->j", xc2, xc2) / x.shape[0] / safe ** 2 - 3.0
    skew[constant] = np.nan
    kurt[constant] = np.nan
    return skew, kurt, constant


def far_from_gaussian(skew: np.ndarray, kurt: np.ndarray) -> np.ndarray:
    """Columns outside the near-Gaussian limits (|skewness| > 1 or |excess kurtosis| > 2).

    Parameters
    ----------
    skew, kurt
        From :func:`column_shape` (NaN = constant: not counted here).

    Returns
    -------
    numpy.ndarray
        Boolean mask.
    """
    with np.errstate(invalid="ignore"):
        return (np.abs(skew) > MAX_SKEWNESS) | (np.abs(kurt) > MAX_EXCESS_KURTOSIS)


def correlation_genes(n_genes: int) -> np.ndarray:
    """The genes whose pairwise correlations estimate the mean r² of the gene–gene check.

    All genes up to :data:`MAX_CORRELATION_GENES`, else that many evenly spaced over the table
    (deterministic, no random draw): the mean over their pairs estimates the mean over all
    pairs with an SD of about ``1.4 / ((N - 1) · 1,400)`` without correlation, ±0.07 in ``D``
    at 20,000 genes, at a tenth of the cost of all pairs.

    Parameters
    ----------
    n_genes
        Genes in the table.

    Returns
    -------
    numpy.ndarray
        Boolean mask over the genes.
    """
    mask = np.zeros(n_genes, dtype=bool)
    if n_genes <= MAX_CORRELATION_GENES:
        mask[:] = True
    else:
        mask[np.unique(np.linspace(0, n_genes - 1, MAX_CORRELATION_GENES).round().astype(np.int64))] = True
    return mask


def gene_check_chunk(block: np.ndarray, rows: Mapping[str, np.ndarray],
                     use: np.ndarray | None = None) -> dict[str, tuple[int, int, int, np.ndarray]]:
    """Additive statistics of one gene chunk for the binomial's checks, per class.

    Parameters
    ----------
    block
        (samples, chunk genes) expression values.
    rows
        Class → the expression rows its draws come from.
    use
        Boolean mask over the chunk's genes: those entering the correlation statistic
        (:func:`correlation_genes`); default all.

    Returns
    -------
    dict
        Class → (genes far from Gaussian, non-constant genes, non-constant genes used for the
        correlation, ``Z Zᵀ``) with ``Z`` those genes' columns in the class, centred and scaled
        to unit norm; sums over chunks give the whole table's statistics.
    """
    out = {}
    for cls, r in rows.items():
        x = np.asarray(block[r], dtype=float)
        skew, kurt, constant = column_shape(x)
        bad = far_from_gaussian(skew, kurt) & ~constant
        sel = ~constant if use is None else (~constant & use)
        z = x[:, sel]
        z = z - z.mean(axis=0)
        z /= np.sqrt(np.einsum("ij,ij->j", z, z))
        out[cls] = (int(bad.sum()), int((~constant).sum()), int(sel.sum()), z @ z.T)
    return out


def combine_gene_checks(
    parts: Iterable[Mapping[str, tuple[int, int, int, np.ndarray]]],
) -> dict[str, tuple[int, int, int, np.ndarray]]:
    """Sum the per-chunk statistics of :func:`gene_check_chunk`.

    Parameters
    ----------
    parts
        One mapping per chunk.

    Returns
    -------
    dict
        Class → (genes far from Gaussian, non-constant genes, non-constant genes used for the
        correlation, ``Z Zᵀ``) of the whole table.
    """
    total: dict[str, tuple[int, int, int, np.ndarray]] = {}
    for part in parts:
        for cls, (bad, nonconst, used, zz) in part.items():
            if cls in total:
                b, n, u, s = total[cls]
                total[cls] = (b + bad, n + nonconst, u + used, s + zz)
            else:
                total[cls] = (bad, nonconst, used, zz.copy())
    return total


def variance_inflation(zz: np.ndarray, n_used: int, n_genes: int) -> tuple[float, float]:
    """The variance-inflation bound ``D`` of a feature's count from gene–gene correlation.

    Parameters
    ----------
    zz
        ``Z Zᵀ`` of the class (N × N) over the genes used, ``Z`` with unit-norm columns.
    n_used
        Genes in ``Z``.
    n_genes
        Non-constant genes of the table (the count's G).

    Returns
    -------
    tuple of float
        ``D`` and the mean squared correlation of distinct genes (over the genes used).
    """
    n = zz.shape[0]
    if n_used < 2 or n < 3:
        return 1.0, float("nan")
    total = float(np.einsum("ij,ij->", zz, zz))  # sum over every gene pair (g, h) of r_gh^2
    mean_r2 = (total - n_used) / (n_used * (n_used - 1.0))
    return 1.0 + (n_genes - 1.0) * max(0.0, mean_r2 - 1.0 / (n - 1.0)), mean_r2


@dataclass
class BinomialChecks:
    """Outcome of the binomial null's checks.

    Attributes
    ----------
    table
        One row per check (``check``, ``her2_class``, ``value``, ``threshold``, ``passed``,
        ``note``).
    notes
        Per feature: why the binomial is withheld (``""`` where it is shown).
    skewness, excess_kurtosis
        Per feature: the largest absolute value over the two classes.
    """

    table: pd.DataFrame
    notes: pd.Series
    skewness: pd.Series
    excess_kurtosis: pd.Series

    @property
    def shown(self) -> pd.Series:
        """Per feature: whether the binomial null is shown."""
        return self.notes == ""


def _class_name(cls: str) -> str:
    return f"HER2-{cls}"


def check_binomial(
    features: np.ndarray,
    names: pd.Index,
    feature_rows: Mapping[str, np.ndarray],
    gene_stats: Mapping[str, tuple[int, int, np.ndarray]],
    *,
    n_genes: int,
    mode: str,
) -> BinomialChecks:
    """Check the binomial null's assumptions on the columns actually used (see the module docstring).

    Parameters
    ----------
    features
        (samples, features) imaging values.
    names
        Feature names.
    feature_rows
        Class → the feature rows its draws come from.
    gene_stats
        Class → (genes far from Gaussian, non-constant genes, ``Z Zᵀ``), from
        :func:`combine_gene_checks`.
    n_genes
        Genes tested.
    mode
        ``"unpaired"`` or ``"paired"``.

    Returns
    -------
    BinomialChecks
    """
    rows: list[dict] = []
    common: list[str] = []
    unpaired = mode == "unpaired"
    rows.append({"check": "design", "her2_class": "", "value": np.nan, "threshold": np.nan, "passed": unpaired,
                 "note": "unpaired: every perturbation pairs fresh random draws" if unpaired else
                 "paired: the draws of a pair reuse the same patients, so its hits over the perturbations "
                 "are dependent (counts over-dispersed many-fold against the binomial)"})
    if not unpaired:
        common.append("paired mode: the perturbations of a pair reuse the same patients, so its hits are "
                      "not independent")
    for cls in ("positive", "negative"):
        bad, nonconst, used, zz = gene_stats[cls]
        n = zz.shape[0]
        few = n < MIN_CLASS_SAMPLES
        rows.append({"check": "class_samples", "her2_class": cls, "value": float(n),
                     "threshold": float(MIN_CLASS_SAMPLES), "passed": not few,
                     "note": f"expression samples the draws come from (at least {MIN_CLASS_SAMPLES} to check "
                             "distributions)"})
        if few:
            common.append(f"only {n} {_class_name(cls)} expression samples: too few to check the distributions")
        d, mean_r2 = variance_inflation(zz, used, nonconst)
        ok = d <= MAX_VARIANCE_INFLATION
        rows.append({"check": "gene_correlation", "her2_class": cls, "value": d, "threshold": MAX_VARIANCE_INFLATION,
                     "passed": ok,
                     "note": f"variance-inflation bound of a feature's count from gene-gene correlation over "
                             f"{nonconst} genes (mean r^2 {mean_r2:.4g} over the pairs of {used} genes, "
                             f"{1 / max(n - 1, 1):.4g} expected without correlation)"})
        if not ok:
            common.append(f"gene-gene correlation inflates the count's variance up to {d:.3g}-fold (limit "
                          f"{MAX_VARIANCE_INFLATION:g}) in {_class_name(cls)} samples, so the binomial band is too "
                          "narrow")
        share = bad / nonconst if nonconst else 0.0
        ok = share <= MAX_GENE_SHARE
        rows.append({"check": "gene_distribution", "her2_class": cls, "value": share, "threshold": MAX_GENE_SHARE,
                     "passed": ok,
                     "note": f"share of genes far from Gaussian (|skewness| > {MAX_SKEWNESS:g} or |excess kurtosis| "
                             f"> {MAX_EXCESS_KURTOSIS:g}): {bad} of {nonconst}"})
        if not ok:
            common.append(f"{100 * share:.0f} % of genes are far from Gaussian in {_class_name(cls)} samples "
                          f"(limit {100 * MAX_GENE_SHARE:.0f} %)")
    # per feature
    notes = []
    per_class = {}
    for cls in ("positive", "negative"):
        x = features[feature_rows[cls]]
        per_class[cls] = column_shape(x)
        few = x.shape[0] < MIN_CLASS_SAMPLES
        if few:
            common.append(f"only {x.shape[0]} {_class_name(cls)} imaging samples: too few to check the distributions")
        rows.append({"check": "class_samples_features", "her2_class": cls, "value": float(x.shape[0]),
                     "threshold": float(MIN_CLASS_SAMPLES), "passed": not few,
                     "note": "imaging samples the draws come from"})
    n_bad = np.zeros(len(names), dtype=bool)
    for j in range(len(names)):
        own = []
        for cls in ("positive", "negative"):
            skew, kurt, constant = per_class[cls]
            if constant[j]:
                own.append(f"constant in {_class_name(cls)} samples (never hits)")
            elif far_from_gaussian(skew[j:j + 1], kurt[j:j + 1])[0]:
                own.append(f"far from Gaussian in {_class_name(cls)} samples (skewness {skew[j]:.2f}, excess "
                           f"kurtosis {kurt[j]:.2f})")
        n_bad[j] = bool(own)
        reasons = own + common
        notes.append("" if not reasons else "withheld: " + "; ".join(reasons))
    rows.append({"check": "feature_distribution", "her2_class": "", "value": float(n_bad.mean()) if len(names) else 0.0,
                 "threshold": 0.0, "passed": not n_bad.any(),
                 "note": f"share of features far from Gaussian or constant in a class: {int(n_bad.sum())} of "
                         f"{len(names)} (each such feature's binomial is withheld)"})
    skews = np.fmax(np.abs(per_class["positive"][0]), np.abs(per_class["negative"][0]))
    kurts = np.fmax(np.abs(per_class["positive"][1]), np.abs(per_class["negative"][1]))
    idx = pd.Index(names, name="feature")
    table = pd.DataFrame(rows, columns=list(CHECK_COLUMNS))
    table["passed"] = table["passed"].astype(bool)
    return BinomialChecks(table=table, notes=pd.Series(notes, index=idx, dtype=object),
                          skewness=pd.Series(skews, index=idx), excess_kurtosis=pd.Series(kurts, index=idx))


# ------------------------------------------------------------------ the table
def null_summary_table(
    observed: np.ndarray,
    null_rounds: np.ndarray,
    features: pd.Index,
    *,
    n_genes: int,
    n_perturbations: int,
    sample_size: int,
    r_threshold: float,
    alpha: float,
    min_hits: int,
    null_alpha: float = 0.05,
    checks: BinomialChecks | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """One row per feature: observed count against the permutation null (and the binomial where it holds).

    Parameters
    ----------
    observed
        Positive-specific genes per feature.
    null_rounds
        (rounds, features) counts of the permutation null (0 rounds: no permutation columns and
        no verdict).
    features
        Feature names.
    n_genes, n_perturbations, sample_size, r_threshold, alpha, min_hits
        The rule's settings.
    null_alpha
        Level of the verdict ``beats_null`` (empirical p < ``null_alpha``).
    checks
        The binomial's checks (:func:`check_binomial`); ``None`` shows the binomial for every
        feature (no check made: only for callers that checked themselves).

    Returns
    -------
    tuple
        The table (index ``feature``; columns :data:`NULL_COLUMNS`: ``observed``, the
        permutation columns ``permutation_mean``, ``permutation_sd``, ``permutation_low95``,
        ``permutation_high95``, ``permutation_q95``, ``empirical_p``, ``empirical_fdr``, the
        verdict ``beats_null`` (nullable boolean; missing without rounds), the binomial columns
        ``expected_binomial``, ``binomial_low99``, ``binomial_high99`` (NaN where withheld),
        ``binomial_note`` (why withheld, ``""`` where shown), ``skewness`` and
        ``excess_kurtosis`` of the feature (largest absolute value over the classes)) and the
        probabilities ``null_hit_probability`` and ``null_association_probability``.
    """
    idx = pd.Index(features, name="feature")
    observed = np.asarray(observed, dtype=np.int64)
    nan = np.full(len(idx), np.nan)
    cols: dict[str, object] = {"observed": observed}
    n_null = null_rounds.shape[0]
    if n_null:
        mean = null_rounds.mean(axis=0)
        p = (1 + (null_rounds >= observed).sum(axis=0)) / (n_null + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            fdr = np.where(observed > 0, np.minimum(1.0, mean / observed), np.nan)
        cols.update({
            "permutation_mean": mean,
            "permutation_sd": null_rounds.std(axis=0, ddof=1) if n_null > 1 else nan,
            "permutation_low95": np.quantile(null_rounds, 0.025, axis=0, method="lower").astype(float),
            "permutation_high95": np.quantile(null_rounds, 0.975, axis=0, method="higher").astype(float),
            "permutation_q95": np.quantile(null_rounds, 0.95, axis=0),
            "empirical_p": p, "empirical_fdr": fdr,
            "beats_null": pd.array(p < null_alpha, dtype="boolean"),
        })
    else:
        cols.update({c: nan for c in PERMUTATION_COLUMNS})
        cols["beats_null"] = pd.array([pd.NA] * len(idx), dtype="boolean")
    binom = binomial_null(n_genes, n_perturbations=n_perturbations, sample_size=sample_size,
                          r_threshold=r_threshold, alpha=alpha, min_hits=min_hits)
    shown = np.ones(len(idx), dtype=bool) if checks is None else checks.shown.reindex(idx).fillna(False).to_numpy(bool)
    for col, key in zip(BINOMIAL_COLUMNS, ("expected", "low99", "high99")):
        cols[col] = np.where(shown, binom[key], np.nan)
    if checks is None:
        cols.update({"binomial_note": [""] * len(idx), "skewness": nan, "excess_kurtosis": nan})
    else:
        cols["binomial_note"] = checks.notes.reindex(idx).fillna("withheld: not checked").to_numpy(dtype=object)
        cols["skewness"] = checks.skewness.reindex(idx).to_numpy()
        cols["excess_kurtosis"] = checks.excess_kurtosis.reindex(idx).to_numpy()
    table = pd.DataFrame(cols, index=idx)
    return table[list(NULL_COLUMNS)], {"null_hit_probability": binom["hit_probability"],
                                        "null_association_probability": binom["association_probability"]}
