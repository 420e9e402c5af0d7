"""Synthetic breast-ultrasound cohort for the demo and the tests (NOT real patients).

No public imaging cohort with HER2 labels could be shipped with the project, so the demo
simulates one. Each image is a B-mode-like 2D grayscale picture:

* **speckle background**: fully developed speckle is Rayleigh distributed; we draw a
  Rayleigh field, correlate it with a small Gaussian kernel (the point-spread function) and
  add a depth-dependent gain plus a few horizontal tissue layers;
* **hypoechoic lesion**: a star-shaped region whose radius ``r(θ) = R (1 + Σ a_k cos(kθ + φ_k))``
  gives an irregular, lobulated border; its echogenicity is lower than the background's;
* **HER2-positive lesions** are more heterogeneous: a low-frequency multiplicative texture with
  a larger amplitude, coarser speckle, and bright *echogenic specks* (microcalcification-like
  dots). HER2-negative lesions are darker and smoother. First-order, GLCM, GLRLM, GLSZM and
  GLDM features therefore separate the classes clearly, which is what the demo needs.

Masks are written with lesion value **1** and background 0 (pyradiomics' default label, so the
case sheet needs no ``mask_label``). Images are 8-bit PNGs. The output folder always holds a
``SYNTHETIC.txt`` saying the data are simulated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from .._io import atomic_path, atomic_write
from .._logging import get_logger
from .._validation import ParameterError, check_float, check_int

__all__ = ["simulate_ultrasound", "make_ultrasound_cohort"]

log = get_logger(__name__)

SYNTHETIC_NOTE = (
    "These images, masks and labels are SYNTHETIC. They were simulated by\n"
    "radiogenomics.imaging.synthetic.make_ultrasound_cohort (speckle background, hypoechoic\n"
    "lesion with an irregular border; HER2-positive lesions made more heterogeneous with\n"
    "echogenic specks). They are not images of patients and carry no clinical meaning.\n"
    "Masks: lesion = 1, background = 0 (8-bit PNG).\n"
)


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise ParameterError(
        f"The 'seed' parameter of simulate_ultrasound must be an int or a numpy Generator. Got {seed!r} instead."
    )


def _lesion_mask(size: int, rng: np.random.Generator, *, irregular: float) -> np.ndarray:
    """Star-shaped lesion with a lobulated border, centred near the image centre."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    cy = size / 2 + rng.uniform(-0.08, 0.08) * size
    cx = size / 2 + rng.uniform(-0.08, 0.08) * size
    radius = size * rng.uniform(0.2, 0.27)
    theta = np.arctan2(yy - cy, xx - cx)
    dist = np.hypot(yy - cy, xx - cx)
    # ellipticity (wider than tall, as most breast lesions) + random lobulation
    r_theta = radius * (1 + 0.15 * rng.uniform(0.3, 1.0) * np.cos(2 * theta))
    for k in range(3, 9):
        amp = irregular * rng.uniform(0.2, 1.0) / k
        r_theta = r_theta * (1 + amp * np.cos(k * theta + rng.uniform(0, 2 * np.pi)))
    mask = dist <= r_theta
    mask = ndimage.binary_fill_holes(ndimage.binary_opening(mask, iterations=1))
    # keep the largest component only
    lab, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, lab, index=range(1, n + 1))
        mask = lab == (int(np.argmax(sizes)) + 1)
    return mask.astype(np.uint8)


