"""The README stays true: every setting is documented, every command named there exists."""

from __future__ import annotations

import re

from click.testing import CliRunner

from bot.cli import cli
from bot.config import SETTINGS
from tests.campaign_factory import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_and_env_example() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in SETTINGS:
        assert f"| `{name}` |" in README, name
        assert f"\n{name}=" in example, name


def test_every_command_in_the_readme_runs_its_help() -> None:
    commands = set(re.findall(r"`campaign-bot ([a-z-]+(?: [a-z-]+)?)", README))
    assert commands
    for command in commands:
        words = [w for w in command.split() if not w.isupper()]
        result = CliRunner().invoke(cli, [*words, "--help"])
        if result.exit_code != 0:  # "library list" and "db upgrade" are two words
            result = CliRunner().invoke(cli, [words[0], "--help"])
        assert result.exit_code == 0, command


def test_the_two_setup_commands_come_first() -> None:
    blocks = re.findall(r"```sh\n(.+?)\n```", README, re.S)
    assert "campaign-bot run" in blocks[0] and "pip install -e ." in blocks[0]
    assert "pytest" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest" in ci and 'pip install -q -e ".[dev]"' in ci


def test_the_readme_names_the_sign_in_button_as_the_page_shows_it() -> None:
    template = (ROOT / "bot" / "web" / "templates" / "plain.html").read_text(encoding="utf-8")
    found = re.search(r'<button type="submit" id="signin">([^<]+)</button>', template)
    assert found is not None
    assert f"press *{found.group(1)}*" in README


def test_sign_up_qr_codes_are_not_committed_by_mistake() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "signup-qr/" in ignored  # `campaign-bot links` writes there by default


def test_run_help_names_the_procfiles_process() -> None:
    process = (ROOT / "Procfile").read_text(encoding="utf-8").split(":")[0]
    shown = " ".join(CliRunner().invoke(cli, ["run", "--help"]).output.split())
    assert f"the Procfile's {process} process" in shown
