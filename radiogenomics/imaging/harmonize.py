"""ComBat harmonisation of radiomic features across scanners (neuroHarmonize), fitted on training data.

ComBat (Johnson et al. 2007; Fortin et al. 2018) removes additive and multiplicative scanner
(batch) effects per feature with empirical-Bayes shrinkage. :class:`ComBatHarmonizer` is fitted
on a training cohort (neuroHarmonize's ``harmonizationLearn``, i.e. neuroCombat's estimates) and
applied unchanged to new data, as a model should be. The apply step is written here, from the
fitted estimates only, because neuroHarmonize's ``harmonizationApply`` fails (IndexError) on a
cohort from a single scanner, the usual external validation. For a sample of scanner ``j`` with
covariates ``c``, per feature::

    z   = (y - grand_mean - c·beta) / sqrt(var_pooled)
    out = (z - gamma*_j) / sqrt(delta*_j) * sqrt(var_pooled) + grand_mean + c·beta

with ``grand_mean``, ``var_pooled``, ``beta`` (covariate effects) and the scanners' ``gamma*``,
``delta*`` as fitted on the training cohort (the same arithmetic as neuroCombat's
``adjust_data_final``; tests check it against neuroCombat's estimates applied by hand).

**Scanners not in the training cohort** have no fitted ``gamma*``, ``delta*``. The choice is
explicit (``unseen``): ``"error"`` (default) refuses them, naming the scanner and the choices;
``"pooled"`` gives them the training scanners' sample-weighted mean ``gamma*`` and ``delta*``
(the average training scanner); ``"grand"`` gives them ``gamma = 0``, ``delta = 1`` (the grand
estimates: no scanner adjustment, so their features pass through unchanged, which says that an
unseen scanner's effect cannot be known). Either way nothing is re-estimated from the new
cohort.

**The outcome as a covariate.** Covariates keep biological effects from being removed with the
scanner effect, but HER2 status is the outcome the models predict: with it as a covariate,
transforming new data needs their HER2 labels, and the same image's features then shift with the
label given (by ``beta · (1 - 1/sqrt(delta*))``). :meth:`ComBatHarmonizer.transform` therefore
refuses covariates named as the outcome (``outcome``, by default ``her2``, ``her2_status``,
``label``, ``labels``) unless ``allow_outcome=True`` is passed explicitly (e.g. to harmonise the
training cohort itself, whose labels are known).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import InputError, check_choice, check_table, format_names

__all__ = ["ComBatHarmonizer"]

log = get_logger(__name__)

UNSEEN = ("error", "pooled", "grand")


class ComBatHarmonizer:
    """Fit ComBat on training features and scanners, then harmonise new data.

    Parameters
    ----------
    eb
        Use empirical-Bayes shrinkage of the batch parameters (ComBat's default).
    unseen
        What :meth:`transform` does with a scanner the training cohort did not contain:
        ``"error"`` (refuse), ``"pooled"`` (the training scanners' sample-weighted mean
        estimates) or ``"grand"`` (no scanner adjustment: its features pass through). See the
        module docstring.
    outcome
        Covariate names that are the outcome (case-insensitive); :meth:`transform` refuses them
        unless ``allow_outcome=True``.

    Attributes
    ----------
    model_ : dict
        neuroHarmonize's fitted model.
    batches_ : list of str
        Scanners seen in training.
    features_ : list of str
        Features harmonised.
    passthrough_ : list of str
        Features left unchanged because they are constant within a training scanner (ComBat
        divides by their variance); logged at fit time.
    covariates_ : list of str
        Covariate columns used.
    grand_mean_, var_pooled_ : pandas.Series
        Per feature: the grand mean and pooled residual variance of the training cohort.
    beta_ : pandas.DataFrame
        Covariates × features: the covariate effects.
    gamma_, delta_ : pandas.DataFrame
        Scanners × features: the (shrunken) additive and multiplicative scanner effects.
    batch_counts_ : pandas.Series
        Training samples per scanner.
    """

    def __init__(self, *, eb: bool = True, unseen: str = "error",
                 outcome: Sequence[str] = ("her2", "her2_status", "label", "labels")) -> None:
        self.eb = eb
        self.unseen = unseen
        self.outcome = outcome

    def _covars(self, batch: pd.Series, covariates: pd.DataFrame | None, index: pd.Index) -> pd.DataFrame:
        batch = batch.copy()
        batch.index = batch.index.map(str)
        missing = index.difference(batch.index)
        if len(missing):
            raise InputError(f"ComBat: sample(s) {format_names(missing)} have no scanner.")
        cov = pd.DataFrame({"SITE": batch.loc[index].astype(str).to_numpy()}, index=index)
        if covariates is not None:
            covariates = covariates.copy()
            covariates.index = covariates.index.map(str)
            miss = index.difference(covariates.index)
            if len(miss):
                raise InputError(f"ComBat: sample(s) {format_names(miss)} have no covariates.")
            check_table(covariates.loc[index], name="ComBat covariates")
            cov = pd.concat([cov, covariates.loc[index].astype(float)], axis=1)
        return cov

    def _outcome_covariates(self) -> list[str]:
        names = {str(o).lower() for o in self.outcome}
        return [c for c in self.covariates_ if str(c).lower() in names]

    def fit(self, features: pd.DataFrame, batch: pd.Series, covariates: pd.DataFrame | None = None
            ) -> ComBatHarmonizer:
        """Fit ComBat on a training cohort.

        Parameters
        ----------
        features
            Rows = samples, columns = features (numeric, finite).
        batch
            Scanner per sample (index = sample id).
        covariates
            Numeric covariates to preserve (rows = samples), optional.

        Returns
        -------
        ComBatHarmonizer
            ``self``, fitted.
        """
        from neuroHarmonize import harmonizationLearn

        check_choice(self.unseen, "unseen", owner="ComBatHarmonizer", choices=UNSEEN)
        features = check_table(features, name="ComBat features", min_rows=4)
        cov = self._covars(batch, covariates, features.index)
        counts = cov["SITE"].value_counts()
        if len(counts) < 2:
            raise InputError(f"ComBat: needs >= 2 scanners; got {len(counts)} ({format_names(counts.index)}).")
        small = counts.index[counts < 2]
        if len(small):
            raise InputError(f"ComBat: scanner(s) {format_names(small)} have fewer than 2 samples.")
        within_sd = features.groupby(cov["SITE"].to_numpy()).std(ddof=1).min(axis=0)
        constant = within_sd.index[~(within_sd > 0)]
        if len(constant):
            log.warning("ComBat: %d feature(s) constant within a scanner are passed through unharmonised: %s",
                        len(constant), format_names(constant))
        self.passthrough_ = [str(c) for c in constant]
        self.features_ = [c for c in features.columns if c not in set(self.passthrough_)]
        if not self.features_:
            raise InputError("ComBat: no feature varies within every scanner.")
        self.covariates_ = [c for c in cov.columns if c != "SITE"]
        outcome = self._outcome_covariates()
        if outcome:
            log.warning("ComBat: covariate(s) %s are the outcome; transforming new data will need their labels and "
                        "is refused unless allow_outcome=True", format_names(outcome))
        self.batches_ = sorted(counts.index)
        model, _ = harmonizationLearn(features[self.features_].to_numpy(dtype=float), cov, eb=self.eb)
        self.model_ = model
        # the estimates the apply step uses, by name
        sites = [str(s) for s in model["SITE_labels"]]
        n_batch = len(sites)
        feats = pd.Index(self.features_)
        self.grand_mean_ = pd.Series(np.asarray(model["stand_mean"])[:, 0], index=feats)
        self.var_pooled_ = pd.Series(np.asarray(model["var_pooled"]).ravel(), index=feats)
        self.beta_ = pd.DataFrame(np.asarray(model["B_hat"])[n_batch:, :], index=pd.Index(self.covariates_),
                                  columns=feats)
        self.gamma_ = pd.DataFrame(np.asarray(model["gamma_star"]), index=pd.Index(sites), columns=feats)
        self.delta_ = pd.DataFrame(np.asarray(model["delta_star"]), index=pd.Index(sites), columns=feats)
        self.batch_counts_ = counts.reindex(sites).astype(int)
        return self

    def _site_estimates(self, sites: pd.Index) -> tuple[np.ndarray, np.ndarray]:
        """(gamma, delta) rows for every sample's scanner, unseen scanners by the ``unseen`` rule."""
        unseen = sorted(set(sites) - set(self.gamma_.index))
        gamma, delta = self.gamma_, self.delta_
        if unseen:
            if self.unseen == "error":
                raise InputError(
                    f"ComBat: scanner(s) {format_names(unseen)} were not in the training cohort (trained on "
                    f"{format_names(self.batches_)}), so no scanner effect was estimated for them. Choose "
                    "ComBatHarmonizer(unseen='pooled') to give them the training scanners' average estimates, or "
                    "unseen='grand' to leave their features unadjusted (nothing is re-estimated from the new cohort)."
                )
            if self.unseen == "pooled":
                w = (self.batch_counts_ / self.batch_counts_.sum()).to_numpy()[:, None]
                g, d = (gamma.to_numpy() * w).sum(axis=0), (delta.to_numpy() * w).sum(axis=0)
            else:  # grand
                g, d = np.zeros(gamma.shape[1]), np.ones(delta.shape[1])
            extra = pd.Index(unseen)
            gamma = pd.concat([gamma, pd.DataFrame(np.tile(g, (len(unseen), 1)), index=extra, columns=gamma.columns)])
            delta = pd.concat([delta, pd.DataFrame(np.tile(d, (len(unseen), 1)), index=extra, columns=delta.columns)])
            log.info("ComBat: %d unseen scanner(s) %s get the %s estimates", len(unseen), format_names(unseen),
                     "training's pooled" if self.unseen == "pooled" else "grand (no adjustment)")
        return gamma.loc[sites].to_numpy(), delta.loc[sites].to_numpy()

    def transform(self, features: pd.DataFrame, batch: pd.Series, covariates: pd.DataFrame | None = None, *,
                  allow_outcome: bool = False) -> pd.DataFrame:
        """Harmonise features with the fitted estimates (training or new data, any number of scanners).

        Parameters
        ----------
        features
            Rows = samples with the training columns.
        batch
            Scanner per sample; a scanner not seen in training follows ``unseen``.
        covariates
            The same covariates as at fit time.
        allow_outcome
            Accept outcome covariates (``outcome``, e.g. HER2 status): their values then shift
            the harmonised features, so only pass it when the labels may be used (the training
            cohort itself); refused by default.

        Returns
        -------
        pandas.DataFrame
            Harmonised features, same index and columns as ``features`` (pass-through features
            unchanged).
        """
        if not hasattr(self, "model_"):
            raise InputError("ComBat: call fit before transform.")
        check_choice(self.unseen, "unseen", owner="ComBatHarmonizer", choices=UNSEEN)
        features = check_table(features, name="ComBat features")
        missing = [c for c in self.features_ + self.passthrough_ if c not in features.columns]
        if missing:
            raise InputError(f"ComBat: feature(s) {format_names(missing)} seen in training are missing.")
        outcome = self._outcome_covariates()
        if outcome and not allow_outcome:
            shift = self._outcome_shift(outcome)
            raise InputError(
                f"ComBat: covariate(s) {format_names(outcome)} are the outcome. Harmonising new data with them needs "
                "the new samples' labels, and the same image's features then shift with the label given (up to "
                f"{shift:.3g} pooled SD in this model). Fit without them, or pass allow_outcome=True if these "
                "labels may be used (e.g. the training cohort itself)."
            )
        cov = self._covars(batch, covariates, features.index)
        if [c for c in cov.columns if c != "SITE"] != self.covariates_:
            raise InputError(f"ComBat: covariates must be {self.covariates_} as at fit time.")
        gamma, delta = self._site_estimates(pd.Index(cov["SITE"]))
        y = features[self.features_].to_numpy(dtype=float)
        mod = cov[self.covariates_].to_numpy(dtype=float) @ self.beta_.to_numpy() if self.covariates_ else 0.0
        centre = self.grand_mean_.to_numpy() + mod
        sd = np.sqrt(self.var_pooled_.to_numpy())
        z = (y - centre) / sd
        out = features.copy()
        out[self.features_] = (z - gamma) / np.sqrt(delta) * sd + centre
        return out

    def _outcome_shift(self, outcome: list[str]) -> float:
        """Largest change of a harmonised feature per unit of an outcome covariate, in pooled SDs."""
        beta = self.beta_.loc[outcome].abs().to_numpy()  # (outcome covariates, features)
        factor = np.abs(1 - 1 / np.sqrt(self.delta_.to_numpy()))  # (scanners, features)
        sd = np.sqrt(self.var_pooled_.to_numpy())
        return float((beta[:, None, :] * factor[None, :, :] / sd).max())

    def fit_transform(self, features: pd.DataFrame, batch: pd.Series,
                      covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Fit on ``features`` and return them harmonised.

        The training cohort's own labels are known, so outcome covariates are allowed here.

        Parameters
        ----------
        features, batch, covariates
            As in :meth:`fit`.

        Returns
        -------
        pandas.DataFrame
            Harmonised training features.
        """
        return self.fit(features, batch, covariates).transform(features, batch, covariates, allow_outcome=True)

    def get_params(self) -> dict[str, Any]:
        """Parameters of the harmoniser.

        Returns
        -------
        dict
            ``{"eb": ..., "unseen": ..., "outcome": ...}``.
        """
        return {"eb": self.eb, "unseen": self.unseen, "outcome": tuple(self.outcome)}
