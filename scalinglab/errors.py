"""The one error template of the project (STYLE.md §8).

``<where>: <field>=<value!r> is not allowed; expected <constraint>. <fix>``
"""
from __future__ import annotations

from typing import Any

__all__ = ["SpecError", "DomainError"]


class SpecError(ValueError):
    """A bad input: a spec field, a CLI option or a grid point outside a model's domain.

    The message is always one line; the CLI prints it and exits with status 2.
    """

    def __init__(self, where: str, field: str, value: Any, expected: str, fix: str = "") -> None:
        self.where, self.field, self.value, self.expected, self.fix = where, field, value, expected, fix
        msg = f"{where}: {field}={value!r} is not allowed; expected {expected}."
        if fix:
            msg += f" {fix.rstrip('.')}."
        super().__init__(" ".join(msg.split()))


class DomainError(SpecError):
    """A grid point violates a model's domain condition (e.g. 2(alpha+beta) > 1)."""
