"""Ctrl-C and SIGTERM during training: remember the request instead of dying mid-write.

The first signal only sets a flag; training code checks it at safe points (after a
batch, after an epoch's files are written) and stops cleanly. A second Ctrl-C falls
back to Python's default and aborts at once (files are still never half-written:
every write goes to a temporary name first).

    with capture_stop_signals():
        train(...)          # callbacks call stop_requested()
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
_requested: int | None = None


def stop_requested() -> int | None:
    """The signal number that asked training to stop, or None."""
    return _requested


def request_stop(signum: int | None) -> None:
    """Ask running training to stop at its next safe point (what the handler does);
    None withdraws the request."""
    global _requested
    _requested = signum


def exit_code(signum: int) -> int:
    return 128 + signum  # the shell convention: 130 for SIGINT, 143 for SIGTERM


def _handler(signum, frame):
    first = _requested is None
    request_stop(signum)
    if first:
        # A second Ctrl-C / SIGTERM gets the default behaviour: abort at once.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        print(
            f"\n{SIGNAL_NAMES.get(signum, f'signal {signum}')} received: stopping at the next safe point "
            "(send it again to abort at once)",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def capture_stop_signals():
    """Install the deferring handlers for SIGINT and SIGTERM (main thread only:
    Python refuses signal handlers elsewhere, and there the defaults stay)."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNAL_NAMES}
    _requested = None
    for s in SIGNAL_NAMES:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _requested = None
