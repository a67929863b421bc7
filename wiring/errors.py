"""The project's own error types: a value the user gave that cannot be used.

The library follows Python's convention for bad arguments: a ``ValueError`` (or a ``TypeError`` for
an argument of the wrong type) whose message names the argument, what was expected and what was
found. :class:`WiringError` marks the errors that are *about the user's input* and nothing else:
the ``wiring`` command prints one of these as a single line and exits with code 2, while any other
exception -- a bug in this project or in a library below it -- keeps its traceback.

=====================  ===========================================================================
:class:`WiringError`   base class (a ``ValueError``, so ``except ValueError`` still catches it)
:class:`ConfigError`   an option or a configuration value (an option object's field, a TOML key);
                       the message starts with the option's (dotted) name
=====================  ===========================================================================

Examples
--------
>>> from wiring.train import TrainConfig
>>> try:
...     TrainConfig(epochs=0)
... except WiringError as err:
...     print(type(err).__name__, "-", err)
ConfigError - epochs: expected an integer >= 1, found 0
"""

from __future__ import annotations

__all__ = ["ConfigError", "WiringError"]


class WiringError(ValueError):
    """A value given by the user (an argument, an option, a file's content) cannot be used.

    The message names the value, what was expected and what was found.
    """


class ConfigError(WiringError):
    """An option or configuration value that cannot be used; the message starts with its name.

    Raised by the option objects (:mod:`wiring.options`) and by the TOML configs
    (:mod:`wiring.config`), where the name is the dotted key, e.g. ``train.epochs``.
    """
