"""`syndication partners reload`: every process re-reads the partners file (ops/reload.py).

The file is validated here first, with the same errors as `config check`; an invalid file is
rejected whole (exit 2) and every process keeps its running configuration.
"""

from __future__ import annotations

import os
import sys

from syndication.cli.common import settings_or_exit


def cmd_partners_reload(args) -> int:
    from syndication.cli.dead_letters import actor
    from syndication.errors import ConfigError
    from syndication.infra.context import Context
    from syndication.ops import audit, reload

    ctx = Context.build(settings_or_exit())  # an invalid file stops here: exit 2, nothing signalled
    try:
        change = reload.request(ctx, os.environ, actor=actor())
    except ConfigError as exc:  # changed between the two reads
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    audit.record(ctx, "reload", target=f"partners file {ctx.settings.partners_file}", actor=actor(),
                 change=change.summary(), cancelled=change.cancelled)
    print(f"partners reloaded from {ctx.settings.partners_file}: {len(ctx.settings.partners)} partners; "
          f"{change.summary()}")
    if change.cancelled:
        print(f"{change.cancelled} pending deliveries of removed or disabled partners cancelled")
    done, late = reload.wait_applied(ctx, change.version)
    if late:
        print(f"applied by {len(done)} of {len(done) + len(late)} workers; not (yet) by: {', '.join(late)} "
              f"(their own copy of the file may be invalid: see their log, or run config check there)",
              file=sys.stderr)
        return 1
    print(f"applied by all {len(done)} online workers")
    return 0
