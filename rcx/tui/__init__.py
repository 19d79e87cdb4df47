"""The rcx terminal UI (Textual). Imported only by ``rcx`` with no sub-command; the headless
paths never import it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn


def main(target: Path | None = None, execution=None) -> int:
    """Open the app: empty, with a plan file (``.toml``), or on a results file (anything else).

    A plan with a TOML syntax error, or a results file that is not one, is refused with one
    message (exit code 2); a plan with other problems opens with them shown in the form. ctrl+o
    in the app opens another plan or results file the same way (the app closes and one opens on it).
    ``execution`` (:class:`~rcx.exec.ExecutionSettings`, from ``rcx run PLAN --executor ...``)
    fills the Plan screen's execution section. Once the app has run, the process ends with its
    return code (:func:`end_process`); this returns only when the app did not open.
    """
    from rcx.plugins import get_registry
    from rcx.tui.app import RcxApp, load_target

    registry = get_registry()
    loaded = load_target(target) if target is not None else (None, None, None)
    if isinstance(loaded, str):
        print(f"rcx: error: {loaded}", file=sys.stderr)
        return 2
    while True:  # ctrl+o opens another file: a new app on it, as `rcx FILE` would open
        app = RcxApp(registry, *loaded, execution)
        app.run()
        if app.reopen is None:
            break
        loaded, execution = app.reopen, app.execution
    end_process(app.return_code or 0)


def end_process(code: int) -> NoReturn:
    """End the process once the app has closed: run the exit handlers (a Ray driver's shutdown,
    logging's flush), flush the streams, then leave without the interpreter's teardown. Freeing
    every module and object of a process that imported torch took 3-5 s on a loaded machine,
    after a quit whose run had stopped in a fraction of a second."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone: nothing more can be written anyway
            pass
    os._exit(code)
