"""The mixed-precision kernel: float32 products with an exact float64 decision.

Every hit decision ``|r| > threshold`` made here is the one the float64 engine
(:func:`.engine._class_counts`) makes, pair by pair: products run in float32 (on NumPy or,
through PyTorch, on a GPU), and every pair whose float32 ``|r|`` lies within
:func:`decision_margin` of the threshold is recomputed in float64 with the float64 engine's own
arithmetic; so are the few drawn columns whose conditioning the margin does not cover.

Draw-independent work is done once per stage call (:func:`prepare_chunk`): each gene column is
standardised over the whole pool of its HER2 class (every draw of that class comes from the
pool) in float64 and stored in float32. Pearson r is invariant to that affine map, and after it
the drawn columns are well-conditioned, which is what makes float32 safe.

The margin (:func:`decision_margin`)
------------------------------------
Notation: ``u = 2**-24`` and ``v = 2**-53`` are the float32 and float64 unit roundoffs,
``γ_k = k u / (1 - k u)`` (``γ'_k`` the same with ``v``), ``n`` the samples per draw; "a sum or
dot product of ``k`` terms, in any order, is off by at most ``γ_k`` times the sum of the absolute
terms" (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1) holds for any BLAS or
cuBLAS summation order (blocked, split-K, FMA), but not for TF32, which is therefore disabled.

For one drawn expression column in pool coordinates, ``y`` (length ``n``), let ``c = y -
mean(y)`` and ``κ = ‖y‖ / ‖c‖ ≥ 1`` (how much the centring cancels). Let ``a`` be the float64
engine's feature z-score (centred, unit norm) and ``b = c / ‖c‖``; the float64 engine uses the
same ``a``, so the feature side's float64 error is shared and cancels from the comparison:
write ``r' = a·b``. The kernel computes ``r̂ = fl32(â·b̂)``:

1. ``â = fl32(a)``: ``|(â - a)·b̂| ≤ u``. ``Σ â_i`` is zero up to ``u √n`` (``a`` is centred).
2. The stored pool column is ``y' = y ∘ (1 + θ)``, ``|θ_i| ≤ u + 3v`` (float64 centring and
   scaling, rounded to float32); moving ``c / ‖c‖`` by a perturbation ``Δ`` moves it by at most
   ``2‖PΔ‖ / ‖c‖`` (``P`` the centring projector): ``≤ 2 (u + 3v) κ``.
3. float32 centring ``ĉ = fl(y' - m̂)``: the error of the mean ``m̂`` shifts ``ĉ`` along the
   constant vector, which is orthogonal to ``c`` and (up to step 1) to ``â``, so it changes
   ``â·ĉ`` and ``‖ĉ‖`` only in second order, ``(γ_n κ)²``; the subtraction rounds each entry
   by ``u``: ``|â·(ĉ - c')| ≤ u ‖c'‖``.
4. The scale ``1 / sqrt(fl(Σ ĉ_i²))`` is off by ``γ_n / 2 + 2u`` relatively (sum, square root,
   reciprocal; ``4u`` more allows a 2-ulp GPU square root), and each ``ĉ_i`` times it by ``u``.
5. The float32 dot product of the two unit vectors: ``≤ γ_n``.

Summing (``|r'| ≤ 1``): ``|r̂ - r'| ≤ δ32 = 1.01 [1.5 γ_n + (10 + 2K) u + 6 K v] + 4 (γ_n K)²``,
the factor 1.01 and the last term covering the second-order terms, for drawn columns with
``κ ≤ K``; columns with a float32 estimate of κ above 8 are not decided in float32 (they are
recomputed in float64), so ``K = 8 × 1.01`` (the 1 % covers the estimate).

The float64 engine's own r is off from ``r'`` by its expression-side error, the same analysis in
float64, without step 2 and with the centring done per draw in the original units:
``δ64 = (2κ₀ + 1.5) γ'_n + (4κ₀ + 2) v`` (a deliberately loose bound: it does not use the
orthogonality of step 3) with ``κ₀`` the column's κ in original units. A drawn column whose coefficient of variation is below 1e-6 (``κ₀`` above
1e6: float64 centring itself loses digits there, and the float64 engine's constant-column rule
may apply) is recomputed in float64 too, so ``κ₀ ≤ 1.01e6``. The float32 decision is taken only
outside ``threshold ± (δ32 + δ64)`` (bounds rounded outwards to float32); there the float32 and
float64 engines agree by construction, and with scipy's ``pearsonr`` rule wherever float64
resolves it. For the paper's n = 32 the margin is about 4.5e-6 in r; every pair inside the band
is recomputed in float64 for all its perturbations, with the float64 engine's standardisation
(so the two engines differ at most where float64 r itself is within ~1e-15 of the threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._compiled import AVAILABLE as _HAVE_NUMBA
from .._compiled import compiled as _fused  # fused loops for the elementwise work around each product

__all__ = ["decision_margin", "prepare_chunk"]

U32 = 2.0 ** -24
U64 = 2.0 ** -53
#: Drawn columns whose centring cancels more than this (κ, see the module docstring) go to float64.
KAPPA_MAX = 8.0
#: Drawn columns whose coefficient of variation (original units) is below this go to float64.
CV_MIN = 1e-6
_KAPPA = KAPPA_MAX * 1.01
_KAPPA_ORIGINAL = 1.01 / CV_MIN


def _gamma(k: int, u: float) -> float:
    return k * u / (1.0 - k * u)


def decision_margin(n: int) -> float:
    """Half-width of the band around the threshold where float32 |r| is not trusted.

    Derived in the module docstring from the float32 and float64 rounding-error bounds for
    ``n`` samples per draw; outside ``threshold ± decision_margin(n)`` the float32 decision is
    the float64 engine's.

    Parameters
    ----------
    n
        Samples per draw.

    Returns
    -------
    float
    """
    g32, g64 = _gamma(n, U32), _gamma(n, U64)
    d32 = 1.01 * (1.5 * g32 + (10 + 2 * _KAPPA) * U32 + 6 * _KAPPA * U64) + 4 * (g32 * _KAPPA) ** 2
    d64 = (2 * _KAPPA_ORIGINAL + 1.5) * g64 + (4 * _KAPPA_ORIGINAL + 2) * U64
    return float(d32 + d64)


@dataclass
class PreparedChunk:
    """One gene chunk, standardised over each class pool (the work shared by every round).

    ``values`` are the chunk's float64 values (all expression samples), kept for the float64
    rechecks; ``pools[c]`` the class pool standardised and stored in float32 (pool rows ×
    genes); ``centre``/``scale`` the float64 pool mean and scale per gene; ``position[c]`` maps a
    row of the expression table to its row in the pool (-1 outside it).
    """

    start: int
    values: Any
    pools: dict[str, Any]
    centre: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]
    position: dict[str, Any]
    floor: dict[str, Any]

    @property
    def n_genes(self) -> int:
        return int(self.values.shape[1])


def prepare_chunk(values: np.ndarray, pool_rows: dict[str, np.ndarray], start: int = 0) -> PreparedChunk:
    """Standardise one gene chunk over each class pool (float64), stored as float32.

    Parameters
    ----------
    values
        (expression samples, chunk genes) float64 values.
    pool_rows
        Class -> rows of ``values`` every draw of that class comes from.
    start
        Index of the chunk's first gene.

    Returns
    -------
    PreparedChunk
    """
    values = np.asarray(values, dtype=np.float64)
    pools, centre, scale, position, floor = {}, {}, {}, {}, {}
    for cls, rows in pool_rows.items():
        y = values[rows]
        m = y.mean(axis=0)
        y -= m
        s = np.sqrt(np.einsum("ij,ij->j", y, y) / max(1, y.shape[0]))
        s[~(s > 0)] = 1.0  # a constant pool: every draw of it is recomputed in float64
        y /= s
        pools[cls] = np.ascontiguousarray(y, dtype=np.float32)
        centre[cls], scale[cls] = m, s
        pos = np.full(values.shape[0], -1, dtype=np.int64)
        pos[rows] = np.arange(rows.size)
        position[cls] = pos
        floor[cls] = _cv_floor(m, s)
    return PreparedChunk(start, values, pools, centre, scale, position, floor)


def _bounds(threshold: float, margin: float) -> tuple[np.float32, np.float32]:
    """float32 bounds: ``|r̂| > hi`` is a hit for sure, ``|r̂| <= lo`` a miss for sure."""
    hi = np.nextafter(np.float32(threshold + margin), np.float32(np.inf))
    lo = np.nextafter(np.float32(threshold - margin), np.float32(-np.inf))
    return hi, lo


def _flag_columns(mean: Any, ss: Any, n: int, floor: Any) -> Any:
    """Drawn columns the float32 decision does not cover: κ > KAPPA_MAX (``κ² = 1 + n mean² / ss``),
    a coefficient of variation below CV_MIN (``ss <= n floor``, see :func:`_cv_floor`) or NaN.

    Works on NumPy arrays and torch tensors alike (float32 arithmetic: its few roundings are
    within the 1 % slack of κ in the margin).
    """
    return ~(ss * (KAPPA_MAX ** 2 - 1.0) > mean * mean * n) | ~(ss > floor * n)


def _cv_floor(centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per gene, the drawn sum of squares (pool units, per drawn sample) below which the
    coefficient of variation of a drawn column (original units) may be below CV_MIN.

    In original units a drawn column has norm ``√ss · scale`` and mean ``centre + mean · scale``;
    where κ ≤ KAPPA_MAX, ``√n |mean| ≤ √(KAPPA_MAX² - 1) √ss``, so the mean is within
    ``CV_MIN √63`` relatively of ``centre``, well inside the factor 1.01.
    """
    t = 1.01 * CV_MIN * np.abs(centre) / scale
    return (t * t).astype(np.float32)


