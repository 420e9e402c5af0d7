"""Deep features that may enter the models: cross-fitted embeddings, their ICC across perturbations, the
≥ 0.9 filter.

Why. A network's embedding of a patient whose label it was trained on encodes that label
(the network fitted it), so any model on such embeddings is optimistic, however honest its own
splits are. Measured on a pure-noise cohort (labels independent of every voxel; 120 patients,
``tests/test_deep_features.py``): logistic regression on the embeddings of a network trained on
all patients reaches a mean repeated-split AUC far above 0.5, while on cross-fitted embeddings
it stays at 0.5 ± 0.05. **Never feed** :attr:`radiogenomics.deep.DeepResult.features` **of the
trained patients into the models**; use :func:`cross_fit`.

How (:func:`cross_fit`):

1. The cases are cropped once (:func:`~radiogenomics.deep.crops.load_crops`) and whole
   patients are dealt to ``folds`` folds, stratified by label
   (:func:`~radiogenomics.deep.crops.fold_patients`).
2. For each fold, a network is trained on the other folds' patients (a patient-wise
   ``validation`` share of them for early stopping) and embeds the fold's patients, which it
   never saw: every patient is embedded by a network that never saw it.
3. Networks of different folds do not share coordinates. Each fold's embeddings are
   standardised with the mean and SD of that network's embeddings of its own training crops
   (label-free), every fold's network starts from the same initial weights (the same seed),
   and ``deep_score`` (the fold network's log-odds, the one coordinate that means the same in
   every fold) is added as a feature.
4. Every case's perturbed versions (:func:`~radiogenomics.deep.crops.perturbed_crops`: rotation,
   translation, erosion/dilation of the mask, noise; the crop follows the mask) are embedded by
   the same fold network, and the ICC of each deep feature across the versions is computed
   with the package's ICC (:func:`radiogenomics.imaging.stability.icc_table`) and filtered by
   :func:`radiogenomics.imaging.stability.filter_stable` (``icc_threshold``, the MRI study's
   0.9) in the one-way form ICC(1,1): a case's perturbed versions are its own random draws, not
   raters shared by every case (:func:`~radiogenomics.imaging.stability.stability_kind`).
5. The stable features, averaged over each patient's cases, are :attr:`DeepFeaturesResult.features`:
   a feature table like the radiomic one, which :func:`radiogenomics.evaluate` takes with its
   labels (LASSO, the seven classifiers, the nomogram with clinical variables, decision curves).
   An ``external`` cohort is embedded by every fold network (standardised as above) and
   averaged over the folds: :meth:`DeepFeaturesResult.external_cohort`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._logging import get_logger, timed
from .._results import StageResult, dropped_table
from .._validation import ParameterError, check_choice, check_float, check_int
from .crops import DROPPED_EXTRA, CropSet

__all__ = ["DeepFeaturesResult", "cross_fit", "SCORE"]

log = get_logger(__name__)

#: Name of the out-of-fold log-odds column.
SCORE = "deep_score"


@dataclass(frozen=True)
class DeepFeaturesResult(StageResult):
    """Result of :func:`cross_fit`: cross-fitted deep features and their stability.

    Attributes
    ----------
    features
        Per patient (index ``sample_id``): the stable features (ICC ≥ ``icc_threshold``),
        mean over the patient's cases; what the models stage reads (:attr:`labels` beside).
    features_all
        Per patient: every deep feature (``deep_0`` ... and ``deep_score``).
    features_image
        Per case (index ``case_id``): every deep feature, standardised in its fold.
    icc
        Per feature (index ``feature``): :func:`radiogenomics.imaging.stability.icc_table`'s
        columns and ``stable``; ``None`` without perturbations.
    folds
        Per case (index ``case_id``): ``patient_id``, ``label``, ``fold``.
    fold_metrics
        Per fold: ``fold``, ``n_train``, ``n_validation``, ``n_heldout`` (patients),
        ``best_epoch``, ``validation_auc`` (early-stopping split), ``heldout_auc`` and
        ``heldout_accuracy`` (the fold's patients, never seen by its network; patient means).
    labels
        HER2 labels (``her2``) of the patients.
    features_external, labels_external
        The external cohort's stable features (mean over the fold networks) and labels.
    measurements
        The ICC's input (not written): one row per case and version (``target``, ``rater``
        ``v0`` = the original crop, ``v1``...) and every deep feature.
    parameters
        Every setting, ``icc_kind``, ``n_stable``, ``n_features``, ``heldout_auc`` (pooled
        out-of-fold AUC of ``deep_score``).
    dropped
        Cases that could not be cropped (``kind`` ``"case"``) and deep features left out by the
        ICC filter (``kind`` ``"feature"``, with the ICC in ``reason``).
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "deep_features"
    SERIES_TABLES: ClassVar[tuple[str, ...]] = ("labels", "labels_external")

    features: pd.DataFrame
    features_all: pd.DataFrame | None = None
    features_image: pd.DataFrame | None = None
    icc: pd.DataFrame | None = None
    folds: pd.DataFrame | None = None
    fold_metrics: pd.DataFrame | None = None
    labels: pd.Series | None = None
    features_external: pd.DataFrame | None = None
    labels_external: pd.Series | None = None
    measurements: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_table(extra=DROPPED_EXTRA))
    synthetic: bool = False

    def feature_set(self) -> list[str]:
        """The stable deep features (the columns of :attr:`features`).

        Returns
        -------
        list of str
        """
        return [str(c) for c in self.features.columns]

    def external_cohort(self) -> tuple[pd.DataFrame, pd.Series] | None:
        """The external cohort's stable features and labels, as ``rg.evaluate(validation=...)`` takes them.

        Returns
        -------
        tuple or None
            ``(features, labels)``; ``None`` without an external cohort (or without its labels).
        """
        if self.features_external is None or self.labels_external is None:
            return None
        return self.features_external, self.labels_external

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_patients``, ``n_features``, ``n_stable``, ``heldout_auc``, ``n_external``, ``dropped``.
        """
        return {"n_patients": int(len(self.features)),
                "n_features": None if self.features_all is None else int(self.features_all.shape[1]),
                "n_stable": int(self.features.shape[1]), "heldout_auc": self.parameters.get("heldout_auc"),
                "n_external": None if self.features_external is None else int(len(self.features_external)),
                "dropped": int(len(self.dropped))}


def _raw_embeddings(model: Any, crops: CropSet, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate embeddings and log-odds (``logit_1 - logit_0``, from the head) of every crop."""
    import torch

    from .embed import embed_images
    from .model import backbone_of

    emb = embed_images(model, crops, batch_size=batch_size).to_numpy()
    head = dict(model.named_modules())[backbone_of(model).head]
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = head(torch.as_tensor(emb, dtype=torch.float32, device=device)).cpu().numpy().astype(np.float64)
    score = logits[:, 1] - logits[:, 0] if logits.shape[1] > 1 else logits[:, 0]
    return emb, score


