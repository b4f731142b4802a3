"""The ``fer-edge`` console script. Ctrl-C and a closed stdout end every verb the same way at any moment,
from the interpreter's first import to the last frame: no traceback, no "Aborted!".

- Ctrl-C (or SIGTERM) while ``camera`` or ``serve`` starts: the same ``summary:`` line and exit 0 as a stop
  mid-stream (no frame yet); any other verb: ``interrupted`` and exit 130.
- stdout closed by its reader (``fer-edge predict ... | head``): the run ends quietly with exit 0; the inputs
  left are not reported as failed.
"""
from __future__ import annotations

import os
import signal
import sys

LIVE_VERBS = ("camera", "serve")  # a stop is their normal end: it prints the run's summary


def _verb() -> str | None:
    return next((a for a in sys.argv[1:] if not a.startswith("-")), None)


def interrupted(signame: str = "SIGINT") -> None:
    """End the run as the verb ends on Ctrl-C: a live verb's (empty) summary and 0, else one line and 130."""
    if _verb() in LIVE_VERBS:
        from .stream_summary import StreamSummary  # standard library only: numpy may be half-imported here

        print(StreamSummary(stopped_by=signame).line(), file=sys.stderr, flush=True)
        sys.exit(0)
    print("interrupted", file=sys.stderr, flush=True)
    sys.exit(130)


def output_closed() -> None:
    """The reader of stdout went away: nothing more can be said there, and nothing failed."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not raise again
    except (OSError, ValueError):
        pass
    sys.exit(0)


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run() -> None:
    if _verb() in LIVE_VERBS:  # a service manager's stop while it starts ends it as a stop later does
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        from .cli import main

        main()
    except KeyboardInterrupt as e:
        interrupted(str(e) or "SIGINT")
    except BrokenPipeError:
        output_closed()
