"""The ``fer-edge`` console script. Ctrl-C and a closed stdout end every verb the same way at any moment,
from the interpreter's first import to the last frame: no traceback, no "Aborted!".

- Ctrl-C (or SIGTERM) while ``camera`` or ``serve`` starts: the same ``summary:`` line and exit 0 as a stop
  mid-stream (no frame yet); any other verb: ``interrupted`` and exit 130.
- stdout closed by its reader (``fer-edge predict ... | head``): the run ends quietly with exit 0; the inputs
  left are not reported as failed.
"""
from __future__ import annotations

import signal
import sys

from .endings import LIVE_VERBS, interrupted, output_closed, verb


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run() -> None:
    if verb() in LIVE_VERBS:  # a service manager's stop while it starts ends it as a stop later does
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        import click

        from .cli import main

        try:
            rv = main.main(standalone_mode=False)  # click's own handling would say "Aborted!" and exit 1
        except click.exceptions.Abort as e:
            raise KeyboardInterrupt(str(e.__cause__ or "") or "SIGINT") from None
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)
    except KeyboardInterrupt as e:
        interrupted(str(e) or "SIGINT")
    except BrokenPipeError:
        output_closed()
