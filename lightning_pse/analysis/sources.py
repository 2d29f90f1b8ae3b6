"""Every model ``analyze.py`` can open, as one ``nn.Module`` taking pixels in [0, 1].

Sources (each misfit is a one-line ``UserInputError``; every file is read with ``weights_only=True``):

- a ``train.py`` checkpoint (``--ckpt``): model, data and training settings from its hyper-parameters;
- a plain ``state_dict`` (``.pt``/``.pth``, or ``.safetensors``) of a zoo architecture
  (``--model.name resnet18_cifar --model.weights sd.pt --data ...``), with our key layout
  (optionally under ``model.``/``module.`` prefixes) or, for ``tv_*``, torchvision's own;
- a RobustBench zoo model (``--model robustbench:<name>``, ``--threat_model``, ``--dataset``,
  ``--model_dir``), read from RobustBench's local layout ``<model_dir>/<dataset>/<threat>/<name>.pt``
  through the optional ``robustbench`` package, never downloaded unless ``--download``.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..attacks.radii import ROBUSTBENCH_EPS
from ..checkpoints import load_module, load_tensors, project_class, read_checkpoint, recorded_class_path
from ..data import ImageDataModule
from ..errors import UserInputError
from ..models import build_model

ROBUSTBENCH_PREFIX = "robustbench:"
ROBUSTBENCH_DATA = {
    "cifar10": "lightning_pse.data.CIFAR10DataModule",
    "cifar100": "lightning_pse.data.CIFAR100DataModule",
    "imagenet": "lightning_pse.data.ImageFolderDataModule",
}
ZOO_EXTRA = "pip install 'lightning_pse[zoo]'"


@dataclass
class ModelSource:
    """A loaded model and what is known about it.

    ``model``: pixels ``[B, C, H, W]`` in [0, 1] → logits ``[B, K]``, in eval mode on CPU.
    ``kind``: ``checkpoint``, ``state_dict``, ``robustbench`` or ``python``. ``label``: a short name
    (output folder, W&B run). ``files``: the files it was read from (never inside ``--out``).
    ``training``: ``method``, ``eps``, ``norm`` where known. ``provenance``: epoch, step, settings.
    """

    model: nn.Module
    kind: str
    label: str
    files: list[Path] = field(default_factory=list)
    training: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    num_classes: int | None = None
    in_channels: int | None = None


def recorded_data(checkpoint: dict) -> dict | None:
    """The ``{class_path, init_args}`` of the data module a ``train.py`` checkpoint records, or None."""
    hparams = checkpoint.get("datamodule_hyper_parameters")
    class_path = recorded_class_path(checkpoint, "datamodule")
    if hparams is None or class_path is None:
        return None
    project_class(class_path, ImageDataModule)  # never import a class a file names outside the project
    return {"class_path": class_path, "init_args": {k: v for k, v in hparams.items() if not k.startswith("_")}}


def data_default(options, checkpoint: dict | None) -> dict | None:
    """The data's ``{class_path, init_args}`` the model source implies: the data module its
    ``train.py`` checkpoint (read once, ``checkpoint``) records, or a RobustBench model's dataset;
    else None (the data must be named)."""
    if checkpoint is not None:
        return recorded_data(checkpoint)
    name = options.model.name or ""
    if name.startswith(ROBUSTBENCH_PREFIX):
        dataset = robustbench_dataset(options.dataset)
        return {"class_path": ROBUSTBENCH_DATA[dataset], "init_args": {"data_dir": f"data/{dataset}"}}
    return None


def model_checkpoint(options) -> dict | None:
    """The ``train.py`` checkpoint the options' single ``--ckpt`` names, read (once, here), or None
    when the model comes from elsewhere."""
    if options.ckpt is None or options.model.name is not None:
        return None
    (path,) = options.ckpt
    return read_checkpoint(path)


def load_source(options, datamodule: ImageDataModule, checkpoint: dict | None = None) -> ModelSource:
    """The model the options name (``checkpoint``: ``model_checkpoint(options)``, already read),
    checked against ``datamodule``'s class and channel counts."""
    name = options.model.name
    if name is not None and name.startswith(ROBUSTBENCH_PREFIX):
        source = robustbench_source(
            name[len(ROBUSTBENCH_PREFIX) :],
            options.dataset,
            options.threat_model,
            Path(options.model_dir),
            options.download,
        )
    elif name is not None:
        if options.ckpt is not None:
            raise UserInputError(
                "give either --ckpt (a train.py checkpoint) or --model.name with --model.weights, not both"
            )
        source = state_dict_source(name, options.model.weights, options.model.kwargs, datamodule)
    elif checkpoint is not None:
        (path,) = options.ckpt
        source = checkpoint_source(path, checkpoint)
    else:
        raise UserInputError(
            "name a model: --ckpt RUN/checkpoints/last.ckpt, --model.name ARCH --model.weights FILE "
            "--data ..., or --model robustbench:NAME"
        )
    for attribute in ("num_classes", "in_channels"):
        theirs, ours = getattr(source, attribute), getattr(datamodule, attribute, None)
        if theirs is not None and ours is not None and theirs != ours:
            raise UserInputError(
                f"the model ({source.label}) has {attribute}={theirs} but the data "
                f"({type(datamodule).__name__}) has {ours}: pass the data the model was trained on"
            )
    return source


