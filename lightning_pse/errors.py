"""Errors caused by the user's input, reported by the command-line tools as one line and exit 2."""


class UserInputError(ValueError):
    """Bad input the user can fix; the message names the problem and the fix."""


class DatasetNotFoundError(UserInputError, FileNotFoundError):
    """A dataset's files are not where the configuration says."""


class UnknownNameError(UserInputError):
    """A model, attack or dataset name that is not registered; the message lists the known ones."""
