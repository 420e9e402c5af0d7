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
  GLDM features therefore separate the classes clearly (the ``"distinct"`` appearance, the
  default: what the tests and the deep path need).

The demo uses the ``"shared"`` appearance instead, shaped so that only a few features differ, as
in a real cohort: every lesion property (echogenicity, heterogeneity, speckle grain, border) is
drawn from one distribution for both classes except the **size** (HER2-positive lesions are
larger by a moderate amount), and the lesion's inside is never blended with the tissue, so the
size moves the features that count pixels (firstorder energies, the non-normalised
non-uniformities, :data:`SIZE_FEATURES`) and little else (echogenic specks are a density per
lesion pixel; the speckle's tail is capped so the gray-level range hardly grows with the pixel
count). The spread of sizes within a class is one per-patient **latent factor**;
:func:`radiogenomics.datasets.write_demo_inputs` lets the same factor drive a pathway's genes in
HER2-positive patients, the demo's planted feature-pathway link.

Masks are written with lesion value **1** and background 0 (pyradiomics' default label, so the
case sheet needs no ``mask_label``). Images are 8-bit PNGs. The output folder always holds a
``SYNTHETIC.txt`` saying the data are simulated.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from .._io import atomic_path, atomic_write
from .._logging import get_logger
from .._validation import ParameterError, check_choice, check_float, check_int

__all__ = ["simulate_ultrasound", "make_ultrasound_cohort", "simulate_multisequence", "make_multisequence_cohort"]

log = get_logger(__name__)

#: Appearances of :func:`simulate_ultrasound`.
APPEARANCES = ("distinct", "shared")

#: What the latent factor of the ``"shared"`` appearance drives (the demo's planted link).
LATENT_PROPERTY = "lesion size (log mean radius = log(0.21 x image side) + size_effect x HER2 + 0.12 x factor)"

#: The ``ultrasound2d`` features that the lesion size moves in the ``"shared"`` appearance (those
#: that count pixels, runs or zones; measured: |Spearman rho| > 0.5 with the radius, 320 lesions of
#: 80 px), the demo's differential and linked family.
SIZE_FEATURES = (
    "original_firstorder_Energy", "original_firstorder_TotalEnergy", "original_glrlm_GrayLevelNonUniformity",
    "original_glrlm_RunLengthNonUniformity", "original_glszm_GrayLevelNonUniformity",
    "original_glszm_SizeZoneNonUniformity", "original_glszm_ZoneEntropy", "original_gldm_DependenceNonUniformity",
    "original_gldm_GrayLevelNonUniformity",
)

SYNTHETIC_NOTE = (
    "These images, masks and labels are SYNTHETIC. They were simulated by\n"
    "radiogenomics.imaging.synthetic.make_ultrasound_cohort (speckle background, hypoechoic\n"
    "lesion with an irregular border; HER2-positive lesions made more heterogeneous with\n"
    "echogenic specks). They are not images of patients and carry no clinical meaning.\n"
    "Masks: lesion = 1, background = 0 (8-bit PNG).\n"
)

