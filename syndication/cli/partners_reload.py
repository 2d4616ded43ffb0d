"""`syndication partners reload [--allow-empty] [--timeout S]`: every process re-reads its partners
file (ops/reload.py says who decides what, and why).

The file this environment names is validated first, with the same errors as `config check`; an
invalid file is rejected whole (exit 2) and every process keeps its running configuration. A
reload that cannot mean what the operator thinks is refused (exit 2, nothing signalled or
cancelled): no SYNDICATION_PARTNERS_FILE here, a file that is not the one the processes run, or a
file that leaves no enabled partner without --allow-empty. Otherwise the command signals, then
waits until every online worker *and API process* reports the new version: when it returns 0, the
next HTTP call sees the new partners. A process that refused it, did not catch up within the
timeout, or runs a copy that differs from the file validated here is named (exit 1).
"""

from __future__ import annotations

import sys

from syndication.cli.common import settings_or_exit

DEFAULT_TIMEOUT = 15.0


def cmd_partners_reload(args) -> int:
    from syndication.cli.dead_letters import actor
    from syndication.errors import ConfigError
    from syndication.infra.context import Context
    from syndication.ops import audit, reload, running_config

    ctx = Context.build(settings_or_exit())  # an invalid file stops here: exit 2, nothing signalled
    try:
        change = reload.request(ctx, actor=actor(), allow_empty=args.allow_empty)
    except reload.Refused as exc:
        print(f"partners reload refused: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:  # changed between the two reads
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    plural = running_config.plural
    print(f"partners reload {change.version} requested: {change.file}, {plural(change.partners, 'partner')}; "
          f"{change.summary()}")
    timeout = args.timeout
    outcome = running_config.wait(ctx, change.version, change.digest, timeout)
    audit.record(ctx, "reload", target=f"partners file {change.file}", actor=actor(), change=change.summary(),
                 cancelled=outcome.cancelled, version=change.version)
    workers, apis = outcome.count("worker"), outcome.count("api")
    if outcome.cancelled:
        print(f"{outcome.cancelled} pending deliveries of removed or disabled partners cancelled "
              "(by the processes applying the change)")
    problems = [f"refused by {name}: {reason}" for name, reason in outcome.refused.items()]
    problems += [f"{name} runs another partners configuration: {what}, not the file validated here "
                 f"(run `syndication config check` on its host)" for name, what in outcome.different.items()]
    if outcome.late:
        problems.append(f"not applied within {timeout:g} s by: {', '.join(outcome.late)} (still on an older "
                        "reload: stopped, overloaded or cut off from Redis? see its log)")
    if not outcome.done and not problems:
        problems.append(f"nothing applied it: {running_config.describe(ctx, [])}")
    if problems:
        print(f"applied by {plural(workers, 'worker')} and {plural(apis, 'API process')}")
        for line in problems:
            print(line, file=sys.stderr)
        return 1
    print(f"applied by all {workers} online workers and {plural(apis, 'API process')}")
    return 0


def timeout_arg(value: str) -> float:
    """--timeout: seconds (ASCII digits, optionally a fraction), more than 0 and at most an hour."""
    import argparse
    import re

    if not re.fullmatch(r"[0-9]{1,4}(\.[0-9]{1,3})?", value) or not 0 < float(value) <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds, more than 0 and at most 3600; got {value!r}")
    return float(value)
