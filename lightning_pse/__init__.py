"""lightning_pse: train robust image classifiers and explain adversarial examples by activation
promotion and suppression (see docs/method.md)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lightning_pse")
except PackageNotFoundError:  # a source checkout that is not installed
    __version__ = "unknown"
