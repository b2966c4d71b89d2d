"""Semantic versions (semver.org 2.0.0): parsing, precedence and what counts as a major bump."""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.contracts.errors import ContractInvalidError

MAX_LENGTH = 100
_IDENT = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
SEMVER = re.compile(
    rf"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-({_IDENT}(?:\.{_IDENT})*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@dataclass(frozen=True)
class SemVer:
    """MAJOR.MINOR.PATCH[-pre-release][+build]; build metadata does not count for precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: object, pointer: str = "/version") -> SemVer:
        found = SEMVER.fullmatch(text) if isinstance(text, str) and len(text) <= MAX_LENGTH else None
        if found is None:
            raise ContractInvalidError([(pointer, f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")])
        major, minor, patch, pre, build = found.groups()
        return cls(int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (), build or "")

    def precedence(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """Orders as semver.org says: a pre-release sorts before its release; numeric identifiers numerically."""
        identifiers = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, identifiers)

    def __lt__(self, other: SemVer) -> bool:
        return self.precedence() < other.precedence()

    def same_precedence(self, other: SemVer) -> bool:
        return self.precedence() == other.precedence()

    def is_major_bump_over(self, other: SemVer) -> bool:
        """True when this version raises the major number (0.x included: a breaking change needs 1.0.0)."""
        return self.major > other.major

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        text += f"-{'.'.join(self.prerelease)}" if self.prerelease else ""
        return text + (f"+{self.build}" if self.build else "")