def _standardised(emb: np.ndarray, score: np.ndarray, mu: np.ndarray, sd: np.ndarray,
                  index: pd.Index) -> pd.DataFrame:
    out = pd.DataFrame((emb - mu) / sd, index=index, columns=[f"deep_{i}" for i in range(emb.shape[1])])
    out[SCORE] = score
    out.index.name = "case_id"
    return out


def cross_fit(
    cases: str | os.PathLike | pd.DataFrame,
    *,
    arch: str = "resnet18",
    folds: int = 5,
    sequences: list[str] | None = None,
    register: bool = False,
    size: int = 64,
    margin: float = 0.1,
    background: str = "keep",
    intensity: str = "uint8",
    epochs: int = 30,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    class_weights: str = "balanced",
    patience: int = 5,
    min_epochs: int = 3,
    validation: float = 0.2,
    augment: bool = True,
    max_pool: bool = False,
    pretrained: str | os.PathLike | None = None,
    n_perturbations: int = 5,
    icc_threshold: float = 0.9,
    external: str | os.PathLike | pd.DataFrame | None = None,
    device: str = "auto",
    allow_outside_paths: bool = False,
    seed: int = 0,
    show_progress: bool | None = None,
) -> DeepFeaturesResult:
    """Cross-fitted deep features (each patient embedded by a network that never saw it), ICC-filtered.

    See the module docstring for the procedure and why the embeddings of a network trained on
    the same patients must not enter the models.

    Parameters
    ----------
    cases
        Case sheet (file or table); every case needs a 0/1 ``label``.
    arch
        Backbone (:data:`~radiogenomics.deep.model.ARCHITECTURES`).
    folds
        Patient-wise folds (each label needs at least ``folds`` patients).
    sequences
        Image columns, one per sequence (see :func:`radiogenomics.deep.run`).
    register
        Rigidly register every sequence to the first.
    size, margin, background, intensity
        Crop settings (see :func:`radiogenomics.deep.run`).
    epochs, batch_size, lr, weight_decay, class_weights, patience, min_epochs, augment, max_pool
        Training of each fold's network (see :func:`radiogenomics.deep.run`).
    validation
        Share of each label's training patients (of a fold) held out for early stopping.
    pretrained
        Local weights file every fold's network starts from (never downloaded).
    n_perturbations
        Perturbed versions per case for the ICC (0: no ICC, every feature kept).
    icc_threshold
        Features with an ICC below it are left out (listed in ``dropped``).
    external
        An independent cohort's case sheet: embedded by every fold network, averaged.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    allow_outside_paths
        A case-sheet file's image/mask paths may be absolute or lead out of its folder; by
        default they must lie inside it (see :func:`~radiogenomics.imaging.cases.normalize_cases`).
    seed
        Seed of the folds, the perturbations and every network (the same initial weights in
        every fold).
    show_progress
        Progress bars; ``None`` follows the package log level.

    Returns
    -------
    DeepFeaturesResult
        :attr:`~DeepFeaturesResult.features` and :attr:`~DeepFeaturesResult.labels` enter
        :func:`radiogenomics.evaluate` directly.
    """
    from ..imaging.aggregate import patient_labels
    from ..imaging.cases import cases_are_synthetic, load_cases
    from ..imaging.stability import filter_stable, icc_table, stability_kind
    from ..models.metrics import auc_score
    from .crops import fold_patients, perturbed_crops, split_patients
    from .embed import embed_patients
    from .model import ARCHITECTURES
    from .stage import crops_for, read_and_crop, sequence_columns
    from .train import train_classifier

    owner = "cross_fit"
    check_choice(arch, "arch", owner=owner, choices=ARCHITECTURES)
    folds = check_int(folds, "folds", owner=owner, min_value=2)
    n_perturbations = check_int(n_perturbations, "n_perturbations", owner=owner, min_value=0)
    icc_threshold = check_float(icc_threshold, "icc_threshold", owner=owner, min_value=-1.0, max_value=1.0)
    check_choice(class_weights, "class_weights", owner=owner, choices=("balanced", "none"))
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    if not 0 < validation < 1:
        raise ParameterError(f"The 'validation' parameter of {owner} must be in (0, 1). Got {validation!r} instead.")
    sheet, crops, synthetic = read_and_crop(cases, sequences=sequences, register=register, size=size, margin=margin,
                                            background=background, intensity=intensity,
                                            allow_outside_paths=allow_outside_paths, show_progress=show_progress)
    crops.cases["fold"] = fold_patients(crops.cases, folds=folds, seed=seed)
    pert = perturbed_crops(crops, n_perturbations=n_perturbations, seed=seed) if n_perturbations else None
    ext = None
    if external is not None:
        ext_sheet = load_cases(external, images=sequence_columns(sequences), allow_outside_paths=allow_outside_paths)
        synthetic = synthetic or cases_are_synthetic(external, ext_sheet)
        ext = crops_for({**crops.settings()}, ext_sheet, show_progress=show_progress)
    infer = max(batch_size, 32)
    image_parts, long_parts, fold_rows = [], [], []
    ext_sum: pd.DataFrame | None = None
    with timed(f"cross-fitting {arch} over {folds} folds of {crops.cases['patient_id'].nunique()} patients",
               logger=log):
        for j in range(folds):
            held_mask = (crops.cases["fold"] == j).to_numpy()
            train_part = crops.subset(~held_mask)
            train_part.cases["split"] = split_patients(train_part.cases, validation=validation, test=0.0,
                                                       seed=seed + j)
            trained = train_classifier(
                train_part, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                class_weights=None if class_weights == "none" else "balanced", patience=patience,
                min_epochs=min_epochs, augment=augment, max_pool=max_pool, pretrained=pretrained, device=device,
                seed=seed, show_progress=show_progress,
            )
            model = trained.model
            ref, _ = _raw_embeddings(model, train_part, batch_size=infer)
            mu, sd = ref.mean(axis=0), ref.std(axis=0)
            sd = np.where(sd > 0, sd, 1.0)
            held = crops.subset(held_mask)
            emb, score = _raw_embeddings(model, held, batch_size=infer)
            part = _standardised(emb, score, mu, sd, held.cases.index)
            image_parts.append(part)
            patient_score = part[SCORE].groupby(held.cases["patient_id"].astype(str)).mean()
            y_held = patient_labels(held.cases).loc[patient_score.index].to_numpy(int)
            fold_rows.append({
                "fold": j, "n_train": int(train_part.split("train").cases["patient_id"].nunique()),
                "n_validation": int(train_part.split("validation").cases["patient_id"].nunique()),
                "n_heldout": int(held.cases["patient_id"].nunique()), "best_epoch": int(trained.best_epoch),
                "validation_auc": float(trained.best_validation_auc),
                "heldout_auc": auc_score(y_held, patient_score.to_numpy()) if np.unique(y_held).size == 2 else np.nan,
                "heldout_accuracy": float(np.mean((patient_score.to_numpy() > 0) == y_held)),
            })
            if pert is not None:
                ids = set(held.cases.index)
                sub = pert.subset((pert.cases["target"].isin(ids)).to_numpy())
                pe, ps = _raw_embeddings(model, sub, batch_size=infer)
                versions = _standardised(pe, ps, mu, sd, sub.cases.index)
                versions.insert(0, "rater", sub.cases["version"].to_numpy())
                versions.insert(0, "target", sub.cases["target"].to_numpy())
                original = part.copy()
                original.insert(0, "rater", "v0")
                original.insert(0, "target", original.index.to_numpy())
                long_parts += [original.reset_index(drop=True), versions.reset_index(drop=True)]
            if ext is not None:
                ee, es = _raw_embeddings(model, ext, batch_size=infer)
                e_part = _standardised(ee, es, mu, sd, ext.cases.index)
                ext_sum = e_part if ext_sum is None else ext_sum + e_part
            log.info("fold %d/%d: kept epoch %d (validation AUC %.3f); held-out patients' AUC %.3f", j + 1, folds,
                     trained.best_epoch, trained.best_validation_auc, fold_rows[-1]["heldout_auc"])
            del trained, model
    per_image = pd.concat(image_parts).loc[crops.cases.index]
    names = list(per_image.columns)
    per_patient = embed_patients(per_image, crops.cases["patient_id"])
    labels = patient_labels(crops.cases)
    pooled = auc_score(labels.loc[per_patient.index].to_numpy(int), per_patient[SCORE].to_numpy())
    drops = list(crops.dropped.to_dict("records"))
    icc = measurements = None
    kind = stability_kind("perturbation")  # each case's versions are its own random draws: ICC(1,1)
    if long_parts:
        measurements = pd.concat(long_parts, ignore_index=True)
        icc = icc_table(measurements, target="target", rater="rater", features=names)
        stable = filter_stable(icc, threshold=icc_threshold, kind=kind)
        icc["stable"] = icc.index.isin(stable)
        column = f"icc_{kind}"
        for feat, value in icc[column].items():
            if feat in stable:
                continue
            reason = ("ICC undefined (constant across every crop)" if pd.isna(value)
                      else f"ICC {value:.3f} < {icc_threshold:g} across {n_perturbations} perturbation(s)")
            drops.append({"kind": "feature", "item": str(feat), "reason": reason})
    else:
        stable = names
        log.info("cross_fit: n_perturbations=0, no ICC filter; all %d deep features kept", len(names))
    if not stable:
        log.warning("cross_fit: no deep feature reaches ICC >= %g; the feature table is empty", icc_threshold)
    features = per_patient[stable].copy()
    ext_features = ext_labels = None
    if ext_sum is not None and ext is not None:
        ext_patient = embed_patients(ext_sum / folds, ext.cases["patient_id"])
        ext_features = ext_patient[stable].copy()
        if ext.cases["label"].notna().all():
            ext_labels = patient_labels(ext.cases)
    parameters = {
        "arch": arch, "folds": folds, "sequences": None if sequences is None else list(sequences),
        "register": register, "size": size, "margin": margin, "background": background, "intensity": intensity,
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
        "class_weights": class_weights, "patience": patience, "min_epochs": min_epochs, "validation": validation,
        "augment": augment, "max_pool": max_pool, "pretrained": None if pretrained is None else str(pretrained),
        "n_perturbations": n_perturbations, "icc_threshold": icc_threshold, "icc_kind": kind,
        "external": None if external is None or isinstance(external, pd.DataFrame) else str(external),
        "device": device, "allow_outside_paths": allow_outside_paths, "seed": seed, "n_cases": int(len(sheet)), "n_cropped": len(crops),
        "spatial_dims": crops.spatial_dims, "channels": list(crops.channels), "n_features": len(names),
        "n_stable": len(stable), "heldout_auc": float(pooled),
    }
    log.info("cross_fit: %d of %d deep features stable (ICC >= %g); pooled out-of-fold AUC of %s %.3f",
             len(stable), len(names), icc_threshold, SCORE, pooled)
    return DeepFeaturesResult(
        features=features, features_all=per_patient, features_image=per_image, icc=icc,
        folds=crops.cases[["patient_id", "label", "fold"]].copy(), fold_metrics=pd.DataFrame(fold_rows),
        labels=labels, features_external=ext_features, labels_external=ext_labels, measurements=measurements,
        parameters=parameters,
        dropped=dropped_table(drops, extra=DROPPED_EXTRA), synthetic=synthetic,
    )
