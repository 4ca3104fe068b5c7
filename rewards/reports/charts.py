"""Charts as SVG drawn on the server by pygal: no JavaScript, nothing from a CDN. Each is shown as
an image with a text alternative, beside a table of the same numbers (for screen readers, and for
anyone who reads numbers better than bars). One series per chart, so no colour has to be told apart."""

import math

import pygal
from pygal.style import Style

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#333",
    foreground_strong="#111",
    foreground_subtle="#666",
    colors=("#1a5fb4",),
    font_family="'Noto Sans', 'Noto Sans CJK KR', 'Noto Sans Thai', sans-serif",
    title_font_size=16,
    label_font_size=11,
    major_label_font_size=11,
    value_font_size=10,
)


def bar_chart(*, title: str, labels: list[str], values: list, x_title: str = "", y_title: str = "") -> str:
    """A bar chart as a `data:` URI for an <img>."""
    chart = pygal.Bar(
        style=STYLE,
        js=[],  # no script: the chart is an image
        width=760,
        height=300,
        show_legend=False,
        title=title,
        x_title=x_title,
        y_title=y_title,
        x_labels=labels,
        show_minor_x_labels=len(labels) <= 12,
        x_labels_major_every=max(1, len(labels) // 8),
        print_values=len(labels) <= 12,
        print_zeroes=False,
        min_scale=1,
        max_scale=6,
        no_data_text="",
    )
    if all(isinstance(v, int) for v in values):  # counts: whole-number ticks, never "0.2 users"
        step = max(1, math.ceil(max(values, default=0) / 5))
        chart.y_labels = list(range(0, max(values, default=0) + step + 1, step))
    chart.add(title, [float(v) for v in values])
    return chart.render_data_uri()
