"""Pixel-level promotion–suppression analysis (``METHOD.md`` §1)."""

from .groups import GroupGrid, default_group_size

__all__ = ["GroupGrid", "default_group_size"]
