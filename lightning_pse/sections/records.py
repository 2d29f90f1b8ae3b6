"""``Records``: per-sample rows gathered across ranks, for tables and histograms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class Records(Metric):
    """Columns of per-sample values, keyed by the sample's probe position ``index``.

    ``update(index, **columns)`` appends ``[N]`` tensors; ``table()`` concatenates them over
    batches and (under DDP) over ranks, and sorts the rows by ``index``, so every rank gets the
    same table whatever the number of ranks: every column ``[N]``, also for one row or none.
    Values are stored as float64 (exact for integers below 2⁵³). Read it with ``table()``:
    torchmetrics' ``compute()`` wrapper squeezes a one-row column to a 0-d tensor.
    """

    full_state_update = False

    def __init__(self, columns: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns = ("index", *columns)
        for name in self.columns:
            self.add_state(name, default=[], dist_reduce_fx="cat")
        self.reset()

    def reset(self) -> None:
        """Empty the columns, then add zero rows: each column holds one empty tensor, so a rank
        without samples still takes part in the DDP gather (an empty list state would skip it and
        stall the other ranks), and a table of no rows is a result, not a "compute before update"."""
        super().reset()
        empty = torch.zeros(0, dtype=torch.float64, device=self.device)
        self.update(empty, **{name: empty for name in self.columns[1:]})

    def update(self, index: Tensor, **columns: Tensor) -> None:
        if set(columns) != set(self.columns[1:]):
            raise ValueError(f"Records expects columns {self.columns[1:]}, got {tuple(columns)}")
        for name, values in (("index", index), *columns.items()):
            getattr(self, name).append(values.detach().reshape(-1).to(self.device, torch.float64))

    def compute(self) -> dict[str, Tensor]:
        table = {name: dim_zero_cat(getattr(self, name)) for name in self.columns}
        order = torch.argsort(table["index"])
        return {name: values[order] for name, values in table.items()}

    def table(self) -> dict[str, Tensor]:
        """Column name → ``[N]`` (N rows over every batch and rank, ordered by ``index``; N may be 0 or 1)."""
        return {name: values.reshape(-1) for name, values in self.compute().items()}
