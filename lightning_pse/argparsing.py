"""What ``train.py`` and ``analyze.py`` share around jsonargparse: config files read before the
parser (so a broken one is named), its nested error text as one line, and the command's name as
the user typed it."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

import yaml

from .errors import UserInputError

PACKAGED_CONFIGS = Path(str(files("lightning_pse") / "configs"))  # shipped in the wheel; ./configs in a checkout


# How each tool is started when not through its script: the console command's words.
COMMAND_WORDS = {"train": "lightning-pse", "analyze": "lightning-pse analyze", "dashboard": "lightning-pse dashboard"}


def invoked_as(tool: str) -> str:
    """``tool`` (``train``, ``analyze``, ``dashboard``) as the user typed it, for help and error
    lines: ``python analyze.py`` when that script runs, ``python -m lightning_pse analyze`` under
    ``-m``, else the installed ``lightning-pse analyze`` (``lightning-pse`` for train, whose
    subcommand ``fit`` follows)."""
    started = Path(sys.argv[0]).name
    if started == f"{tool}.py":
        return f"python {tool}.py"
    words = COMMAND_WORDS[tool]
    under_m = started == "__main__.py" and Path(sys.argv[0]).parent.name == "lightning_pse"
    return words.replace("lightning-pse", "python -m lightning_pse") if under_m else words


def packaged_config(name: str) -> Path | None:
    """The packaged config that ``name`` means when no such file exists here: ``pgd_at_fmnist``-style
    names with or without ``.yaml`` and a leading ``configs/`` (``configs/default.yaml``)."""
    stem = name[len("configs/") :] if name.startswith("configs/") else name
    for candidate in (stem, f"{stem}.yaml"):
        path = PACKAGED_CONFIGS / candidate
        if path.is_file():
            return path
    return None


def packaged_config_names() -> list[str]:
    """The packaged configs a ``--config`` can name (``default``, ``fashion_mnist_cpu_pgd_at``, ...)."""
    return sorted(p.stem for p in PACKAGED_CONFIGS.glob("*.yaml"))


def resolve_config_files(argv: list[str]) -> list[str]:
    """``argv`` with every ``--config FILE`` checked: a file here, else the packaged config of that
    name (so ``--config configs/default.yaml`` works from any folder once installed), else a
    one-line error naming it; an existing file must be valid YAML."""
    out = list(argv)
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            index, prefix = i, "--config="
        elif arg == "--config" and i + 1 < len(argv):
            index, prefix = i + 1, ""
        else:
            continue
        value = out[index][len(prefix) :]
        path = Path(value)
        if not path.exists() and packaged_config(value) is not None:
            path = packaged_config(value)
            out[index] = f"{prefix}{path}"
        try:
            yaml.safe_load(path.read_text())
        except OSError as err:
            raise UserInputError(
                f"cannot read the config file {value}: {err.strerror} (packaged configs: "
                f"{', '.join(packaged_config_names())})"
            ) from None
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise UserInputError(f"the config file {value} is not valid YAML{at}: {problem}") from None
    return out


def nearest(option: str, options: Sequence[str]) -> str | None:
    """The known option closest to a misspelt one: same prefix (``--trainer.``), a last part within
    difflib's ratio 0.75 (``max_epoch`` → ``max_epochs``); None when nothing is that close."""
    prefix, _, last = option.rpartition(".")
    same = {o.rpartition(".")[2]: o for o in options if o.rpartition(".")[0] == prefix and o != option}
    close = difflib.get_close_matches(last, list(same), n=1, cutoff=0.75)
    return same[close[0]] if close else None


def one_line(err: BaseException, options: Sequence[str] = ()) -> str:
    """jsonargparse's nested error text as one line in the user's words: the option as typed
    (``--model.init_args.lr``), what it takes (``expected a float``, ``choose one of linf, l2``) and
    what it got; an unknown option with the nearest of ``options`` (``did you mean --trainer.max_epochs``)."""
    text = str(err)
    unknown = re.match(r"unrecognized arguments: (\S+)", text)
    if unknown:
        wrong = unknown.group(1).split("=", 1)[0]
        close = nearest(wrong, options)
        return f"unknown option {wrong}" + (f"; did you mean {close}?" if close else "")
    bad_type = re.match(r"argument (\S+): invalid \w+ value: (.*)", text)
    if bad_type:
        return f"{bad_type.group(1)}: not a valid value: {bad_type.group(2)}"
    keys = re.findall(r'Parser key "([^"]+)"', text)
    if not keys:
        lines = [line.strip(" -") for line in text.splitlines() if line.strip(" -")]
        return lines[0] if lines else type(err).__name__
    option = "--" + keys[0] + "".join(f".init_args.{key}" for key in keys[1:])
    given = re.search(r"Given value: (.*)", text)
    nested = re.search(r"NestedArg\(key='([^']+)', val='(.*)'\)", given.group(1)) if given else None
    if nested and len(keys) == 1:
        option += (".init_args." if "Problem with given class_path" in text else ".") + nested.group(1)
    got = nested.group(2) if nested else (given.group(1).strip() if given else None)
    inner = re.search(r"Expected a <class '([\w.]+)'>\. Got value: (.*)", text)
    choices = re.search(r"Expected a typing\.Literal\[(.*?)\]", text)
    refused = re.search(r"Option '([^']+)' is not accepted", text)
    if inner:
        return f"{option}: expected {inner.group(1).rsplit('.', 1)[-1]}, got {inner.group(2).strip()!r}"
    if choices:
        allowed = ", ".join(c.strip(" '\"") for c in choices.group(1).split(","))
        return f"{option}: choose one of {allowed}" + (f", got {got!r}" if got is not None else "")
    if refused:
        if not option.endswith("." + refused.group(1)):  # from a config file: no NestedArg names it
            joint = ".init_args." if "Problem with given class_path" in text else "."
            option = "--" + ".".join(keys[:-1] + [keys[-1]]) + joint + refused.group(1)
        close = nearest(option, options)
        return f"unknown option {option}" + (f"; did you mean {close}?" if close else "")
    reasons = [
        line.strip(" -")
        for line in text.splitlines()
        if line.strip(" -")
        and not line.strip(" -").startswith(
            (
                "Subtypes:",
                "Errors:",
                "Given value",
                "Parser key",
                "Does not validate",
                "Problem with given",
                "Expected a <class 'NoneType'>",
            )
        )
    ]
    return f"{option}: {reasons[-1] if reasons else 'not a valid value'}" + (
        f" (got {got!r})" if got is not None else ""
    )
