"""Every delivery key family has one owner module, the only one that writes it (read from the source).

A family is named in code only through its accessor on `Keys` (`keys.partner_due(pid)`,
`keys.deadletters`). Outside its owner, an accessor may only be the key of a read command
(`pipe.zcount(k.partner_due(pid), ...)`); any other use (a write command, a script's keys, a key
handed on to someone else) is a write. A script of one owner that must move a delivery in another
owner's keys in the same atomic step takes those keys from the other owner (`script_keys`) and
embeds its Lua functions (`LUA`), so the write is still the owner's code.

The Lua scripts of delivery/ spell no delivery status: they take them from lifecycle.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from syndication.delivery.lifecycle import DeliveryStatus

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "syndication"

OWNERS = {
    "due": ("syndication/delivery/schedule.py", {"partner_due"}),
    "in flight and slots": ("syndication/delivery/schedule.py", {"partner_inflight", "partner_slots", "partners_ready"}),
    "circuit": ("syndication/delivery/circuit.py", {"partner_circuit", "partner_paused", "partner_failed_ids"}),
    "rate limit": ("syndication/delivery/ratelimit.py", {"partner_rate"}),
    "dead letters": ("syndication/delivery/deadletters.py", {"deadletters", "partner_parked"}),
    "ended subscriptions": ("syndication/delivery/subscription_ends.py", {"websub_ended", "websub_ended_sub"}),
    "records": ("syndication/delivery/records.py",
                {"delivery", "delivery_attempts", "delivery_request", "article_deliveries", "partner_history"}),
}
ACCESSORS = {name: (family, owner) for family, (owner, names) in OWNERS.items() for name in names}
READS = {"hget", "hgetall", "hmget", "hexists", "hlen", "zrange", "zrangebyscore", "zrevrange", "zrevrangebyscore",
         "zcard", "zcount", "zscore", "zmscore", "zrank", "exists", "get", "lrange", "llen", "smembers",
         "scard", "sismember", "pfcount", "ttl", "pttl", "type"}
STATUS_LITERAL = re.compile(r"'(%s)'" % "|".join(s.value for s in DeliveryStatus))


def _is_keys(node: ast.AST) -> bool:
    """`keys`, `k`, `ctx.keys`, `self.ctx.keys`: the key namer."""
    return (isinstance(node, ast.Name) and node.id in ("k", "keys")) or \
        (isinstance(node, ast.Attribute) and node.attr == "keys")


def writes(source: str) -> list[tuple[int, str]]:
    """(line, accessor) of every use of a family's accessor that is not the key of a read command."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in ACCESSORS and _is_keys(node.value)):
            continue
        use = parents.get(node)
        key = use if isinstance(use, ast.Call) and use.func is node else node  # keys.x(...) or keys.x
        call = parents.get(key)
        is_read = (isinstance(call, ast.Call) and call.args and call.args[0] is key
                   and isinstance(call.func, ast.Attribute) and call.func.attr in READS)
        if not is_read:
            found.append((node.lineno, node.attr))
    return found


def modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p.relative_to(ROOT).as_posix() != "syndication/infra/keys.py"]


def test_every_delivery_key_family_is_written_only_by_its_owner():
    wrong = []
    for path in modules():
        rel = path.relative_to(ROOT).as_posix()
        for line, accessor in writes(path.read_text(encoding="utf-8")):
            family, owner = ACCESSORS[accessor]
            if rel != owner:
                wrong.append(f"{rel}:{line} writes {family} (keys.{accessor}); its owner is {owner}")
    assert not wrong, "\n".join(wrong)


def test_no_lua_script_in_delivery_spells_a_status():
    wrong = []
    for path in (PACKAGE / "delivery").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            parts = [node.value] if isinstance(node, ast.Constant) and isinstance(node.value, str) else \
                [v.value for v in node.values if isinstance(v, ast.Constant)] if isinstance(node, ast.JoinedStr) else []
            for text in parts:
                if "redis.call" in text and STATUS_LITERAL.search(text):
                    wrong.append(f"{path.name}:{node.lineno}: {STATUS_LITERAL.search(text).group(0)}")
    assert not wrong, "Lua status literals (take them from lifecycle.py): " + ", ".join(wrong)


@pytest.mark.parametrize("source, flagged", [
    ("pipe.zadd(ctx.keys.partner_due(pid), {d: 1})", [(1, "partner_due")]),
    ("pipe.delete(k.partner_due(pid), k.partner_inflight(pid))", [(1, "partner_due"), (1, "partner_inflight")]),
    ("script(keys=[k.delivery(d), k.deadletters], args=[])", [(1, "delivery"), (1, "deadletters")]),
    ("scripts.append((s, [k.partner_circuit(pid)], []))", [(1, "partner_circuit")]),
    ("key = self.ctx.keys.partner_slots(pid)", [(1, "partner_slots")]),
    ("pipe.zcount(k.partner_due(pid), '-inf', now)", []),
    ("ctx.redis.hgetall(ctx.keys.delivery(d))", []),
    ("pipe.hget(k.delivery(d), 'partner')", []),
    ("pipe.zadd(k.events_pending, {e: 1})", []),  # not a delivery family
])
def test_the_finder_tells_writes_from_reads(source, flagged):
    assert sorted(writes(source)) == sorted(flagged)
