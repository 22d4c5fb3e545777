"""Errors a user can act on.

Bad input must end in one line that names the field (as a dotted path) and says
what would fix it; the CLI prints it and exits with code 2. Everything that is a
user's mistake is raised as :class:`ConfigError`; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """Invalid experiment input: ``path`` is the dotted path of the offending field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix when a close match exists, else ``""``."""
    choices = [str(c) for c in choices]
    match = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if not match and len(str(word)) >= 3:
        # an abbreviation ("expo" for "exponential") is too short for difflib's ratio
        prefixed = [c for c in choices if c.lower().startswith(str(word).lower())]
        match = prefixed if len(prefixed) == 1 else []
    return f" (did you mean '{match[0]}'?)" if match else ""


def one_of(choices: Iterable[str]) -> str:
    """Render a list of valid choices for an error message."""
    return ", ".join(f"'{c}'" for c in choices)
