"""The commands and files the docs print, read from the Markdown itself, so a test runs what a user reads."""

from __future__ import annotations

import re


def bash_lines(text: str) -> list[str]:
    """Logical lines of the ```bash blocks: continuations joined, comments cut."""
    out: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s#\s|\s#$|\s{2,}#", line, maxsplit=1)[0].strip()
            if line:
                out.append(line)
    return out


def section(text: str, heading: str) -> str:
    """The Markdown under `heading` (a whole heading line, e.g. "### 1. Check an image from a registry"),
    up to the next heading of the same or a higher level; '' when the heading is not there."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    try:
        start = lines.index(heading) + 1
    except ValueError:
        return ""
    end, fenced = len(lines), False
    for i in range(start, len(lines)):
        if lines[i].startswith("```"):
            fenced = not fenced  # a `# comment` in a code block is not a heading
            continue
        m = re.match(r"^(#+) ", lines[i])
        if m and not fenced and len(m.group(1)) <= level:
            end = i
            break
    return "\n".join(lines[start:end]) + "\n"


def yaml_block(text: str) -> str:
    """The first ```yaml block of `text`."""
    m = re.search(r"```yaml\n(.*?)```", text, re.S)
    return m.group(1) if m else ""
