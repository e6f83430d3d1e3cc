"""Every ``--help`` example runs as written.

The examples are parsed out of each command's (and group's) help text, then run in
one scratch project directory, in the order a new user would (load the sample before
backtesting it, register a deployment before promoting it), with the repository's
``examples/``, ``research/`` and ``regress/`` linked in and a fresh catalog at
``datasets/catalog``. Every file an example names must exist. An example whose
command is not in ``ORDER`` and not in ``ELSEWHERE`` fails the test: a new example
cannot be skipped silently.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from tradeloom.cli.main import app

ROOT = Path(__file__).resolve().parents[3]

#: Commands whose examples need a live exchange or run until stopped: where they run.
ELSEWHERE = {
    ("paper",): "needs a venue: tests/integration/test_live_examples.py runs it against the "
                "venue emulator (--api-url)",
    ("live",): "needs a venue: tests/integration/test_live_examples.py",
    ("doctor",): "needs a venue: tests/integration/test_live_examples.py",
    ("reconcile",): "needs a venue and a session's state: tests/integration/"
                    "test_venue_reconcile.py runs `reconcile CONFIG --accept` on the emulator",
    ("ingest",): "downloads from an exchange: tests/integration/test_ingest.py (emulator)",
    ("data", "repair"): "downloads from an exchange: tests/integration/test_ingest_repair.py",
    ("serve",): "serves until stopped: tests/unit/app/test_server.py",
    ("train",): "ML stack: its examples (examples/ml/) run in the ML tests",
    ("retrain",): "ML stack: its examples (examples/ml/) run in the ML tests",
    ("schedule",): "ML stack: its examples (examples/ml/) run in the ML tests",
    ("models",): "ML stack: its examples (examples/ml/) run in the ML tests",
}


def elsewhere(words: tuple[str, ...]) -> bool:
    """Whether the command (or a group it belongs to) runs its examples in another test."""
    return any(words[:n] in ELSEWHERE for n in range(1, len(words) + 1))

#: The run order (command words); exit codes other than 0 an example may end with.
ORDER: list[tuple[tuple[str, ...], frozenset[int]]] = [
    (("data", "load-sample"), frozenset()),
    (("data",), frozenset()),
    (("data", "list"), frozenset()),
    (("data", "check"), frozenset({1})),  # the sample's gaps are reported, exit 1
    (("data", "import"), frozenset()),
    (("data", "gaps"), frozenset()),
    (("data", "gaps", "list"), frozenset()),
    (("data", "gaps", "ack"), frozenset()),
    (("data", "gaps", "forget"), frozenset()),
    (("backtest",), frozenset()),
    (("check-fast",), frozenset()),
    (("sweep",), frozenset()),
    (("walkforward",), frozenset()),
    (("optimize",), frozenset()),
    (("universe",), frozenset()),
    (("regime",), frozenset()),
    (("regress",), frozenset()),
    (("deploy-register",), frozenset()),
    (("deployments",), frozenset()),
    (("promote",), frozenset()),
    (("demote",), frozenset()),
    (("retire",), frozenset()),
    (("audit", "verify"), frozenset()),
    (("audit",), frozenset()),
    (("replay",), frozenset()),
    (("kill",), frozenset()),
    (("status",), frozenset({1})),  # no runner publishes in the scratch dir: exit 1
    (("data", "delete"), frozenset()),  # last: it removes a month the examples above read
]


def _helps() -> list[tuple[tuple[str, ...], str]]:
    """(command words, help text) of every command and group, groups before members."""
    out: list[tuple[tuple[str, ...], str]] = []

    def walk(cmd, words):
        if cmd.help and words:
            out.append((words, cmd.help))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    return out


def examples(help_text: str) -> list[str]:
    """The example command lines of one help text (continuations joined).

    >>> examples("Do it.\\n\\nExample:  tradeloom x a\\n\\nExample (after y):\\n\\n"
    ...          "  tradeloom x b \\\\\\n    --c\\n\\nExit code 0.")
    ['tradeloom x a', 'tradeloom x b --c']
    """
    found: list[str] = []
    in_block = False
    for para in re.split(r"\n\s*\n", help_text):
        text = " ".join(part.strip().rstrip("\\").strip() for part in para.splitlines())
        head = re.match(r"^Example[^:]*:\s*(.*)$", text)
        if head:
            in_block = True
            text = head.group(1)
        elif not (in_block and text.startswith("tradeloom ")):
            in_block = False
            continue
        if "tradeloom " in text:
            found.append(text)
    return found


def _all_examples() -> list[tuple[tuple[str, ...], str]]:
    return [(words, ex) for words, text in _helps() for ex in examples(text)]


def _argv(example: str) -> list[str]:
    command = example.split(" | ", 1)[0]  # `... --json | jq ...`: the tradeloom part
    argv = shlex.split(command)
    assert "tradeloom" in argv, example
    return argv[argv.index("tradeloom") + 1:]  # after VAR=value prefixes


def test_every_example_is_run_here_or_elsewhere():
    runs = {words for words, _ in ORDER}
    for words, example in _all_examples():
        assert words in runs or elsewhere(words), (
            f"`tradeloom {' '.join(words)} --help` shows {example!r}: add it to ORDER in "
            "this test (or to ELSEWHERE with where it runs)")


#: Files the examples write themselves (the catalog's audit log) are not shipped.
OUTPUTS = ("datasets/catalog/",)
#: The ML commands' example files ship with the ML stack (``examples/ml/``), tested there.
ML_STACK = frozenset({"train", "retrain", "schedule", "models"})


def test_every_file_an_example_names_ships_in_the_repo():
    names = [a for words, ex in _all_examples() if words[0] not in ML_STACK
             for a in _argv(ex) if re.search(r"\.(toml|csv|jsonl|py(:\w+)?)$", a)
             and not a.startswith(OUTPUTS)]
    assert {"examples/paper.toml", "examples/live.toml"} <= set(names)
    for name in names:
        assert (ROOT / name.split(":")[0]).is_file(), f"{name} is named by a --help example"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch directory laid out like a checkout, with its own catalog."""
    for name in ("examples", "research", "regress"):
        (tmp_path / name).symlink_to(ROOT / name)
    catalog = tmp_path / "datasets" / "catalog"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADELOOM_CATALOG", str(catalog))
    monkeypatch.setenv("USER", "examples-test")
    monkeypatch.delenv("TRADELOOM_AUDIT_LOG", raising=False)
    return tmp_path


