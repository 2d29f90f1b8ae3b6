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
import sys

USAGE = "usage: lightning-pse {fit,validate,test,analyze,dashboard,configs} [options]   (lightning-pse COMMAND --help)"


def main(argv: list[str] | None = None) -> None:
    """Run ``argv`` (``sys.argv[1:]``) under ``guarded``."""
    guarded(run, sys.argv[1:] if argv is None else list(argv))


def script(tool: str) -> None:
    """``python train.py ...`` (``tool="train"``: LightningCLI's words, ``fit`` first) and ``python
    analyze.py ...`` (``tool="analyze"``), under ``guarded``."""

    def start(argv: list[str]) -> None:
        if tool == "train":
            from .training.cli import main as tool_main
        else:
            from .analysis.cli import main as tool_main
        tool_main(argv)

    guarded(start, sys.argv[1:])


def guarded(command, argv: list[str]) -> None:
    """``command(argv)``; Ctrl-C at any moment, the imports included, ends with one ``interrupted``
    line and exit code 130 (the tools say what they leave behind once running), and a closed output
    pipe (``| head``) ends quietly."""
    try:
        command(argv)
        sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at interpreter exit
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away: nothing more can be shown, and nothing is wrong.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


def run(argv: list[str]) -> None:
    command, rest = (argv[0], argv[1:]) if argv else (None, [])
    if command in ("fit", "validate", "test"):
        from .training.cli import main as train_main

        train_main(argv)
    elif command == "analyze":
        from .analysis.cli import main as analyze_main

        analyze_main(rest)
    elif command == "dashboard":
        from .dashboard import main as dashboard_main

        dashboard_main(rest)
    elif command == "configs":
        from .argparsing import PACKAGED_CONFIGS, packaged_config_names

        print(f"packaged configs (in {PACKAGED_CONFIGS}; --config NAME):")
        for name in packaged_config_names():
            print(f"  {name}")
    elif command in (None, "-h", "--help"):
        print(__doc__.strip().replace("``", "") if command else USAGE)
        sys.exit(0 if command else 2)
    else:
        print(f"error: unknown command {command!r}; {USAGE}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
