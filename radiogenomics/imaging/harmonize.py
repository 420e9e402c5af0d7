"""ComBat harmonisation of radiomic features across scanners (neuroHarmonize).

ComBat (Johnson et al. 2007; Fortin et al. 2018) removes additive and multiplicative scanner
(batch) effects per feature with empirical-Bayes shrinkage. :class:`ComBatHarmonizer` is fitted on
a training cohort and applied unchanged to new data from the same scanners, as a model should be;
the computation is neuroHarmonize's (``harmonizationLearn`` / ``harmonizationApply``), not a
re-implementation. Biological covariates to preserve (e.g. HER2 status, age) can be passed so
that ComBat does not remove them with the scanner effect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import InputError, check_table, format_names

__all__ = ["ComBatHarmonizer"]

log = get_logger(__name__)


class ComBatHarmonizer:
    """Fit ComBat on training features and scanners, then harmonise new data.

    Parameters
    ----------
    eb
        Use empirical-Bayes shrinkage of the batch parameters (ComBat's default).

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
    """

    def __init__(self, *, eb: bool = True) -> None:
        self.eb = eb

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
        self.batches_ = sorted(counts.index)
        model, _ = harmonizationLearn(features[self.features_].to_numpy(dtype=float), cov, eb=self.eb)
        self.model_ = model
        return self

    def transform(self, features: pd.DataFrame, batch: pd.Series, covariates: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
        """Harmonise features with the fitted model (training or new data).

        Parameters
        ----------
        features
            Rows = samples with the training columns.
        batch
            Scanner per sample; every scanner must have been seen in training.
        covariates
            The same covariates as at fit time.

        Returns
        -------
        pandas.DataFrame
            Harmonised features, same index and columns as ``features`` (pass-through features
            unchanged).
        """
        from neuroHarmonize import harmonizationApply

        if not hasattr(self, "model_"):
            raise InputError("ComBat: call fit before transform.")
        features = check_table(features, name="ComBat features")
        missing = [c for c in self.features_ + self.passthrough_ if c not in features.columns]
        if missing:
            raise InputError(f"ComBat: feature(s) {format_names(missing)} seen in training are missing.")
        cov = self._covars(batch, covariates, features.index)
        unseen = sorted(set(cov["SITE"]) - set(self.batches_))
        if unseen:
            raise InputError(f"ComBat: scanner(s) {format_names(unseen)} were not in the training cohort "
                             f"(trained on {format_names(self.batches_)}).")
        if [c for c in cov.columns if c != "SITE"] != self.covariates_:
            raise InputError(f"ComBat: covariates must be {self.covariates_} as at fit time.")
        adjusted = harmonizationApply(features[self.features_].to_numpy(dtype=float), cov, self.model_)
        out = features.copy()
        out[self.features_] = np.asarray(adjusted, dtype=float)
        return out

    def fit_transform(self, features: pd.DataFrame, batch: pd.Series,
                      covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Fit on ``features`` and return them harmonised.

        Parameters
        ----------
        features, batch, covariates
            As in :meth:`fit`.

        Returns
        -------
        pandas.DataFrame
            Harmonised training features.
        """
        return self.fit(features, batch, covariates).transform(features, batch, covariates)

    def get_params(self) -> dict[str, Any]:
        """Parameters of the harmoniser.

        Returns
        -------
        dict
            ``{"eb": ...}``.
        """
        return {"eb": self.eb}
