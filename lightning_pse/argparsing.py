"""What ``train.py`` and ``analyze.py`` share around jsonargparse: config files read before the
parser (so a broken one is named), and its nested error text as one line."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from .errors import UserInputError


def check_config_files(argv: list[str]) -> None:
    """Every ``--config FILE`` in ``argv`` exists and is valid YAML, else a one-line error naming it."""
    for i, arg in enumerate(argv):
        path = (
            arg[len("--config=") :]
            if arg.startswith("--config=")
            else (argv[i + 1] if arg == "--config" and i + 1 < len(argv) else None)
        )
        if path is None:
            continue
        try:
            yaml.safe_load(Path(path).read_text())
        except OSError as err:
            raise UserInputError(f"cannot read the config file {path}: {err.strerror}") from None
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise UserInputError(f"the config file {path} is not valid YAML{at}: {problem}") from None


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
