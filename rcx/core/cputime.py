"""The CPU time of one evaluation: the process's CPU clock, less the main thread's when the
evaluation runs in another thread (:func:`rcx.core.runner.evaluate_one` uses it).

Why both clocks: the process clock (:func:`time.process_time`, user + system time of every
thread) counts torch's intra-op pool, BLAS threads and any thread the evaluator starts, which
a thread's own clock (:func:`time.thread_time`) would miss. But it also counts what other
threads of the process do meanwhile. Where the evaluation runs off the main thread (the TUI
runs the in-process executor in a worker thread; a Ray worker runs each task in a thread of
its own), the main thread is known not to work for it: the TUI draws its screen there, a Ray
worker waits there. Its CPU clock is read through :func:`time.pthread_getcpuclockid` and
:func:`time.clock_gettime` (Linux and most Unixes) and its share is taken off. Other Python
threads are left in: a thread that existed before the evaluation may still work for it (a pool
an evaluator keeps between evaluations), and rcx cannot tell.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
"""A CPU clock: a reading in seconds; only differences between two readings mean anything."""


def main_thread_clock() -> Clock | None:
    """The main thread's CPU clock, when the caller runs in another thread and the platform
    has per-thread CPU clocks; None otherwise (the caller is the main thread, no such clock:
    Windows, macOS without ``pthread_getcpuclockid``)."""
    main = threading.main_thread()
    if threading.current_thread() is main or main.ident is None:
        return None
    try:
        clock_id = time.pthread_getcpuclockid(main.ident)
        time.clock_gettime(clock_id)
    except (AttributeError, OSError, OverflowError):
        return None
    return lambda: time.clock_gettime(clock_id)


def cpu_stopwatch(process: Clock = time.process_time, others: Clock | None = None) -> Clock:
    """Start counting CPU seconds; returns the function that reads the count so far.

    The count is ``process``'s advance (default: this process's CPU clock, every thread) less
    ``others``'s advance (the CPU clock of threads known not to work for the evaluation, such as
    :func:`main_thread_clock`'s; None: nothing taken off). Where ``others`` cannot be read at
    the start or at the end (its thread has ended), the count is the process's alone. Never
    negative (seconds, float)."""
    p0, o0 = process(), _read(others)

    def count() -> float:
        spent = process() - p0
        o1 = _read(others)
        if o0 is not None and o1 is not None:
            spent -= o1 - o0
        return max(spent, 0.0)

    return count


def _read(clock: Clock | None) -> float | None:
    if clock is None:
        return None
    try:
        return clock()
    except OSError:  # the thread has ended (EINVAL)
        return None
