"""The capacity benchmark's pieces (benchmarks/capacity.py runs them; docs/deploy.md reads the figures).

    phases      one service under a steady load: idle, events no partner takes, paced deliveries,
                a saturating burst; CPU seconds per process role and Redis commands per unit
    memory      bytes Redis keeps per delivery record (+ attempts) and per event, for the retention
    redisbench  `redis-benchmark` of the same box: the commands/s one Redis primary can do
    tables      the printed tables and the capacity model's inputs
"""