def test_every_help_example_runs_as_written(project):
    by_command: dict[tuple[str, ...], list[str]] = {}
    for words, example in _all_examples():
        by_command.setdefault(words, []).append(example)
    ran = []
    for words, allowed in ORDER:
        for example in by_command.get(words, []):
            result = CliRunner().invoke(app, _argv(example), catch_exceptions=False)
            assert result.exit_code in {0, *allowed}, f"{example}\n{result.output}"
            ran.append(example)
    expected = [ex for words, ex in _all_examples() if not elsewhere(words)]
    assert sorted(ran) == sorted(expected) and len(ran) >= 20
    assert (project / "runs" / "sma" / "result.json").is_file()
    assert (project / "state" / "live" / "KILL.binance-main").is_file()


def _readme_blocks(section: str) -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"### {section}")
    end = text.index("\n### ", start + 4)
    blocks = re.findall(r"```\n(.*?)```", text[start:end], re.S)
    return [[line.split("  #")[0].strip() for line in b.splitlines() if line.strip()]
            for b in blocks]


def test_the_readme_paper_and_live_steps_run_as_written(project):
    """Step 1 as written gets sma-btc to paper; step 3 is then refused for want of paper
    days - the gates the README describes; the paper, live, doctor and kill lines are the
    examples ``tests/integration/test_live_examples.py`` runs against the emulator."""
    step1, step2, step3, step4 = _readme_blocks("Paper and live trading")
    for line in step1:
        result = CliRunner().invoke(app, _argv(line), catch_exceptions=False)
        assert result.exit_code == 0, f"{line}\n{result.output}"
    listed = CliRunner().invoke(app, ["deployments", "--json"])
    assert '"stage": "paper"' in listed.output
    (promote_live,) = step3
    refused = CliRunner().invoke(app, _argv(promote_live), catch_exceptions=False)
    assert refused.exit_code == 1 and "FAIL  paper_days" in refused.output
    assert [_argv(x)[0] for x in step2] == ["paper", "status", "replay"]
    assert [_argv(x)[:2] for x in step4 if "tradeloom" in x] == [
        ["doctor", "examples/live.toml"], ["live", "examples/live.toml"],
        ["kill", "examples/live.toml"]]
