"""Plumbing every layer uses: the Redis client, the key families, the per-process Context,
counters and histograms kept in Redis, structured logs, and the local redis-server for `up`."""