#: Whether :func:`class_counts_numpy` runs its elementwise work as fused numba loops.
USE_NUMBA = _HAVE_NUMBA


@_fused
def _draw_standardize(pool, idx, out, floor_n, kappa, bad):  # pragma: no cover - compiled
    """Gather rows ``idx`` of ``pool`` into ``out`` (n × genes), centre and scale each column
    to unit norm in float32 arithmetic (as the margin assumes), flag the columns float32 does not
    cover (their scale is 0); returns the number flagged. Three passes over the block."""
    n = idx.shape[0]
    g_n = pool.shape[1]
    mean = np.zeros(g_n, dtype=np.float32)
    for i in range(n):
        row = pool[idx[i]]
        o = out[i]
        for g in range(g_n):
            v = row[g]
            o[g] = v
            mean[g] += v
    inv_n = np.float32(1.0) / np.float32(n)
    ss = np.zeros(g_n, dtype=np.float32)
    for g in range(g_n):
        mean[g] *= inv_n
    for i in range(n):
        o = out[i]
        for g in range(g_n):
            c = o[g] - mean[g]
            ss[g] += c * c
    n_bad = 0
    nf = np.float32(n)
    for g in range(g_n):
        m = mean[g]
        b = not (ss[g] * kappa > m * m * nf) or not (ss[g] > floor_n[g])
        bad[g] = b
        if b:
            ss[g] = np.float32(0.0)
            n_bad += 1
        else:
            ss[g] = np.float32(1.0) / np.sqrt(ss[g])
    for i in range(n):
        o = out[i]
        for g in range(g_n):
            o[g] = (o[g] - mean[g]) * ss[g]
    return n_bad


