"""How a ``fer-edge`` run ends when it is interrupted or its reader goes away, the same at every moment
(:mod:`fer_edge.launch` before a verb runs, :mod:`fer_edge.cli_common` while it does). Standard library only:
Ctrl-C may come while numpy is half-imported."""
from __future__ import annotations

import os
import sys

LIVE_VERBS = ("camera", "serve")  # a stop is their normal end: it prints the run's summary


def verb() -> str | None:
    return next((a for a in sys.argv[1:] if not a.startswith("-")), None)


def interrupted(signame: str = "SIGINT") -> None:
    """End the run as the verb ends on Ctrl-C: a live verb's (empty) summary and 0, else one line and 130."""
    if verb() in LIVE_VERBS:
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
