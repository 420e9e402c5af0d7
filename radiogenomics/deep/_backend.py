"""Lazy access to the optional ``[deep]`` extra (torch and MONAI) and device choice."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .._logging import get_logger
from .._validation import OptionalDependencyError, ParameterError

log = get_logger(__name__)

INSTALL_HINT = "pip install 'radiogenomics[deep]'"


def require_torch(feature: str = "the deep-learning path") -> tuple[Any, Any]:
    """Import torch and MONAI, or raise :class:`OptionalDependencyError` with the install line.

    Parameters
    ----------
    feature
        What needs them, used in the message.

    Returns
    -------
    tuple
        The ``torch`` and ``monai`` modules.
    """
    try:
        import monai
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise OptionalDependencyError(
            f"{feature} needs torch and MONAI, which are not installed ({exc}); "
            f"install the optional extra with: {INSTALL_HINT}"
        ) from exc
    return torch, monai


def resolve_device(device: str = "auto") -> Any:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a ``torch.device``.

    Parameters
    ----------
    device
        ``"auto"`` picks CUDA when a GPU is visible, else the CPU.

    Returns
    -------
    torch.device
    """
    torch, _ = require_torch()
    if not isinstance(device, str):
        raise ParameterError(f"The 'device' parameter must be a string such as 'auto', 'cpu' or 'cuda'. Got {device!r} instead.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError(f"The 'device' parameter is {device!r} but no CUDA GPU is visible; use 'auto' or 'cpu'.")
        return torch.device(device)
    raise ParameterError(
        f"The 'device' parameter must be one of 'auto', 'cpu', 'cuda' or 'cuda:N'. Got {device!r} instead."
    )


@contextlib.contextmanager
def deterministic(seed: int, device: Any) -> Iterator[None]:
    """Seed torch, MONAI, numpy and ``random`` and switch on deterministic algorithms.

    The global determinism flag is restored on exit so that other code in the same process
    is not affected. On CUDA, cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG``; it is set when absent
    and non-deterministic kernels only warn there.

    Parameters
    ----------
    seed
        Seed for every generator.
    device
        The ``torch.device`` that will run the work.
    """
    torch, monai = require_torch()
    from monai.utils import set_determinism

    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cuda = getattr(device, "type", str(device)) == "cuda"
    if cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    set_determinism(seed=seed)
    torch.use_deterministic_algorithms(True, warn_only=cuda)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
