"""Versioned schema migrations: each backend keeps an ordered list of steps, and a store
applies the ones its database lacks when it opens. The version lives in the `meta` table
(key `schema_version`), where the first SQLite schema already recorded it, so databases
written before migrations existed need no special case."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from logctl.errors import StoreError


@dataclass(frozen=True)
class Migration:
    """One schema step: `apply` runs inside the transaction that records `version`."""

    version: int
    description: str
    apply: Callable[[Any], None]


def pending(current: int, steps: Sequence[Migration], where: str) -> list[Migration]:
    """The steps a database at `current` still needs, in order; a database newer than
    the newest step was written by a newer logctl, and guessing at it could corrupt it."""
    latest = latest_version(steps)
    if current > latest:
        raise StoreError(f"{where} has schema version {current}, newer than this logctl "
                         f"understands ({latest}): upgrade logctl to open it")
    return [step for step in steps if step.version > current]


def latest_version(steps: Sequence[Migration]) -> int:
    """The version a fully migrated database has."""
    versions = [step.version for step in steps]
    if versions != sorted(set(versions)):
        raise AssertionError(f"migration versions must be strictly increasing: {versions}")
    return versions[-1] if versions else 0
