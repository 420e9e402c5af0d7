"""Feature stability: intraclass correlation (ICC) across readers or mask perturbations.

ICC definitions (McGraw & Wong 1996; Shrout & Fleiss 1979), for ``n`` targets (lesions) rated
by ``k`` raters (readers, or perturbed versions of the mask), from the ANOVA mean squares of
targets ``MSR``, raters ``MSC``, residual ``MSE`` and within targets ``MSW = (SS_total −
SS_targets) / (n (k − 1))``:

* one-way random effects, single rater, ICC(1,1) = pingouin's ``ICC1``::

    (MSR - MSW) / (MSR + (k - 1) MSW)

  the form for **perturbations**: the perturbed versions of one lesion are random draws of
  its own (version "v1" of one lesion has nothing in common with "v1" of another), so the
  "raters" differ per target and only the one-way model applies (Koo & Li 2016; MIRP's
  robustness analysis, Zwanenburg et al. 2019). :func:`perturbation_icc` reports it first and
  :func:`stability_kind` picks it for perturbation mode (what ``radiogenomics stability``
  filters on by default).
* absolute agreement, single rater, ICC(A,1) = pingouin's ``ICC2``::

    (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)

* consistency, single rater, ICC(C,1) = pingouin's ``ICC3``::

    (MSR - MSE) / (MSR + (k - 1) MSE)

  these two-way forms are for the same readers rating every lesion (:func:`reader_icc`).

Confidence intervals use the F-distribution formulas of McGraw & Wong (the same as
``pingouin.intraclass_corr``). The computation is vectorised over features.

Mask perturbations follow the MIRP idea (Zwanenburg et al. 2019, Sci Rep 9:614): each
perturbed version of a case combines a random in-plane rotation of image and mask, a small
translation, a one-pixel erosion or dilation (or none) of the mask, and additive Gaussian noise
on the image; features that keep ICC ≥ 0.9 across versions are "stable".
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from .._logging import get_logger, progress
from .._validation import InputError, check_choice, check_float, check_int, format_names

__all__ = ["icc_table", "filter_stable", "perturb_case", "perturbation_icc", "reader_icc", "feature_stability",
           "stability_kind"]

log = get_logger(__name__)

ICC_COLUMNS = [
    "icc_oneway", "icc_oneway_low", "icc_oneway_high",
    "icc_agreement", "icc_agreement_low", "icc_agreement_high",
    "icc_consistency", "icc_consistency_low", "icc_consistency_high", "n_targets", "n_raters",
]
KINDS = ("oneway", "agreement", "consistency")


def icc_table(
    measurements: pd.DataFrame,
    *,
    target: str = "target",
    rater: str = "rater",
    features: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """ICC(1,1), ICC(A,1) and ICC(C,1) with confidence intervals, for every feature.

    Parameters
    ----------
    measurements
        Long table: one row per (target, rater) with columns ``target``, ``rater`` and one
        numeric column per feature.
    target, rater
        Names of the target (lesion/case) and rater (reader/perturbation) columns.
    features
        Feature columns; default every numeric column other than ``target`` and ``rater``.
    alpha
        1 - confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature (``feature``), columns ``icc_oneway``, ``icc_oneway_low``,
        ``icc_oneway_high`` (ICC(1,1), pingouin ICC1, and its CI), ``icc_agreement``,
        ``icc_agreement_low``, ``icc_agreement_high`` (ICC(A,1), pingouin ICC2, and its CI),
        ``icc_consistency``,
        ``icc_consistency_low``, ``icc_consistency_high`` (ICC(C,1), pingouin ICC3),
        ``n_targets`` and ``n_raters``. Features constant across all measurements get NaN.
        Targets lacking a rating by some rater are left out (logged with their ids).
    """
    alpha = check_float(alpha, "alpha", owner="icc_table", min_value=0, max_value=1, closed="neither")
    for col in (target, rater):
        if col not in measurements.columns:
            raise InputError(f"icc_table: column {col!r} is missing (columns: {format_names(measurements.columns)}).")
    if features is None:
        features = [c for c in measurements.columns
                    if c not in (target, rater) and pd.api.types.is_numeric_dtype(measurements[c])]
    features = list(features)
    dup = measurements.duplicated([target, rater])
    if dup.any():
        raise InputError(f"icc_table: target/rater pair(s) measured twice, e.g. "
                         f"{measurements.loc[dup, [target, rater]].iloc[0].tolist()}.")
    cube = measurements.set_index([target, rater])[features].astype(float)
    wide = cube.unstack(rater)  # targets x (feature, rater)
    raters = list(cube.index.get_level_values(1).unique())
    complete = wide.notna().all(axis=1)
    if (~complete).any():
        log.warning("icc_table: %d target(s) lack a rating by some rater or feature and are left out: %s",
                    int((~complete).sum()), format_names(wide.index[~complete]))
    wide = wide[complete]
    n, k = wide.shape[0], len(raters)
    if n < 2 or k < 2:
        raise InputError(f"icc_table: needs >= 2 complete targets and >= 2 raters; got {n} and {k}.")
    y = np.stack([wide[f].reindex(columns=raters).to_numpy() for f in features])  # (p, n, k)
    gm = y.mean(axis=(1, 2), keepdims=True)
    ss_r = k * ((y.mean(axis=2, keepdims=True) - gm) ** 2).sum(axis=(1, 2))
    ss_c = n * ((y.mean(axis=1, keepdims=True) - gm) ** 2).sum(axis=(1, 2))
    ss_t = ((y - gm) ** 2).sum(axis=(1, 2))
    ss_e = ss_t - ss_r - ss_c
    msr, msc, mse = ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1))
    msw = (ss_t - ss_r) / (n * (k - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        icc_1 = (msr - msw) / (msr + (k - 1) * msw)
        f_1 = msr / msw
        f1_l = f_1 / stats.f.ppf(1 - alpha / 2, n - 1, n * (k - 1))
        f1_u = f_1 * stats.f.ppf(1 - alpha / 2, n * (k - 1), n - 1)
        o_low, o_high = (f1_l - 1) / (f1_l + k - 1), (f1_u - 1) / (f1_u + k - 1)
        icc_c = (msr - mse) / (msr + (k - 1) * mse)
        icc_a = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        # consistency CI
        df1, df2 = n - 1, (n - 1) * (k - 1)
        f_obs = msr / mse
        f_l = f_obs / stats.f.ppf(1 - alpha / 2, df1, df2)
        f_u = f_obs * stats.f.ppf(1 - alpha / 2, df2, df1)
        c_low, c_high = (f_l - 1) / (f_l + k - 1), (f_u - 1) / (f_u + k - 1)
        # agreement CI (Satterthwaite df)
        fc = msc / mse
        vn = (k - 1) * (n - 1) * (k * icc_a * fc + n * (1 + (k - 1) * icc_a) - k * icc_a) ** 2
        vd = (n - 1) * k**2 * icc_a**2 * fc**2 + (n * (1 + (k - 1) * icc_a) - k * icc_a) ** 2
        v = vn / vd
        f2u = stats.f.ppf(1 - alpha / 2, n - 1, v)
        f2l = stats.f.ppf(1 - alpha / 2, v, n - 1)
        a_low = n * (msr - f2u * mse) / (f2u * (k * msc + (k * n - k - n) * mse) + n * msr)
        a_high = n * (f2l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f2l * msr)
    constant = ss_t <= 1e-12 * np.maximum(1.0, np.abs(gm.ravel()) ** 2)
    out = pd.DataFrame({
        "icc_oneway": icc_1, "icc_oneway_low": o_low, "icc_oneway_high": o_high,
        "icc_agreement": icc_a, "icc_agreement_low": a_low, "icc_agreement_high": a_high,
        "icc_consistency": icc_c, "icc_consistency_low": c_low, "icc_consistency_high": c_high,
    }, index=pd.Index(features, name="feature"))
    out.loc[constant] = np.nan
    if constant.any():
        log.warning("icc_table: feature(s) %s are constant; ICC undefined (NaN)",
                    format_names(np.array(features)[constant]))
    out["n_targets"] = n
    out["n_raters"] = k
    return out


def stability_kind(mode: str) -> str:
    """The ICC form that fits a stability design: ``"oneway"`` for perturbations, ``"agreement"`` for readers.

    Parameters
    ----------
    mode
        ``"perturbation"`` (each lesion's perturbed versions are its own random draws: ICC(1,1))
        or ``"readers"`` (the same readers rate every lesion: ICC(A,1)).

    Returns
    -------
    str
        A ``kind`` of :func:`filter_stable`.
    """
    check_choice(mode, "mode", owner="stability_kind", choices=("perturbation", "readers"))
    return "oneway" if mode == "perturbation" else "agreement"


def filter_stable(icc_table: pd.DataFrame, *, threshold: float = 0.9, kind: str = "agreement") -> list[str]:
    """Features whose ICC reaches ``threshold`` (the MRI study's rule: ICC ≥ 0.9).

    Parameters
    ----------
    icc_table
        Output of :func:`icc_table` (index = feature).
    threshold
        Minimum ICC kept.
    kind
        ``"oneway"`` (ICC(1,1), for perturbations), ``"agreement"`` (ICC(A,1)) or
        ``"consistency"`` (ICC(C,1)).

    Returns
    -------
    list of str
        Stable features in the table's order. Features with NaN ICC are not kept (logged).
    """
    threshold = check_float(threshold, "threshold", owner="filter_stable", min_value=-1, max_value=1)
    check_choice(kind, "kind", owner="filter_stable", choices=KINDS)
    col = f"icc_{kind}"
    if col not in icc_table.columns:
        raise InputError(f"filter_stable: the ICC table has no {col!r} column (columns: "
                         f"{format_names(icc_table.columns)}).")
    values = icc_table[col]
    undefined = values.index[values.isna()]
    if len(undefined):
        log.info("filter_stable: %d feature(s) with undefined ICC dropped: %s", len(undefined),
                 format_names(undefined))
    kept = [str(f) for f in values.index[values >= threshold]]
    log.info("filter_stable: %d of %d feature(s) have %s ICC >= %g", len(kept), len(values), kind, threshold)
    return kept


def reader_icc(features: pd.DataFrame, cases: pd.DataFrame, *, target: str = "image",
               alpha: float = 0.05) -> pd.DataFrame:
    """ICC across readers: the same image segmented by several readers (``reader`` column).

    Parameters
    ----------
    features
        Per-image features (index = case id), e.g. ``ExtractionResult.features_image``.
    cases
        Normalised case sheet with a ``reader`` column and the ``target`` column identifying the
        lesion (by default the image path: each reader drew a mask on the same image).
    target
        Case-sheet column identifying the same lesion across readers.
    alpha
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        See :func:`icc_table`.
    """
    if "reader" not in cases.columns or cases["reader"].isna().all():
        raise InputError("reader_icc: the case sheet has no 'reader' column (or it is empty).")
    meta = cases.loc[features.index, [target, "reader"]].rename(columns={target: "target", "reader": "rater"})
    long = pd.concat([meta, features], axis=1)
    return icc_table(long, target="target", rater="rater", features=list(features.columns), alpha=alpha)


def perturb_case(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    seed: int | np.random.Generator = 0,
    max_rotation: float = 10.0,
    max_shift: int = 2,
    noise: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One random MIRP-style perturbation of an image and its 0/1 mask (in-plane).

    Parameters
    ----------
    image
        2D ``(y, x)`` or 3D ``(z, y, x)`` intensity array.
    mask
        0/1 array of the same shape.
    seed
        Seed or Generator.
    max_rotation
        Rotation angle drawn uniformly in ``[-max_rotation, max_rotation]`` degrees, applied to
        image (linear interpolation) and mask (nearest neighbour) in the ``(y, x)`` plane.
    max_shift
        Mask translation drawn from ``-max_shift..max_shift`` pixels along y and x.
    noise
        Standard deviation of added Gaussian noise, as a fraction of the ROI's intensity SD.

    Returns
    -------
    image : numpy.ndarray
        Perturbed float image.
    mask : numpy.ndarray
        Perturbed ``uint8`` mask (never empty: falls back to the unperturbed contour).
    info : dict
        ``angle``, ``shift_y``, ``shift_x``, ``morphology`` (-1 erosion, 0 none, +1 dilation),
        ``noise_sd``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    img = np.asarray(image, dtype=float)
    msk = np.asarray(mask).astype(bool)
    axes = (img.ndim - 2, img.ndim - 1)
    angle = float(rng.uniform(-max_rotation, max_rotation))
    dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    morph = int(rng.integers(-1, 2))
    roi_sd = float(img[msk].std()) if msk.any() else float(img.std())
    noise_sd = noise * roi_sd
    img2 = ndimage.rotate(img, angle, axes=axes, reshape=False, order=1, mode="nearest")
    m2 = ndimage.rotate(msk.astype(float), angle, axes=axes, reshape=False, order=0, mode="constant") > 0.5
    shift = [0] * img.ndim
    shift[axes[0]], shift[axes[1]] = dy, dx
    m2 = ndimage.shift(m2.astype(float), shift, order=0, mode="constant") > 0.5
    struct = np.zeros((3,) * img.ndim, dtype=bool)
    plane = [1] * img.ndim
    sl = tuple(slice(None) if a in axes else plane[a] for a in range(img.ndim))
    struct[sl] = ndimage.generate_binary_structure(2, 1)
    if morph < 0:
        eroded = ndimage.binary_erosion(m2, structure=struct)
        m2 = eroded if eroded.sum() >= 0.5 * m2.sum() else m2
    elif morph > 0:
        m2 = ndimage.binary_dilation(m2, structure=struct)
    if not m2.any():
        m2 = msk
    img2 = img2 + rng.normal(0.0, noise_sd, img2.shape) if noise_sd > 0 else img2
    info = {"angle": angle, "shift_y": dy, "shift_x": dx, "morphology": morph, "noise_sd": noise_sd}
    return img2, m2.astype(np.uint8), info


def perturbation_icc(
    cases: pd.DataFrame,
    *,
    preset: str | os.PathLike | Mapping[str, Any] = "ultrasound2d",
    n_perturbations: int = 5,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ICC of every feature across automatic perturbations of each case (MIRP-style).

    Version 0 of each case is the original image and mask; versions 1..``n_perturbations``
    are :func:`perturb_case` draws. Cases that fail to read or extract are skipped (logged).

    Parameters
    ----------
    cases
        Normalised case sheet (:func:`radiogenomics.imaging.cases.read_cases`).
    preset
        Extraction settings.
    n_perturbations
        Perturbed versions per case (≥ 1).
    seed
        Random seed (per-case streams are spawned from it).
    alpha
        1 - confidence level.
    allow_outside_paths
        A case-sheet file's paths may be absolute or lead out of its folder (refused by default).

    Returns
    -------
    icc : pandas.DataFrame
        See :func:`icc_table`. The perturbed versions of a case are its own random draws, so
        ``icc_oneway`` (ICC(1,1)) is the stability measure here; the two-way forms are kept
        for comparison only.
    measurements : pandas.DataFrame
        Long table: ``target`` (case id), ``rater`` (``"v0"``...), ``angle``, ``shift_y``,
        ``shift_x``, ``morphology``, ``noise_sd``, then one column per feature.
    """
    import SimpleITK as sitk

    from .extract import extract_images, load_preset
    from .readers import read_case

    n_perturbations = check_int(n_perturbations, "n_perturbations", owner="perturbation_icc", min_value=1)
    params = load_preset(preset)
    streams = np.random.SeedSequence(seed).spawn(len(cases))
    rows = []
    for (case_id, row), ss in progress(list(zip(cases.iterrows(), streams)), desc="perturbations"):
        ml = None if pd.isna(row.get("mask_label", pd.NA)) else int(row["mask_label"])
        try:
            image, mask = read_case(row["image"], row["mask"], mask_label=ml)
        except Exception as exc:  # noqa: BLE001
            log.warning("perturbation_icc: case %s skipped (%s)", case_id, exc)
            continue
        arr, marr = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(mask)
        rng = np.random.default_rng(ss)
        for v in range(n_perturbations + 1):
            if v == 0:
                img_v, m_v = arr, marr
                info = {"angle": 0.0, "shift_y": 0, "shift_x": 0, "morphology": 0, "noise_sd": 0.0}
            else:
                img_v, m_v, info = perturb_case(arr, marr, seed=rng)
            si = sitk.GetImageFromArray(img_v.astype(np.float32))
            si.CopyInformation(image)
            sm = sitk.GetImageFromArray(m_v.astype(np.uint8))
            sm.CopyInformation(image)
            try:
                feats, _ = extract_images(si, sm, params=params)
            except Exception as exc:  # noqa: BLE001
                log.warning("perturbation_icc: case %s version %d skipped (%s)", case_id, v, exc)
                continue
            rows.append({"target": str(case_id), "rater": f"v{v}", **info, **feats})
    measurements = pd.DataFrame(rows)
    if measurements.empty:
        raise InputError("perturbation_icc: no case could be extracted.")
    meta = ["target", "rater", "angle", "shift_y", "shift_x", "morphology", "noise_sd"]
    feats = [c for c in measurements.columns if c not in meta]
    return icc_table(measurements, target="target", rater="rater", features=feats, alpha=alpha), measurements


def feature_stability(
    cases: str | os.PathLike | pd.DataFrame,
    *,
    mode: str = "perturbation",
    preset: str | os.PathLike | Mapping[str, Any] = "ultrasound2d",
    n_perturbations: int = 5,
    n_jobs: int = 1,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    alpha: float = 0.05,
    allow_outside_paths: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """ICC of every feature of a case sheet, across mask perturbations or across readers.

    Parameters
    ----------
    cases
        Case sheet (file or table, see :func:`~radiogenomics.imaging.cases.load_cases`).
    mode
        ``"perturbation"`` (:func:`perturbation_icc`) or ``"readers"`` (the sheet's ``reader``
        column, :func:`reader_icc` on features extracted by :func:`radiogenomics.extract`).
    preset
        Extraction settings.
    n_perturbations
        Perturbed versions per case (perturbation mode).
    n_jobs
        Extraction workers (readers mode; -1 = all cores).
    cache_dir
        Extraction cache (readers mode); ``None`` disables it.
    seed
        Seed of the perturbations.
    alpha
        1 - confidence level.
    allow_outside_paths
        A case-sheet file's paths may be absolute or lead out of its folder (refused by default).

    Returns
    -------
    icc : pandas.DataFrame
        See :func:`icc_table`.
    measurements : pandas.DataFrame or None
        The perturbed versions' features (perturbation mode, see :func:`perturbation_icc`).
    """
    from .cases import load_cases

    check_choice(mode, "mode", owner="feature_stability", choices=("perturbation", "readers"))
    sheet = load_cases(cases, allow_outside_paths=allow_outside_paths)
    if mode == "perturbation":
        return perturbation_icc(sheet, preset=preset, n_perturbations=n_perturbations, seed=seed, alpha=alpha)
    from .stage import extract

    result = extract(sheet, preset=preset, n_jobs=n_jobs, cache_dir=cache_dir)
    return reader_icc(result.features_image, sheet, alpha=alpha), None
