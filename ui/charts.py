"""How every chart looks: colour-blind-safe colours and markers, titles and axis labels, margins."""

from __future__ import annotations

import plotly.graph_objects as go

# Okabe and Ito's colours, told apart by viewers with any common colour blindness; where lines or points of
# several kinds share a chart they also differ by marker shape (SYMBOLS) or dash, never by colour alone.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SYMBOLS = ["circle", "square", "diamond", "cross", "x", "triangle-up", "triangle-down", "star", "hexagon", "pentagon"]


def style(fig: go.Figure, title: str, x: str, y: str, height: int = 320) -> go.Figure:
    """Every chart gets a title, axis labels, colour-blind-safe colours and the same compact margins."""
    fig.update_layout(
        colorway=PALETTE,
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


# Margins for charts that are redrawn with new data (live training curves, the Draw page's probabilities):
# set once instead of measured from the tick labels, so a redraw keeps its layout and plotly skips that pass.
FIXED_MARGIN = dict(l=64, r=12, t=50, b=50)


def fixed_margins(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    return fig.update_layout(margin=FIXED_MARGIN)
