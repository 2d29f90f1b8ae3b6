"""``train.py``: a LightningCLI with the project's defaults.

- ``configs/default.yaml`` is read first under every run: ``python train.py fit`` alone trains it,
  and a ``--config`` file states only what differs from it (configs are composed: ``data:`` and
  ``trainer.callbacks:`` may name block files such as ``data/cifar10.yaml``, relative to the config).
- ``model.num_classes``, ``in_channels``, ``mean`` and ``std`` are linked from the data module, so
  switching datasets is a change of ``data:`` in the YAML only.
- The run directory is ``trainer.default_root_dir`` (default ``runs/<config name>``): the W&B
  logger writes there and checkpoints go to ``<default_root_dir>/checkpoints`` unless the config
  names other places; the resolved
  configuration is saved there as ``config.yaml``.
- ``trainer.inference_mode`` defaults to false (analysis callbacks take gradients in validation).
- Bad input (missing dataset, unknown model name, ...) ends with one ``error:`` line and exit 2,
  checked (the data's files included) before the logger starts.
- SIGTERM ends a fit after the training step (or probe batch) in progress, with ``last.ckpt``
  written (``callbacks.StopCheckpoint``), one line saying so, and exit code 143; Ctrl-C ends it at
  once with one ``interrupted`` line (exit 130).
"""

from __future__ import annotations

import inspect
import signal
import sys
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint, Timer
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ..argparsing import PACKAGED_CONFIGS, invoked_as, resolve_config_files
from ..callbacks import StopCheckpoint
from ..checkpoints import check_fits, read_checkpoint
from ..data import ImageDataModule
from ..errors import UserInputError
from ..output.wandb_logger import WandbLogger
from .classifier import ClassifierModule

DEFAULT_CONFIG = PACKAGED_CONFIGS / "default.yaml"
LIGHTNING_CKPT_ALIASES = ("last", "best", "hpc", "registry")  # ckpt_path values Lightning resolves itself


class LightningPseCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        for attribute in ("num_classes", "in_channels", "mean", "std"):
            parser.link_arguments(f"data.{attribute}", f"model.init_args.{attribute}", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        """Point loggers and checkpoints that name no directory at ``trainer.default_root_dir``, which
        defaults to ``runs/<name of the last --config file>`` (``runs/default`` without one)."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        files = config.get("config") or []
        root = config.trainer.default_root_dir or f"runs/{Path(str(files[-1])).stem if files else 'default'}"
        config.trainer.default_root_dir = root
        for entry in _as_list(config.trainer.logger):
            if _class_name(entry) == "WandbLogger" and not entry.init_args.get("save_dir"):
                entry.init_args.save_dir = root
        for entry in _as_list(config.trainer.callbacks):
            if _class_name(entry) in ("ModelCheckpoint", "BestCheckpoint") and not entry.init_args.get("dirpath"):
                entry.init_args.dirpath = str(Path(root) / "checkpoints")

    def parse_arguments(self, parser, args: list[str]) -> None:
        """Parse ``args`` (``main`` always passes the command line, its config names resolved), and read
        ``--ckpt_path`` safely before Lightning does (``weights_only``; a missing, truncated or
        code-carrying file is a one-line error), keeping its hyper-parameters for ``_check_checkpoint``."""
        self.config = parser.parse_args(args)
        subcommand = self.config.get("subcommand")
        path = self.config[subcommand].get("ckpt_path") if subcommand else None
        self._checkpoint_hparams = {}
        if path and path not in LIGHTNING_CKPT_ALIASES:
            self._checkpoint_hparams = read_checkpoint(path).get("hyper_parameters", {})

    def _check_before_run(self) -> None:
        """Before the Trainer starts (and with it the logger, whose W&B run folder would outlive the
        error): the data's files are there, and a ``--ckpt_path`` was trained for the data's class
        count and channel count."""
        self.datamodule.check_available()
        check_fits(self._checkpoint_hparams, self.datamodule, self.config[self.subcommand].get("ckpt_path"))

    before_validate = before_test = _check_before_run

    def before_fit(self) -> None:
        """``_check_before_run``, and a ``StopCheckpoint``: a SIGTERM ends the fit at a clean point
        with ``last.ckpt`` written."""
        self._check_before_run()
        self.trainer.callbacks.append(StopCheckpoint())

    def after_fit(self) -> None:
        """Say how long training took and where the checkpoints and the W&B run are."""
        if not self.trainer.is_global_zero:
            return
        for callback in self.trainer.callbacks:
            if isinstance(callback, Timer):
                print(
                    f"training time: {callback.time_elapsed('train'):.0f} s "
                    f"({self.trainer.current_epoch} epochs, validation included)"
                )
        printed = set()  # the step- and epoch-based "last" checkpoints share one file
        for callback in self.trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.best_model_path not in printed | {""}:
                printed.add(callback.best_model_path)
                if callback.monitor == "epoch":  # the every-epoch checkpoints (configs/callbacks/*.yaml)
                    print(f"every epoch's checkpoint: {Path(callback.best_model_path).parent}/")
                elif callback.monitor:
                    score = float(callback.best_model_score)
                    print(f"best checkpoint ({callback.monitor} = {score:.4f}): {callback.best_model_path}")
                else:
                    print(f"last checkpoint: {callback.best_model_path}")
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger) and logger.run_dir:
                offline = getattr(logger.experiment, "offline", logger._offline)  # WANDB_MODE can force offline
                mode = "offline (upload with `wandb sync`)" if offline else "online"
                print(f"W&B run, {mode}: {logger.run_dir}")


def _as_list(value) -> list:
    if value is None or isinstance(value, bool):
        return []
    return list(value) if isinstance(value, list) else [value]


def _class_name(entry) -> str:
    class_path = getattr(entry, "class_path", None) or ""
    return class_path.rsplit(".", 1)[-1]


def main(args: list[str] | None = None) -> None:
    interrupted = []

    def on_interrupt(signum, frame):  # noted, then Python's own KeyboardInterrupt (Lightning exits 1 on it)
        interrupted.append(signum)
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        args = resolve_config_files(sys.argv[1:] if args is None else args)
        LightningPseCLI(
            ClassifierModule,
            ImageDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=0,
            trainer_defaults={"inference_mode": False},
            save_config_kwargs={"overwrite": True},
            parser_kwargs={
                "allow_abbrev": False,
                "exit_on_error": False,
                **{
                    command: {
                        "default_config_files": [str(DEFAULT_CONFIG)],
                        "allow_abbrev": False,
                        "exit_on_error": False,
                    }
                    for command in ("fit", "validate", "test")
                },
            },
            args=args,
        )
    except SIGTERMException:  # StopCheckpoint said where the checkpoint went
        _finish_wandb()
        sys.exit(128 + signal.SIGTERM)
    except (KeyboardInterrupt, SystemExit) as err:
        if not interrupted and not isinstance(err, KeyboardInterrupt):
            raise
        _finish_wandb()
        print(
            "interrupted: checkpoints already written are complete; resume a fit with "
            "--ckpt_path <run>/checkpoints/last.ckpt",
            file=sys.stderr,
        )
        sys.exit(130)
    except Exception as err:
        message = _user_message(err)
        if message is None:
            raise
        _finish_wandb()  # its closing lines must not follow the error line
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    finally:
        signal.signal(signal.SIGINT, previous)


def _user_message(err: BaseException) -> str | None:
    """One line for errors the user can fix: a ``UserInputError`` behind ``err``, a bad option or
    config file (jsonargparse), or hardware the config asks for and the machine lacks."""
    from jsonargparse import ArgumentError
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    from ..argparsing import one_line

    cause = _user_input_error(err)
    if cause is not None:
        return str(cause)
    if isinstance(err, ArgumentError):
        return f"bad option or config: {one_line(err, known_options())} (see {invoked_as('train')} fit --help)"
    if isinstance(err, MisconfigurationException) and any(
        w in str(err).lower() for w in ("gpu", "cuda", "mps", "tpu", "available", "backend")
    ):
        return (
            f"{str(err).strip().splitlines()[0]} — this machine lacks the accelerator the config asks for; "
            f"run with --trainer.accelerator cpu (and --trainer.precision 32-true) or on a GPU machine"
        )
    return None


def known_options() -> list[str]:
    """The options a misspelling is compared with: the Trainer's, and our training modules' and data
    modules' init arguments (``--model.init_args.lr``, ``--data.init_args.batch_size``)."""
    from ..data import datamodules
    from . import adversarial, classifier, pse_at

    options = ["--config", "--print_config", "--seed_everything", "--ckpt_path", "--model", "--data", "--optimizer"]
    options += [f"--trainer.{name}" for name in inspect.signature(pl.Trainer.__init__).parameters if name != "self"]
    for prefix, modules in (("model", (classifier, adversarial, pse_at)), ("data", (datamodules,))):
        for module in modules:
            for cls in vars(module).values():
                if inspect.isclass(cls) and cls.__module__ == module.__name__:
                    params = inspect.signature(cls.__init__).parameters
                    options += [f"--{prefix}.init_args.{name}" for name in params if name not in ("self", "kwargs")]
    return sorted(set(options))


def _finish_wandb() -> None:
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=2)


def _user_input_error(err: BaseException | None) -> UserInputError | None:
    """The ``UserInputError`` behind ``err`` (jsonargparse wraps errors raised while instantiating)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, UserInputError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None
