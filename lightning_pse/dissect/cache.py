"""The dissection's stage cache: each stage's output saved under the key of what it depends on.

Like NetDissect's staged pipeline, the two passes are cached separately in one file: the activation
thresholds (model weights, layer, quantile settings, probe-set size) and the IoU table (the same,
plus the concepts). Changing ``iou_threshold`` reuses both; naming other concepts reuses the
thresholds and reruns only the IoU pass. Files are read with ``weights_only=True`` and written
atomically (a temporary file, then renamed).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import UserInputError


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 of the model's parameters and buffers (names, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class StageCache:
    """The stages saved in ``path`` (None: nothing is cached). ``get(stage, key)`` returns the
    stage's saved value when it was saved under ``key``, else None; ``put`` saves one stage and
    keeps the others. A file that cannot be read is a ``UserInputError`` naming it (never trusted)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.stages: dict = self._read()

    def _read(self) -> dict:
        if self.path is None:
            return {}
        try:
            saved = torch.load(self.path, weights_only=True)
        except FileNotFoundError:
            return {}
        except Exception as err:  # noqa: BLE001 - a damaged cache is recomputed, never trusted
            raise UserInputError(
                f"cannot read the dissection cache {self.path} ({type(err).__name__}): delete it"
            ) from None
        if not isinstance(saved, dict) or not all(isinstance(v, dict) and "key" in v for v in saved.values()):
            raise UserInputError(f"the dissection cache {self.path} is not in this version's format: delete it")
        return saved

    def get(self, stage: str, key: dict):
        entry = self.stages.get(stage)
        return entry["value"] if entry is not None and entry["key"] == key else None

    def put(self, stage: str, key: dict, value) -> None:
        if self.path is None:
            return
        self.stages[stage] = {"key": key, "value": value}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.partial")
        torch.save(self.stages, partial)
        os.replace(partial, self.path)
