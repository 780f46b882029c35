"""The time series as a PNG: the mean with its p10-p90 band and the median, and the clear
fraction of each date beneath."""

from __future__ import annotations

from pathlib import Path

from raw2ready.atomic import atomic_path
from raw2ready.timeseries.series import DateStatistics

#: Figure size in inches and resolution: a 1200 x 700 px PNG.
FIGURE_INCHES = (12.0, 7.0)
DPI = 100


def write_plot(series: list[DateStatistics], product: str, title: str, path: Path) -> None:
    """Draw `series` of `product` into the PNG `path` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    dates = [row.date for row in series]
    figure, (values, clear) = pyplot.subplots(
        2, 1, figsize=FIGURE_INCHES, dpi=DPI, sharex=True, height_ratios=(3, 1)
    )
    values.fill_between(
        dates, [row.p10 for row in series], [row.p90 for row in series], alpha=0.25, label="p10-p90"
    )
    values.plot(dates, [row.mean for row in series], marker="o", label="mean")
    values.plot(dates, [row.median for row in series], linestyle="--", label="median")
    values.set_ylabel(product)
    values.set_title(title)
    values.legend(loc="best")
    clear.bar(dates, [row.clear_fraction for row in series], width=2.0, color="tab:green")
    clear.set_ylim(0, 1)
    clear.set_ylabel("clear fraction")
    figure.autofmt_xdate()
    with atomic_path(path) as temporary, temporary.open("wb") as stream:
        figure.savefig(stream, format="png", dpi=DPI)
    pyplot.close(figure)
