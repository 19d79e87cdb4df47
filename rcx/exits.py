"""Exit codes of the ``rcx`` commands and their one-line error message on stderr.

0 success, 1 unexpected internal error, 2 bad input (plan, names, files, device), 130
interrupted (the results file stays resumable). Shared by :mod:`rcx.cli` and the analyses
behind ``rcx analyze``, so neither imports the other for them.
"""

from __future__ import annotations

import sys

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def error(message: str) -> None:
    """Print ``rcx: error: <message>`` on stderr."""
    print(f"rcx: error: {message}", file=sys.stderr)
