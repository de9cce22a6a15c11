"""The one exception type users see.

Every problem caused by input (a missing file, a bad layer name, an impossible size, weights
that cannot be had) is raised as :class:`NSTError` with a single line that says *what* is wrong,
*where*, and *what to do*. The ``nst`` command prints that line and exits non-zero; notebooks
show it as an ordinary exception.
"""


class NSTError(Exception):
    """A user-facing error whose message is one complete, actionable line."""


def one_line(err: BaseException, limit: int = 200) -> str:
    """``err`` as ``Type: message`` on one line, cut to ``limit`` characters, for the cause
    an :class:`NSTError` quotes in brackets (torch's messages can run over many lines)."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
