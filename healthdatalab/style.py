"""One plotting style for every notebook: colour-blind safe, readable in light and dark mode.

The palette is Okabe and Ito's eight colours, chosen to stay distinguishable for the common
forms of colour blindness. Figures get a transparent background and mid-grey text and axes,
so the same image reads on the book's light and dark themes.
"""

from __future__ import annotations

import matplotlib as mpl
from cycler import cycler

#: Okabe-Ito palette (without black, which vanishes on the dark theme).
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermilion
    "#F0E442",  # yellow
)

_GREY = "#7f7f7f"


def apply_style() -> None:
    """Set matplotlib defaults for the playbook's figures (call once per notebook)."""
    mpl.rcParams.update(
        {
            "axes.prop_cycle": cycler(color=PALETTE),
            "figure.figsize": (7.0, 4.0),
            "figure.dpi": 110,
            "savefig.transparent": True,
            "figure.facecolor": (1, 1, 1, 0),
            "axes.facecolor": (1, 1, 1, 0),
            "text.color": _GREY,
            "axes.labelcolor": _GREY,
            "axes.edgecolor": _GREY,
            "xtick.color": _GREY,
            "ytick.color": _GREY,
            "legend.frameon": False,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": _GREY,
            "grid.alpha": 0.25,
            "lines.linewidth": 2.0,
            "font.size": 11,
        }
    )
