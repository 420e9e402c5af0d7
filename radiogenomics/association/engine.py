"""The perturbation engine: seeded draws and one BLAS product per draw and gene chunk.

In each of ``n_perturbations`` perturbations and for each HER2 class, ``sample_size`` samples
are drawn without replacement from the imaging table and ``sample_size`` from the expression
table of the same class, and Pearson r is computed between every feature and every gene across
the drawn pairs. A pair *hits* when p < ``alpha`` and |r| > ``r_threshold``; a gene is
*associated* with a feature in a class when it hits in at least ``min_hits`` perturbations. The
HER2-positive-specific set of a feature holds the genes associated in HER2-positive and not in
HER2-negative samples.

The null model (how many genes the same rule selects by chance) is in :mod:`.null`; the stage
function and its result in :mod:`.stage`.

Implementation
--------------
* The p < alpha test is replaced by its exact equivalent |r| > r_crit(n, alpha), with
  ``r_crit = t / sqrt(n - 2 + t**2)`` and ``t`` the two-sided Student t quantile on n − 2
  degrees of freedom (the distribution scipy's ``pearsonr`` uses); no per-pair p-value.
* Each perturbation is one BLAS product of column-standardised matrices: r = Z_f.T @ Z_g.
* A column that is constant within a draw (standard deviation below 1e-10 × |mean|) gets r = 0:
  never a hit, never NaN (scipy returns NaN with a warning there).
* Genes are processed in chunks, so peak memory is bounded by the chunk size, and hit counts are
  accumulated in ``uint8``/``uint16`` arrays. Chunks run in a thread pool (``backend="threads"``),
  a process pool (``"processes"``) or as Dask tasks (``"dask"``); every random draw is made up
  front from ``seed``, so results are bit-identical for any ``n_jobs``, chunk size or backend.
* Two engines give the same hits: the float64 engine (:func:`_run_round`, the reference) and
  the mixed-precision one the stage uses (:class:`MixedEngine`, kernels in :mod:`.kernel`):
  float32 products of columns standardised once over their class pool, with every pair within a
  derived rounding-error margin of the threshold recomputed in float64. It runs the observed
  round over gene chunks and the null rounds over rounds (Dask: rounds × chunks), each null
  round from its own seed (:func:`null_plan`), on NumPy or on a torch device.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from threadpoolctl import ThreadpoolController

from .._logging import get_logger, progress
from .._validation import InputError, check_float, check_int, format_names

__all__ = ["critical_r", "pearson_matrix"]

log = get_logger(__name__)

CLASSES = ("positive", "negative")
_THREADPOOLS: list[ThreadpoolController] = []


def _single_threaded_blas() -> Any:
    """Context limiting BLAS to one thread (controller cached: scanning libraries costs ms)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")
_CLASS_VALUE = {"positive": 1, "negative": 0}


def critical_r(n: int, alpha: float = 0.05) -> float:
    """Smallest |r| whose two-sided Pearson p-value is below ``alpha`` for ``n`` samples.

    ``pearsonr(x, y).pvalue < alpha`` holds exactly when ``|r| > critical_r(n, alpha)``.

    Parameters
    ----------
    n
        Number of paired observations (≥ 3).
    alpha
        Significance level.

    Returns
    -------
    float
    """
    check_int(n, "n", owner="critical_r", min_value=3)
    check_float(alpha, "alpha", owner="critical_r", min_value=0.0, max_value=1.0, closed="neither")
    t = stats.t.isf(alpha / 2.0, n - 2)
    return float(t / np.sqrt(n - 2 + t * t))


def _standardize(x: np.ndarray) -> np.ndarray:
    """Centre and scale the columns of ``x`` (..., n, m) along n to unit norm; constant → 0."""
    mean = x.mean(axis=-2, keepdims=True)
    xc = x - mean
    norm = np.sqrt(np.einsum("...ij,...ij->...j", xc, xc))[..., None, :]
    n = x.shape[-2]
    # constant columns (up to rounding) get an infinite norm, hence z = 0 and r = 0
    norm[norm <= 1e-10 * np.sqrt(n) * np.abs(mean)] = np.inf
    xc /= norm
    return xc


