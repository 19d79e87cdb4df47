"""The one sequence that runs a validated plan into its results file, for the CLI and the TUI.

Open (take the results file's writer lock, before the dataset loads, so a second writer or an
unwritable folder fails at once), check (an existing file, opened read-only, must pass SQLite's
integrity check and hold this plan, or take a new run: a file refused here is left
byte-identical), connect the executor (a Ray cluster), set up (load the dataset, prepare the
evaluators), run (every evaluation into the store) and close the executor. The caller builds
the :class:`~rcx.core.runner.Runner` (:func:`rcx.exec.build_runner`) with its own event
handler, cancel and pause events, and reports :data:`RUN_ERRORS` as one message.
"""

from __future__ import annotations

from rcx.api.dataset import DatasetError
from rcx.core.device import DeviceError
from rcx.core.runner import ExecutorError, PlanMismatch, Runner
from rcx.core.store import Store, StoreError, WriterLock

RUN_ERRORS: tuple[type[Exception], ...] = (PlanMismatch, StoreError, DatasetError, DeviceError, ExecutorError,
                                           ValueError)
"""Bad input met while opening, checking or setting up a run: one message, no traceback."""


def run_plan(runner: Runner, *, new_run: bool = False, retry_failed: bool = False) -> int:
    """Run ``runner``'s plan into ``runner.plan.output`` and return the run id.

    ``new_run`` starts a new run in a file that holds another plan's; ``retry_failed`` evaluates
    the failed evaluations again. Raises one of :data:`RUN_ERRORS` for bad input; a cancelled run
    returns normally (the caller's cancel event says so) and stays resumable.
    """
    output = runner.plan.output
    with WriterLock(output):
        try:
            if output.exists():  # read-only and verified: a file refused here stays byte-identical
                existing = Store.open_readonly(output, verify=True)
                try:
                    runner.check_store(existing, new_run)
                finally:
                    existing.close()
            if runner.executor is not None:  # an unreachable cluster fails here, before the dataset loads
                runner.executor.connect()
            runner.setup()
            store = Store.open(output, verify=False)  # verified above, under the same lock
            try:
                return runner.run(store, new_run=new_run, retry_failed=retry_failed)
            finally:
                store.close()
        finally:
            if runner.executor is not None:
                runner.executor.close()
