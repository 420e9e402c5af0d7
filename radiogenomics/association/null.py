"""The null model of the perturbation rule: how many genes it selects by chance.

Two nulls are reported beside every feature's observed count of HER2-positive-specific genes:

* **Analytic binomial.** Under independence (Gaussian, uncorrelated genes, unpaired draws), a
  pair hits in one perturbation with probability ``q = P(|r| > max(r_threshold, r_crit))``
  (exact for bivariate normal data with ρ = 0), is associated in a class with
  ``π = P(Binomial(P, q) >= k)`` and is positive-specific with ``π (1 − π)``; a feature's count
  is then ``Binomial(n_genes, π (1 − π))``.
* **Permutation.** The whole procedure repeated with the expression rows permuted within each
  class, which breaks any link while keeping every marginal; its rounds give the empirical
  mean, SD, 95th percentile, empirical p (``(1 + #{null >= observed}) / (rounds + 1)``) and an
  empirical FDR (null mean / observed, capped at 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .engine import critical_r

__all__ = ["null_hit_probability", "null_summary_table"]

PERMUTATION_COLUMNS = ("permutation_mean", "permutation_sd", "permutation_q95", "empirical_p", "empirical_fdr")


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
) -> tuple[pd.DataFrame, dict[str, float]]:
    """One row per feature: observed count against the binomial and permutation nulls.

    Parameters
    ----------
    observed
        Positive-specific genes per feature.
    null_rounds
        (rounds, features) counts of the permutation null (0 rounds: no permutation columns).
    features
        Feature names.
    n_genes, n_perturbations, sample_size, r_threshold, alpha, min_hits
        The rule's settings.

    Returns
    -------
    tuple
        The table (index ``feature``; columns ``observed``, ``expected_binomial``,
        ``binomial_low99``, ``binomial_high99``, then ``permutation_mean``, ``permutation_sd``,
        ``permutation_q95``, ``empirical_p``, ``empirical_fdr``, NaN without rounds) and the
        probabilities ``null_hit_probability`` and ``null_association_probability``.
    """
    q = null_hit_probability(sample_size, r_threshold=r_threshold, alpha=alpha)
    pi = stats.binom.sf(min_hits - 1, n_perturbations, q)
    pi_specific = pi * (1 - pi)
    lo, hi = stats.binom.interval(0.99, n_genes, pi_specific)
    table = pd.DataFrame({
        "observed": observed.astype(np.int64),
        "expected_binomial": n_genes * pi_specific,
        "binomial_low99": lo,
        "binomial_high99": hi,
    }, index=pd.Index(features, name="feature"))
    n_null = null_rounds.shape[0]
    if n_null:
        table["permutation_mean"] = null_rounds.mean(axis=0)
        table["permutation_sd"] = null_rounds.std(axis=0, ddof=1) if n_null > 1 else np.nan
        table["permutation_q95"] = np.quantile(null_rounds, 0.95, axis=0)
        table["empirical_p"] = (1 + (null_rounds >= observed).sum(axis=0)) / (n_null + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            fdr = np.where(observed > 0, np.minimum(1.0, null_rounds.mean(axis=0) / observed), np.nan)
        table["empirical_fdr"] = fdr
    else:
        for col in PERMUTATION_COLUMNS:
            table[col] = np.nan
    return table, {"null_hit_probability": q, "null_association_probability": float(pi)}
