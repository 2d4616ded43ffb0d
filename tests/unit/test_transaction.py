"""Transaction replies are read by name: a command queued anywhere else cannot shift them."""

from __future__ import annotations

import pytest

from syndication.infra.transaction import Transaction


class Pipeline:
    """Queues commands and answers each with its own name and arguments (the bookkeeping under test)."""

    def __init__(self):
        self.stack: list[tuple] = []

    def __len__(self):
        return len(self.stack)

    def __getattr__(self, command):
        return lambda *args, **kwargs: self.stack.append((command, *args)) or self

    def execute(self, raise_on_error=True):
        return list(self.stack)


class Client:
    def pipeline(self, transaction=True):
        return Pipeline()


def queue_two(pipe):  # a helper that queues a variable number of commands
    pipe.zadd("feed", 1)
    pipe.zrem("other", "a")


def test_names_survive_commands_queued_before_between_and_after():
    tx = Transaction(Client())
    tx.pipe.set("before", 1)
    tx.one("due").zcount("due", "-inf", 5)
    tx.pipe.set("between", 1)
    bodies = tx.each("bodies")
    for key in ("e1", "e2"):
        bodies.hget(key, "body")
        tx.pipe.expire(key, 10)
    tx.each("bodies").hget("e3", "body")  # the same list, named again
    tx.pipe.expire("e3", 10)
    with tx.group("placed") as pipe:
        queue_two(pipe)
    tx.pipe.set("after", 1)
    replies = tx.execute()
    assert replies.due == ("zcount", "due", "-inf", 5) == replies["due"]
    assert replies.bodies == [("hget", k, "body") for k in ("e1", "e2", "e3")]
    assert replies.placed == [("zadd", "feed", 1), ("zrem", "other", "a")]
    assert len(replies.raw) == 12 and "due" in replies and "nothing" not in replies


def test_a_name_is_given_once_and_each_is_one_command():
    tx = Transaction(Client())
    x = tx.one("x")
    x.get("a")
    with pytest.raises(ValueError):
        tx.one("x")
    with pytest.raises(ValueError):
        x.get("b")  # one name, one reply
    with pytest.raises(ValueError):
        tx.each("x")
    with pytest.raises(ValueError, match="use group"):  # two commands under one reply: refused
        tx.one("y").script(lambda keys, args, client: queue_two(client))
    tx.one("z").script(lambda keys, args, client: client.evalsha("sha", len(keys), *keys, *args), ["k"], [1])
    replies = tx.execute()
    assert replies.z == ("evalsha", "sha", 1, "k", 1)
    with pytest.raises(AttributeError, match="no reply named"):
        replies.missing


def test_an_empty_each_is_an_empty_list():
    tx = Transaction(Client())
    tx.each("bodies")
    assert tx.execute().bodies == []


def test_names_on_a_pipeline_made_elsewhere_count_from_where_it_stands():
    pipe = Pipeline()
    pipe.set("queued-before", 1)
    tx = Transaction.on(pipe)
    tx.one("due").zcount("due", 0, 1)
    assert tx.execute().due == ("zcount", "due", 0, 1)