def simulate_ultrasound(
    her2: int,
    *,
    size: int = 128,
    seed: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one synthetic B-mode ultrasound image of a breast lesion and its mask.

    Parameters
    ----------
    her2
        1 for an HER2-positive lesion (heterogeneous, echogenic specks), 0 for negative.
    size
        Image side in pixels (square image), at least 48.
    seed
        Seed or numpy Generator; the same seed gives the same image.

    Returns
    -------
    image : numpy.ndarray
        ``uint8`` array of shape ``(size, size)``, grayscale intensities 0–255.
    mask : numpy.ndarray
        ``uint8`` array of the same shape, lesion = 1, background = 0.
    """
    if her2 not in (0, 1) or isinstance(her2, bool):
        raise ParameterError(
            f"The 'her2' parameter of simulate_ultrasound must be 1 or 0. Got {her2!r} instead."
        )
    size = check_int(size, "size", owner="simulate_ultrasound", min_value=48)
    rng = _rng(seed)
    positive = her2 == 1

    mask = _lesion_mask(size, rng, irregular=1.1 if positive else 0.7)
    inside = mask.astype(bool)

    # --- tissue echogenicity map (before speckle) ---------------------------------------
    yy = np.arange(size, dtype=float)[:, None] / size
    tissue = np.full((size, size), 120.0)
    tissue += 25 * np.sin(2 * np.pi * (yy * rng.uniform(2, 4) + rng.uniform(0, 1)))  # layers
    tissue *= 1.0 - 0.35 * yy  # depth attenuation (time-gain not fully compensated)
    tissue += ndimage.gaussian_filter(rng.normal(0, 25, (size, size)), sigma=size / 16)

    # lesion: hypoechoic, with class-dependent internal heterogeneity. The class
    # distributions overlap (as real lesions do), so features separate the classes clearly
    # but not perfectly.
    if positive:
        level = rng.uniform(45, 70)
        amplitude = rng.uniform(0.22, 0.5)
        grain = rng.uniform(1.5, 2.5)
    else:
        level = rng.uniform(32, 55)
        amplitude = rng.uniform(0.08, 0.3)
        grain = rng.uniform(2.5, 4.5)
    hetero = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), sigma=grain)
    hetero = hetero / (hetero.std() + 1e-12)
    lesion = level * (1 + amplitude * hetero)
    # soft edge between lesion and tissue (1-2 px blur of the mask)
    edge = ndimage.gaussian_filter(inside.astype(float), sigma=1.0)
    echo = tissue * (1 - edge) + np.clip(lesion, 5, None) * edge

    # --- speckle: Rayleigh field correlated by a Gaussian PSF -------------------------------
    speckle = rng.rayleigh(scale=1.0, size=(size, size))
    speckle = ndimage.gaussian_filter(speckle, sigma=(0.7, 1.4))  # lateral PSF wider than axial
    speckle /= speckle.mean()
    speckle = 1 + (speckle - 1) * 2.2  # restore contrast lost by smoothing
    image = echo * np.clip(speckle, 0.05, None)

    # --- echogenic specks (microcalcification-like), many more in HER2-positive lesions ------
    n_specks = int(rng.integers(5, 16)) if positive else int(rng.integers(0, 4))
    if n_specks:
        idx = np.flatnonzero(inside.ravel())
        chosen = rng.choice(idx, size=min(n_specks, idx.size), replace=False)
        specks = np.zeros(size * size)
        specks[chosen] = 1.0
        specks = ndimage.gaussian_filter(specks.reshape(size, size), sigma=0.8)
        specks /= specks.max() + 1e-12
        image = image + rng.uniform(120, 200) * specks * inside

    image = image + rng.normal(0, 3, image.shape)  # electronic noise
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask


def _write_png(array: np.ndarray, path: Path) -> None:
    import SimpleITK as sitk

    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp))


def make_ultrasound_cohort(
    out_dir: str | os.PathLike,
    *,
    n_patients: int = 40,
    images_per_patient: int = 2,
    positive_fraction: float = 0.5,
    size: int = 128,
    seed: int = 0,
) -> pd.DataFrame:
    """Write a synthetic ultrasound cohort (PNG images, PNG masks, ``cases.csv``) to a folder.

    Patients are named ``US001``, ``US002``...; the first ``round(n_patients *
    positive_fraction)`` patients in a seeded random order are HER2-positive. Each patient has
    ``images_per_patient`` images of the same lesion class (different seeds, as different views).
    Files go to ``out_dir/images/<case_id>.png`` and ``out_dir/masks/<case_id>.png`` (mask
    lesion value 1), each written atomically; ``out_dir/SYNTHETIC.txt`` says the data are
    simulated.

    Parameters
    ----------
    out_dir
        Destination folder (created).
    n_patients
        Number of patients (≥ 2).
    images_per_patient
        Images per patient (≥ 1).
    positive_fraction
        Fraction of HER2-positive patients, in (0, 1).
    size
        Image side in pixels.
    seed
        Random seed; the same seed gives byte-identical files.

    Returns
    -------
    pandas.DataFrame
        The case sheet also written to ``out_dir/cases.csv``, one row per image, columns
        ``case_id`` (e.g. ``US001_1``), ``patient_id`` (``US001``), ``image`` and ``mask``
        (paths relative to the sheet), ``label`` (1 HER2-positive, 0 negative),
        ``mask_label`` (always 1) and ``synthetic`` (always ``True``).
    """
    owner = "make_ultrasound_cohort"
    n_patients = check_int(n_patients, "n_patients", owner=owner, min_value=2, max_value=999)
    images_per_patient = check_int(images_per_patient, "images_per_patient", owner=owner, min_value=1)
    positive_fraction = check_float(
        positive_fraction, "positive_fraction", owner=owner, min_value=0, max_value=1, closed="neither"
    )
    size = check_int(size, "size", owner=owner, min_value=48)
    seed = check_int(seed, "seed", owner=owner, min_value=0)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_pos = int(round(n_patients * positive_fraction))
    n_pos = min(max(n_pos, 1), n_patients - 1)
    labels = np.zeros(n_patients, dtype=int)
    labels[rng.permutation(n_patients)[:n_pos]] = 1
    child_seeds = np.random.SeedSequence(seed).spawn(n_patients * images_per_patient)

    rows = []
    k = 0
    for p in range(n_patients):
        pid = f"US{p + 1:03d}"
        for i in range(images_per_patient):
            cid = f"{pid}_{i + 1}"
            image, mask = simulate_ultrasound(int(labels[p]), size=size, seed=np.random.default_rng(child_seeds[k]))
            k += 1
            _write_png(image, out / "images" / f"{cid}.png")
            _write_png(mask, out / "masks" / f"{cid}.png")
            rows.append({
                "case_id": cid, "patient_id": pid,
                "image": f"images/{cid}.png", "mask": f"masks/{cid}.png",
                "label": int(labels[p]), "mask_label": 1, "synthetic": True,
            })
    sheet = pd.DataFrame(rows)
    with atomic_write(out / "SYNTHETIC.txt") as fh:
        fh.write(SYNTHETIC_NOTE)
    with atomic_write(out / "cases.csv") as fh:
        sheet.to_csv(fh, index=False)
    log.info("wrote synthetic ultrasound cohort: %d patients (%d HER2+), %d images to %s",
             n_patients, n_pos, len(sheet), out)
    return sheet
