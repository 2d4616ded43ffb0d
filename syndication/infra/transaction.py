"""A Redis pipeline whose replies are read by name, never by position.

    tx = Transaction(ctx.redis)                        # MULTI/EXEC; atomic=False: a plain pipeline
    tx.pipe.zrem(key, *ids)                            # a write whose reply nobody reads
    tx.one("due").zcount(due_key, "-inf", now)         # one command, its reply under a name
    bodies = tx.each("bodies")                         # a list of replies, [] if nothing is queued
    for event_id in ids:
        bodies.hget(event_key(event_id), "body")       # one reply per call, in call order
    with tx.group("placed"):                           # whatever a helper queues: its replies, as a list
        index.queue_place(ctx, tx.pipe, state)
    replies = tx.execute()
    replies.due, replies.bodies, replies.placed, replies["due"]

Why: a pipeline answers with one list, and code that reads "the third reply" or "the last two
per feed" breaks silently when someone queues one more command before it (the bug fixed at the
end of the previous round was of that kind). A name is taken from the pipeline's length when the
commands are queued, so commands added anywhere else cannot shift it.

`execute(raise_on_error=False)` leaves a failed command's exception in its place, as redis-py
does (a caller re-runs a script Redis had forgotten, say); with the default the first error raises.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Hashable, Iterator


class Transaction:
    """A pipeline (MULTI/EXEC unless `atomic=False`) with named replies."""

    def __init__(self, client, atomic: bool = True):
        self.pipe = client.pipeline(transaction=atomic)
        self._names: dict[Hashable, int | slice | list[int]] = {}

    @classmethod
    def on(cls, pipe) -> "Transaction":
        """Named replies on a pipeline made elsewhere (a WATCHed one, one shared by several writers)."""
        tx = cls.__new__(cls)
        tx.pipe, tx._names = pipe, {}
        return tx

    def __len__(self) -> int:
        return len(self.pipe)

    def one(self, name: Hashable) -> "_Queue":
        """The next command queued through the returned object answers under `name`."""
        if name in self._names:
            raise ValueError(f"reply name {name!r} is taken")
        return _Queue(self, name, many=False)

    def each(self, name: Hashable) -> "_Queue":
        """Every command queued through the returned object adds its reply to the list under `name`
        (in the order queued; an empty list if none is)."""
        if not isinstance(self._names.setdefault(name, []), list):
            raise ValueError(f"reply name {name!r} holds a single reply")
        return _Queue(self, name, many=True)

    @contextmanager
    def group(self, name: Hashable) -> Iterator[Any]:
        """Every command queued on `pipe` inside the block answers, as a list, under `name`."""
        if name in self._names:
            raise ValueError(f"reply name {name!r} is taken")
        start = len(self.pipe)
        yield self.pipe
        self._names[name] = slice(start, len(self.pipe))

    def execute(self, raise_on_error: bool = True) -> "Replies":
        return self.replies(self.pipe.execute(raise_on_error=raise_on_error))

    def replies(self, raw: list) -> "Replies":
        """Name the replies of these commands run elsewhere, in order (merged into a larger
        transaction: delivery/recorder.py runs many groups' commands in one MULTI)."""
        return Replies(raw, self._names)


class _Queue:
    """Stands for the pipeline for exactly one command, and records where its reply will be."""

    def __init__(self, tx: Transaction, name: Hashable, many: bool):
        self._tx, self._name, self._many = tx, name, many

    def __getattr__(self, command: str):
        method = getattr(self._tx.pipe, command)
        return lambda *args, **kwargs: self._queue(command, lambda: method(*args, **kwargs))

    def script(self, script, keys=(), args=()):
        """A registered Lua script (`ctx.script(...)`), queued as one command."""
        return self._queue("script", lambda: script(keys=list(keys), args=list(args), client=self._tx.pipe))

    def _queue(self, command: str, call):
        pipe = self._tx.pipe
        at = len(pipe)
        call()
        if len(pipe) != at + 1:
            raise ValueError(f"{command} queued {len(pipe) - at} commands, not one: use group()")
        if self._many:
            self._tx._names[self._name].append(at)
        elif self._name in self._tx._names:
            raise ValueError(f"reply name {self._name!r} is taken")
        else:
            self._tx._names[self._name] = at
        return pipe


class Replies:
    """The replies of an executed Transaction: `replies.name` or `replies[name]`; `raw`, all of them."""

    def __init__(self, raw: list, names: dict):
        self.raw, self._names = raw, names

    def __getitem__(self, name: Hashable) -> Any:
        where = self._names[name]
        if isinstance(where, list):
            return [self.raw[i] for i in where]
        return self.raw[where]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no reply named {name!r}") from None

    def __contains__(self, name: Hashable) -> bool:
        return name in self._names
