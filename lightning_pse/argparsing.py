"""What ``train.py`` and ``analyze.py`` share around jsonargparse: config files read before the
parser (so a broken one is named), and its nested error text as one line."""

from __future__ import annotations

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


def one_line(err: BaseException) -> str:
    """jsonargparse's nested error text as one line: the option it is about and the innermost reason."""
    lines = [line.strip(" -") for line in str(err).splitlines() if line.strip(" -")]
    if not lines:
        return type(err).__name__
    reasons = [
        line
        for line in lines
        if not line.startswith(
            ("Subtypes:", "Errors:", "Given value type", "Parser key", "Does not validate", "Problem with given")
        )
    ]
    head = lines[0] if lines[0].startswith("Parser key") else ""
    return " ".join(part for part in (head, reasons[-1] if reasons else "") if part) or lines[0]