def checkpoint_source(path: str, checkpoint: dict) -> ModelSource:
    """The ``train.py`` checkpoint ``checkpoint`` read from ``path``: its module's model, training
    settings and provenance."""
    module = load_module(checkpoint)
    hparams = dict(module.hparams)
    training = {"method": type(module).__name__}
    for key in ("eps", "norm"):
        if key in hparams:
            training[key] = hparams[key]
    if "eps" in training:
        training.setdefault("norm", "linf")
    return ModelSource(
        model=module.model.eval(),
        kind="checkpoint",
        label=Path(path).stem,
        files=[Path(path).resolve()],
        training=training,
        num_classes=hparams.get("num_classes"),
        in_channels=hparams.get("in_channels"),
        provenance={
            "epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"),
            "hyper_parameters": {k: v for k, v in hparams.items() if not k.startswith("_")},
        },
    )


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from ``.safetensors`` or a ``torch.save`` file (``weights_only``), unwrapped from
    a ``{"state_dict": ...}`` dict and from ``module.`` (DDP) prefixes."""
    path = Path(path)
    fix = "pass a state_dict saved with torch.save(model.state_dict(), path) or a .safetensors file"
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise UserInputError(f"weights {path} do not exist: {fix}")
        try:
            from safetensors import SafetensorError
            from safetensors.torch import load_file
        except ImportError:
            raise UserInputError(f"reading .safetensors needs the safetensors package: {ZOO_EXTRA}") from None
        try:
            weights = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise UserInputError(f"{path} is not a readable .safetensors file ({err})") from None
    else:
        weights = load_tensors(path, "weights file", fix)
    if isinstance(weights, dict) and isinstance(weights.get("state_dict"), dict):
        weights = weights["state_dict"]
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise UserInputError(f"{path} holds no state_dict (a dict of tensors): {fix}")
    return strip_prefix(weights, "module.")


def strip_prefix(weights: dict, prefix: str) -> dict:
    """``weights`` with ``prefix`` removed from keys that all carry it (else unchanged)."""
    if weights and all(k.startswith(prefix) for k in weights):
        return {k[len(prefix) :]: v for k, v in weights.items()}
    return weights


def state_dict_source(name: str, weights: str | None, kwargs: dict, datamodule: ImageDataModule) -> ModelSource:
    """Zoo architecture ``name`` for ``datamodule``'s classes, channels and statistics, with the
    weights of file ``weights`` (our layout, a Lightning module's ``model.`` keys, or torchvision's)."""
    if weights is None:
        raise UserInputError(f"--model.name {name} needs its weights: --model.weights FILE (.pt, .pth or .safetensors)")
    state = strip_prefix(read_weights(weights), "model.")
    make = functools.partial(
        build_model, name, datamodule.num_classes, datamodule.in_channels, datamodule.mean, datamodule.std
    )
    model = make(**kwargs)
    ours = {k for k in model.state_dict() if not k.startswith("normalize.")}
    try:
        if ours <= set(state):  # our layout; normalisation buffers are the data's unless the file has them
            model.load_state_dict({**model.state_dict(), **state})
        elif name.startswith("tv_"):  # torchvision's own layout
            model = make(**kwargs, state_dict=state)
        else:
            missing = sorted(ours - set(state))
            raise UserInputError(
                f"{weights} does not fit {name}: {len(missing)} of its weights are missing (e.g. "
                f"{', '.join(missing[:3])}); is it another architecture?"
            )
    except RuntimeError as err:
        raise UserInputError(
            f"{weights} does not fit {name} with {datamodule.num_classes} classes and "
            f"{datamodule.in_channels} channels: {_mismatch(err)}"
        ) from None
    path = Path(weights).resolve()
    return ModelSource(
        model=model.eval(),
        kind="state_dict",
        label=f"{name}-{path.stem}",
        files=[path],
        num_classes=datamodule.num_classes,
        in_channels=datamodule.in_channels,
        provenance={"architecture": name, "weights": str(path), "architecture_kwargs": kwargs},
    )


def _mismatch(err: RuntimeError) -> str:
    """The first specific line of ``load_state_dict``'s error."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    specific = [line for line in lines if line.startswith(("size mismatch", "Missing key", "Unexpected key"))]
    return (specific or lines or ["weights do not match"])[0][:300]


