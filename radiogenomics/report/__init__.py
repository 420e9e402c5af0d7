"""The HTML report: one self-contained file (figures embedded) rendered from a results folder."""

from __future__ import annotations

from .render import SECTION_IDS, render

__all__ = ["render", "SECTION_IDS"]
