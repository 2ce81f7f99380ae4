"""The files of a readable model's what-if curves and Shapley values: CSV values and PNG figures.

One writer, used by ``xaidesk explain table --method tabular.readable`` and by the Tables tab's
model pages. The CSV files are in long form, one number per line, so that they read straight into
a spreadsheet or a data frame:

- ICE curves (:func:`ice_csv`): ``row,<feature>,output,outside_data``: one line per ICE curve and
  grid point (``row`` is the 0-based row in the file), then the partial dependence (their average)
  with ``row`` = ``partial dependence``; ``outside_data`` is ``1`` for grid points outside the
  feature's observed range (the model is extrapolating there), else ``0``;
- two-feature partial dependence (:func:`pd2d_csv`): ``<first>,<second>,partial_dependence``, one
  line per grid pair;
- Shapley values (:func:`shapley_csv`): ``row,base_value,<one column per feature>,output,
  efficiency_gap``, one line per explained row; ``efficiency_gap`` is
  ``base_value + sum of the values - output`` (zero up to rounding when they add up).

Numbers carry 12 significant digits (:func:`~xaidesk.core.io.csv_number`). The PNG figures are
drawn with matplotlib's Agg canvas (no GUI toolkit): :func:`ice_png`, :func:`pd2d_png`,
:func:`waterfall_png`, :func:`beeswarm_png` and :func:`dependence_png`. Non-finite inputs are
refused with a plain error.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core import InputError
from ..core.io import csv_field, csv_number, write_bytes_atomic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Figure resolution (dots per inch) of the PNG files.
DPI = 110
PD_LABEL = "partial dependence"


def finite(values, what: str) -> np.ndarray:
    """``values`` as a float array, or a plain error naming ``what`` when any is missing or infinite."""
    array = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(array)):
        raise InputError(f"The {what} hold missing or infinite numbers, so they cannot be written; "
                         "compute them again on a table without missing values.")
    return array


def text_lines(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def curve_rows(ice, row_ids) -> list[int]:
    """The file row of each ICE curve: ``row_ids[ice.rows[k]]`` (positions when ``row_ids`` is ``None``)."""
    positions = np.asarray(ice.rows, dtype=int)
    if row_ids is None:
        return [int(p) for p in positions]
    ids = np.asarray(row_ids)
    if positions.size and positions.max() >= len(ids):
        raise InputError(f"The ICE curves belong to rows up to position {positions.max()}, but only {len(ids)} "
                         "row numbers were given.")
    return [int(ids[p]) for p in positions]


def ice_csv(ice, row_ids, feature_name: str) -> bytes:
    """ICE curves and partial dependence in long form (see the module doc).

    Parameters
    ----------
    ice
        An :class:`~xaidesk.tabular.dependence.IceResult`.
    row_ids
        The file row of each position of the table the curves were computed on (e.g. a
        ``TableResult.row_ids``); ``None`` writes positions.
    feature_name
        The swept feature's name (the second column's header).
    """
    grid = finite(ice.grid, "ICE grid values")
    curves = finite(ice.curves, "ICE curves")
    average = finite(ice.average, "partial dependence values")
    outside = ["1" if flag else "0" for flag in np.asarray(ice.extrapolated, dtype=bool)]
    lines = [",".join(["row", csv_field(feature_name), "output", "outside_data"])]
    points = [csv_number(g) for g in grid]
    for row, curve in zip(curve_rows(ice, row_ids), curves):
        lines += [f"{row},{g},{csv_number(v)},{o}" for g, v, o in zip(points, curve, outside)]
    lines += [f"{PD_LABEL},{g},{csv_number(v)},{o}" for g, v, o in zip(points, average, outside)]
    return text_lines(lines)


def pd2d_csv(pd, names: Sequence[str]) -> bytes:
    """Two-feature partial dependence: ``<first>,<second>,partial_dependence``, one line per grid pair."""
    if len(names) != 2:
        raise InputError("A two-feature partial dependence needs the names of its two features.")
    grid1, grid2 = finite(pd.grid1, "first grid"), finite(pd.grid2, "second grid")
    values = finite(pd.values, "partial dependence values")
    if values.shape != (len(grid1), len(grid2)):
        raise InputError(f"The partial dependence has shape {values.shape} for grids of {len(grid1)} and "
                         f"{len(grid2)} points.")
    lines = [",".join([csv_field(names[0]), csv_field(names[1]), "partial_dependence"])]
    for i, a in enumerate(grid1):
        lines += [f"{csv_number(a)},{csv_number(b)},{csv_number(values[i, j])}" for j, b in enumerate(grid2)]
    return text_lines(lines)


def shapley_csv(values, base_value: float, output, feature_names: Sequence[str], row_ids) -> bytes:
    """Shapley values per explained row: ``row,base_value,<features>,output,efficiency_gap``.

    ``values`` is ``(n, d)``, ``output`` and ``row_ids`` (file rows) have one entry per row.
    """
    phi = finite(values, "Shapley values")
    base = float(finite(base_value, "base value"))
    out = finite(output, "model outputs").reshape(-1)
    rows = np.asarray(row_ids).reshape(-1)
    if phi.ndim != 2 or phi.shape[1] != len(feature_names):
        raise InputError(f"The Shapley values have shape {phi.shape} for {len(feature_names)} feature names.")
    if not len(out) == len(rows) == len(phi):
        raise InputError(f"{len(phi)} rows of Shapley values, {len(out)} outputs and {len(rows)} row numbers "
                         "were given; one of each per explained row is needed.")
    gaps = base + phi.sum(axis=1) - out
    lines = [",".join(["row", "base_value", *(csv_field(n) for n in feature_names), "output", "efficiency_gap"])]
    for row, phi_row, o, gap in zip(rows, phi, out, gaps):
        lines.append(",".join([str(int(row)), csv_number(base), *(csv_number(v) for v in phi_row),
                               csv_number(o), csv_number(gap)]))
    return text_lines(lines)


def write_ice_csv(path, ice, row_ids, feature_name: str) -> Path:
    """Write :func:`ice_csv` to ``path`` atomically."""
    return write_bytes_atomic(path, ice_csv(ice, row_ids, feature_name))


def write_pd2d_csv(path, pd, names: Sequence[str]) -> Path:
    """Write :func:`pd2d_csv` to ``path`` atomically."""
    return write_bytes_atomic(path, pd2d_csv(pd, names))


def write_shapley_csv(path, values, base_value: float, output, feature_names: Sequence[str], row_ids) -> Path:
    """Write :func:`shapley_csv` to ``path`` atomically."""
    return write_bytes_atomic(path, shapley_csv(values, base_value, output, feature_names, row_ids))


def write_png(path, data: bytes) -> Path:
    """Write PNG bytes (from one of the ``*_png`` functions) to ``path`` atomically."""
    if not bytes(data[:8]) == PNG_SIGNATURE:
        raise InputError("The data to write is not a PNG image.")
    return write_bytes_atomic(path, data)


def new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def ice_png(ice, feature_name: str, output_name: str, highlight: int | None = None,
            highlight_label: str | None = None) -> bytes:
    """ICE curves (thin), partial dependence (thick), a highlighted row, a rug of the data and the observed range.

    ``highlight`` is a position of the table the curves were computed on; it must be one of
    ``ice.rows``. Grid points outside the observed range are shaded and named as extrapolated.
    """
    from matplotlib.transforms import blended_transform_factory

    grid, curves = finite(ice.grid, "ICE grid values"), finite(ice.curves, "ICE curves")
    average, data = finite(ice.average, "partial dependence values"), finite(ice.data_values, "feature values")
    figure = new_figure(7.2, 4.6)
    axes = figure.add_subplot(1, 1, 1)
    lines = curves if len(curves) <= 300 else curves[np.linspace(0, len(curves) - 1, 300).astype(int)]
    for k, curve in enumerate(lines):
        axes.plot(grid, curve, color="#5b8db8", alpha=0.25, linewidth=0.8,
                  label=f"one row each ({len(curves)} rows)" if k == 0 else None)
    axes.plot(grid, average, color="#c0392b", linewidth=2.6, label="partial dependence (average)")
    if highlight is not None:
        found = np.flatnonzero(np.asarray(ice.rows) == int(highlight))
        if not found.size:
            raise InputError(f"Row position {highlight} has no ICE curve; compute the curves with that row included.")
        axes.plot(grid, curves[found[0]], color="black", linewidth=2.0,
                  label=highlight_label or f"row at position {highlight}")
    low, high = (float(v) for v in ice.data_range)
    outside = np.asarray(ice.extrapolated, dtype=bool)
    if outside.any():
        left, right = min(grid.min(), low), max(grid.max(), high)
        label = "outside the data (extrapolated)"
        if grid.min() < low:
            axes.axvspan(left, low, color="0.85", zorder=0, label=label)
            label = None
        if grid.max() > high:
            axes.axvspan(high, right, color="0.85", zorder=0, label=label)
    for edge in (low, high):
        axes.axvline(edge, color="0.45", linestyle=":", linewidth=1.0)
    rug = blended_transform_factory(axes.transData, axes.transAxes)
    axes.plot(data, np.full(len(data), 0.02), "|", color="0.3", alpha=0.35, markersize=9, transform=rug,
              label=f"data values (observed {low:.4g} to {high:.4g})")
    axes.set_xlabel(feature_name)
    axes.set_ylabel(output_name)
    axes.set_title(f"What would the model say if {feature_name} changed?", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    return png_bytes(figure)


def pd2d_png(pd, names: Sequence[str], output_name: str = "model output") -> bytes:
    """Two-feature partial dependence as a colour map (first feature up, second across)."""
    grid1, grid2 = finite(pd.grid1, "first grid"), finite(pd.grid2, "second grid")
    values = finite(pd.values, "partial dependence values")
    figure = new_figure(6.4, 5.0)
    axes = figure.add_subplot(1, 1, 1)
    mesh = axes.pcolormesh(grid2, grid1, values, shading="nearest", cmap="viridis")
    figure.colorbar(mesh, ax=axes, label=f"{output_name} (average over rows)")
    axes.set_xlabel(names[1])
    axes.set_ylabel(names[0])
    axes.set_title(f"How {names[0]} and {names[1]} act together", fontsize=10)
    return png_bytes(figure)


def checked_shapley(values, feature_values, feature_names) -> tuple[np.ndarray, np.ndarray]:
    phi = finite(values, "Shapley values")
    x = finite(feature_values, "feature values")
    if phi.ndim != 2 or phi.shape != x.shape or phi.shape[1] != len(feature_names):
        raise InputError(f"Shapley values of shape {phi.shape}, feature values of shape {x.shape} and "
                         f"{len(feature_names)} feature names do not belong together.")
    return phi, x


def waterfall_png(values, base_value: float, output: float, feature_names: Sequence[str], feature_values,
                  title: str = "", max_features: int = 12) -> bytes:
    """One row's Shapley values as a waterfall from the base value to the row's output.

    ``values`` and ``feature_values`` are the row's ``(d,)`` values; the smallest beyond
    ``max_features`` are summed into one bar.
    """
    phi, x = checked_shapley(np.reshape(values, (1, -1)), np.reshape(feature_values, (1, -1)), feature_names)
    phi, x = phi[0], x[0]
    base, out = float(finite(base_value, "base value")), float(finite(output, "model output"))
    order = np.argsort(-np.abs(phi), kind="stable")
    shown = order[:max_features] if len(order) > max_features + 1 else order
    labels = [f"{feature_names[j]} = {x[j]:.4g}" for j in shown]
    steps = list(phi[shown])
    if len(shown) < len(order):
        labels.append(f"{len(order) - len(shown)} other features")
        steps.append(float(phi[order[len(shown):]].sum()))
    figure = new_figure(7.2, 1.2 + 0.38 * len(steps))
    axes = figure.add_subplot(1, 1, 1)
    ends = base + np.cumsum(steps)
    starts = np.concatenate([[base], ends[:-1]])
    for k, (start, step) in enumerate(zip(starts, steps)):
        axes.barh(k, step, left=start, color="#c0392b" if step > 0 else "#2e86c1", height=0.7)
        axes.text(max(start, start + step), k, f" {step:+.3g}", va="center", ha="left", fontsize=8)
    low, high = min(base, out, ends.min()), max(base, out, ends.max())
    pad = max(high - low, abs(high) * 1e-3, 1e-12)
    axes.set_xlim(low - 0.05 * pad, high + 0.2 * pad)
    axes.axvline(base, color="0.4", linestyle=":", linewidth=1.0)
    axes.axvline(out, color="black", linewidth=1.2)
    axes.set_yticks(range(len(steps)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(f"model output: from the average {base:.4g} (dotted) to this row's {out:.4g} (solid)")
    axes.set_title(title or "Why this row got its output", fontsize=10)
    return png_bytes(figure)


def value_colours(x: np.ndarray) -> np.ndarray:
    """Each column's values as their rank share 0..1 (low..high), so every feature uses the whole colour scale."""
    ranks = np.empty_like(x)
    for j in range(x.shape[1]):
        column = x[:, j]
        distinct = np.unique(column)
        ranks[:, j] = np.searchsorted(distinct, column) / max(len(distinct) - 1, 1)
    return ranks


