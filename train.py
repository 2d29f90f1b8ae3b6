"""Train, validate or test a classifier: ``python train.py fit --config configs/default.yaml``
(the same as ``lightning-pse fit ...``)."""

from lightning_pse.__main__ import script  # light: the heavy imports run inside, where Ctrl-C is one line

if __name__ == "__main__":
    script("train")
