"""The deep stage's result: predictions, training record, deep features and Grad-CAM of one run.

Held without torch: the network is kept as the bytes of its checkpoint (``model.pt``), the
Grad-CAM inputs and maps as arrays (``gradcam.npz``), so a result read back from disk draws the
same figures and overlays, and :meth:`DeepResult.load_model` rebuilds the network when torch is
there.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._results import StageResult, dropped_table

__all__ = ["DeepResult", "MODEL_FILE", "GRADCAM_FILE", "OVERLAY_FOLDER"]

#: The checkpoint file of a deep result folder.
MODEL_FILE = "model.pt"
#: Crops, masks and heat maps of the Grad-CAM cases (``case_id``, ``images``, ``masks``, ``cams``).
GRADCAM_FILE = "gradcam.npz"
#: Folder of the per-case Grad-CAM overlays (``<case_id>.png``).
OVERLAY_FOLDER = "gradcam"


def overlay_names(case_ids: Iterable[Any]) -> list[str]:
    """The overlay file of each case, relative to the result folder (unique, file-system safe).

    Parameters
    ----------
    case_ids
        Case ids.

    Returns
    -------
    list of str
        ``gradcam/<case_id>.png``, characters other than letters, digits, ``-_.`` replaced by
        ``_`` (a numeric suffix keeps two ids apart that would collide).
    """
    seen: set[str] = set()
    out = []
    for case_id in case_ids:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(case_id)) or "case"
        name, k = safe, 1
        while name in seen:
            k += 1
            name = f"{safe}_{k}"
        seen.add(name)
        out.append(f"{OVERLAY_FOLDER}/{name}.png")
    return out


class CheckpointMixin:
    """``load_model`` for a result that holds a network's checkpoint bytes (``checkpoint``, ``model.pt``)."""

    checkpoint: bytes | None

    def load_model(self, *, device: str = "auto") -> tuple[Any, dict[str, Any]]:
        """Rebuild the network from :attr:`checkpoint` (needs the ``[deep]`` extra).

        Parameters
        ----------
        device
            ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.

        Returns
        -------
        tuple
            ``(model, config)``, the model in eval mode.
        """
        from .._validation import InputError
        from .model import load_checkpoint

        if self.checkpoint is None:
            raise InputError(f"this {self.stage} result holds no model (model.pt).")  # type: ignore[attr-defined]
        return load_checkpoint(self.checkpoint, device=device)


