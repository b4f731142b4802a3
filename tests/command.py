"""The installed ``fer-edge`` command, run as a user runs it.

Not ``python -m fer_edge.cli``: from the repository root that puts the checkout's ``fer_edge/`` before the
installed package, and the tests run against the installed package (an editable install maps the folders).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

_script = shutil.which("fer-edge", path=str(Path(sys.executable).parent)) or shutil.which("fer-edge")
#: argv prefix of the command: the console script beside this Python (its venv's), else on PATH
FER_EDGE = [_script] if _script else [sys.executable, "-m", "fer_edge.cli"]
