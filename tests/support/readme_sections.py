"""Sections of README.md as the README tests read them: the text under some ``###``
headings, its fenced blocks by language, and the ``.venv/bin/tradeloom`` commands shown."""

from __future__ import annotations

import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


class ReadmeSections:
    """The README text under ``heads`` (each up to the next ``###`` heading)."""

    def __init__(self, *heads: str) -> None:
        self.heads = heads

    def text(self) -> str:
        text = README.read_text(encoding="utf-8")
        out = []
        for head in self.heads:
            start = text.index(head)
            end = text.index("\n### ", start + 1)
            out.append(text[start:end])
        return "\n".join(out)

    def blocks(self, lang: str) -> list[str]:
        """The fenced blocks whose opening fence names ``lang`` ("" for none)."""
        found: list[str] = []
        current: list[str] | None = None
        kind = ""
        for line in self.text().splitlines(keepends=True):
            if line.startswith("```"):
                if current is None:
                    current, kind = [], line[3:].strip()
                else:
                    if kind == lang:
                        found.append("".join(current))
                    current = None
            elif current is not None:
                current.append(line)
        return found

    def commands(self) -> list[list[str]]:
        """Every ``.venv/bin/tradeloom`` line of the plain blocks, continuation lines joined
        and a trailing ``  # comment`` dropped, split as a shell would."""
        return [shlex.split(line.split("  #")[0]) for block in self.blocks("")
                for line in block.replace("\\\n", " ").splitlines()
                if line.startswith(".venv/bin/tradeloom")]
