"""The ``fer-edge`` command: one verb per job.

The device verbs live here (``predict``, ``models``, ``camera``, ``serve``,
``monitor``) and need only numpy, OpenCV and LiteRT (``serve`` adds aiohttp,
MQTT adds paho-mqtt); the workstation verbs (``train``, ``campaign``,
``evaluate``, ``convert``, ``parity``, ``benchmark``, ``data``) live in
:mod:`fer_edge.release.cli`, registered through the ``fer_edge.verbs`` entry
point; they import TensorFlow/Keras lazily and say which extra to install when
it is missing. Every error is one line on stderr and a
non-zero exit.
"""
from __future__ import annotations

from . import cli_camera, cli_predict  # noqa: F401  (they register their verbs on the group)
from .cli_camera import camera_command  # noqa: F401  (examples/pi_camera.py)
from .cli_common import EXIT_INPUT_ERROR, EXIT_USAGE, _needs_training_extra, fail, main  # noqa: F401

if __name__ == "__main__":  # python -m fer_edge.cli: the package module's group, where the entry points register
    from fer_edge.cli import main as _main

    _main()
