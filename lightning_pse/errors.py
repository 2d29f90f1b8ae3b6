"""Errors caused by the user's input, reported by the command-line tools as one line and exit 2."""


class UserInputError(ValueError):
    """Bad input the user can fix; the message names the problem and the fix."""


class DatasetNotFoundError(UserInputError, FileNotFoundError):
    """A dataset's files are not where the configuration says."""


class UnknownNameError(UserInputError):
    """A model, attack or dataset name that is not registered; the message lists the known ones."""


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None, above: float | None = None
) -> None:
    """Refuse ``value`` outside ``[low, high]`` (or not ``> above``; each bound optional) with a
    one-line error naming the setting, e.g. a negative ε or zero steps, at construction rather
    than after hours of work."""
    if (
        value is None
        or value != value
        or (low is not None and value < low)
        or (high is not None and value > high)
        or (above is not None and value <= above)
    ):
        bounds = " and ".join(
            f"{word} {bound:g}" for word, bound in (("≥", low), ("≤", high), (">", above)) if bound is not None
        )
        raise UserInputError(f"{name} must be {bounds}, got {value!r}")
