"""The one exception type users see.

Anything that is the user's doing (a bad file, option or config key) raises
:class:`WorldgenError` with a message that names the file, field or option and
what was expected. The CLI prints the message and exits non-zero; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class WorldgenError(Exception):
    """A user-facing error: bad input, bad option, unwritable output.

    Args:
        message: what went wrong and what was expected, naming the file,
            field or option.
    """


def missing_dependency(package: str, *, extra: str, purpose: str) -> WorldgenError:
    """An error for an optional dependency that is not installed.

    Args:
        package: the import name that failed.
        extra: the ``pip install worldgen-sim[extra]`` that brings it.
        purpose: what it is needed for.
    """
    return WorldgenError(
        f"{purpose} needs the optional package '{package}', which is not installed; "
        f"install it with: pip install 'worldgen-sim[{extra}]'"
    )
