"""The WAN benchmark's plot (docs/benchmarks/wan.png), drawn with matplotlib (Agg) from its JSON document.

Left: fan-out completion (202 -> last partner, warm event) per scenario and design, log scale, with
the goals. Right: CDF of publish -> push per delivery in the steady stream (each design) and the
crowd's healthy partners. Redraw: `python -m benchmarks.wanbench.figures docs/benchmarks/wan.json [DIR]`.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness.figures import HINT
from benchmarks.wanbench.tables import summarise

COLOURS = {"raw": "tab:grey", "naive": "tab:orange", "service": "tab:blue"}
GOALS = {"a": 1.0, "b": 0.8}


def draw(doc: dict, outdir: Path, subtitle: str) -> list[Path] | str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return HINT
    outdir.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110)
    fan = [s for s in doc["scenarios"] if s["shape"] == "fanout"]
    width = 0.26
    for j, name in enumerate(("raw", "naive", "service")):
        xs, ys = [], []
        for i, sc in enumerate(fan):
            res = next((r for r in sc["results"] if r.get("design") == name and "error" not in r), None)
            warm = summarise(res)["warm_s"] if res else None
            if warm is not None and warm == warm and warm != float("inf"):  # not: did not complete in time
                xs.append(i + (j - 1) * width)
                ys.append(warm)
        bars = left.bar(xs, ys, width, label=name, color=COLOURS[name])
        left.bar_label(bars, [f"{y:.2f}" for y in ys], fontsize=7)
    for i, sc in enumerate(fan):
        if sc["key"] in GOALS:
            left.hlines(GOALS[sc["key"]], i - 1.5 * width, i + 1.5 * width, colors="green", linestyles="--")
    left.set_xticks(range(len(fan)), [f"({s['key']}) {s['partners']} partners\n"
                                      f"{next(iter(s['profiles'].values()))['rtt_ms']} ms{' TLS' if s['tls'] else ''}"
                                      for s in fan], fontsize=8)
    left.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter

    left.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    left.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    left.set_ylabel("202 -> last partner has it (s, warm event; log)")
    left.set_title("One event to every partner (green: goal; raw and naive in (e): their last delivery, "
                   "without the ones they lost)", fontsize=8)
    left.legend(fontsize=8)
    left.grid(alpha=0.3, axis="y")
    for sc in doc["scenarios"]:
        for r in sc["results"]:
            pts = r.get("cdf_ms") if "error" not in r else None
            if not pts:
                continue
            label = (f"({sc['key']}) steady {r['rate']:g}/s x {sc['partners']}: {r['design']}" if sc["shape"] == "steady"
                     else f"({sc['key']}) crowd, healthy partners: {r['design']}")
            right.plot([x for x, _ in pts], [y for _, y in pts], label=label,
                       color=COLOURS.get(r["design"]), linestyle="-" if sc["shape"] == "steady" else ":")
    right.axvline(300, color="green", linestyle="--", linewidth=1)
    right.axvline(1000, color="green", linestyle=":", linewidth=1)
    right.set_xscale("log")
    right.set_xlabel("scheduled send -> partner has it (ms, log)")
    right.set_ylabel("fraction of deliveries")
    right.set_ylim(0, 1.01)
    right.set_title("Per delivery (green: p99 goal 300 ms steady, p95 goal 1 s crowd)", fontsize=9)
    right.legend(fontsize=7, loc="lower right")
    right.grid(alpha=0.3)
    fig.suptitle(f"Pushes to partners far away\n{subtitle}", fontsize=9)
    fig.tight_layout()
    path = outdir / "wan.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    import json
    import sys

    d = json.loads(Path(sys.argv[1]).read_text())
    m = d["machine"]
    print(draw(d, Path(sys.argv[2] if len(sys.argv) > 2 else Path(sys.argv[1]).parent),
               f"{m['cpu']}, nproc={m['nproc']}, load avg at start {m['load']}"))
