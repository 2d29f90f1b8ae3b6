"""Every configuration that ships with the package parses into a complete training configuration
(``train.py fit --config NAME --print_config``): a typo in a key, a class path or a block file fails
here, not on a user's machine an hour into a run."""

import pytest
import yaml

from lightning_pse.argparsing import packaged_config_names

from helpers import call_train

TRAINING_CONFIGS = [name for name in packaged_config_names() if "/" not in name]


def test_the_package_ships_the_documented_configs():
    for name in ("default", "fashion_mnist_cpu_pgd_at", "fashion_mnist_cpu_trades", "fashion_mnist_cpu_pse_at"):
        assert name in TRAINING_CONFIGS


@pytest.mark.parametrize("name", TRAINING_CONFIGS)
def test_every_shipped_config_parses(name):
    result = call_train("fit", "--config", name, "--print_config")
    assert result.returncode == 0, result.stderr[-2000:]
    config = yaml.safe_load(result.stdout)
    assert config["model"]["class_path"].startswith("lightning_pse.training.")
    assert config["data"]["class_path"].startswith("lightning_pse.data.")
    assert config["trainer"]["max_epochs"] >= 1