def swarm_offsets(phi: np.ndarray, rng: np.random.Generator, bins: int = 60) -> np.ndarray:
    """Vertical offsets within ±0.4 that grow with how many points share an x-bin (a beeswarm's width)."""
    edges = np.linspace(phi.min(), phi.max() + 1e-12, bins + 1)
    which = np.clip(np.searchsorted(edges, phi, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    width = 0.4 * counts[which] / max(counts.max(), 1)
    return rng.uniform(-1.0, 1.0, len(phi)) * width


def beeswarm_png(values, feature_values, feature_names: Sequence[str], output_name: str = "model output",
                 max_features: int = 15, seed: int = 0) -> bytes:
    """Shapley values of many rows: one line of dots per feature (by mean |value|), coloured by the feature's value."""
    phi, x = checked_shapley(values, feature_values, feature_names)
    order = np.argsort(-np.abs(phi).mean(axis=0), kind="stable")[:max_features]
    colours = value_colours(x)
    rng = np.random.default_rng(seed)
    figure = new_figure(7.4, 1.4 + 0.36 * len(order))
    axes = figure.add_subplot(1, 1, 1)
    points = None
    for k, j in enumerate(order):
        points = axes.scatter(phi[:, j], k + swarm_offsets(phi[:, j], rng), c=colours[:, j], cmap="coolwarm",
                              vmin=0.0, vmax=1.0, s=9, linewidths=0)
    axes.axvline(0.0, color="0.4", linewidth=0.8)
    axes.set_yticks(range(len(order)), [feature_names[j] for j in order], fontsize=8)
    axes.set_ylim(len(order) - 0.5, -0.5)
    axes.set_xlabel(f"Shapley value: push on the {output_name} ({len(phi)} rows)")
    axes.set_title("Which features move the output, and which way", fontsize=10)
    bar = figure.colorbar(points, ax=axes, ticks=[0, 1], aspect=30)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    return png_bytes(figure)


def dependence_png(values, feature_values, feature_names: Sequence[str], feature: str,
                   colour_by: str | None = None, output_name: str = "model output") -> bytes:
    """One feature's Shapley value against its value, one dot per row, optionally coloured by another feature."""
    phi, x = checked_shapley(values, feature_values, feature_names)
    names = list(feature_names)
    for name in [feature] + ([colour_by] if colour_by else []):
        if name not in names:
            raise InputError(f"There is no feature called {name!r}; choose one of: {', '.join(names)}.")
    j = names.index(feature)
    figure = new_figure(6.8, 4.6)
    axes = figure.add_subplot(1, 1, 1)
    if colour_by:
        c = names.index(colour_by)
        points = axes.scatter(x[:, j], phi[:, j], c=x[:, c], cmap="coolwarm", s=12, linewidths=0)
        figure.colorbar(points, ax=axes, label=colour_by)
    else:
        axes.scatter(x[:, j], phi[:, j], color="#2e86c1", s=12, linewidths=0)
    axes.axhline(0.0, color="0.4", linewidth=0.8)
    axes.set_xlabel(feature)
    axes.set_ylabel(f"Shapley value of {feature} ({output_name})")
    axes.set_title(f"How {feature} pushes the output, row by row", fontsize=10)
    axes.grid(True, alpha=0.3)
    return png_bytes(figure)


def file_stem(name: str) -> str:
    """A feature name as part of a file name: letters, digits, ``.``, ``-`` and ``_`` kept, the rest ``_``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", str(name)).strip("._") or "feature"


def waterfall_name(row: int) -> str:
    """The file of one row's waterfall: ``waterfall_row<row>.png`` (``row`` as numbered in the file)."""
    return f"waterfall_row{int(row)}.png"


def readable_file_names(feature_names: Sequence[str], ice: Sequence[str] = (),
                        pd2d: Sequence[tuple[str, str]] = (), row: int | None = None) -> list[str]:
    """The file names :func:`readable_files` writes, after checking every named feature exists (plain error if not)."""
    names = list(feature_names)
    unknown = [f for f in [*ice, *(f for pair in pd2d for f in pair)] if f not in names]
    if unknown:
        raise InputError(f"There is no feature called {', '.join(repr(f) for f in dict.fromkeys(unknown))}; "
                         f"the features are: {', '.join(names)}.")
    if any(a == b for a, b in pd2d):
        raise InputError("A two-feature partial dependence needs two different features.")
    files = ["shapley.csv", "shapley_summary.png"]
    files += [f"ice_{file_stem(f)}.{ext}" for f in dict.fromkeys(ice) for ext in ("csv", "png")]
    files += [f"pd2d_{file_stem(a)}_{file_stem(b)}.{ext}" for a, b in dict.fromkeys(pd2d) for ext in ("csv", "png")]
    if row is not None:
        files.append(waterfall_name(row))
    if len(set(files)) != len(files):
        raise InputError("Two of the chosen features give the same file name; choose them in separate runs.")
    return files


def readable_files(result, *, ice: Sequence[str] = (), pd2d: Sequence[tuple[str, str]] = (),
                   row: int | None = None, max_rows: int = 200, token=None) -> dict[str, bytes]:
    """The files of a ``tabular.readable`` result: Shapley values, ICE curves, pair maps and one row's waterfall.

    Parameters
    ----------
    result
        A :class:`~xaidesk.explain.table.TableResult` of ``tabular.readable`` (with ``extras["fitted"]``).
    ice
        Features to write ICE curves for (``ice_<feature>.csv`` and ``.png``).
    pd2d
        Feature pairs to write two-feature partial dependence for (``pd2d_<a>_<b>.csv`` and ``.png``).
    row
        A file row: ``waterfall_row<row>.png``; its Shapley values are computed when it was not explained.
    max_rows
        Rows (sampled with the result's seed) the ICE curves and pair maps average over.

    Returns
    -------
    dict
        File name to bytes: ``shapley.csv``, ``shapley_summary.png`` and the requested files.
    """
    from ..tabular.dependence import ice_curves, partial_dependence_2d, sample_rows
    from ..tabular.shapley import shapley_values

    if "fitted" not in result.extras:
        raise InputError("These files need a fitted readable model: run the method tabular.readable.")
    names = list(result.feature_names)
    readable_file_names(names, ice, pd2d, row)
    fitted, shapley = result.extras["fitted"], result.extras["shapley"]
    explained = np.asarray(result.extras["explained_positions"], dtype=int)
    position = None if row is None else result.position_of(int(row))
    seed, output_name = int(result.params.get("seed", 0)), fitted.output_name
    files = {"shapley.csv": shapley_csv(shapley.values, shapley.base_value, shapley.output, names,
                                        result.row_ids[explained]),
             "shapley_summary.png": beeswarm_png(shapley.values, fitted.X[explained], names, output_name)}
    ice_rows = sample_rows(len(fitted.X), None, max_rows, seed)
    if position is not None:
        ice_rows = np.union1d(ice_rows, [position])
    for feature in dict.fromkeys(ice):
        curves = ice_curves(fitted.predict_output, fitted.X, feature, rows=ice_rows, estimator=fitted.estimator,
                            feature_names=names, token=token)
        files[f"ice_{file_stem(feature)}.csv"] = ice_csv(curves, result.row_ids, feature)
        files[f"ice_{file_stem(feature)}.png"] = ice_png(curves, feature, output_name, highlight=position,
                                                         highlight_label=None if row is None else f"row {row}")
    for a, b in dict.fromkeys(pd2d):
        pair = partial_dependence_2d(fitted.predict_output, fitted.X, a, b, max_rows=max_rows, seed=seed,
                                     feature_names=names, token=token)
        stem = f"pd2d_{file_stem(a)}_{file_stem(b)}"
        files[f"{stem}.csv"], files[f"{stem}.png"] = pd2d_csv(pair, [a, b]), pd2d_png(pair, [a, b], output_name)
    if position is not None:
        hit = np.flatnonzero(explained == position)
        if hit.size:
            phi, base, out = shapley.values[hit[0]], shapley.base_value, shapley.output[hit[0]]
        else:
            background = (result.extras["background_rows"], result.extras["background_weights"])
            one = shapley_values(fitted.predict_output, fitted.X[[position]], background, estimator=fitted.estimator,
                                 method=shapley.method, seed=seed, feature_names=names, token=token)
            phi, base, out = one.values[0], one.base_value, one.output[0]
        files[waterfall_name(row)] = waterfall_png(phi, base, out, names, fitted.X[position],
                                                         f"Row {row}: why the {output_name} is {out:.4g}")
    return files
