"""Secret: keys and signing secrets as values that cannot leak by accident."""

from __future__ import annotations


class Secret:
    """A string that hides itself in repr/str; `.value` reveals it on purpose."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)
