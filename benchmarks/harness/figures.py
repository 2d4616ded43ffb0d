"""The push benchmark's figures, drawn with matplotlib (Agg: no display needed) from its JSON document.

    throughput.png   deliveries/s against partners (log scale): the service, the naive task-per-event
                     baseline, the raw ceiling (1 and 2 processes) and the goal (0.7 x the 2-process ceiling)
    latency_cdf.png  CDF of publish -> push latency (202 to the partner receiving the push): all healthy,
                     and the isolation section's two paced streams (all healthy; 9 healthy while a 10th hangs)

matplotlib is optional (`pip install -e '.[bench]'`): without it `draw` says so and draws nothing.
Redraw from a run's JSON: `python -m benchmarks.harness.figures docs/benchmarks/push.json [DIR]`.
"""

from __future__ import annotations

from pathlib import Path

HINT = "matplotlib is not installed: no figures drawn (install it with: .venv/bin/pip install -e '.[bench]')"


def draw(doc: dict, outdir: Path, subtitle: str) -> list[Path] | str:
    """Write the PNGs into `outdir`; their paths, or the reason nothing was drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return HINT
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    if doc.get("service") or doc.get("naive"):
        written.append(_throughput(plt, doc, outdir / "throughput.png", subtitle))
    if doc.get("latency"):
        written.append(_latency(plt, doc, outdir / "latency_cdf.png", subtitle))
    return written


def _throughput(plt, doc: dict, path: Path, subtitle: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for key, label, style in (("service", "service (durable, signed, leased)", "o-"),
                              ("naive", "naive: one Celery task per event", "s--")):
        pts = sorted((c["partners"], c["rate"]) for c in doc.get(key, []))
        if pts:
            ax.plot([p for p, _ in pts], [r for _, r in pts], style, label=label)
    partners = sorted({c["partners"] for c in doc.get("service", []) + doc.get("naive", [])}) or [1, 50]
    ceil = doc.get("ceilings", {})
    for k, style in ((2, "-"), (1, ":")):
        if k in ceil or str(k) in ceil:
            v = ceil.get(k, ceil.get(str(k)))
            ax.hlines(v, partners[0], partners[-1], colors="grey", linestyles=style,
                      label=f"raw ceiling, {k} process{'es' if k > 1 else ''} ({v:,.0f}/s)")
            if k == 2:
                ax.hlines(0.7 * v, partners[0], partners[-1], colors="green", linestyles="-.",
                          label=f"goal: 0.7 x 2-process ceiling ({0.7 * v:,.0f}/s)")
    ax.set_xscale("log")
    ax.set_xticks(partners, [str(p) for p in partners])
    ax.set_xlabel("partners")
    ax.set_ylabel("deliveries/s")
    ax.set_ylim(0, 1.35 * max([ax.get_ylim()[1] / 1.05, 1.0]))  # room above the lines for the legend
    ax.set_title(f"Pushes end to end vs partners\n{subtitle}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", framealpha=0.9, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _latency(plt, doc: dict, path: Path, subtitle: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    lat = doc["latency"]
    curves = [(f"latency section: all {lat['partners']} partners healthy", lat["cdf"])]
    hang = doc.get("hanging")
    if hang and hang.get("paced", {}).get("cdf"):
        curves.append((f"isolation: all {hang['partners']} healthy (reference, run next to the hanging one)",
                       hang["reference_paced"]["cdf"]))
        curves.append((f"isolation: {len(hang['healthy'])} healthy, 1 hanging", hang["paced"]["cdf"]))
    for label, pts in curves:
        ax.plot([1000 * x for x, _ in pts], [y for _, y in pts], label=label)
    for ms, name in ((25, "p50 goal"), (100, "p99 goal")):
        ax.axvline(ms, color="grey", linestyle=":", linewidth=1)
        ax.text(ms, 0.02, f" {name} {ms} ms", fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("202 -> partner received the push (ms, log scale)")
    ax.set_ylabel("fraction of pushes")
    ax.set_ylim(0, 1.01)
    ax.set_title(f"Publish -> push latency, {lat['rate']:g} events/s x {lat['partners']} partners\n{subtitle}",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper left", framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


if __name__ == "__main__":  # redraw from a run's JSON: python -m benchmarks.harness.figures push.json [DIR]
    import json
    import sys

    doc = json.loads(Path(sys.argv[1]).read_text())
    m = doc["machine"]
    print(draw(doc, Path(sys.argv[2] if len(sys.argv) > 2 else Path(sys.argv[1]).parent),
               f"{m['cpu']}, nproc={m['nproc']}, load avg at start {m['load']}"))
