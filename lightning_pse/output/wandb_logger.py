"""A W&B logger that never stops training: offline unless W&B is configured, offline on failure."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger
from pytorch_lightning.utilities import rank_zero_warn


def wandb_configured() -> bool:
    """True when the user has W&B credentials: ``WANDB_API_KEY`` or an ``api.wandb.ai`` entry in
    ``~/.netrc`` (what ``wandb login`` writes), or when ``WANDB_MODE`` asks for a mode explicitly.
    """
    return bool(os.environ.get("WANDB_MODE")) or wandb_credentials()


def wandb_credentials() -> bool:
    """True when ``WANDB_API_KEY`` is set or ``~/.netrc`` has an ``api.wandb.ai`` entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return path.is_file() and netrc.netrc(path).authenticators("api.wandb.ai") is not None
    except (netrc.NetrcParseError, OSError):
        return False


class WandbLogger(_LightningWandbLogger):
    """Lightning's ``WandbLogger`` with safe defaults (other keyword arguments go to it).

    ``save_dir=None`` lets ``train.py`` put the run in ``trainer.default_root_dir``.

    ``offline=None`` (default) runs online only when ``wandb_configured()``; otherwise the run is
    written to ``save_dir/wandb/offline-run-*`` (upload later with ``wandb sync``). If starting an
    online run fails (server unreachable, bad key), the run continues offline with a warning.
    """

    def __init__(
        self,
        project: str = "lightning_pse",
        name: str | None = None,
        save_dir: str | None = None,
        offline: bool | None = None,
        **kwargs,
    ) -> None:
        if offline is None:
            offline = not wandb_configured()
        if offline:
            kwargs.setdefault("mode", "offline")
        super().__init__(name=name, save_dir=save_dir, project=project, offline=offline, **kwargs)

    @property
    def experiment(self):
        try:
            return super().experiment
        except Exception as err:  # any failure to reach W&B must not stop training
            if self._offline:
                raise
            rank_zero_warn(f"W&B could not start an online run ({err}); logging offline instead")
            self._offline = True
            self._wandb_init["mode"] = "offline"
            return super().experiment

    @property
    def run_dir(self) -> str | None:
        """The local directory of the W&B run (``.../wandb/offline-run-*`` when offline)."""
        run = self._experiment
        return getattr(run, "dir", None) and str(Path(run.dir).parent)
