"""`syndication websub ...`: our own WebSub hub's subscribers, for ops.

    syndication websub list [--topic URL] [--ended] [--json]   a topic's (or every) subscription, or the ended ones
    syndication websub remove ID [--reason TEXT]               remove one at once (audited)

A subscription is anyone's (the hub is an open door), so ops may need to see who subscribed to
what, and to remove one that misbehaves; its callback may subscribe again, within the caps and
the per-address throttle. A removed subscription is kept a while as ended ("removed"), like the
expired and denied ones (delivery/subscription_ends.py). Counts per topic are in `status`.
"""

from __future__ import annotations

import json
import sys

from syndication.cli.common import context
from syndication.cli.dead_letters import actor

COLUMNS = ("id", "state", "topic", "callback", "lease ends / ended", "why")


def _when(ts) -> str:
    from syndication.cli.status_view import local_time

    return local_time(float(ts), with_date=True) if ts else "-"


def cmd_websub_list(args) -> int:
    import time

    from syndication.delivery import subscription_ends, subscriptions

    ctx = context()
    now = time.time()
    if args.ended:
        rows = subscription_ends.ended(ctx, limit=args.limit, topic=args.topic)
    else:
        found = subscriptions.get_many(ctx, subscriptions.all_ids(ctx))
        rows = sorted((r for r in found.values() if args.topic in (None, r.get("topic"))),
                      key=lambda r: (r.get("topic", ""), r.get("callback", "")))[:args.limit]
        for r in rows:
            r["state"] = subscriptions.ACTIVE if subscriptions.is_live(r, now) else subscriptions.PENDING
    for r in rows:  # a secret never leaves the hub, not even to ops
        for key in ("secret", "intent_secret", "intent_challenge", "intent"):
            r.pop(key, None)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no ended subscriptions kept" if args.ended else "no subscriptions"
              + (f" to {args.topic}" if args.topic else ""))
        return 0
    print("\t".join(COLUMNS))
    for r in rows:
        print("\t".join((r["id"], r.get("state", ""), r.get("topic", ""), r.get("callback", ""),
                         _when(r.get("ended_at") if args.ended else r.get("expires_at")), r.get("reason", ""))))
    return 0


def cmd_websub_remove(args) -> int:
    from syndication.delivery import subscriptions
    from syndication.ops import audit

    ctx = context()
    rec = subscriptions.get(ctx, args.id)
    if rec is None or not subscriptions.remove(ctx, rec):
        print(f"no subscription {args.id!r} (`syndication websub list` shows them)", file=sys.stderr)
        return 2
    audit.record(ctx, "websub remove", target=f"subscription {args.id}", actor=actor(), topic=rec.get("topic"),
                 callback=rec.get("callback"), reason=args.reason)
    print(f"removed {args.id}: {rec.get('callback')} from {rec.get('topic')}")
    return 0


def add_websub(sub) -> None:
    """`websub list|remove`."""
    ws = sub.add_parser("websub", help="our WebSub hub's subscriptions: list, remove") \
        .add_subparsers(dest="sub", required=True)
    s = ws.add_parser("list", help="subscriptions (id, state, topic, callback, lease end), of one topic or all")
    s.add_argument("--topic", help="only this topic (a feed URL, e.g. http://HOST/feeds/world.atom)")
    s.add_argument("--ended", action="store_true",
                   help="the ended ones still kept (expired, denied, unsubscribed, removed), newest first")
    s.add_argument("--limit", type=int, default=1000, help="at most this many (default: 1000)")
    s.add_argument("--json", action="store_true", help="print JSON (never a secret)")
    s.set_defaults(fn=cmd_websub_list)
    s = ws.add_parser("remove", help="remove one subscription at once; it is audited and kept as ended")
    s.add_argument("id", help="its id (ws-..., from `websub list`)")
    s.add_argument("--reason", default="", help="why, for the audit trail")
    s.set_defaults(fn=cmd_websub_remove)
