"""CLI commands of the imaging stage (filled in by its issue)."""

from __future__ import annotations

from ._app import app, cli_errors  # noqa: F401
