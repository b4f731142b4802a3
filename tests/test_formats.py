"""One table of formats: the CLI flags, the docs table and the parity policy all come from it."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fer_edge.cli import main
from fer_edge.converters import formats as F
from fer_edge.converters.parity import Thresholds

ROOT = Path(__file__).parents[1]


def test_docs_table_is_the_formats_table():
    assert F.markdown_table() in (ROOT / "docs" / "converters.md").read_text()


def test_convert_flags_are_the_table_rows():
    help_text = CliRunner().invoke(main, ["convert", "--help"]).output
    for f in F.TABLE:
        assert f.flag in help_text
    r = CliRunner().invoke(main, ["convert", str(ROOT / "tests" / "fixtures" / "edge-s" / "model.keras")])
    assert r.exit_code == 2 and " ".join(f.flag for f in F.TABLE) in r.output


@pytest.mark.runtime
def test_parity_thresholds_follow_each_formats_class():
    t = Thresholds()
    assert t.for_format("float16") == (None, t.float16_min_agreement)
    assert t.for_format("float32") == (None, t.float32_min_agreement)
    for f in F.TABLE:
        if f.parity == "integer":
            assert t.for_format(f.name) == (t.int_max_drop_pp, t.int_min_agreement)
    assert F.INTEGER_FORMATS == ("int8", "pruned", "qat", "edgetpu") and F.FINETUNED == ("pruned", "qat")


def test_every_builder_exists():
    import importlib

    export = importlib.import_module("fer_edge.converters.export")
    assert all(callable(getattr(export, f.builder)) for f in F.TABLE)


@pytest.mark.runtime
def test_every_cli_option_has_help_text():
    import click

    missing = [(name, p.opts) for name, cmd in main.commands.items() for p in cmd.params
               if isinstance(p, click.Option) and not p.help]
    assert not missing
