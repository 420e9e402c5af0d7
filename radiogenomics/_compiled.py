"""numba compilation shared by the compiled kernels (association, trees); NumPy/Python without numba."""

from __future__ import annotations

from typing import Any

try:
    import numba as _numba
except ImportError:  # pragma: no cover - numba is a core dependency; kept optional for exotic platforms
    _numba = None

#: Whether numba is importable (the kernels then run compiled).
AVAILABLE = _numba is not None


def compiled(func: Any) -> Any:
    """Compile ``func`` with numba (GIL released, so threads run it in parallel), cached on disk
    where the package folder or the user cache is writable; ``func`` itself without numba."""
    if _numba is None:  # pragma: no cover
        return func
    try:
        return _numba.njit(nogil=True, cache=True, error_model="numpy")(func)
    except RuntimeError:  # pragma: no cover - no writable cache location: compile per process
        return _numba.njit(nogil=True, cache=False, error_model="numpy")(func)
