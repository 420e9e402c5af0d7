"""Compiled Gini trees that grow scikit-learn's own trees, node for node, without its per-node sorting.

scikit-learn's ``BestSplitter`` sorts the samples of every node again for every feature it
draws, and each ``build`` pays about 50 µs of set-up; at the split engine's size (a few hundred
patients, 30 trees a forest, 10,000 splits x 4 feature-set evaluations) that is half the
models stage. Here the samples are sorted once per forest and every node keeps, per feature, its
samples in sorted order (a stable partition at each split), and the whole forest is one compiled
call. Everything that decides the tree is scikit-learn's, step for step:

- the splitter's random stream (``rand_r_state = RandomState(seed).randint(0, RAND_R_MAX)``, the
  32-bit XorShift ``our_rand_r`` and ``rand_int``), the Fisher-Yates draw of ``max_features``
  features with the known/found/drawn constant features of ``node_split_best`` and the
  ``features`` / ``constant_features`` arrays carried from node to node;
- the depth-first order of the nodes (right child pushed first), the leaf rules
  (``max_depth``, ``min_samples_split``, ``2 * min_samples_leaf``, ``min_weight_leaf``,
  ``impurity <= DBL_EPSILON``, ``improvement + DBL_EPSILON < min_impurity_decrease``);
- the candidate positions (ties merged while ``x[p] <= x[p - 1] + 1e-7`` in float32, as
  ``FEATURE_THRESHOLD``), the ``min_samples_leaf`` and ``min_weight_leaf`` rejections, the Gini
  proxy ``-w_R * gini_R - w_L * gini_L`` with its strict ``>`` (first feature drawn, first
  position wins), the threshold ``x[p - 1] / 2 + x[p] / 2`` in float64;
- the node values ``sum_total / weighted_n_node_samples`` and the prediction rule
  ``float(x) <= threshold``.

The class sums are sums of integer weights (bootstrap counts or ones), which float64 adds exactly
in any order, so the order of tied samples (which differs from scikit-learn's introsort) cannot
change a number. The callers (:mod:`radiogenomics.models._fast`) use this only for the Gini
criterion, the best splitter, finite data and integer weights, and check it once per process
against scikit-learn itself; the tests compare 1,440 trees with scikit-learn's.
"""

from __future__ import annotations

import numpy as np

from .._compiled import AVAILABLE
from .._compiled import compiled as _compiled

__all__ = ["AVAILABLE", "RAND_R_MAX", "grow_and_predict", "splitter_states"]

#: ``sklearn.utils._random.RAND_R_MAX``: the splitter's seed is ``randint(0, RAND_R_MAX)``.
RAND_R_MAX = 2147483647

#: ``sklearn.tree._partitioner.FEATURE_THRESHOLD`` (a float32: ties are merged in float32 arithmetic).
_FEATURE_THRESHOLD = np.float32(1e-7)
#: ``EPSILON`` of ``sklearn.tree._tree`` (the leaf tolerances).
_EPSILON = float(np.finfo(np.float64).eps)


@_compiled
def _rand_int(state, low, high):  # pragma: no cover - compiled
    """``rand_int(low, high, &state)`` of ``sklearn.tree._utils``; returns (value, new state)."""
    s = state
    if s == 0:
        s = 1  # DEFAULT_SEED
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    return low + (s % 0x80000000) % (high - low), s


@_compiled
def _gini(count0, count1, weight):  # pragma: no cover - compiled
    """``Gini.node_impurity`` / ``children_impurity`` of one node: the same operations in the same order."""
    sq = 0.0
    sq += count0 * count0
    sq += count1 * count1
    return 1.0 - sq / (weight * weight)


