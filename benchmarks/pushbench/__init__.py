"""The pieces of benchmarks/push.py, one concept per module (the shared harness is benchmarks/harness/).

    workload   the events, partners and feeds files, the run's webhook secret and signature checks
    targets    what events are POSTed to: the real service (`Service`, started exactly as
               `syndication up` starts it) and the naive baseline (`Naive`, benchmarks/naive/)
    measure    the measurements: the raw ceiling (1 and 2 processes), a burst (deliveries/s, CPU,
               Redis commands and round trips, feed freshness), a paced stream (publish -> push latency)
    sections   the benchmark's sections, each on fresh processes, in the order push.py runs them
    tables     the printed tables, the goals with PASS/MISS, and the JSON document
"""