def robustbench_dataset(dataset: str | None) -> str:
    dataset = (dataset or "cifar10").lower()
    if dataset not in ROBUSTBENCH_DATA:
        raise UserInputError(f"unknown RobustBench dataset {dataset!r}; choose one of {', '.join(ROBUSTBENCH_DATA)}")
    return dataset


def import_robustbench():
    """``robustbench.utils`` (optional extra). robustbench imports AutoAttack as ``autoattack``, the
    GitHub name; the package index ships it as ``pyautoattack``, which is aliased here."""
    try:
        import pyautoattack

        if "autoattack" not in sys.modules:
            import pyautoattack.state

            sys.modules["autoattack"] = pyautoattack
            sys.modules["autoattack.state"] = pyautoattack.state
        import robustbench.utils
    except ImportError as err:
        raise UserInputError(f"RobustBench models need the optional packages ({err}): {ZOO_EXTRA}") from None
    return robustbench.utils


def robustbench_source(
    name: str, dataset: str | None, threat_model: str | None, model_dir: Path, download: bool
) -> ModelSource:
    """RobustBench zoo model ``name`` from ``<model_dir>/<dataset>/<threat_model>/<name>.pt``
    (zoo models normalise inside ``forward``, so they take pixels in [0, 1] like ours)."""
    dataset = robustbench_dataset(dataset)
    utils = import_robustbench()
    threat = threat_model or "Linf"
    try:
        zoo = utils.all_models[utils.BenchmarkDataset(dataset)][utils.ThreatModel(threat)]
    except ValueError as err:
        raise UserInputError(f"RobustBench has no {err}; threat models: Linf, L2, corruptions") from None
    if name not in zoo:
        raise UserInputError(f"RobustBench has no {dataset}/{threat} model {name!r}; e.g. {', '.join(list(zoo)[:5])}")
    path = model_dir / dataset / threat / f"{name}.pt"
    if not path.is_file() and not download:
        raise UserInputError(
            f"RobustBench weights {path} are not there: put {name}.pt in {path.parent} (RobustBench's "
            f"layout), or pass --download true to let RobustBench fetch them"
        )
    if path.is_file():
        load_tensors(path, "RobustBench weights file", f"replace {path} with RobustBench's original file")
    try:
        model = utils.load_model(name, model_dir=str(model_dir), dataset=dataset, threat_model=threat)
    except (RuntimeError, KeyError) as err:
        raise UserInputError(f"{path} does not fit RobustBench's {name}: {_mismatch(err)}") from None
    num_classes = {"cifar10": 10, "cifar100": 100, "imagenet": 1000}[dataset]
    eps = ROBUSTBENCH_EPS.get((dataset, threat))
    training = {"method": f"RobustBench {threat}", "norm": threat.lower(), "eps": eps} if eps else {}
    return ModelSource(
        model=model.eval(),
        kind="robustbench",
        label=f"robustbench-{name}",
        files=[path.resolve()],
        training=training,
        num_classes=num_classes,
        in_channels=3,
        provenance={
            "robustbench_name": name,
            "dataset": dataset,
            "threat_model": threat,
            "weights": str(path.resolve()),
        },
    )