@dataclass(frozen=True)
class DeepResult(CheckpointMixin, StageResult):
    """Result of :func:`radiogenomics.deep.run` (and of the CLI's ``deep train|predict|embed|gradcam``).

    Attributes
    ----------
    predictions
        Per patient (index ``sample_id``): ``probability`` (mean over the patient's images),
        ``n_images``, ``label`` and ``split`` (when the run assigned splits).
    predictions_image
        Per image (index ``case_id``): ``patient_id``, ``label``, ``split``, ``probability``.
    metrics
        ``level`` (image/patient), ``split`` (all, train, validation, test), ``n``,
        ``n_positive``, ``auc`` (NaN with one class), ``accuracy`` (threshold 0.5).
    history
        One row per epoch: ``epoch``, ``train_loss``, ``validation_loss``, ``validation_auc``,
        ``improved``, ``seconds``; ``None`` for a model applied to new cases.
    splits
        Per image (index ``case_id``): ``patient_id``, ``label``, ``split``.
    embeddings_patient, embeddings_image
        Deep features (penultimate layer, ``deep_0``...) per patient (index ``sample_id``) and
        per image (index ``case_id``): a feature table like the radiomic ones
        (:attr:`features`).
    labels
        HER2 labels (``her2``, 1/0) of the patients, indexed by ``sample_id``.
    gradcam
        Per image (index ``case_id``): ``patient_id``, ``label``, ``probability``,
        ``heat_in_mask``, ``mask_fraction``, ``peak_in_mask``, ``overlay`` (its PNG in the
        folder, drawn by :func:`radiogenomics.plotting.files` when the result is written with
        its figures).
    checkpoint
        The network (content of ``model.pt``); see :meth:`load_model`.
    gradcam_maps
        ``case_id``, ``images`` (crops, first channel), ``masks``, ``cams`` (heat maps, [0, 1])
        as 2D arrays (``gradcam.npz``), what the overlays are drawn from; for volumes the slice
        with the most lesion voxels, and ``slice`` (its index).
    parameters
        Every setting of the run (crop, network, training, Grad-CAM), the device used, the kept
        epoch and its validation AUC, counts.
    dropped
        Cases that could not be cropped: ``kind`` (``"case"``), ``item``, ``reason``,
        ``patient_id``, ``file``, ``failure`` (as the imaging stage's).
    synthetic
        The inputs were synthetic.
    """

    stage: ClassVar[str] = "deep"
    SERIES_TABLES: ClassVar[tuple[str, ...]] = ("labels",)

    predictions: pd.DataFrame
    predictions_image: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    splits: pd.DataFrame | None = None
    embeddings_patient: pd.DataFrame | None = None
    embeddings_image: pd.DataFrame | None = None
    labels: pd.Series | None = None
    gradcam: pd.DataFrame | None = None
    checkpoint: bytes | None = field(default=None, repr=False)
    gradcam_maps: Mapping[str, np.ndarray] | None = field(default=None, repr=False)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_table(extra=("patient_id", "file", "failure")))
    synthetic: bool = False

    @property
    def features(self) -> pd.DataFrame | None:
        """The deep features per patient (:attr:`embeddings_patient`), for the stages that read features.

        When this result trained its network, the training patients' embeddings come from a
        network that was fitted to their labels: a model on them is optimistic (on a pure-noise
        cohort the repeated-split AUC rises far above 0.5, see :func:`radiogenomics.deep.cross_fit`),
        so a warning is logged. Cross-fitted features (:func:`radiogenomics.deep.cross_fit`) are the
        ones that may enter the models.
        """
        if self.embeddings_patient is not None and self.history is not None:
            from .._logging import get_logger

            get_logger(__name__).warning(
                "deep features of a network trained on these patients' labels: models on them are optimistic "
                "(label leakage); use rg.deep.cross_fit for features that may enter the models")
        return self.embeddings_patient

    def overview(self) -> dict[str, Any]:
        """Counts of the result.

        Returns
        -------
        dict
            ``n_images``, ``n_patients``, ``best_epoch``, ``test_auc_patient``,
            ``median_heat_in_mask``, ``dropped``.
        """
        test_auc = None
        if self.metrics is not None and len(self.metrics):
            row = self.metrics[(self.metrics["level"] == "patient") & (self.metrics["split"] == "test")]
            test_auc = float(row["auc"].iloc[0]) if len(row) and pd.notna(row["auc"].iloc[0]) else None
        heat = None
        if self.gradcam is not None and self.gradcam["heat_in_mask"].notna().any():
            heat = float(self.gradcam["heat_in_mask"].median())
        return {"n_images": None if self.predictions_image is None else int(len(self.predictions_image)),
                "n_patients": int(len(self.predictions)), "best_epoch": self.parameters.get("best_epoch"),
                "test_auc_patient": test_auc, "median_heat_in_mask": heat, "dropped": int(len(self.dropped))}

    def _files(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        if self.checkpoint is not None:
            out[MODEL_FILE] = self.checkpoint
        if self.gradcam_maps is not None:
            buf = io.BytesIO()
            np.savez_compressed(buf, **{k: np.asarray(v) for k, v in self.gradcam_maps.items()})
            out[GRADCAM_FILE] = buf.getvalue()
        return out  # the per-case overlays (gradcam/*.png) are drawn files: rg.pl.files(result)

    @classmethod
    def _from_tables(cls, tables: dict[str, pd.DataFrame], *, record: Mapping[str, Any], folder: Path) -> DeepResult:
        """Read the checkpoint and the Grad-CAM arrays back beside the tables."""
        res = super()._from_tables(tables, record=record, folder=folder)
        if (folder / MODEL_FILE).exists():
            object.__setattr__(res, "checkpoint", (folder / MODEL_FILE).read_bytes())
        if (folder / GRADCAM_FILE).exists():
            with np.load(folder / GRADCAM_FILE, allow_pickle=False) as data:
                object.__setattr__(res, "gradcam_maps", {k: data[k] for k in data.files})
        return res  # type: ignore[return-value]
