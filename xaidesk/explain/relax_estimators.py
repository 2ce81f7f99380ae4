"""Streaming estimators of RELAX's importance R, uncertainty U and the standard error of R.

The method and its registration are in :mod:`xaidesk.explain.relax`; R and U are defined there.

**Normalisation of U.** xaidesk divides U by the weight sum W_ij, so U is the mask-weighted
*variance* of the similarity among the masks that keep the pixel. The raw accumulator
Σ M (s − R)² grows linearly with the number of masks, so its size would depend on N: partial
results, a run stopped early (cancel or adaptive stop) and runs with different N would not be
comparable, and the colour scale would drift while the picture refines. Divided by W it
converges to a fixed value, has the units of a squared similarity, and is comparable across
runs. (The reference code divides by W − 1, an unbiased-variance correction that is not
defined for fractional weights: it is negative where W < 1, i.e. early in a run.)

**Streaming.** R and U are updated batch by batch with the weighted parallel (Chan/Welford)
update: a batch's weighted mean and centred sum of squares are merged into the running ones
with the correction term δ² W_a W_b / (W_a + W_b). Every term is non-negative, so U never is,
and memory is O(H·W) whatever N is (masks exist one batch at a time, outputs are not kept).

**Area control variate** (default on). For a random, untrained or texture-driven network the
similarity depends strongly on how much of the input a mask happens to show (its mean a);
that variation says little about any particular pixel but adds noise to every pixel's average
(on ResNet-18 with random weights it explained about half of the variance of s). With A = Σ M a / Σ M (streamed like R) and its exact
expectation A* (:meth:`~xaidesk.explain.masks.GridMaskSampler.area_expectation`),
R_cv = R − β (A − A*), β the least-squares slope of s on a. Because A − A* → 0 the limit is
unchanged (β is estimated from the same samples, a bias of order 1/N). U is left as defined
above; the standard error reported (and used by the adaptive stop) is that of the plain R,
which is conservative when the control helps.

**Monte-Carlo standard error.** The standard error of R_ij is that of a ratio estimator over
independent units (single masks, or antithetic pairs, see :mod:`xaidesk.explain.masks`):
SE² = Σ_u (a_u − R b_u)² / (Σ_u b_u)², with a_u = Σ_{n∈u} s_n M(n) and b_u = Σ_{n∈u} M(n).
"""

from __future__ import annotations

import numpy as np
import torch