def pearson_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r between every column of ``x`` and every column of ``y`` (rows are paired).

    Parameters
    ----------
    x
        (n, p) array.
    y
        (n, q) array with the same rows.

    Returns
    -------
    numpy.ndarray
        (p, q) correlations; 0 for a column that is constant over the n rows.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise InputError(f"pearson_matrix needs 2-D arrays with the same rows; got {x.shape} and {y.shape}.")
    return _standardize(x).T @ _standardize(y)


@dataclass
class _LazyExpression:
    """A Dask DataFrame (rows = samples, columns = genes) read chunk by chunk by the workers."""

    frame: Any
    lengths: tuple[int, ...]
    samples: pd.Index
    genes: pd.Index

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.samples), len(self.genes))

    def block(self, start: int, stop: int) -> Any:
        """Genes ``start:stop`` of every sample as a one-block dask array (column projection
        reaches the reader, so a Parquet source only reads these columns)."""
        cols = list(self.frame.columns[start:stop])
        return self.frame[cols].to_dask_array(lengths=self.lengths).rechunk((-1, -1))


def _is_dask_dataframe(obj: Any) -> bool:
    return type(obj).__module__.startswith("dask") and hasattr(obj, "map_partitions")


def _lazy_expression(frame: Any) -> _LazyExpression:
    samples = pd.Index(frame.index.compute()).map(str)
    genes = pd.Index(frame.columns).map(str)
    for what, idx in (("sample ids", samples), ("column names", genes)):
        dup = idx[idx.duplicated()].unique()
        if len(dup):
            raise InputError(f"expression: duplicated {what} {format_names(dup)}.")
    bad = [c for c, t in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t)]
    if bad:
        raise InputError(f"expression: non-numeric column(s) {format_names(bad)}; expected numbers only.")
    lengths = tuple(int(n) for n in frame.map_partitions(len).compute())
    return _LazyExpression(frame, lengths, samples, genes)


def _check_block(block: np.ndarray, samples: pd.Index, genes: pd.Index) -> np.ndarray:
    """Finite-value check of a lazily read chunk (the eager path checks the whole table up front)."""
    block = np.asarray(block, dtype=np.float64)
    bad = ~np.isfinite(block)
    if bad.any():
        rows, cols = np.nonzero(bad)
        cells = ", ".join(f"({samples[r]}, {genes[c]})" for r, c in zip(rows[:5], cols[:5]))
        raise InputError(
            f"expression: {int(bad.sum())} NaN/inf value(s) in genes {genes[0]}..{genes[-1]}, first at "
            f"sample, gene {cells}; impute or remove them explicitly first."
        )
    return block


@dataclass
class _ClassPlan:
    """Draws of one HER2 class in one round (observed or null)."""

    feature_rows: np.ndarray  # (P, n) row indices into the feature table
    expression_rows: np.ndarray  # (P, n) row indices into the expression table


def _draw_plans(
    rng: np.random.Generator,
    pools: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    n_perturbations: int,
    sample_size: int,
    paired: bool,
    permute: bool,
) -> dict[str, _ClassPlan]:
    plans = {}
    for cls in CLASSES:
        f_rows, e_rows = pools[cls]
        fr = np.empty((n_perturbations, sample_size), dtype=np.int64)
        er = np.empty_like(fr)
        # null rounds break any pairing: expression rows are permuted within the class
        e_map = rng.permutation(e_rows) if permute else e_rows
        for p in range(n_perturbations):
            i = rng.choice(f_rows.size, sample_size, replace=False)
            fr[p] = f_rows[i]
            er[p] = e_map[i] if paired else e_map[rng.choice(e_rows.size, sample_size, replace=False)]
        plans[cls] = _ClassPlan(fr, er)
    return plans


#: Drawn expression values standardised at once by :func:`_class_counts` (bounds its memory).
_BATCH_VALUES = 1 << 18


