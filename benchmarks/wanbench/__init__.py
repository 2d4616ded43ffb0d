"""The WAN push benchmark (benchmarks/wan.py): partners far away, the service against a raw client and a naive design.

    workload   the scenarios, the partners' profiles, the partners file, events and push bodies
    raw        the raw client ceiling: a requests thread pool, one POST per partner (its own process)
    naive_app / naive_tasks   the naive design: one Celery task per delivery (gevent pool if installed)
    designs    the three designs behind one handle: start, publish, ledger, processes to measure
    scenarios  running a scenario on a design: fan-out, steady stream, crowd
    analysis   what the partners saw (the receiver's log): deliveries, latencies, connections, the ledger
    tables     what is printed, the goals with PASS/MISS, the JSON document
    figures    the plot (docs/benchmarks/wan.png)

The shared pieces are in benchmarks/harness/: netns (the partners' namespace), wan_partner (the
delaying receiver), tls (the throwaway CA), processes, cpu, publish, report.
"""
