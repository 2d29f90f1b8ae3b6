"""Reading checkpoints safely and rebuilding the model and data they were trained with.

Checkpoints are read with ``torch.load(weights_only=True)``: a file that would need arbitrary
unpickling (a crafted or foreign checkpoint) is refused instead of executed. The classes named in
a checkpoint's ``_class_path`` entries must belong to ``lightning_pse``.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import re
from pathlib import Path

import pytorch_lightning as pl
import torch

from .data import ImageDataModule
from .errors import UserInputError
from .training import ClassifierModule


def looks_like_torch_file(path: Path) -> bool:
    """Whether ``path`` starts like a file of ``torch.save`` (a zip archive, or a legacy pickle)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def load_tensors(path: str | Path, what: str = "checkpoint", fix: str = "pass a .ckpt file written by train.py"):
    """The object ``torch.save`` wrote to ``path`` (tensors on CPU), read with ``weights_only=True``
    (a file that would need arbitrary unpickling is refused, never executed); or a one-line
    ``UserInputError`` naming the problem and ``fix``."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("**/last.ckpt")) or sorted(path.glob("**/*.ckpt"))
        hint = f" (it holds {found[0]})" if found else ""
        raise UserInputError(f"{what} {path} is a folder{hint}: {fix}")
    if not path.is_file():
        raise UserInputError(f"{what} {path} does not exist: {fix}")
    if not looks_like_torch_file(path):
        raise UserInputError(f"{path} is not a PyTorch {what} (no torch.save archive: a text or other file?): {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():
            raise UserInputError(f"{path} is not a readable {what} (corrupt: {_first_line(err)}): {fix}") from None
        raise UserInputError(
            f"refusing to load {path}: it holds objects other than tensors and plain types (a pickled "
            f"model?), which could run code when unpickled; {fix}"
        ) from None
    except Exception as err:  # noqa: BLE001 - any failure of a damaged archive is the same user error
        raise UserInputError(
            f"{path} is not a readable {what}: truncated or corrupt ({_cause(err)}); use an intact copy"
        ) from None


def _first_line(err: BaseException) -> str:
    """The first line of an error's text, without terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _cause(err: BaseException) -> str:
    """The cause in a few words: the first sentence of the error's first line, without the zip
    reader's prefix (``failed finding central directory``, not miniz's whole paragraph)."""
    sentence = re.split(r"\.\s", _first_line(err), maxsplit=1)[0].rstrip(".")
    return sentence.removeprefix("PytorchStreamReader failed reading zip archive: ")


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict at ``path`` (tensors on CPU), or a ``UserInputError`` saying why not."""
    checkpoint = load_tensors(
        path, "checkpoint", "pass the path of a .ckpt file written by train.py, e.g. last.ckpt of the run"
    )
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserInputError(
            f"{path} is not a Lightning checkpoint (no state_dict): use a .ckpt written by train.py, "
            f"or analyse plain weights with --model.name ARCH --model.weights {path}"
        )
    return checkpoint


def check_fits(hparams, datamodule, checkpoint: str | Path) -> None:
    """Refuse data whose class count or input channels differ from those the checkpoint's model
    (hyper-parameters ``hparams``) was built for."""
    for name in ("num_classes", "in_channels"):
        theirs, ours = hparams.get(name), getattr(datamodule, name, None)
        if theirs is not None and ours is not None and theirs != ours:
            raise UserInputError(
                f"checkpoint {checkpoint} was trained with {name}={theirs} but the data "
                f"({type(datamodule).__name__}) has {ours}: pass the data the checkpoint was "
                f"trained on (--data ...)"
            )


def project_class(class_path: str, base: type) -> type:
    """The class at ``class_path``, which must live in ``lightning_pse`` and subclass ``base``."""
    module_name, _, name = class_path.rpartition(".")
    if not module_name.startswith("lightning_pse"):
        raise UserInputError(f"class {class_path!r} is outside lightning_pse; refusing to build it")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise UserInputError(f"class {class_path!r}: there is no module {module_name!r} in lightning_pse") from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise UserInputError(f"{class_path!r} is not a {base.__name__} of lightning_pse")
    return cls


HPARAMS_KEYS = {"module": "hyper_parameters", "datamodule": "datamodule_hyper_parameters"}


def recorded_class_path(checkpoint: dict, part: str) -> str | None:
    """The class path of the checkpoint's ``module`` or ``datamodule``: the ``_class_path`` train.py's
    CLI writes into the hyper-parameters, else the ``class_paths`` entry ``ClassifierModule`` adds to
    every checkpoint (a plain ``Trainer`` records no class); None when neither is there."""
    hparams = checkpoint.get(HPARAMS_KEYS[part]) or {}
    return hparams.get("_class_path") or checkpoint.get("class_paths", {}).get(part)


def _init_args(hparams: dict) -> dict:
    return {k: v for k, v in hparams.items() if not k.startswith("_")}


def load_module(checkpoint: dict) -> ClassifierModule:
    """The training module of ``checkpoint`` (class from its hyper-parameters), weights loaded, in
    eval mode on CPU."""
    hparams = checkpoint.get("hyper_parameters", {})
    class_path = recorded_class_path(checkpoint, "module") or "lightning_pse.training.ClassifierModule"
    cls = project_class(class_path, ClassifierModule)
    try:
        module = cls(**_init_args(hparams))
        module.load_state_dict(checkpoint["state_dict"])
    except (TypeError, RuntimeError) as err:
        raise UserInputError(f"the checkpoint does not match {cls.__name__}: {str(err).splitlines()[0]}") from None
    return module.eval()


def load_datamodule(checkpoint: dict, overrides: dict | None = None) -> ImageDataModule:
    """The data module the checkpoint was trained with, its arguments updated by ``overrides``."""
    hparams = checkpoint.get("datamodule_hyper_parameters")
    class_path = recorded_class_path(checkpoint, "datamodule")
    if hparams is None or class_path is None:
        raise UserInputError("the checkpoint records no data module: name the data explicitly")
    cls = project_class(class_path, pl.LightningDataModule)
    if not issubclass(cls, ImageDataModule):
        raise UserInputError(f"{cls.__name__} is not an ImageDataModule")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(overrides or {}) - accepted)
    if unknown:
        raise UserInputError(
            f"{cls.__name__} has no argument {', '.join(unknown)}; it takes {', '.join(sorted(accepted))}"
        )
    return cls(**{**_init_args(hparams), **(overrides or {})})