def _class_counts(
    feat_z: np.ndarray, expr_chunk: np.ndarray, rows: np.ndarray, threshold: float, dtype: np.dtype
) -> np.ndarray:
    """Hit counts (features × chunk genes) of one class over all perturbations.

    Perturbations are processed in batches of at most ``_BATCH_VALUES`` drawn values (one
    stacked product per batch: small problems, such as a null with a few hundred genes, are not
    dominated by per-perturbation overhead; large chunks go one perturbation at a time).
    """
    n_pert, n = rows.shape
    counts = np.zeros((feat_z.shape[2], expr_chunk.shape[1]), dtype=dtype)
    step = max(1, _BATCH_VALUES // max(1, n * expr_chunk.shape[1]))
    for start in range(0, n_pert, step):
        stop = min(n_pert, start + step)
        z = _standardize(expr_chunk[rows[start:stop]])  # (batch, n, genes)
        r = np.matmul(np.swapaxes(feat_z[start:stop], 1, 2), z)  # (batch, features, genes)
        counts += (np.abs(r) > threshold).sum(axis=0, dtype=dtype)
    return counts


def _chunk_kernel(
    expr_chunk: np.ndarray,
    feat_z: dict[str, np.ndarray],
    plan: dict[str, _ClassPlan],
    threshold: float,
    dtype: np.dtype,
) -> np.ndarray:
    """(2, features, chunk genes) hit counts: positive then negative."""
    return np.stack(
        [_class_counts(feat_z[c], expr_chunk, plan[c].expression_rows, threshold, dtype) for c in CLASSES]
    )


def _feature_z(features: np.ndarray, plan: dict[str, _ClassPlan]) -> dict[str, np.ndarray]:
    return {c: _standardize(features[plan[c].feature_rows]) for c in CLASSES}


def _chunk_task(
    expr_chunk: np.ndarray,
    feat_z: dict[str, np.ndarray],
    plan: dict[str, _ClassPlan],
    threshold: float,
    dtype: np.dtype,
    reduce: Callable[[np.ndarray], np.ndarray] | None,
    check: tuple[pd.Index, pd.Index] | None = None,
) -> np.ndarray:
    """One gene chunk: hit counts (2, features, genes), or ``reduce`` of them. Runs in any worker."""
    if check is not None:
        expr_chunk = _check_block(expr_chunk, *check)
    with _single_threaded_blas():
        counts = _chunk_kernel(expr_chunk, feat_z, plan, threshold, dtype)
    return reduce(counts) if reduce is not None else counts


def n_specific(counts: np.ndarray, *, min_hits: int) -> np.ndarray:
    """Positive-specific genes per feature from (2, features, genes) hit counts.

    Parameters
    ----------
    counts
        Hit counts, positive class first.
    min_hits
        Hits needed for association.

    Returns
    -------
    numpy.ndarray
        One count per feature.
    """
    a = counts >= min_hits
    return (a[0] & ~a[1]).sum(axis=1)


def specific_reducer(min_hits: int) -> Callable[[np.ndarray], np.ndarray]:
    """A picklable reducer counting positive-specific genes per feature (for any backend).

    Parameters
    ----------
    min_hits
        Hits needed for association.

    Returns
    -------
    callable
    """
    return functools.partial(n_specific, min_hits=min_hits)


def _run_round(
    features: np.ndarray,
    expression: np.ndarray | _LazyExpression,
    plan: dict[str, _ClassPlan],
    *,
    threshold: float,
    dtype: np.dtype,
    chunk_size: int,
    n_jobs: int,
    backend: str,
    scheduler: Any = None,
    reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    show_progress: bool | None = False,
) -> np.ndarray:
    """Run one round over all gene chunks; ``reduce`` maps (2, F, Gc) counts to a summary."""
    feat_z = _feature_z(features, plan)
    n_genes = expression.shape[1]
    starts = list(range(0, n_genes, chunk_size))
    lazy = isinstance(expression, _LazyExpression)

    if backend == "dask":
        import dask

        # one task per gene chunk; a lazy source is read by the task itself, an in-memory
        # array is sliced into the graph
        parts = [
            dask.delayed(_chunk_task)(
                expression.block(s, s + chunk_size) if lazy else expression[:, s:s + chunk_size],
                feat_z, plan, threshold, dtype, reduce,
                (expression.samples, expression.genes[s:s + chunk_size]) if lazy else None,
            )
            for s in starts
        ]
        results = dask.compute(*parts, **({"scheduler": scheduler} if scheduler is not None else {}))
    else:
        items = progress(starts, desc="gene chunks", disable=None if show_progress is None else not show_progress)
        # The products are small (features x n x chunk): a multi-threaded BLAS only adds
        # synchronisation (45 ms instead of 0.2 ms per product on a loaded 2-core machine), so
        # BLAS runs single-threaded and parallelism comes from chunks in a pool.
        def args(s: int) -> tuple:
            return (expression[:, s:s + chunk_size], feat_z, plan, threshold, dtype, reduce)

        if n_jobs == 1 or len(starts) == 1:
            results = [_chunk_task(*args(s)) for s in items]
        else:
            prefer = {"threads": "threads", "processes": "processes"}[backend]
            results = Parallel(n_jobs=n_jobs, prefer=prefer)(delayed(_chunk_task)(*args(s)) for s in items)
    if reduce is not None:
        return np.sum(results, axis=0)
    return np.concatenate(results, axis=2)


def _checked_task(func: Callable[..., Any], block: Any, args: tuple, check: tuple[pd.Index, pd.Index] | None) -> Any:
    """Run ``func(block, *args)`` on one gene chunk (a lazily read chunk is checked first), BLAS single-threaded."""
    if check is not None:
        block = _check_block(block, *check)
    with _single_threaded_blas():
        return func(block, *args)


def map_gene_chunks(
    expression: np.ndarray | _LazyExpression,
    func: Callable[..., Any],
    *args: Any,
    chunk_size: int,
    scheduler: Any = None,
) -> list[Any]:
    """``func(chunk, *args)`` for every gene chunk of an in-memory or lazy expression table.

    An in-memory table is processed chunk by chunk in this process (the functions mapped are
    light: per-gene statistics); a lazy Dask table is read chunk by chunk by Dask tasks.

    Parameters
    ----------
    expression
        (samples, genes) array or a lazy table.
    func
        Called with a (samples, chunk genes) float array and ``args``.
    *args
        Further arguments of ``func``; a 1-D array with one value per gene is cut to the chunk.
    chunk_size
        Genes per chunk.
    scheduler
        Dask scheduler of a lazy table, as for the association.

    Returns
    -------
    list
        One result per chunk, in gene order.
    """
    n_genes = expression.shape[1]
    starts = list(range(0, n_genes, chunk_size))

    def chunk_args(s: int) -> tuple:  # per-gene arrays are cut to the chunk
        return tuple(a[s:s + chunk_size] if isinstance(a, np.ndarray) and a.shape == (n_genes,) else a for a in args)

    if isinstance(expression, _LazyExpression):
        import dask

        parts = [dask.delayed(_checked_task)(func, expression.block(s, s + chunk_size), chunk_args(s),
                                             (expression.samples, expression.genes[s:s + chunk_size]))
                 for s in starts]
        return list(dask.compute(*parts, **({"scheduler": scheduler} if scheduler is not None else {})))
    with _single_threaded_blas():  # small products: threads only add synchronisation (see _run_round)
        return [func(expression[:, s:s + chunk_size], *chunk_args(s)) for s in starts]


def _class_pools(
    labels: pd.Series,
    expression_labels: pd.Series,
    *,
    paired_positions: np.ndarray | None,
    sample_size: int | None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Row positions of each class in the feature and expression tables.

    In paired mode ``paired_positions[i]`` is the expression row of feature row ``i``, and the
    expression rows of a class are listed in the order of its feature rows.
    """
    pools = {}
    sizes = {}
    for cls in CLASSES:
        v = _CLASS_VALUE[cls]
        f_rows = np.flatnonzero(labels.to_numpy() == v)
        if paired_positions is not None:
            e_rows = paired_positions[f_rows]
        else:
            e_rows = np.flatnonzero(expression_labels.to_numpy() == v)
        pools[cls] = (f_rows, e_rows)
        sizes[("features", cls)] = f_rows.size
        sizes[("expression", cls)] = e_rows.size
    smallest = min(sizes.values())
    if sample_size is None:
        sample_size = max(4, int(0.8 * smallest))
    check_int(sample_size, "sample_size", owner="associate", min_value=4)
    for (table, cls), size in sizes.items():
        if sample_size > size:
            raise InputError(
                f"sample_size={sample_size} exceeds the {size} HER2-{cls} samples in {table}; "
                f"draws are without replacement, so use sample_size <= {smallest}."
            )
    return pools, sample_size




# ---------------------------------------------------------------- the mixed-precision rounds
#: Work of the mixed-precision engine: ``"numpy"`` (CPU) or ``"torch"`` (a torch device).
KERNELS = ("numpy", "torch")


def _feature_z_both(features: np.ndarray, plan: dict[str, _ClassPlan], to_device: Callable[[np.ndarray], Any] | None
                    ) -> dict[str, tuple[Any, Any]]:
    """Per class: the float64 engine's feature z (P, n, F) and its float32 copy (on the device)."""
    out = {}
    for c in CLASSES:
        z64 = _standardize(features[plan[c].feature_rows])
        z32 = z64.astype(np.float32)
        out[c] = (z64, z32) if to_device is None else (to_device(z64), to_device(z32))
    return out


def _mixed_chunk_counts(chunk: Any, fz: dict[str, tuple[Any, Any]], plan: dict[str, _ClassPlan],
                        threshold: float, margin: float, dtype: np.dtype, kernel: str,
                        to_device: Callable[[np.ndarray], Any] | None = None) -> Any:
    """(2, features, chunk genes) counts of one round, identical to the float64 engine's (a
    tensor on the device with the torch kernel)."""
    from .kernel import _bounds, class_counts_numpy, class_counts_torch, exact_counts, exact_counts_torch

    hi, lo = _bounds(threshold, margin)
    out = []
    for c in CLASSES:
        rows = plan[c].expression_rows
        if kernel == "torch":
            rows_t = to_device(rows)
            sure, near, bad = class_counts_torch(chunk, c, fz[c][1], rows_t, hi, lo)
            out.append(exact_counts_torch(chunk, c, fz[c][0], rows_t, threshold, sure, near, bad))
        else:
            sure, near, flagged = class_counts_numpy(chunk, c, fz[c][1], rows, hi, lo, dtype)
            out.append(exact_counts(chunk, c, fz[c][0], rows, threshold, sure, near, flagged))
    if kernel == "torch":
        import torch

        return torch.stack(out)
    return np.stack(out)


def _to_numpy(x: Any) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else x.cpu().numpy()


def _rounds_task(
    chunks: list[Any],
    features: np.ndarray,
    plans: list[dict[str, _ClassPlan]],
    threshold: float,
    margin: float,
    dtype: np.dtype,
    reduce: Callable[[np.ndarray], np.ndarray] | None,
    kernel: str = "numpy",
    to_device: Callable[[np.ndarray], Any] | None = None,
) -> list[np.ndarray]:
    """Rounds ``plans`` over gene ``chunks``: per round the counts (2, F, genes of the chunks),
    or the sum over chunks of ``reduce`` of them. Runs in any worker; BLAS single-threaded."""
    out = []
    with _single_threaded_blas():  # a process or Dask worker; a no-op under the caller's limit
        for plan in plans:
            fz = _feature_z_both(features, plan, to_device)
            parts = [_mixed_chunk_counts(ch, fz, plan, threshold, margin, dtype, kernel, to_device) for ch in chunks]
            if reduce is not None:  # on the device: only the summaries come back
                out.append(np.sum([_to_numpy(reduce(p)) for p in parts], axis=0))
            else:
                out.append(np.concatenate([_to_numpy(p).astype(dtype) for p in parts], axis=2))
    return out


def _prepare_lazy(block: Any, pool_rows: dict[str, np.ndarray], start: int, check: tuple[pd.Index, pd.Index]) -> Any:
    from .kernel import prepare_chunk

    return prepare_chunk(_check_block(block, *check), pool_rows, start)


@dataclass
class MixedEngine:
    """The float32 engine with the exact decision, shared by the observed round and the null.

    The draw-independent work (each gene chunk standardised over its class pools) is done once,
    when the engine is built; :meth:`run` then runs any list of rounds (each a seeded plan), on
    threads, processes or Dask tasks (rounds × gene chunks), or on a torch device.
    """

    features: np.ndarray
    expression: np.ndarray | _LazyExpression
    pool_rows: dict[str, np.ndarray]
    threshold: float
    n: int
    dtype: np.dtype
    chunk_size: int
    n_jobs: int = 1
    backend: str = "threads"
    scheduler: Any = None
    device: Any = None  # a torch.device, or None for NumPy

    def __post_init__(self) -> None:
        from .kernel import decision_margin, prepare_chunk

        self.margin = decision_margin(self.n)
        n_genes = self.expression.shape[1]
        self.starts = list(range(0, n_genes, self.chunk_size))
        self.chunks: list[Any] = []
        if isinstance(self.expression, _LazyExpression):
            return  # prepared by the Dask tasks that read the chunks
        self.chunks = [prepare_chunk(self.expression[:, s:s + self.chunk_size], self.pool_rows, s)
                       for s in self.starts]
        if self.device is not None:
            import dataclasses

            import torch

            def dev(d: dict[str, np.ndarray]) -> dict[str, Any]:
                return {c: torch.as_tensor(a, device=self.device) for c, a in d.items()}

            # everything a round reads lives on the device: pools, float64 values (rechecks),
            # row maps and the coefficient-of-variation floors
            self.chunks = [dataclasses.replace(ch, pools=dev(ch.pools), position=dev(ch.position), floor=dev(ch.floor),
                                               values=torch.as_tensor(np.ascontiguousarray(ch.values),
                                                                      device=self.device))
                           for ch in self.chunks]

    @property
    def kernel(self) -> str:
        return "numpy" if self.device is None else "torch"

    def _to_device(self) -> Callable[[np.ndarray], Any] | None:
        if self.device is None:
            return None
        import torch

        device = self.device
        return lambda a: torch.as_tensor(a, device=device)

    def _args(self, plans: list[dict[str, _ClassPlan]], reduce: Callable[[np.ndarray], np.ndarray] | None) -> tuple:
        return (self.features, plans, self.threshold, self.margin, self.dtype, reduce, self.kernel)

    def run(
        self,
        plans: list[dict[str, _ClassPlan]],
        *,
        reduce: Callable[[np.ndarray], np.ndarray] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list[np.ndarray]:
        """Counts (2, F, G) of each round, or ``reduce`` of them summed over chunks.

        ``on_done(k)`` is called as rounds finish (progress). One round alone is spread over
        gene chunks; several rounds are spread over rounds (and, with Dask, over chunks too).
        """
        done = on_done or (lambda k: None)
        # BLAS single-threaded for the whole run (parallelism comes from rounds or chunks): set
        # here once, as a limit entered and left by concurrent threads would undo itself
        with _single_threaded_blas():
            return self._run(plans, reduce, done)

    def _run(self, plans: list[dict[str, _ClassPlan]], reduce: Callable[[np.ndarray], np.ndarray] | None,
             done: Callable[[int], None]) -> list[np.ndarray]:
        if self.device is not None:
            return self._run_torch(plans, reduce, done)
        if self.backend == "dask":
            return self._run_dask(plans, reduce, done)
        if len(plans) == 1 and self.n_jobs != 1 and len(self.chunks) > 1:  # one round: spread its chunks
            prefer = {"threads": "threads", "processes": "processes"}[self.backend]
            parts = Parallel(n_jobs=self.n_jobs, prefer=prefer)(
                delayed(_rounds_task)([ch], *self._args(plans, reduce)) for ch in self.chunks)
            done(1)
            return [_combine([p[0] for p in parts], reduce)]
        if self.n_jobs == 1 or len(plans) == 1:
            out = []
            for plan in plans:
                out.extend(_rounds_task(self.chunks, *self._args([plan], reduce)))
                done(1)
            return out
        prefer = {"threads": "threads", "processes": "processes"}[self.backend]
        gen = Parallel(n_jobs=self.n_jobs, prefer=prefer, return_as="generator")(
            delayed(_rounds_task)(self.chunks, *self._args([plan], reduce)) for plan in plans)
        out = []
        for res in gen:
            out.extend(res)
            done(1)
        return out

    def _run_torch(self, plans: list[dict[str, _ClassPlan]], reduce: Callable[[np.ndarray], np.ndarray] | None,
                   done: Callable[[int], None]) -> list[np.ndarray]:
        from .kernel import no_tf32

        out = []
        with no_tf32():
            for plan in plans:
                out.extend(_rounds_task(self.chunks, self.features, [plan], self.threshold, self.margin, self.dtype,
                                        reduce, "torch", self._to_device()))
                done(1)
        return out

    def _run_dask(self, plans: list[dict[str, _ClassPlan]], reduce: Callable[[np.ndarray], np.ndarray] | None,
                  done: Callable[[int], None]) -> list[np.ndarray]:
        import dask

        lazy = isinstance(self.expression, _LazyExpression)
        if lazy:
            e = self.expression
            chunks = [dask.delayed(_prepare_lazy)(e.block(s, s + self.chunk_size), self.pool_rows, s,
                                                  (e.samples, e.genes[s:s + self.chunk_size])) for s in self.starts]
        else:
            chunks = [dask.delayed(ch) for ch in self.chunks]
        # one task per round and gene chunk (a cluster spreads both), one per round combining them
        rounds = [dask.delayed(_combine_tasks)([dask.delayed(_rounds_task)([ch], *self._args([plan], reduce))
                                                for ch in chunks], reduce) for plan in plans]
        client = self._client()
        if client is not None:  # a distributed cluster: rounds are reported as they finish
            from distributed import as_completed

            futures = client.compute(rounds)
            position = {f.key: k for k, f in enumerate(futures)}
            out: list[Any] = [None] * len(rounds)
            for fut in as_completed(futures, loop=client.loop):
                out[position[fut.key]] = fut.result()
                done(1)
            return out
        kw = {"scheduler": self.scheduler} if self.scheduler is not None else {}
        results = dask.compute(*rounds, **kw)
        done(len(plans))
        return list(results)

    def _client(self) -> Any:
        """The distributed client the Dask work runs on, or ``None`` (a local Dask scheduler)."""
        if self.scheduler is not None:
            return self.scheduler if hasattr(self.scheduler, "submit") and hasattr(self.scheduler, "compute") else None
        try:
            from distributed import default_client

            return default_client()
        except (ImportError, ValueError):
            return None


def _combine(parts: list[np.ndarray], reduce: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    return np.sum(parts, axis=0) if reduce is not None else np.concatenate(parts, axis=2)


def _combine_tasks(parts: list[list[np.ndarray]], reduce: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """One round from its gene-chunk tasks (each returned a one-round list)."""
    return _combine([p[0] for p in parts], reduce)


def null_plan(
    null_seq: np.random.SeedSequence,
    k: int,
    pools: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    n_perturbations: int,
    sample_size: int,
    paired: bool,
) -> dict[str, _ClassPlan]:
    """The draws of null round ``k``, from its own seed (``null_seq``'s k-th child).

    Any round can be redrawn alone: round ``k`` never depends on the rounds before it, so a
    subset of rounds can be recomputed (or spread over a cluster) and gives the same counts.
    """
    child = np.random.SeedSequence(null_seq.entropy, spawn_key=(*null_seq.spawn_key, k),
                                   pool_size=null_seq.pool_size)
    return _draw_plans(np.random.default_rng(child), pools, n_perturbations=n_perturbations,
                       sample_size=sample_size, paired=paired, permute=True)


def _gpu_present() -> bool:
    import os
    import sys

    if sys.modules.get("torch") is not None:
        return True
    return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd"))


def resolve_device(device: Any, *, backend: str = "threads", lazy: bool = False) -> Any:
    """The torch device the float32 products run on, or ``None`` for the NumPy (CPU) kernel.

    ``"cpu"`` is NumPy; ``"cuda"`` / ``"cuda:N"`` need torch and a visible GPU; ``"auto"`` is a
    CUDA GPU when torch is installed and sees one and the work is not on Dask, else NumPy (so
    without torch it is the CPU engine); a ``torch.device`` is used as given.

    Parameters
    ----------
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.
    backend
        The stage's backend (``"auto"`` stays on the CPU with Dask).
    lazy
        Whether the expression table is a lazy Dask table (then only the CPU kernel).

    Returns
    -------
    torch.device or None
    """
    import importlib.util
    import re

    from .._validation import OptionalDependencyError, ParameterError

    if type(device).__module__.startswith("torch"):
        if lazy:
            raise ParameterError("associate: a lazy Dask expression table runs on the CPU; use device='cpu'.")
        return device
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", device):
        raise ParameterError(f"associate: device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}.")
    if device == "cpu":
        return None
    if device == "auto":
        try:
            has_torch = importlib.util.find_spec("torch") is not None
        except (ImportError, ValueError):  # a broken or blocked installation
            has_torch = False
        if lazy or backend == "dask" or not has_torch or not _gpu_present():
            return None
        try:
            import torch
        except ImportError:
            return None
        return torch.device("cuda") if torch.cuda.is_available() else None
    if lazy:
        raise ParameterError(f"associate: device={device!r} needs an in-memory expression table; a lazy Dask "
                             "table runs on the CPU (device='cpu').")
    try:
        import torch
    except ImportError as exc:
        raise OptionalDependencyError(
            f"associate: device={device!r} needs PyTorch, which is not installed; install the optional extra "
            "with: pip install 'radiogenomics[deep]' (or use device='cpu')") from exc
    if not torch.cuda.is_available():
        raise ParameterError(f"associate: device={device!r} but torch sees no CUDA GPU; use 'auto' or 'cpu'.")
    return torch.device(device)
