"""Train, validate or test a classifier: ``python train.py fit --config configs/default.yaml``."""

from lightning_pse.cli import main

if __name__ == "__main__":
    main()