SHARED_NOTE = (
    "These images, masks and labels are SYNTHETIC. They were simulated by\n"
    "radiogenomics.imaging.synthetic.make_ultrasound_cohort (appearance 'shared': speckle\n"
    "background, hypoechoic lesion with an irregular border, every property drawn alike for both\n"
    "classes except the size: larger in HER2-positive lesions, and spread within a class by a\n"
    "per-patient latent factor). They are not images of patients and carry no clinical meaning.\n"
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


def _lesion_mask(size: int, rng: np.random.Generator, *, irregular: float, radius: float | None = None) -> np.ndarray:
    """Star-shaped lesion with a lobulated border, centred near the image centre.

    ``radius`` is the mean radius as a fraction of the image side (drawn in 0.2-0.27 when ``None``).
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    cy = size / 2 + rng.uniform(-0.08, 0.08) * size
    cx = size / 2 + rng.uniform(-0.08, 0.08) * size
    radius = size * (rng.uniform(0.2, 0.27) if radius is None else radius)
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
    appearance: str = "distinct",
    size_effect: float = 0.1,
    factor: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one synthetic B-mode ultrasound image of a breast lesion and its mask.

    Parameters
    ----------
    her2
        1 for an HER2-positive lesion, 0 for negative.
    size
        Image side in pixels (square image), at least 48.
    seed
        Seed or numpy Generator; the same seed gives the same image.
    appearance
        ``"distinct"``: the classes differ in texture, echogenicity, border and echogenic
        specks, so most features separate them clearly (the tests' and the deep path's
        cohorts). ``"shared"`` (the demo's): every lesion property is drawn from one
        distribution for both classes except the size, which moves only a small family of
        pyradiomics features (:data:`SIZE_FEATURES`): the lesion's mean radius is
        ``0.21 * size * exp(size_effect * her2 + 0.12 * factor)``.
    size_effect
        ``"shared"`` only: how much larger (log mean radius) HER2-positive lesions are.
    factor
        ``"shared"`` only: the patient's latent size factor (standard normal; the spread of
        lesion sizes within a class); ``None`` draws it.

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
    check_choice(appearance, "appearance", owner="simulate_ultrasound", choices=APPEARANCES)
    rng = _rng(seed)
    positive = her2 == 1
    if appearance == "shared":
        size_effect = check_float(size_effect, "size_effect", owner="simulate_ultrasound", min_value=-1.0,
                                  max_value=1.0)
        z = rng.standard_normal() if factor is None else check_float(
            factor, "factor", owner="simulate_ultrasound", min_value=-10.0, max_value=10.0)
        radius = float(np.clip(0.21 * np.exp(size_effect * her2 + 0.12 * z), 0.12, 0.32))
        return _render_shared(
            size, rng, radius=radius, level=rng.uniform(38, 58), amplitude=rng.uniform(0.15, 0.4),
            grain=rng.uniform(2.0, 3.5), speck_density=0.009, speck_gain=rng.uniform(100, 200),
            irregular=rng.uniform(0.7, 1.1))

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
        specks = _speck_field(inside, n_specks, rng)
        image = image + rng.uniform(120, 200) * specks * inside

    image = image + rng.normal(0, 3, image.shape)  # electronic noise
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask


def _speck_field(inside: np.ndarray, n_specks: int, rng: np.random.Generator) -> np.ndarray:
    """Echogenic specks: ``n_specks`` lesion pixels (at most all of them) blurred, peak 1."""
    idx = np.flatnonzero(inside.ravel())
    chosen = rng.choice(idx, size=min(n_specks, idx.size), replace=False)
    specks = np.zeros(inside.size)
    specks[chosen] = 1.0
    specks = ndimage.gaussian_filter(specks.reshape(inside.shape), sigma=0.8)
    specks /= specks.max() + 1e-12
    return specks


def _render_shared(
    size: int,
    rng: np.random.Generator,
    *,
    radius: float,
    level: float,
    amplitude: float,
    grain: float,
    speck_density: float,
    speck_gain: float,
    irregular: float,
) -> tuple[np.ndarray, np.ndarray]:
    """One image of the ``"shared"`` appearance from explicit lesion properties.

    The lesion's inside is never blurred with the tissue (the soft edge lies outside the mask),
    the echogenic specks are a density (per lesion pixel) and the speckle's tail is capped, so
    the lesion's size changes its pixel count, not its gray-level distribution.
    """
    mask = _lesion_mask(size, rng, irregular=irregular, radius=radius)
    inside = mask.astype(bool)
    yy = np.arange(size, dtype=float)[:, None] / size
    tissue = np.full((size, size), 120.0)
    tissue += 25 * np.sin(2 * np.pi * (yy * rng.uniform(2, 4) + rng.uniform(0, 1)))
    tissue *= 1.0 - 0.35 * yy
    tissue += ndimage.gaussian_filter(rng.normal(0, 25, (size, size)), sigma=size / 16)
    hetero = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), sigma=grain)
    hetero = hetero / (hetero.std() + 1e-12)
    lesion = np.clip(level * (1 + amplitude * hetero), 5, None)
    edge = ndimage.gaussian_filter(ndimage.binary_dilation(inside, iterations=2).astype(float), sigma=1.0)
    edge[inside] = 1.0
    echo = tissue * (1 - edge) + lesion * edge
    speckle = rng.rayleigh(scale=1.0, size=(size, size))
    speckle = ndimage.gaussian_filter(speckle, sigma=(0.7, 1.4))
    speckle /= speckle.mean()
    speckle = 1 + (speckle - 1) * 2.2
    image = echo * np.clip(speckle, 0.05, 3.0)
    n_specks = int(rng.poisson(speck_density * inside.sum()))
    if n_specks > 0:
        image = image + speck_gain * _speck_field(inside, n_specks, rng) * inside
    image = image + rng.normal(0, 3, image.shape)
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
    appearance: str = "distinct",
    size_effect: float = 0.1,
    factors: Sequence[float] | np.ndarray | None = None,
    prefix: str = "US",
    seed: int = 0,
) -> pd.DataFrame:
    """Write a synthetic ultrasound cohort (PNG images, PNG masks, ``cases.csv``) to a folder.

    Patients are named ``<prefix>001``, ``<prefix>002``... (``US001``...); the first ``round(n_patients *
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
    appearance
        ``"distinct"`` or ``"shared"`` (see :func:`simulate_ultrasound`).
    size_effect
        ``"shared"``: log-radius increase of HER2-positive lesions.
    factors
        ``"shared"``: each patient's latent size factor (standard normal; in patient order),
        the same for all the patient's images; ``None`` draws them from the seed.
    prefix
        Start of the patient ids: give an independent cohort its own (e.g. ``"VUS"``).
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
    check_choice(appearance, "appearance", owner=owner, choices=APPEARANCES)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_pos = int(round(n_patients * positive_fraction))
    n_pos = min(max(n_pos, 1), n_patients - 1)
    labels = np.zeros(n_patients, dtype=int)
    labels[rng.permutation(n_patients)[:n_pos]] = 1
    child_seeds = np.random.SeedSequence(seed).spawn(n_patients * images_per_patient)
    look: dict[str, object] = {}
    if appearance == "shared":
        z = (np.random.default_rng([seed, 1]).standard_normal(n_patients) if factors is None
             else np.asarray(factors, dtype=float))
        if z.shape != (n_patients,) or not np.isfinite(z).all():
            raise ParameterError(f"The 'factors' parameter of {owner} must hold {n_patients} finite values "
                                 f"(one per patient). Got shape {z.shape} instead.")
        look = {"appearance": "shared", "size_effect": size_effect}

    rows = []
    k = 0
    for p in range(n_patients):
        pid = f"{prefix}{p + 1:03d}"
        if look:
            look["factor"] = float(z[p])
        for i in range(images_per_patient):
            cid = f"{pid}_{i + 1}"
            image, mask = simulate_ultrasound(int(labels[p]), size=size, seed=np.random.default_rng(child_seeds[k]),
                                              **look)  # type: ignore[arg-type]
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
        fh.write(SHARED_NOTE if look else SYNTHETIC_NOTE)
    with atomic_write(out / "cases.csv") as fh:
        sheet.to_csv(fh, index=False)
    log.info("wrote synthetic ultrasound cohort: %d patients (%d HER2+), %d images to %s",
             n_patients, n_pos, len(sheet), out)
    return sheet


# ------------------------------------------------------------------------------------------------
# multi-sequence MRI/CT-like cohorts (the deep path's tests and benchmarks)
# ------------------------------------------------------------------------------------------------
MULTISEQUENCE_NOTE = (
    "These images, masks and labels are SYNTHETIC. They were simulated by\n"
    "radiogenomics.imaging.synthetic.make_multisequence_cohort: one image per sequence (smooth\n"
    "tissue texture, an ellipsoidal lesion with a sequence-specific contrast, bright dots\n"
    "scattered outside the lesion, Gaussian noise). Only the 'signal' sequence differs between\n"
    "the classes: HER2-positive lesions hold bright dots inside the lesion there. With no signal\n"
    "sequence the labels are independent of every voxel (a pure-noise cohort). They are not\n"
    "images of patients and carry no clinical meaning. Masks: lesion = 1, background = 0.\n"
)

#: Tissue level, lesion contrast (multiplicative) and texture amplitude of each named sequence;
#: other names get a level drawn from the sequence's position.
SEQUENCE_LOOKS = {
    "t1": (400.0, 0.6, 0.10),    # lesion darker than tissue
    "t2": (300.0, 1.8, 0.12),    # lesion brighter
    "dce": (250.0, 2.4, 0.08),   # enhancing lesion
    "adc": (900.0, 0.7, 0.10),
    "ct": (40.0, 1.5, 0.15),
}


def _ellipsoid(shape: tuple[int, ...], spacing: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """An ellipsoidal (elliptic in 2D) lesion mask near the centre, radii in millimetres."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    extent = np.array([n * s for n, s in zip(shape, spacing)])
    centre = extent / 2 + rng.uniform(-0.06, 0.06, len(shape)) * extent.min()
    radii = extent.min() * rng.uniform(0.17, 0.24, len(shape))
    dist = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii))
    return (dist <= 1.0).astype(np.uint8)


def _dots(shape: tuple[int, ...], region: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` bright dots (2 voxels wide in-plane, one slice thick) at random voxels of ``region``."""
    out = np.zeros(shape)
    idx = np.flatnonzero(region.ravel())
    if k <= 0 or idx.size == 0:
        return out
    for p in rng.choice(idx, size=min(k, idx.size), replace=False):
        pos = np.unravel_index(int(p), shape)
        sl = tuple(slice(c, c + 2) if a >= len(shape) - 2 else slice(c, c + 1) for a, c in enumerate(pos))
        out[sl] = 1.0
    return out


def simulate_multisequence(
    her2: int,
    *,
    sequences: tuple[str, ...] = ("t1", "t2", "dce"),
    signal: str | None = "dce",
    size: int = 32,
    slices: int | None = 12,
    slice_spacing: float = 2.0,
    seed: int | np.random.Generator = 0,
) -> tuple[dict[str, np.ndarray], np.ndarray, tuple[float, ...]]:
    """Simulate one synthetic multi-sequence case: one image per sequence, one lesion mask.

    Every sequence shows the same lesion (an ellipsoid of 0.17-0.24 of the field of view per
    axis, in millimetres) on a smooth tissue texture (one anatomy, seen with alternating sign by
    successive sequences, plus a texture of each sequence's own), with the sequence's own lesion contrast
    (:data:`SEQUENCE_LOOKS`), 4-8 bright dots scattered outside the lesion and Gaussian noise.
    Only the ``signal`` sequence depends on ``her2``: a positive lesion holds bright dots inside
    it there (6-10 in an image, 12-20 in a volume); a negative one none. ``signal=None`` makes
    every voxel independent of the label.

    Parameters
    ----------
    her2
        1 positive, 0 negative.
    sequences
        Sequence names.
    signal
        The sequence that carries the class signal, or ``None``.
    size
        In-plane side in pixels (1 mm each), at least 16.
    slices
        Slices of a volume (``slice_spacing`` mm apart); ``None`` for a 2D image.
    slice_spacing
        Slice distance in mm (volumes).
    seed
        Seed or numpy Generator.

    Returns
    -------
    images : dict
        Sequence name → ``float32`` array ``(size, size)`` or ``(slices, size, size)``.
    mask : numpy.ndarray
        ``uint8`` lesion mask of the same shape (lesion = 1).
    spacing : tuple of float
        Voxel spacing per array axis, in mm.
    """
    if her2 not in (0, 1) or isinstance(her2, bool):
        raise ParameterError(f"The 'her2' parameter of simulate_multisequence must be 1 or 0. Got {her2!r} instead.")
    owner = "simulate_multisequence"
    size = check_int(size, "size", owner=owner, min_value=16)
    sequences = tuple(str(s) for s in sequences)
    if not sequences or len(set(sequences)) < len(sequences):
        raise ParameterError(f"The 'sequences' parameter of {owner} must be distinct names. Got {sequences!r} instead.")
    if signal is not None and signal not in sequences:
        raise ParameterError(f"The 'signal' parameter of {owner} must be one of {sequences} or None. "
                             f"Got {signal!r} instead.")
    rng = _rng(seed)
    if slices is None:
        shape: tuple[int, ...] = (size, size)
        spacing: tuple[float, ...] = (1.0, 1.0)
    else:
        shape = (check_int(slices, "slices", owner=owner, min_value=4), size, size)
        spacing = (float(check_float(slice_spacing, "slice_spacing", owner=owner, min_value=0.1)), 1.0, 1.0)
    mask = _ellipsoid(shape, spacing, rng)
    inside = mask.astype(bool)
    near = ndimage.binary_dilation(inside, iterations=2)
    n_signal = (int(rng.integers(6, 11)) if slices is None else int(rng.integers(12, 21))) if her2 else 0
    core = ndimage.binary_erosion(inside, iterations=1) if inside.sum() > 40 else inside
    # one anatomy seen by every sequence (what a registration aligns), each with its own contrast
    anatomy = ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), sigma=2.0)
    anatomy /= anatomy.std() + 1e-12
    images = {}
    for i, name in enumerate(sequences):
        level, contrast, texture = SEQUENCE_LOOKS.get(name, (200.0 + 150.0 * i, 1.5 if i % 2 else 0.7, 0.1))
        own = ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), sigma=2.0)
        field = 0.8 * anatomy * (1 if i % 2 == 0 else -1) + 0.6 * own / (own.std() + 1e-12)
        img = level * (1.0 + texture * field)
        img = img * np.where(inside, contrast, 1.0)
        img = ndimage.gaussian_filter(img, sigma=0.7)
        img += level * 1.2 * _dots(shape, ~near, int(rng.integers(4, 9)), rng)
        if name == signal and n_signal:
            img += level * 2.5 * _dots(shape, core, n_signal, rng)
        img += rng.normal(0.0, 0.04 * level, shape)
        images[name] = img.astype(np.float32)
    return images, mask, spacing


