"""What Redis did during a stretch of a benchmark: commands executed, in all and by command.

Owns: `RedisCommands`, a snapshot of INFO stats (total_commands_processed) and INFO
commandstats (calls per command, counting the commands run inside Lua scripts too) and
total_reads_processed (how many times Redis read a request from a client socket: one per round
trip, a pipeline being one) whose `since()` gives the difference to a later snapshot. Celery's own commands (broker polls,
results) are in there as well: that is what the service costs Redis, not only our code.
"""

from __future__ import annotations

from dataclasses import dataclass


def command_stats(r) -> dict[str, int]:
    """Calls per Redis command so far (INFO commandstats; commands run inside Lua scripts count too)."""
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in r.info("commandstats").items()}


@dataclass
class RedisCommands:
    total: int
    by_command: dict[str, int]
    reads: int = 0  # total_reads_processed: socket reads of client requests, i.e. round trips (a pipeline is one)

    @classmethod
    def now(cls, r) -> "RedisCommands":
        stats = r.info("stats")
        return cls(int(stats["total_commands_processed"]), command_stats(r), int(stats.get("total_reads_processed", 0)))

    def since(self, r) -> "RedisCommands":
        """What Redis executed from this snapshot until now."""
        later = RedisCommands.now(r)
        return RedisCommands(later.total - self.total,
                             {k: v - self.by_command.get(k, 0) for k, v in later.by_command.items()},
                             later.reads - self.reads)