@_fused
def _threshold_counts(r, hi, lo, sure, near):  # pragma: no cover - compiled
    """``sure += |r| > hi`` and ``near += |r| > lo``, in one branch-free pass over the product
    (all three C-contiguous, the same shape)."""
    a = r.ravel()
    s = sure.ravel()
    m = near.ravel()
    for k in range(a.size):
        v = abs(a[k])
        m[k] += v > lo
        s[k] += v > hi


@_fused
def _differ(a, b):  # pragma: no cover - compiled
    """Flat indices where the C-contiguous arrays ``a`` and ``b`` differ."""
    x = a.ravel()
    y = b.ravel()
    count = 0
    for k in range(x.size):
        count += x[k] != y[k]
    out = np.empty(count, dtype=np.int64)
    j = 0
    for k in range(x.size):
        if x[k] != y[k]:
            out[j] = k
            j += 1
    return out


def class_counts_numpy(
    chunk: PreparedChunk,
    cls: str,
    feat_z32: np.ndarray,
    rows: np.ndarray,
    hi: np.float32,
    lo: np.float32,
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
    """float32 counts of one class over every perturbation of a round (NumPy).

    ``feat_z32`` is (perturbations, n, features). Returns the sure-hit counts, the counts of
    ``|r̂| > lo`` (a pair whose two counts differ was near the threshold in some perturbation),
    both genes × features, and the flagged columns ``(perturbation, genes)`` (their float32 r is
    set to 0: counted in neither). Each product is (genes × n) @ (n × features), the faster
    orientation for BLAS here; every buffer is reused across perturbations.
    """
    pool = chunk.pools[cls]
    idx = chunk.position[cls][rows]
    n_pert, n = rows.shape
    n_feat, n_genes = feat_z32.shape[2], pool.shape[1]
    floor = chunk.floor[cls]
    one, kappa = np.float32(1.0), np.float32(KAPPA_MAX ** 2 - 1.0)
    r = np.empty((n_genes, n_feat), dtype=np.float32)
    mask = np.empty((n_genes, n_feat), dtype=bool)
    sure = np.zeros((n_genes, n_feat), dtype=dtype)
    near = np.zeros((n_genes, n_feat), dtype=dtype)
    flagged = []
    floor_n = floor * np.float32(n)
    if USE_NUMBA:
        yd = np.empty((n, n_genes), dtype=np.float32)
        bad = np.empty(n_genes, dtype=np.bool_)
        idx = np.ascontiguousarray(idx)
        for p in range(n_pert):
            if _draw_standardize(pool, idx[p], yd, floor_n, kappa, bad):
                flagged.append((p, np.flatnonzero(bad)))
            np.matmul(yd.T, feat_z32[p], out=r)
            _threshold_counts(r, hi, lo, sure, near)
        return sure, near, flagged
    with np.errstate(divide="ignore", invalid="ignore"):
        for p in range(n_pert):
            yd = pool[idx[p]]  # (n, genes), a fresh gather (faster than take into a buffer)
            mean = yd.sum(axis=0)
            mean /= np.float32(n)
            yd -= mean
            ss = np.einsum("ij,ij->j", yd, yd)
            # _flag_columns, inlined: kappa above KAPPA_MAX, CV below CV_MIN, NaN
            bad = ~(ss * kappa > mean * mean * np.float32(n)) | ~(ss > floor_n)
            inv = one / np.sqrt(ss)
            if bad.any():
                inv[bad] = 0.0
                flagged.append((p, np.flatnonzero(bad)))
            yd *= inv
            _products(yd, feat_z32[p], r, mask, sure, near, hi, lo)
    return sure, near, flagged


def _products(yd: np.ndarray, zf: np.ndarray, r: np.ndarray, mask: np.ndarray, sure: np.ndarray, near: np.ndarray,
              hi: np.float32, lo: np.float32) -> None:
    """One perturbation's product (genes × features) and its two threshold counts, in place."""
    np.matmul(yd.T, zf, out=r)
    np.abs(r, out=r)
    np.greater(r, hi, out=mask)
    np.add(sure, mask.view(np.uint8), out=sure, casting="unsafe")
    np.greater(r, lo, out=mask)
    np.add(near, mask.view(np.uint8), out=near, casting="unsafe")


def class_counts_torch(
    chunk: PreparedChunk,
    cls: str,
    feat_z32: Any,
    rows: Any,
    hi: np.float32,
    lo: np.float32,
) -> tuple[Any, Any, Any]:
    """The same as :func:`class_counts_numpy` with PyTorch tensors (CPU or CUDA), all
    perturbations at once and everything left on the device: ``chunk.pools`` and ``feat_z32``
    (P, n, features) are tensors there, ``rows`` the expression rows (P, n) as a tensor.

    Returns the sure and near counts (features × genes, int32) and the flagged mask (P × genes).
    """
    import torch

    pool = chunk.pools[cls]
    n = rows.shape[1]
    yd = pool[chunk.position[cls][rows]]  # (P, n, genes)
    mean = yd.mean(dim=1, keepdim=True)
    yd -= mean
    ss = torch.einsum("png,png->pg", yd, yd)
    bad = _flag_columns(mean[:, 0, :], ss, n, chunk.floor[cls])  # (P, genes)
    inv = ss.sqrt().reciprocal().masked_fill_(bad, 0.0)  # masked_fill: no device sync
    yd *= inv[:, None, :]
    r = torch.bmm(feat_z32.transpose(1, 2), yd).abs_()  # (P, features, genes)
    sure = (r > float(hi)).sum(dim=0, dtype=torch.int32)
    near = (r > float(lo)).sum(dim=0, dtype=torch.int32)
    return sure, near, bad


def _standardize_torch(x: Any, dim: int) -> Any:
    """:func:`.engine._standardize` in torch (float64), along ``dim``."""
    mean = x.mean(dim=dim, keepdim=True)
    xc = x - mean
    norm = (xc * xc).sum(dim=dim, keepdim=True).sqrt()
    norm = norm.masked_fill(norm <= 1e-10 * math.sqrt(x.shape[dim]) * mean.abs(), math.inf)
    return xc / norm


def exact_counts_torch(
    chunk: PreparedChunk,
    cls: str,
    feat_z64: Any,
    rows: Any,
    threshold: float,
    sure: Any,
    near: Any,
    bad: Any,
) -> Any:
    """:func:`exact_counts` on the device: flagged columns and near pairs recomputed in float64
    there (``chunk.values`` a float64 tensor, ``feat_z64`` (P, n, features)); int32 counts."""
    import torch

    counts = sure
    values = chunk.values
    pf, gf = torch.nonzero(bad, as_tuple=True)
    for s in range(0, pf.numel(), _RECHECK_BATCH):
        p, g = pf[s:s + _RECHECK_BATCH], gf[s:s + _RECHECK_BATCH]
        z = _standardize_torch(values[rows[p], g[:, None]], 1)  # (columns, n)
        r = torch.einsum("kn,knf->fk", z, feat_z64[p])
        counts.index_add_(1, g, (r.abs() > threshold).to(torch.int32))
    fi, gi = torch.nonzero(near != sure, as_tuple=True)
    for s in range(0, fi.numel(), _RECHECK_BATCH):
        f, g = fi[s:s + _RECHECK_BATCH], gi[s:s + _RECHECK_BATCH]
        z = _standardize_torch(values[:, g][rows], 1)  # (P, n, pairs)
        r = (feat_z64[:, :, f] * z).sum(dim=1)
        counts[f, g] = (r.abs() > threshold).sum(dim=0, dtype=torch.int32)
    return counts


#: Pairs rechecked at once in float64 (bounds the memory of a recheck).
_RECHECK_BATCH = 512


def _standardize_last(x: np.ndarray) -> np.ndarray:
    """The float64 engine's standardisation (:func:`.engine._standardize`) along the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    norm = np.sqrt(np.einsum("...i,...i->...", xc, xc))[..., None]
    norm[norm <= 1e-10 * np.sqrt(x.shape[-1]) * np.abs(mean)] = np.inf
    xc /= norm
    return xc


def exact_counts(
    chunk: PreparedChunk,
    cls: str,
    feat_z64: np.ndarray,
    rows: np.ndarray,
    threshold: float,
    sure: np.ndarray,
    near: np.ndarray,
    flagged: list[tuple[int, np.ndarray]],
) -> np.ndarray:
    """The float64 engine's counts from the float32 ones: flagged columns and near pairs recomputed.

    ``sure`` and ``near`` are genes × features (as :func:`class_counts_numpy` returns them;
    ``sure`` is updated in place) and ``feat_z64`` (perturbations, n, features), the float64
    engine's feature z-scores. A pair near the threshold in some perturbation is recomputed in
    float64 for every perturbation. Returns the counts features × genes (a transposed view).
    """
    counts = sure
    values = chunk.values
    if flagged:  # whole drawn columns, every feature: as the float64 engine does, all at once
        pf = np.concatenate([np.full(g.size, p) for p, g in flagged])
        gf = np.concatenate([g for _, g in flagged])
        for s in range(0, pf.size, _RECHECK_BATCH):
            p, g = pf[s:s + _RECHECK_BATCH], gf[s:s + _RECHECK_BATCH]
            z = _standardize_last(values[rows[p], g[:, None]])  # (columns, n)
            r = np.einsum("kn,knf->kf", z, feat_z64[p])
            np.add.at(counts, g, (np.abs(r) > threshold).astype(counts.dtype))
    flat = _differ(near, sure) if USE_NUMBA else np.flatnonzero(near != sure)
    if flat.size:
        gi, fi = np.divmod(flat, counts.shape[1])
        feat_t = np.ascontiguousarray(feat_z64.transpose(2, 0, 1))  # (features, P, n)
        for s in range(0, gi.size, _RECHECK_BATCH):
            f, g = fi[s:s + _RECHECK_BATCH], gi[s:s + _RECHECK_BATCH]
            z = _standardize_last(np.take(values.T[g], rows, axis=1))  # (pairs, P, n)
            r = np.einsum("kpn,kpn->kp", feat_t[f], z)
            counts[g, f] = (np.abs(r) > threshold).sum(axis=1).astype(counts.dtype)
    return counts.T


def no_tf32() -> Any:
    """Context with TF32 matrix products disabled (float32 products must be float32: the margin
    assumes a float32 rounding per operation)."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def ctx() -> Any:
        old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
               torch.get_float32_matmul_precision())
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old[0], old[1]
            torch.set_float32_matmul_precision(old[2])

    return ctx()