@_compiled
def _grow_and_predict(X, cls, W, rstates, Xt, max_features, min_samples_leaf, min_samples_split,
                      min_weight_leaf, max_depth, min_impurity_decrease):  # pragma: no cover - compiled
    """Grow one tree per row of ``W`` (integer sample weights) and return the sum over the trees, in
    order, of each test row's leaf value (``(m, 2)``, class fractions)."""
    n, d = X.shape
    XT = np.ascontiguousarray(X.T)
    n_trees = W.shape[0]
    m = Xt.shape[0]
    ft = _FEATURE_THRESHOLD
    eps = _EPSILON
    out = np.zeros((m, 2))
    order = np.empty((d, n), dtype=np.int32)
    for f in range(d):
        order[f] = np.argsort(XT[f])
    S = np.empty((d, n), dtype=np.int32)
    buf = np.empty(n, dtype=np.int32)
    left_mark = np.zeros(n, dtype=np.int64)
    keep = np.zeros(n, dtype=np.int64)
    cap = 2 * n + 1
    node_feature = np.empty(cap, dtype=np.int64)
    node_threshold = np.empty(cap)
    node_left = np.empty(cap, dtype=np.int64)
    node_right = np.empty(cap, dtype=np.int64)
    node_v0 = np.empty(cap)
    node_v1 = np.empty(cap)
    st_start = np.empty(cap, dtype=np.int64)
    st_end = np.empty(cap, dtype=np.int64)
    st_depth = np.empty(cap, dtype=np.int64)
    st_parent = np.empty(cap, dtype=np.int64)
    st_is_left = np.empty(cap, dtype=np.bool_)
    st_impurity = np.empty(cap)
    st_nconst = np.empty(cap, dtype=np.int64)
    features = np.empty(d, dtype=np.int64)
    constant_features = np.zeros(d, dtype=np.int64)
    for t in range(n_trees):
        w = W[t]
        total_weight = 0.0
        for i in range(n):
            total_weight += w[i]
        for i in range(n):
            keep[i] = w[i] != 0.0
        nn = 0
        for f in range(d):
            k = 0
            row = S[f]
            for j in range(n):  # the samples of positive weight, in sorted order (branch-free)
                s = order[f, j]
                row[k] = s
                k += keep[s]
            nn = k
        for f in range(d):
            features[f] = f
        state = rstates[t]
        node_count = 0
        top = 0
        st_start[0] = 0
        st_end[0] = nn
        st_depth[0] = 0
        st_parent[0] = -1
        st_is_left[0] = False
        st_impurity[0] = np.inf
        st_nconst[0] = 0
        top = 1
        while top > 0:
            top -= 1
            start = st_start[top]
            end = st_end[top]
            depth = st_depth[top]
            parent = st_parent[top]
            is_left = st_is_left[top]
            impurity = st_impurity[top]
            n_known = st_nconst[top]
            n_node = end - start
            c0 = 0.0
            c1 = 0.0
            for j in range(start, end):  # sums of integer weights: exact in any order
                s = S[0, j]
                c1 += w[s] * cls[s]
                c0 += w[s] * (1 - cls[s])
            wn = c0 + c1
            is_leaf = (depth >= max_depth or n_node < min_samples_split or n_node < 2 * min_samples_leaf
                       or wn < 2 * min_weight_leaf)
            if parent < 0:  # the root: its impurity from its own sums (children get theirs from the split)
                impurity = _gini(c0, c1, wn)
            is_leaf = is_leaf or impurity <= eps
            best_pos = end
            best_feature = 0
            best_threshold = 0.0
            best_il = np.inf
            best_ir = np.inf
            best_sl0 = 0.0
            best_sl1 = 0.0
            n_total = n_known
            if not is_leaf:
                best_proxy = -np.inf
                f_i = d
                n_visited = 0
                n_found = 0
                n_drawn = 0
                while f_i > n_total and (n_visited < max_features or n_visited <= n_found + n_drawn):
                    n_visited += 1
                    f_j, state = _rand_int(state, n_drawn, f_i - n_found)
                    if f_j < n_known:
                        tmp = features[n_drawn]
                        features[n_drawn] = features[f_j]
                        features[f_j] = tmp
                        n_drawn += 1
                        continue
                    f_j += n_found
                    cur = features[f_j]
                    seg = S[cur]
                    if XT[cur, seg[end - 1]] <= XT[cur, seg[start]] + ft:
                        tmp = features[f_j]
                        features[f_j] = features[n_total]
                        features[n_total] = tmp
                        n_found += 1
                        n_total += 1
                        continue
                    f_i -= 1
                    tmp = features[f_i]
                    features[f_i] = features[f_j]
                    features[f_j] = tmp
                    sl0 = 0.0
                    sl1 = 0.0
                    wl = 0.0
                    pos = start
                    p = start
                    while p < end:
                        p += 1
                        while p < end and XT[cur, seg[p]] <= XT[cur, seg[p - 1]] + ft:
                            p += 1
                        p_prev = p - 1
                        if p == end:
                            continue
                        if p - start < min_samples_leaf or end - p < min_samples_leaf:
                            continue
                        for j in range(pos, p):
                            s = seg[j]
                            sl1 += w[s] * cls[s]
                            sl0 += w[s] * (1 - cls[s])
                            wl += w[s]
                        pos = p
                        wr = wn - wl
                        if wl < min_weight_leaf or wr < min_weight_leaf:
                            continue
                        il = _gini(sl0, sl1, wl)
                        ir = _gini(c0 - sl0, c1 - sl1, wr)
                        proxy = -wr * ir - wl * il
                        if proxy > best_proxy:
                            best_proxy = proxy
                            best_pos = p
                            best_feature = cur
                            best_sl0 = sl0
                            best_sl1 = sl1
                            best_threshold = np.float64(XT[cur, seg[p_prev]]) / 2.0 + np.float64(XT[cur, seg[p]]) / 2.0
                for j in range(n_known):
                    features[j] = constant_features[j]
                for j in range(n_known, n_known + n_found):
                    constant_features[j] = features[j]
                if best_pos < end:
                    seg = S[best_feature]
                    for j in range(start, end):
                        left_mark[seg[j]] = 1 if j < best_pos else 0
                    wl = best_sl0 + best_sl1  # integer sums: the criterion's weighted_n_left exactly
                    wr = wn - wl
                    best_il = _gini(best_sl0, best_sl1, wl)
                    best_ir = _gini(c0 - best_sl0, c1 - best_sl1, wr)
                    improvement = ((wn / total_weight)
                                   * (impurity - (wr / wn * best_ir) - (wl / wn * best_il)))
                    is_leaf = improvement + eps < min_impurity_decrease
                    if not is_leaf:
                        for f in range(d):
                            if f == best_feature:
                                continue
                            a = start
                            b = 0
                            row = S[f]
                            for j in range(start, end):  # stable and branch-free
                                s = row[j]
                                g = left_mark[s]
                                row[a] = s
                                buf[b] = s
                                a += g
                                b += 1 - g
                            for j in range(b):
                                row[a + j] = buf[j]
                else:
                    is_leaf = True
            node_id = node_count
            node_count += 1
            if parent >= 0:
                if is_left:
                    node_left[parent] = node_id
                else:
                    node_right[parent] = node_id
            node_v0[node_id] = c0 / wn
            node_v1[node_id] = c1 / wn
            if is_leaf:
                node_feature[node_id] = -1
            else:
                node_feature[node_id] = best_feature
                node_threshold[node_id] = best_threshold
                for left in (False, True):  # the right child is pushed first: the left one is grown first
                    st_start[top] = start if left else best_pos
                    st_end[top] = best_pos if left else end
                    st_depth[top] = depth + 1
                    st_parent[top] = node_id
                    st_is_left[top] = left
                    st_impurity[top] = best_il if left else best_ir
                    st_nconst[top] = n_total
                    top += 1
        for i in range(m):
            node = 0
            while node_feature[node] >= 0:
                if np.float64(Xt[i, node_feature[node]]) <= node_threshold[node]:
                    node = node_left[node]
                else:
                    node = node_right[node]
            out[i, 0] += node_v0[node]
            out[i, 1] += node_v1[node]
    return out


