"""The drawing of the pages' charts as SVG geometry: numbers in, path data and bar boxes out.

The templates (templates/charts.html) write the <svg> elements; this module only computes their
coordinates in a fixed viewBox, so a chart scales to any width (a narrow window too) with no
script and no style attribute (the CSP allows neither inline). Pure: unit-tested in
tests/unit/test_svg.py.
"""

from __future__ import annotations

WIDTH, HEIGHT = 240.0, 40.0  # a sparkline's viewBox; its <svg> is as wide as its box
PAD = 2.0  # room for the stroke at the top and bottom


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def scale_max(values: list[float | None]) -> float:
    """The top of the chart: the largest value, or 1 when all are 0 or missing (a flat line at the bottom)."""
    return max((v for v in values if v is not None), default=0) or 1.0


def sparkline(values: list[float | None], width: float = WIDTH, height: float = HEIGHT,
              top: float | None = None) -> str:
    """Path data of a line through `values` (oldest left), scaled to [0, top]; a None (no data that
    minute) breaks the line, so a quiet minute is not drawn as a latency of 0."""
    if not values:
        return ""
    top = top or scale_max(values)
    step = width / max(1, len(values) - 1)
    parts: list[str] = []
    run: list[str] = []  # the points of the line being drawn

    def end_run():
        if len(run) == 1:  # a lone minute: a tick one minute wide, or a single point would not show
            x, y = run[0].split()
            parts.append(f"M{_fmt(max(0.0, float(x) - step / 2))} {y} H{_fmt(min(width, float(x) + step / 2))}")
        elif run:
            parts.append("M" + " L".join(run))
        run.clear()

    for i, v in enumerate(values):
        if v is None:
            end_run()
            continue
        run.append(f"{_fmt(i * step)} {_fmt(height - PAD - (height - 2 * PAD) * min(v, top) / top)}")
    end_run()
    return " ".join(parts)


def columns(values: list[float], width: float = WIDTH, height: float = HEIGHT,
            top: float | None = None) -> list[dict[str, str]]:
    """One bar per value (x, y, width, height as viewBox strings); zeros get no bar."""
    if not values:
        return []
    top = top or scale_max(values)
    w = width / len(values)
    bars = []
    for i, v in enumerate(values):
        if not v:
            continue
        h = max(1.0, (height - PAD) * min(v, top) / top)
        bars.append({"x": _fmt(i * w), "y": _fmt(height - h), "width": _fmt(max(0.5, w - 0.5)), "height": _fmt(h)})
    return bars


def span(start: float, end: float, since: float, until: float, width: float = WIDTH) -> dict[str, str]:
    """A time span as x and width on [since, until] drawn `width` wide (at least 1 wide, to be seen)."""
    length = max(until - since, 1e-9)
    x = width * (max(start, since) - since) / length
    w = max(1.0, width * (min(end, until) - max(start, since)) / length)
    return {"x": _fmt(min(x, width - 1)), "width": _fmt(w)}
