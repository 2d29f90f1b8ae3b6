"""lightning_pse: train robust image classifiers and explain adversarial examples by activation
promotion and suppression (see docs/method.md)."""


def __getattr__(name: str):
    """``lightning_pse.__version__``, read from the installed metadata on first use (importing
    ``importlib.metadata`` costs 50 ms before any command could start: the moment before
    ``lightning-pse`` can answer Ctrl-C with its one line)."""
    if name != "__version__":
        raise AttributeError(f"module 'lightning_pse' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lightning_pse")
    except PackageNotFoundError:  # a source checkout that is not installed
        return "unknown"