def splitter_states(seeds: list[int]) -> np.ndarray:
    """Each tree's splitter stream start, ``RandomState(seed).randint(0, RAND_R_MAX)`` (as ``Splitter.init``)."""
    from ._fast import _seeded

    return np.array([_seeded(int(s)).randint(0, RAND_R_MAX) for s in seeds], dtype=np.int64)


def grow_and_predict(X: np.ndarray, y: np.ndarray, weights: np.ndarray, states: np.ndarray, X_test: np.ndarray, *,
                     max_features: int, min_samples_leaf: int, min_samples_split: int, min_weight_leaf: float,
                     max_depth: int, min_impurity_decrease: float) -> np.ndarray:
    """Grow one Gini tree per row of ``weights`` as scikit-learn's builder would, and sum their predictions.

    Parameters
    ----------
    X, X_test
        Training and test rows, float32, finite.
    y
        Whether each training row is of the second class (class index 0 or 1).
    weights
        ``(n_trees, n_samples)`` integer-valued sample weights (bootstrap counts, or ones).
    states
        Each tree's splitter stream start (:func:`splitter_states` of the trees' seeds).
    max_features, min_samples_leaf, min_samples_split, min_weight_leaf, max_depth, min_impurity_decrease
        As ``BaseDecisionTree._fit`` resolves them.

    Returns
    -------
    numpy.ndarray
        ``(n_test, 2)``: for each test row, the sum over the trees (in order) of its leaf's class
        fractions, i.e. ``sum(tree.predict(X_test)[:, :2])``.
    """
    return _grow_and_predict(np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int8),
                             np.ascontiguousarray(weights, dtype=np.float64), np.asarray(states, dtype=np.int64),
                             np.ascontiguousarray(X_test, dtype=np.float32), int(max_features),
                             int(min_samples_leaf), int(min_samples_split), float(min_weight_leaf), int(max_depth),
                             float(min_impurity_decrease))
