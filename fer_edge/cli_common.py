"""What every ``fer-edge`` verb shares: the command group, one-line failures, exit codes, the options declared
once (model, device, threads, frames, sources) and making a recognizer."""
from __future__ import annotations

import os
import sys

import click

from . import __version__

EXIT_INPUT_ERROR = 1  # some inputs could not be read (the good ones were still reported)
EXIT_USAGE = 2        # bad options, missing model, missing data: nothing was done


def fail(message: str, code: int = EXIT_USAGE):
    """Print one line and exit: no traceback for errors a user can fix."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def require_extra(module: str, extra: str, what: str):
    """Import ``module`` for ``what`` (a verb or an option), or fail in one line naming the extra that brings it:
    the device install has none of the extras."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        fail(f"{what} needs the {extra} extra: pip install 'fer-edge[{extra}]' ({e.name or module} is missing)")


def _needs_training_extra(e: ImportError):
    fail(f"this command needs the training extra ({e.name or e}); install it from the checkout with: pip install '.[train]'")


class _Verbs(click.Group):
    """The device verbs are defined in this module; the workstation verbs (train, convert, benchmark...) come
    from the ``fer_edge.verbs`` entry points (``fer_edge.release.cli``), loaded when a verb is not found here
    or the list is shown: the runtime imports nothing of the layers above it."""

    _loaded = False

    def _load_plugins(self) -> None:
        if not _Verbs._loaded:
            _Verbs._loaded = True
            from importlib.metadata import entry_points

            for ep in entry_points(group="fer_edge.verbs"):
                ep.load()  # the module registers its verbs on this group

    def list_commands(self, ctx):
        self._load_plugins()
        return super().list_commands(ctx)

    def invoke(self, ctx):
        """The verb; a closed stdout or Ctrl-C before its own handling ends it as :mod:`fer_edge.launch` says
        (click would print "Aborted!" or exit 1 on a broken pipe)."""
        from . import endings

        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            endings.output_closed()
        except KeyboardInterrupt as e:
            endings.interrupted(str(e) or "SIGINT")

    def get_command(self, ctx, name):
        if name not in self.commands:
            self._load_plugins()
        return super().get_command(ctx, name)


@click.group(cls=_Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fer-edge")
@click.option("--verbose", "-v", is_flag=True,
              help="Show TensorFlow/LiteRT log lines (quiet by default); camera and serve also say every 5 s where "
                   "a frame's milliseconds went, stage by stage.")
def main(verbose):
    """Facial emotion recognition on edge devices."""
    if verbose:
        os.environ["FER_EDGE_VERBOSE"] = "1"


def _options(*decorators):
    def apply(command):
        for d in reversed(decorators):
            command = d(command)
        return command
    return apply


#: The options every verb that runs the recognizer declares once (predict, camera, serve).
model_option = click.option(
    "--model", "-m", default=None,
    help="TFLite model path, bundled name or tier (default, fast, accurate); default: the bundled default model. "
         "With --device, the *_edgetpu.tflite from 'fer-edge convert --edgetpu'.")
device_option = click.option("--device", "device", default=None,
                             help="Edge TPU device: usb, usb:N, pci, pci:N (default: CPU); needs a compiled model.")
threads_option = click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
                              help="CPU threads for LiteRT.")


def answer_options(command):
    """``--balanced`` and ``--min-emotion-score``: which answer a face gets (predict, camera, serve)."""
    command = click.option("--min-emotion-score", type=click.FloatRange(0, 1), default=0.0, show_default=True,
                           help="Report a face whose top calibrated probability is below this as not sure "
                                "(emotion null; probabilities kept). docs/integrations.md: which threshold gives "
                                "which precision.")(command)
    return click.option("--balanced", is_flag=True,
                        help="The balanced operating point: fear and sadness found more often, at a little "
                             "accuracy (per-class offsets from the model's metadata).")(command)


max_frames_option = click.option("--max-frames", type=click.IntRange(min=1), default=None,
                                 help="Videos and cameras: stop after this many frames.")


def source_options(realtime: bool):
    """``--source``, ``--size``, ``--loop``, ``--realtime`` (``realtime``: its default), ``--json-out``."""
    return _options(
        click.option("--source", default="picamera2", show_default=True,
                     help="picamera2, an OpenCV camera index, or a video file."),
        click.option("--size", default="640x480", show_default=True, help="Capture size WIDTHxHEIGHT."),
        click.option("--loop/--no-loop", default=False, help="A video file: start over at its end."),
        click.option("--realtime/--no-realtime", default=realtime, show_default=True,
                     help="A video file: play at its own frame rate (--no-realtime: as fast as the CPU goes)."),
        click.option("--json-out", default=None,
                     help="Write one JSON line per frame to this file ('-' for stdout); an existing file is refused."),
        click.option("--append", is_flag=True, help="With --json-out FILE: add to the file when it exists."))


def _recognizer_from(options):
    """An EmotionRecognizer, or the one line that says why it cannot be made."""
    from .interpreter import ModelError, RuntimeMissingError
    from .metadata import MetadataError
    from .recognizer import EmotionRecognizer

    try:
        return EmotionRecognizer(options)
    except (ModelError, MetadataError, RuntimeMissingError, RuntimeError, ValueError) as e:
        fail(str(e))
