"""The ``lightning-pse`` command (also ``python -m lightning_pse``):

    lightning-pse fit|validate|test [--config NAME_OR_FILE] ...   train.py's LightningCLI
    lightning-pse analyze --ckpt FILE ...                          analyze.py
    lightning-pse dashboard --entity ME                            the W&B workspace
    lightning-pse configs                                          the packaged configs' names

``--config`` takes a file, or the name of a packaged config (``fashion_mnist_cpu_pgd_at``), so the
installed command trains the README's configs from any folder.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

USAGE = "usage: lightning-pse {fit,validate,test,analyze,dashboard,configs} [options]   (lightning-pse COMMAND --help)"
INTERRUPTED_EXIT_CODE = 128 + signal.SIGINT


def main(argv: list[str] | None = None) -> None:
    """Run ``argv`` (``sys.argv[1:]``) under ``guarded``."""
    guarded(load_command, sys.argv[1:] if argv is None else list(argv))


def script(tool: str) -> None:
    """``python train.py ...`` (``tool="train"``: LightningCLI's words, ``fit`` first) and ``python
    analyze.py ...`` (``tool="analyze"``), under ``guarded``."""

    def load(argv: list[str]) -> tuple[Callable[[list[str]], None], list[str]]:
        if tool == "train":
            from .training.cli import main as tool_main
        else:
            from .analysis.cli import main as tool_main
        return tool_main, argv

    guarded(load, sys.argv[1:])


def guarded(load, argv: list[str]) -> None:
    """``command(args)`` where ``command, args = load(argv)``. Ctrl-C at any moment ends with one
    ``interrupted`` line and exit code 130, and a closed output pipe (``| head``) ends quietly.

    Ctrl-C while ``load`` imports torch and Lightning ends the process at once (nothing is written
    yet): a ``KeyboardInterrupt`` raised inside an import can leave a library half-imported (numpy
    then fails on its next use with an unrelated error) or, raised in code a C extension runs, make
    the interpreter kill itself by SIGINT at exit after our line. Once the command runs, SIGINT has
    its previous handler back (Python's ``KeyboardInterrupt``), so the tools can say what they leave
    behind."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # a process told to ignore SIGINT keeps ignoring it
        signal.signal(signal.SIGINT, _exit_interrupted)
    try:
        command, args = load(argv)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        command(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at interpreter exit
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except BrokenPipeError:
        # The reader went away: nothing more can be shown, and nothing is wrong.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


def _exit_interrupted(signum, frame) -> None:
    """The SIGINT handler while the command's modules import: one line, exit 130, no unwinding."""
    os.write(sys.stderr.fileno(), b"interrupted\n")
    os._exit(INTERRUPTED_EXIT_CODE)


def load_command(argv: list[str]) -> tuple[Callable[[list[str]], None], list[str]]:
    """The function that runs ``argv``'s command, imported, and the arguments it takes."""
    command, rest = (argv[0], argv[1:]) if argv else (None, [])
    if command in ("fit", "validate", "test"):
        from .training.cli import main as train_main

        return train_main, argv
    if command == "analyze":
        from .analysis.cli import main as analyze_main

        return analyze_main, rest
    if command == "dashboard":
        from .dashboard import main as dashboard_main

        return dashboard_main, rest
    if command == "configs":
        return list_configs, rest
    if command in (None, "-h", "--help"):
        return (show_help if command else show_usage), rest
    print(f"error: unknown command {command!r}; {USAGE}", file=sys.stderr)
    sys.exit(2)


def list_configs(argv: list[str]) -> None:
    from .argparsing import PACKAGED_CONFIGS, packaged_config_names

    print(f"packaged configs (in {PACKAGED_CONFIGS}; --config NAME):")
    for name in packaged_config_names():
        print(f"  {name}")


def show_help(argv: list[str]) -> None:
    print(__doc__.strip().replace("``", ""))


def show_usage(argv: list[str]) -> None:
    print(USAGE)
    sys.exit(2)


if __name__ == "__main__":
    main()
