"""The ``lightning-pse`` command (also ``python -m lightning_pse``):

    lightning-pse fit|validate|test [--config NAME_OR_FILE] ...   train.py's LightningCLI
    lightning-pse analyze --ckpt FILE ...                          analyze.py
    lightning-pse dashboard --entity ME                            the W&B workspace
    lightning-pse configs                                          the packaged configs' names

``--config`` takes a file, or the name of a packaged config (``fashion_mnist_cpu_pgd_at``), so the
installed command trains the README's configs from any folder.
"""

from __future__ import annotations

import sys

USAGE = "usage: lightning-pse {fit,validate,test,analyze,dashboard,configs} [options]   (lightning-pse COMMAND --help)"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    command, rest = (argv[0], argv[1:]) if argv else (None, [])
    if command in ("fit", "validate", "test"):
        from .cli import main as train_main

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
        print(__doc__.strip() if command else USAGE)
        sys.exit(0 if command else 2)
    else:
        print(f"error: unknown command {command!r}; {USAGE}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
