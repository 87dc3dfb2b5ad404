""".gitignore rules for ``preupload``: the Hub answers ``shouldIgnore`` for files the repo's
``.gitignore`` (or the one sent in the same commit) excludes, and stock clients leave them out.

The common git rules: ``#`` comments, ``!`` negation (last matching rule wins), a trailing ``/``
for folders only, a ``/`` inside a pattern anchors it to the root (else it matches at any depth),
``*``, ``?``, ``[...]`` and ``**``. A file is ignored if it or one of its folders is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_GITIGNORE_BYTES = 1024 * 1024
"""A larger .gitignore is not read (a limit on work per preupload)."""


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    folders_only: bool


def _translate(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


class GitIgnore:
    """Compiled rules of one ``.gitignore`` text."""

    def __init__(self, text: str):
        self.rules: list[_Rule] = []
        for raw in text.splitlines()[:10000]:
            line = raw.rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line[1:] if negated else line
            folders_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            anchored = "/" in line
            body = _translate(line.lstrip("/"))
            try:
                regex = re.compile(body if anchored else f"(?:.*/)?{body}")
            except re.error:
                continue  # git skips a pattern it cannot read; so does this
            self.rules.append(_Rule(regex, negated, folders_only))

    def _ignored(self, candidate: str, is_folder: bool) -> bool:
        verdict = False
        for rule in self.rules:
            if (is_folder or not rule.folders_only) and rule.regex.fullmatch(candidate):
                verdict = not rule.negated
        return verdict

    def ignores(self, path: str) -> bool:
        """True if the file ``path`` (relative, '/'-separated) is ignored."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if self._ignored("/".join(parts[:depth]), True):
                return True  # git does not look inside an ignored folder
        return self._ignored(path, False)


__all__ = ["GitIgnore", "MAX_GITIGNORE_BYTES"]
