"""``rtp-tag``'s command line: every ``serve`` option can be set from the environment,
and ``--help`` says which variable and what default."""

from __future__ import annotations

import argparse

import pytest

import rtp_tag
from rtp_tag import cli


def _serve_options() -> list[argparse.Action]:
    commands = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [action for action in commands.choices["serve"]._actions if action.dest != "help"]


def test_serve_help_names_the_environment_variable_and_default_of_every_option():
    options = _serve_options()
    assert {action.dest for action in options} >= {"host", "port", "db", "dist", "campaigns"}
    for action in options:
        assert "[env RTP_TAG_" in action.help and "; default: " in action.help, action.option_strings


def test_an_environment_variable_sets_an_option_and_the_option_wins(monkeypatch):
    monkeypatch.setenv("RTP_TAG_PORT", "9123")
    monkeypatch.setenv("RTP_TAG_DB", "from-env.sqlite3")
    args = cli.parser().parse_args(["serve", "--db", "given.sqlite3"])
    assert (args.port, args.db) == (9123, "given.sqlite3")


def test_a_malformed_environment_variable_is_an_error_naming_it(monkeypatch, capsys):
    monkeypatch.setenv("RTP_TAG_PORT", "eighty")
    with pytest.raises(SystemExit):
        cli.parser()
    assert "RTP_TAG_PORT='eighty' is not a valid --port value" in capsys.readouterr().err


def test_version_says_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"rtp-tag {rtp_tag.__version__}"
