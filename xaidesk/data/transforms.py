"""Preprocessing of table features, visible and editable: log(x + θ) and standardisation.

The log transform x -> log(x + θ) is applied per column. θ is

- ``"auto"``: the candidate with the smallest Jarque-Bera statistic (the most
  normal-looking column after the transform; Jarque-Bera measures skewness and
  kurtosis against a normal distribution);
- a number: the same θ for every column (or a dict ``{column: θ or None}``);
- ``"none"`` / ``None``: no log transform.

Candidates (:func:`theta_candidates`) are the powers of ten from 10^(e-4) to
10^(e+1), where 10^e is the decade of the column's median absolute value: for
a column in the thousands (e = 3) that is 0.1, 1, 10, 100, 1000, 10000. A
column with values <= 0 is shifted: the candidates become ``-min + 10^k`` so
that the logarithm is defined; when θ is set by hand and some x + θ <= 0, an
:class:`~xaidesk.core.InputError` says so.

:func:`preprocess` returns the transformed matrix, the chosen θ per column and
the whole Jarque-Bera table (statistic and p-value per candidate per column),
which the GUI shows as an analyst would check it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import InputError


@dataclass
class JBRow:
    """One line of the Jarque-Bera table: a column, a θ, the statistic and its p-value."""

    column: str
    theta: float
    statistic: float
    pvalue: float
    chosen: bool = False

    def to_dict(self) -> dict:
        return {"column": self.column, "theta": self.theta, "jb": self.statistic, "p": self.pvalue, "chosen": self.chosen}


@dataclass
class Preprocessed:
    """The result of :func:`preprocess`.

    Attributes
    ----------
    values
        The transformed (N, F) float64 matrix the analyses run on.
    names
        Feature names.
    theta
        ``{column: θ}`` (``None`` where no log transform was applied).
    jb_table
        Jarque-Bera statistic and p-value per candidate θ per column (only
        for columns where θ was chosen automatically or a candidate list was given),
        plus the untransformed column as θ = ``nan``.
    mean, scale
        The standardisation applied after the log (zeros and ones when off).
    standardized
        Whether standardisation was applied.
    """

    values: np.ndarray
    names: list[str]
    theta: dict[str, float | None]
    jb_table: list[JBRow] = field(default_factory=list)
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    standardized: bool = False

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Apply the same transform (same θ, mean, scale) to other rows with the same columns."""
        raw = np.asarray(raw, dtype=np.float64)
        out = np.empty_like(raw)
        for j, name in enumerate(self.names):
            t = self.theta.get(name)
            out[:, j] = raw[:, j] if t is None else np.log(raw[:, j] + t)
        if self.standardized:
            out = (out - self.mean) / self.scale
        return out

    def jb_rows(self) -> list[dict]:
        return [r.to_dict() for r in self.jb_table]


def jarque_bera(values: np.ndarray) -> tuple[float, float]:
    """Jarque-Bera statistic and p-value (scipy); ``(nan, nan)`` for a constant column."""
    from scipy.stats import jarque_bera as _jb

    values = np.asarray(values, dtype=np.float64)
    if values.size < 3 or np.ptp(values) == 0:
        return float("nan"), float("nan")
    result = _jb(values)
    return float(result.statistic), float(result.pvalue)


def theta_candidates(values: np.ndarray, decades: tuple[int, int] = (-4, 1)) -> list[float]:
    """Candidate θ for one column (see the module doc)."""
    values = np.asarray(values, dtype=np.float64)
    magnitude = float(np.median(np.abs(values)))
    e = int(np.floor(np.log10(magnitude))) if magnitude > 0 else 0
    shift = max(0.0, -float(values.min()))
    return [shift + 10.0 ** k for k in range(e + decades[0], e + decades[1] + 1)]


def choose_theta(values: np.ndarray, candidates: list[float] | None = None, column: str = "") -> tuple[float, list[JBRow]]:
    """The candidate θ whose log(x + θ) has the smallest Jarque-Bera statistic, and the table."""
    values = np.asarray(values, dtype=np.float64)
    candidates = list(candidates) if candidates is not None else theta_candidates(values)
    rows = []
    for theta in candidates:
        if np.any(values + theta <= 0):
            continue
        stat, p = jarque_bera(np.log(values + theta))
        rows.append(JBRow(column, float(theta), stat, p))
    finite = [r for r in rows if np.isfinite(r.statistic)]
    if not finite:
        raise InputError(f"No log transform could be chosen for the column '{column}' (it is constant or too short).")
    best = min(finite, key=lambda r: r.statistic)
    best.chosen = True
    stat, p = jarque_bera(values)
    return best.theta, [JBRow(column, float("nan"), stat, p)] + rows


def parse_theta(value) -> "str | float | None":
    """``"auto"`` -> ``"auto"``, ``"none"``/``""``/``None`` -> ``None``, a number -> float (> -inf)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower()
    if text in ("", "none", "off", "no"):
        return None
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise InputError(f"θ (theta) must be a number, 'auto' or 'none'; got '{value}'.") from None


def preprocess(
    values: np.ndarray,
    names: list[str],
    theta="auto",
    standardize: bool = False,
    candidates: list[float] | None = None,
) -> Preprocessed:
    """Log-transform (per column) and optionally standardise.

    ``theta`` is ``"auto"``, a number, ``None``/``"none"``, or a dict
    ``{column: "auto" | number | None}`` (missing columns: no transform).
    ``candidates`` overrides the automatic candidate list (same for all columns).
    """
    values = np.asarray(values, dtype=np.float64)
    names = list(names)
    per_column = theta if isinstance(theta, dict) else {n: theta for n in names}
    out = np.empty_like(values)
    thetas: dict[str, float | None] = {}
    table: list[JBRow] = []
    for j, name in enumerate(names):
        column = values[:, j]
        t = parse_theta(per_column.get(name))
        if t == "auto":
            t, rows = choose_theta(column, candidates, name)
            table.extend(rows)
        elif t is not None:
            if np.any(column + t <= 0):
                raise InputError(
                    f"log(x + θ) with θ = {t:g} is undefined for the column '{name}' (its smallest value is "
                    f"{column.min():g}). Choose θ larger than {-column.min():g}, 'auto', or 'none'."
                )
            if candidates is not None:
                table.extend(choose_theta(column, candidates, name)[1])
                for r in table:
                    r.chosen = r.column == name and r.theta == t
        thetas[name] = None if t is None else float(t)
        out[:, j] = column if t is None else np.log(column + t)
    mean = np.zeros(len(names))
    scale = np.ones(len(names))
    if standardize:
        mean = out.mean(axis=0)
        scale = out.std(axis=0)
        scale[scale == 0] = 1.0
        out = (out - mean) / scale
    return Preprocessed(values=out, names=names, theta=thetas, jb_table=table, mean=mean, scale=scale, standardized=bool(standardize))


def histograms(values: np.ndarray, bins: int = 30) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per column ``(counts, edges)``: for the before/after histograms of the preprocessing view."""
    values = np.asarray(values, dtype=np.float64)
    return [np.histogram(values[:, j], bins=bins) for j in range(values.shape[1])]