class RelaxAccumulator:
    """Streaming weighted importance, uncertainty and standard error, memory O(H·W).

    Parameters
    ----------
    shape
        (H, W) of the masks.
    group
        Masks per independent unit for the standard error: 2 for antithetic pairs (mask ``2k``
        and ``2k+1``), 1 for i.i.d. masks.

    Each batch costs one matrix product (its weighted moments and unit sums, against the masks)
    and a few O(H·W) numpy operations: few operations matter more than their size when the CPU
    is shared. Similarities are centred on the first one (R and U do not change under a shift),
    which keeps the moment formulas well conditioned.
    """

    def __init__(self, shape: tuple[int, int], group: int = 1,
                 area_expectation: np.ndarray | None = None) -> None:
        self.shape = tuple(int(v) for v in shape)
        self.group = int(group)
        size = self.shape[0] * self.shape[1]
        zeros = lambda: np.zeros(size, dtype=np.float64)  # noqa: E731
        self.weight = zeros()      # W  = Σ M
        self.mean = zeros()        # R − shift = Σ M (s − shift) / W
        self.m2 = zeros()          # Σ M (s − R)²
        self.s_aa = zeros()        # Σ_u a_u²   over complete units (a, b: see module docstring)
        self.s_ab = zeros()        # Σ_u a_u b_u
        self.s_bb = zeros()        # Σ_u b_u²
        self.s_b = zeros()         # Σ_u b_u
        self.area_mean = zeros()   # A = Σ M a / W, a = the mask's mean (visible area)
        self.area_target = (None if area_expectation is None
                            else np.asarray(area_expectation, dtype=np.float64).reshape(-1))
        self._scalars = np.zeros(4)  # Σ a, Σ a², Σ s, Σ s a  (s centred on ``shift``)
        self.units = 0
        self.count = 0
        self.shift: float | None = None
        self.similarity_sum = 0.0
        self._pending: tuple[int, np.ndarray, np.ndarray] | None = None

    def update(self, masks: torch.Tensor, sims: torch.Tensor, start: int) -> None:
        """Add masks ``start .. start+B-1``: ``masks`` (B, H, W) or (B, 1, H, W), ``sims`` (B,)."""
        b = masks.shape[0]
        s = np.asarray(sims.detach().double().cpu().numpy(), dtype=np.float64).reshape(-1)
        if self.shift is None:
            self.shift = float(s[0])
        s = s - self.shift
        g = self.group
        unit = np.arange(start, start + b) // g
        first = int(unit[0])
        n_units = int(unit[-1]) - first + 1
        onehot = np.zeros((n_units, b))
        onehot[unit - first, np.arange(b)] = 1.0
        m = masks.reshape(b, -1).to(torch.float64)
        area = m.mean(dim=1).numpy()
        self._scalars += (area.sum(), (area * area).sum(), s.sum(), (s * area).sum())
        coef = np.concatenate([np.ones((1, b)), s[None], (s * s)[None], area[None], onehot * s[None], onehot])
        moments = (torch.from_numpy(coef) @ m).numpy()       # one matrix product per batch
        w_b, sum_b, sq_b, area_b = moments[0], moments[1], moments[2], moments[3]
        a_u, b_u = moments[4 : 4 + n_units], moments[4 + n_units :]
        # Weighted mean and centred sum of squares of the batch, merged (Chan et al.) into the
        # running ones; every term is >= 0, so U never is negative.
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_b = np.where(w_b > 0, sum_b / w_b, 0.0)
            m2_b = np.maximum(sq_b - mean_b * sum_b, 0.0)
            total = self.weight + w_b
            delta = mean_b - self.mean
            ratio = np.where(total > 0, w_b / total, 0.0)
            self.mean += delta * ratio
            self.area_mean += (np.where(w_b > 0, area_b / w_b, 0.0) - self.area_mean) * ratio
            self.m2 += m2_b + delta * delta * self.weight * ratio
        self.weight = total
        self.count += b
        self.similarity_sum += float(s.sum()) + b * self.shift
        self._update_units(a_u, b_u, first, (start + b) % g != 0)

    def _update_units(self, a_u: np.ndarray, b_u: np.ndarray, first: int, last_open: bool) -> None:
        a_u, b_u = a_u.copy(), b_u.copy()
        if self._pending is not None:
            unit, pa, pb = self._pending
            if unit == first:
                a_u[0] += pa
                b_u[0] += pb
            self._pending = None
        if last_open:  # the last unit is not complete yet: keep it for the next batch
            self._pending = (first + a_u.shape[0] - 1, a_u[-1].copy(), b_u[-1].copy())
            a_u, b_u = a_u[:-1], b_u[:-1]
        if a_u.shape[0]:
            self.s_aa += np.einsum("uk,uk->k", a_u, a_u)
            self.s_ab += np.einsum("uk,uk->k", a_u, b_u)
            self.s_bb += np.einsum("uk,uk->k", b_u, b_u)
            self.s_b += b_u.sum(0)
            self.units += a_u.shape[0]

    # -- results ---------------------------------------------------------------------------------
    @property
    def area_beta(self) -> float:
        """Least-squares slope of the similarity on the visible area (0 if undefined)."""
        n = self.count
        if n < 3:
            return 0.0
        sum_a, sum_aa, sum_s, sum_sa = self._scalars
        var = sum_aa - sum_a * sum_a / n
        if var <= 1e-12 * max(sum_aa, 1e-300):
            return 0.0
        return float((sum_sa - sum_s * sum_a / n) / var)

    @property
    def uses_control_variate(self) -> bool:
        return self.area_target is not None

    def importance(self, control_variate: bool = True) -> np.ndarray:
        """R = Σ M s / Σ M (the first similarity where no mask kept the pixel yet).

        With a known area expectation A* (and ``control_variate``), the area control variate is
        applied: R_cv = R − β (A − A*), A = Σ M a / Σ M, β the slope of s on a. A − A* → 0, so
        the limit is RELAX's; the part of the noise explained by how much of the input a mask
        happened to show is removed.
        """
        r = self.mean + (self.shift or 0.0)
        if control_variate and self.area_target is not None:
            r = r - self.area_beta * (self.area_mean - self.area_target)
        return r.reshape(self.shape).astype(np.float32)

    def uncertainty(self) -> np.ndarray:
        """U = Σ M (s − R)² / Σ M (0 where no mask kept the pixel); never negative."""
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(self.weight > 0, self.m2 / self.weight, 0.0)
        return np.maximum(u, 0.0).reshape(self.shape).astype(np.float32)

    def standard_error_map(self) -> np.ndarray:
        """Per-pixel Monte-Carlo standard error of R over complete units (``inf`` before two)."""
        if self.units < 2:
            return np.full(self.shape, np.inf, dtype=np.float32)
        r = self.mean  # a_u are centred on the same shift, so (a_u − R b_u) is shift-free
        var = np.maximum(self.s_aa - 2 * r * self.s_ab + r * r * self.s_bb, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.where(self.s_b > 0, np.sqrt(var) / self.s_b, np.inf)
        return se.reshape(self.shape).astype(np.float32)

    def standard_error(self) -> float:
        """Mean over pixels of :meth:`standard_error_map`."""
        return float(np.mean(self.standard_error_map()))

    @property
    def similarity_mean(self) -> float:
        return self.similarity_sum / self.count if self.count else float("nan")


def u_relax(importance: np.ndarray, uncertainty: np.ndarray) -> np.ndarray:
    """U-RELAX: importance where the uncertainty is at or below its median, else 0."""
    return np.where(uncertainty <= np.median(uncertainty), importance, 0.0).astype(np.float32)


def cosine_to(reference: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each row of ``features`` (B, D) with ``reference`` (D,)."""
    features = features.double()
    reference = reference.double().reshape(-1)
    norms = features.norm(dim=1).clamp_min(1e-12) * reference.norm().clamp_min(1e-12)
    return features @ reference / norms
