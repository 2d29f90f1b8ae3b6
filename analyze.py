"""Evaluate a checkpoint at every level and write a report: ``python analyze.py --ckpt PATH``
(options: ``python analyze.py --help``; details in ``lightning_pse/analysis/cli.py``; the same as
``lightning-pse analyze ...``)."""

from lightning_pse.__main__ import script  # light: the heavy imports run inside, where Ctrl-C is one line

if __name__ == "__main__":
    script("analyze")
