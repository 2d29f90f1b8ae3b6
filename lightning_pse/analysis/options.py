"""``analyze.py``'s options, parsed by jsonargparse like ``train.py``'s.

One dialect for both tools: ``--config FILE`` (YAML whose keys are these options, repeatable),
nested keys on the command line (``--dissection.layer body.5``, ``--data.data_dir=/x``),
``--print_config``, no abbreviations. Top-level flags also take dashes (``--num-samples``).
ε takes fractions (``--eps 8/255``); zero is a value, not "unset".

The data default is the checkpoint's own data module (``--data.KEY`` overrides its arguments);
for other model sources the data must be named (``--data CLASS --data.data_dir DIR``), except
RobustBench models, whose ``--dataset`` names it. Since that default is known only once the
checkpoint is read, ``parse`` keeps the ``--data`` words apart and ``settle_data`` resolves them
afterwards (``cli.settled``).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from argparse import ArgumentTypeError
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from jsonargparse import ActionConfigFile, ActionYesNo, ArgumentParser, Namespace

from ..argparsing import invoked_as, one_line, resolve_config_files
from ..data import ImageDataModule
from ..errors import UserInputError
from .engine import Analysis
from .registry import REGISTRY, SECTIONS

# ``Analysis`` keywords that are not options of their own: what the other options give (the model,
# its data and training, ``--sections``, the attacks from their specs, ``--quiet``), and ``--eps``
# and ``--quick``, whose command-line forms (8/255; a bare flag) differ from the keyword's.
NOT_FROM_ANALYSIS = frozenset(
    {"model", "data", "sections", "layer", "training", "eps", "quick", "attacks", "pse_attacks"}
    | {"sensitivity_attack", "progress"}
)


def parse_eps(value) -> float | None:
    """``8/255``, ``0.031`` or ``0`` as a float ≥ 0 (``None``/``null``: unset)."""
    if value is None or str(value).strip().lower() in ("none", "null"):
        return None
    try:
        eps = float(Fraction(str(value).strip()))
    except (ValueError, ZeroDivisionError):
        raise ArgumentTypeError(f"ε must be a number or a fraction like 8/255, got {value!r}") from None
    if eps < 0:
        raise ArgumentTypeError(f"ε must be ≥ 0, got {value!r}")
    return eps


@dataclass
class ModelOptions:
    """Where the model comes from when it is not a ``train.py`` checkpoint (``--ckpt``).

    ``name``: an architecture of the zoo (``resnet18_cifar``, ``tv_resnet50``, ...) whose weights are
    ``weights`` (``.pt``/``.pth`` state_dict or ``.safetensors``), or ``robustbench:<name>``.
    ``kwargs``: the architecture's arguments (``width``, ``depth``, ...).
    """

    name: Optional[str] = None
    weights: Optional[str] = None
    kwargs: dict = field(default_factory=dict)


def build_parser() -> ArgumentParser:
    """The parser of every option (``--data`` as the data module's class and arguments)."""
    parser = ArgumentParser(
        prog=invoked_as("analyze"),
        exit_on_error=False,
        allow_abbrev=False,
        description="Evaluate a model at every level and write report.json + report.html.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML whose keys are these options")
    parser.add_argument(
        "--ckpt",
        type=str,
        nargs="+",
        default=None,
        help="checkpoint written by train.py; several (or saved report.json files): a comparison report",
    )
    parser.add_argument(
        "--model",
        type=ModelOptions,
        default=ModelOptions(),
        help="another model: --model.name ARCH --model.weights FILE, or --model robustbench:NAME",
    )
    parser.add_argument(
        "--threat_model",
        type=Optional[str],
        default=None,
        help="RobustBench threat model (Linf, L2, corruptions); default Linf",
    )
    parser.add_argument(
        "--dataset",
        type=Optional[str],
        default=None,
        help="RobustBench dataset (cifar10, cifar100, imagenet); default cifar10",
    )
    parser.add_argument(
        "--model_dir",
        type=str,
        default="models",
        help="RobustBench weights folder: <model_dir>/<dataset>/<threat_model>/<name>.pt",
    )
    parser.add_argument(
        "--download", type=bool, default=False, help="let RobustBench download weights that are not in --model_dir"
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--out",
        type=Optional[str],
        default=None,
        help="report folder (default <run>/analysis/<checkpoint name>/); replaced only if analyze.py made it",
    )
    parser.add_argument(
        "--sections",
        type=Optional[str],
        default=None,
        help=f"comma- or space-separated, of {', '.join(SECTIONS)} (default all)",
    )
    parser.add_argument(
        "--quick",
        action=ActionYesNo,
        default=False,
        help="a smoke run in under a minute: every section on 8 images, the robustness and sensitivity attacks "
        "at their smallest budget (checks that everything runs; not numbers to quote)",
    )
    parser.add_argument(
        "--eps",
        type=parse_eps,
        default=None,
        help="radius, e.g. 8/255 (default: the model's training ε, else the dataset's standard one)",
    )
    # --num_samples, --split, ..., --pse.tau, --cam.threshold, --dissection.layer: Analysis's own
    # keywords, their types, defaults and help from its signature and docstring.
    parser.add_class_arguments(Analysis, None, skip=NOT_FROM_ANALYSIS)
    parser.add_argument("--wandb", type=bool, default=False, help="also log to a W&B run (offline unless configured)")
    parser.add_argument(
        "--quiet",
        action=ActionYesNo,
        default=False,
        help="one line per finished section instead of progress bars (the default when stderr is not a terminal)",
    )
    parser.add_argument(
        "--attacks",
        type=Optional[dict],
        default=None,
        help="name → {class_path, init_args}: replaces the robustness attacks",
    )
    parser.add_argument(
        "--pse_attacks",
        type=Optional[dict],
        default=None,
        help="name → {class_path, init_args}: replaces the PSE/CAM attacks",
    )
    parser.add_argument(
        "--sensitivity_attack",
        type=Optional[dict],
        default=None,
        help="{class_path, init_args}: the attack of unit sensitivity and masking",
    )
    return parser


def normalize_argv(argv: list[str]) -> list[str]:
    """Top-level flags with dashes as with underscores (``--num-samples`` → ``--num_samples``),
    ``--model NAME`` as ``--model.name NAME``, and ``--sections a b`` (the words up to the next
    option) as ``--sections a,b``."""
    argv = join_section_words(argv)
    out: list[str] = []
    for i, arg in enumerate(argv):
        match = re.fullmatch(r"--([A-Za-z][\w-]*)(=.*)?", arg)
        if match:
            arg = "--" + match.group(1).replace("-", "_") + (match.group(2) or "")
        if arg == "--model" and i + 1 < len(argv) and not argv[i + 1].lstrip().startswith(("{", "-")):
            arg = "--model.name"
        elif arg.startswith("--model=") and not arg[len("--model=") :].lstrip().startswith("{"):
            arg = "--model.name=" + arg[len("--model=") :]
        out.append(arg)
    return out


def join_section_words(argv: list[str]) -> list[str]:
    """``--sections robustness cam`` as ``--sections robustness,cam`` (the form users try beside the
    comma-separated one)."""
    out: list[str] = []
    for arg in argv:
        if len(out) >= 2 and out[-2] == "--sections" and not arg.startswith("-"):
            out[-1] = f"{out[-1]},{arg}"
        else:
            out.append(arg)
    return out


def add_data_arguments(parser: ArgumentParser) -> None:
    parser.add_subclass_arguments(
        ImageDataModule,
        "data",
        required=False,
        help="the data (default: the checkpoint's); --data.KEY overrides one argument",
    )


@dataclass
class Command:
    """``analyze.py``'s command line, parsed once.

    ``options``: every option; ``options.data`` is None or what a config file gave until
    ``settle_data`` resolves it. ``data_args``: the ``--data CLASS`` / ``--data.KEY VALUE`` words, kept
    apart because their class defaults to the one the model's checkpoint records, which is known
    only once the checkpoint has been read. ``print_config``: print the settled options and stop.
    """

    options: Namespace
    data_args: list[str]
    print_config: bool


def split_data_args(args: list[str]) -> tuple[list[str], list[str], bool]:
    """``args`` as (the ``--data``/``--data.KEY`` options with their values, the rest, whether
    ``--print_config`` was among them)."""
    data, rest, print_config, take_value = [], [], False, False
    for arg in args:
        if take_value:
            data.append(arg)
            take_value = False
        elif arg == "--data" or arg.startswith(("--data.", "--data=")):
            data.append(arg)
            take_value = "=" not in arg
        elif arg == "--print_config" or arg.startswith("--print_config="):
            print_config = True
        else:
            rest.append(arg)
    return data, rest, print_config


def parse(argv: list[str] | None) -> Command:
    """``argv`` (``sys.argv[1:]`` when None) parsed once; bad options are a ``UserInputError``."""
    args = resolve_config_files(normalize_argv(sys.argv[1:] if argv is None else list(argv)))
    data_args, rest, print_config = split_data_args(args)
    try:
        options = build_parser().parse_args(rest)
    except Exception as err:  # jsonargparse's ArgumentError, or a config file it cannot read
        raise bad_option(err) from None
    analysis_settings(options)  # the sections' settings out of range: one line before any work
    return Command(options, data_args, print_config)


def settle_data(command: Command, recorded: dict | None) -> Namespace:
    """``command.options`` with ``data`` resolved: the data a config file named, else ``recorded``
    (``{class_path, init_args}`` the model source implies: its checkpoint's data module, a
    RobustBench dataset; None when unknown), with the command line's ``--data`` options on top."""
    options = command.options
    default = options.data if options.data is not None else recorded
    if not command.data_args and default is None:
        return options
    parser = ArgumentParser(prog=invoked_as("analyze"), exit_on_error=False, allow_abbrev=False)
    add_data_arguments(parser)
    if default is not None:
        parser.set_defaults(data=default)
    try:
        options.data = parser.parse_args(command.data_args).data
    except Exception as err:
        if "class_path 'lightning_pse.data.ImageDataModule'" in str(err):  # --data.KEY with no class to take it
            raise UserInputError(
                "--data.KEY needs a data class: --data lightning_pse.data.CIFAR10DataModule (or the class the "
                "model was trained on), or a --ckpt whose run records it"
            ) from None
        raise bad_option(err, data_options(command.data_args, default)) from None
    return options


def data_options(data_args: list[str], default) -> list[str]:
    """``--data.init_args.KEY`` for every argument of the data class the command line (``--data
    CLASS``) or ``default`` names, for "did you mean"; empty when the class is not ours to import."""
    named = [value for flag, value in zip(data_args, data_args[1:]) if flag == "--data"]
    named += [arg[len("--data=") :] for arg in data_args if arg.startswith("--data=")]
    class_path = named[-1] if named else (default["class_path"] if default is not None else None)
    module_name, _, name = str(class_path).rpartition(".")
    if not module_name.startswith("lightning_pse"):
        return []
    cls = getattr(importlib.import_module(module_name), name, None)
    if cls is None:
        return []
    return [f"--data.init_args.{key}" for key in inspect.signature(cls.__init__).parameters if key != "self"]


def bad_option(err: Exception, known_data: list[str] = ()) -> UserInputError:
    """jsonargparse's error as one line in the words the user typed (``--data.KEY``, not
    ``--data.init_args.KEY``), with the nearest known option for a misspelt one."""
    known = [s for action in build_parser()._actions for s in action.option_strings] + list(known_data)
    line = one_line(err, known).replace("--data.init_args.", "--data.")
    return UserInputError(f"bad option: {line} (see {invoked_as('analyze')} --help)")


def printable(options: Namespace) -> str:
    """The settled options as the YAML a ``--config`` file takes."""
    return build_parser().dump(options, skip_none=False)


def analysis_settings(options: Namespace) -> dict:
    """The ``Analysis`` keywords the options give (``NOT_FROM_ANALYSIS`` aside), each section's
    settings as its dataclass (``registry.REGISTRY[name].settings``; out-of-range values are a
    ``UserInputError`` from the dataclass)."""
    names = [n for n in inspect.signature(Analysis.__init__).parameters if n not in NOT_FROM_ANALYSIS | {"self"}]
    settings = {name: options[name] for name in names}
    for name, entry in REGISTRY.items():
        if entry.settings is not None:
            given = settings[name]
            settings[name] = entry.settings(**(given.as_dict() if hasattr(given, "as_dict") else dict(given)))
    return settings


def sections_of(options: Namespace) -> list[str]:
    """The requested sections, in the order the report shows them."""
    if options.sections is None:
        return list(SECTIONS)
    requested = [s.strip() for s in str(options.sections).split(",") if s.strip()]
    for section in requested:
        if section not in SECTIONS:
            raise UserInputError(f"unknown section {section!r}; choose from {', '.join(SECTIONS)}")
    if not requested:
        raise UserInputError(f"--sections is empty; choose from {', '.join(SECTIONS)}")
    return [s for s in SECTIONS if s in requested]