def _write_volume(array: np.ndarray, spacing: tuple[float, ...], path: Path,
                  origin: tuple[float, ...] | None = None) -> None:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array)
    img.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    if origin is not None:
        img.SetOrigin(tuple(float(o) for o in origin[::-1]))
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=True)


def _half_resolution(
    array: np.ndarray, spacing: tuple[float, ...]
) -> tuple[np.ndarray, tuple[float, ...], tuple[float, ...]]:
    """Average 2 x 2 in-plane blocks: the same field of view at half the in-plane resolution.

    Returns the array, its spacing and its origin (a block's centre lies half an original pixel
    beyond the first pixel's centre, so the physical positions stay exact).
    """
    h, w = array.shape[-2] // 2 * 2, array.shape[-1] // 2 * 2
    a = array[..., :h, :w]
    out = a.reshape(*a.shape[:-2], h // 2, 2, w // 2, 2).mean(axis=(-3, -1))
    origin = (*[0.0] * (array.ndim - 2), spacing[-2] / 2, spacing[-1] / 2)
    return out.astype(np.float32), (*spacing[:-2], spacing[-2] * 2, spacing[-1] * 2), origin


def make_multisequence_cohort(
    out_dir: str | os.PathLike,
    *,
    n_patients: int = 24,
    images_per_patient: int = 1,
    sequences: tuple[str, ...] = ("t1", "t2", "dce"),
    signal: str | None = "dce",
    spatial_dims: int = 3,
    size: int = 32,
    slices: int = 12,
    low_resolution: tuple[str, ...] = (),
    positive_fraction: float = 0.5,
    prefix: str = "MR",
    seed: int = 0,
) -> pd.DataFrame:
    """Write a synthetic multi-sequence cohort (NRRD images and masks, ``cases.csv``) to a folder.

    Patients are named ``<prefix>001``... (``MR001``...); ``round(n_patients * positive_fraction)`` of them, in a
    seeded random order, are HER2-positive. Each case is :func:`simulate_multisequence`'s: the
    files are ``out_dir/<sequence>/<case_id>.nrrd`` (float32, spacing 1 mm in-plane and 2 mm
    between slices) and ``out_dir/masks/<case_id>.nrrd`` (lesion 1, drawn on the first
    sequence's grid). Sequences in ``low_resolution`` are stored at half the in-plane
    resolution (2 x 2 pixel means, twice the spacing, the same field of view), so readers must
    resample them onto the first sequence's grid. ``out_dir/SYNTHETIC.txt`` says the data are
    simulated.

    Parameters
    ----------
    out_dir
        Destination folder (created).
    n_patients
        Number of patients (>= 2).
    images_per_patient
        Cases per patient (>= 1; e.g. two lesions or two visits).
    sequences
        Sequence names: one image column each in the sheet.
    signal
        The one sequence that carries the class signal, or ``None`` (labels independent of
        every voxel: a pure-noise cohort).
    spatial_dims
        3 (volumes of ``slices`` slices) or 2 (images).
    size
        In-plane side in pixels.
    slices
        Slices per volume (3D).
    low_resolution
        Sequences stored at half the in-plane resolution (not the first one).
    positive_fraction
        Fraction of HER2-positive patients, in (0, 1).
    prefix
        Start of the patient ids: give an external cohort its own (e.g. ``"EX"``), so that the
        two cohorts are disjoint.
    seed
        Random seed; the same seed gives the same arrays.

    Returns
    -------
    pandas.DataFrame
        The case sheet also written to ``out_dir/cases.csv``: ``case_id`` (``MR001_1``),
        ``patient_id``, one path column per sequence, ``mask``, ``label``, ``mask_label`` (1)
        and ``synthetic`` (``True``); paths relative to the sheet.
    """
    owner = "make_multisequence_cohort"
    n_patients = check_int(n_patients, "n_patients", owner=owner, min_value=2, max_value=999)
    images_per_patient = check_int(images_per_patient, "images_per_patient", owner=owner, min_value=1)
    spatial_dims = check_int(spatial_dims, "spatial_dims", owner=owner, min_value=2, max_value=3)
    positive_fraction = check_float(
        positive_fraction, "positive_fraction", owner=owner, min_value=0, max_value=1, closed="neither"
    )
    seed = check_int(seed, "seed", owner=owner, min_value=0)
    sequences = tuple(str(s) for s in sequences)
    bad = [s for s in low_resolution if s not in sequences[1:]]
    if bad:
        raise ParameterError(f"The 'low_resolution' parameter of {owner} must name sequences other than the first "
                             f"({sequences[1:]}). Got {bad!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_pos = min(max(int(round(n_patients * positive_fraction)), 1), n_patients - 1)
    labels = np.zeros(n_patients, dtype=int)
    labels[rng.permutation(n_patients)[:n_pos]] = 1
    child_seeds = np.random.SeedSequence(seed).spawn(n_patients * images_per_patient)
    rows, k = [], 0
    for p in range(n_patients):
        pid = f"{prefix}{p + 1:03d}"
        for i in range(images_per_patient):
            cid = f"{pid}_{i + 1}"
            images, mask, spacing = simulate_multisequence(
                int(labels[p]), sequences=sequences, signal=signal, size=size,
                slices=slices if spatial_dims == 3 else None, seed=np.random.default_rng(child_seeds[k]))
            k += 1
            row = {"case_id": cid, "patient_id": pid}
            for name, array in images.items():
                arr, spc, org = (_half_resolution(array, spacing) if name in low_resolution
                                 else (array, spacing, None))
                _write_volume(arr, spc, out / name / f"{cid}.nrrd", origin=org)
                row[name] = f"{name}/{cid}.nrrd"
            _write_volume(mask, spacing, out / "masks" / f"{cid}.nrrd")
            rows.append({**row, "mask": f"masks/{cid}.nrrd", "label": int(labels[p]), "mask_label": 1,
                         "synthetic": True})
    sheet = pd.DataFrame(rows)
    with atomic_write(out / "SYNTHETIC.txt") as fh:
        fh.write(MULTISEQUENCE_NOTE)
    with atomic_write(out / "cases.csv") as fh:
        sheet.to_csv(fh, index=False)
    log.info("wrote synthetic %dD multi-sequence cohort (%s; signal in %s): %d patients (%d HER2+) to %s",
             spatial_dims, ", ".join(sequences), signal, n_patients, n_pos, out)
    return sheet
