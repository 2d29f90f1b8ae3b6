"""Evaluate a checkpoint at every level and write a report: ``python analyze.py --ckpt PATH``
(options: ``python analyze.py --help``; details in ``lightning_pse/analysis/cli.py``)."""

from lightning_pse.analysis.cli import main

if __name__ == "__main__":
    main()
