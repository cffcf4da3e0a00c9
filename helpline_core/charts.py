"""Chart geometry for the HTML report, drawn as inline SVG by ``templates/report.html``.

No plotting library: a report needs two kinds of chart (bars per day, horizontal bars per
category or area), and inline SVG keeps the page one file that opens and prints without a
network. These functions only compute shapes; the template writes them out, escaping every
label. A chart is::

    {"width": px, "height": px, "title": str,
     "rects": [{"x", "y", "w", "h", "cls", "title"}],      # cls "s0", "s1": series colours
     "texts": [{"x", "y", "text", "anchor", "cls"}],
     "lines": [{"x1", "y1", "x2", "y2", "cls"}]}
"""

import math


def nice_step(top, ticks=4):
    """:returns: a round step (1, 2 or 5 times a power of ten) giving about ``ticks`` steps up to ``top``."""
    if top <= 0:
        return 1
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return max(1, int(factor * power)) if raw >= 1 else factor * power
    return 10 * power


def bar_chart(labels, series, width=900, height=280, title=""):
    """Vertical bars, one group per label, one bar per series.

    :param labels: x-axis labels (e.g. ``03-08``). :param series: ``[(name, [values])]``.
    :returns: a chart (see the module docstring).
    """
    left, right, top, bottom = 48, 10, 26, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    peak = max([v for _, values in series for v in values] + [0])
    step = nice_step(peak)
    y_max = max(step * math.ceil(peak / step), step)
    chart = {"width": width, "height": height, "title": title, "rects": [], "texts": [], "lines": []}

    def y_of(value):
        return top + plot_h - plot_h * value / y_max

    value = 0
    while value <= y_max + 1e-9:
        y = round(y_of(value), 1)
        chart["lines"].append({"x1": left, "y1": y, "x2": width - right, "y2": y, "cls": "grid"})
        chart["texts"].append({"x": left - 6, "y": y + 4, "text": f"{value:g}", "anchor": "end", "cls": "tick"})
        value += step
    group = plot_w / n
    bar = max(min(group * 0.8 / max(len(series), 1), 24), 1)
    every = max(1, math.ceil(n / (plot_w / 44)))
    for k, label in enumerate(labels):
        x0 = left + k * group + (group - bar * len(series)) / 2
        for s, (name, values) in enumerate(series):
            v = values[k]
            y = y_of(v)
            chart["rects"].append({"x": round(x0 + s * bar, 1), "y": round(y, 1), "w": round(bar, 1),
                                   "h": round(top + plot_h - y, 1), "cls": f"s{s}", "title": f"{label} {name}: {v:,}"})
        if k % every == 0:
            chart["texts"].append({"x": round(left + k * group + group / 2, 1), "y": top + plot_h + 16,
                                   "text": str(label), "anchor": "middle", "cls": "tick"})
    chart["lines"].append({"x1": left, "y1": top + plot_h, "x2": width - right, "y2": top + plot_h, "cls": "axis"})
    x = left
    for s, (name, _) in enumerate(series):
        chart["rects"].append({"x": x, "y": 6, "w": 12, "h": 12, "cls": f"s{s}", "title": name})
        chart["texts"].append({"x": x + 16, "y": 16, "text": name, "anchor": "start", "cls": "legend"})
        x += 24 + 8 * len(name)
    return chart


def hbar_chart(rows, width=900, row_height=18, label_width=300, title=""):
    """Horizontal bars, one per ``(label, value)`` row, the value written after the bar.

    :returns: a chart (see the module docstring).
    """
    top, right = 6, 70
    height = top * 2 + row_height * max(len(rows), 1)
    peak = max([v for _, v in rows] + [1])
    span = width - label_width - right
    chart = {"width": width, "height": height, "title": title, "rects": [], "texts": [], "lines": []}
    for k, (label, value) in enumerate(rows):
        y = top + k * row_height
        w = round(span * value / peak, 1)
        text = str(label)
        chart["texts"].append({"x": label_width - 8, "y": y + row_height - 5,
                               "text": text if len(text) <= 44 else text[:43] + "…", "anchor": "end", "cls": "label"})
        chart["rects"].append({"x": label_width, "y": y + 2, "w": max(w, 0.5), "h": row_height - 4, "cls": "s0",
                               "title": f"{label}: {value:,}"})
        chart["texts"].append({"x": label_width + w + 6, "y": y + row_height - 5, "text": f"{value:,}",
                               "anchor": "start", "cls": "tick"})
    return chart
