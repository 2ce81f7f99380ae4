"""Mask samplers for perturbation methods (RELAX): random grids and, for spectrograms, whole
time bands, whole frequency bands, or both (``time``, ``frequency``, ``time_frequency``).

A sampler describes an *infinite, indexable* sequence of masks ``M(0), M(1), ...`` for one input
shape. :meth:`MaskSampler.sample` returns masks ``start .. stop-1`` as a (B, 1, H, W) float32
tensor with values in [0, 1]; the engine asks for one batch at a time, so no more than one batch
of masks ever exists.

Reproducibility. Mask ``n`` is drawn from its own random generator, seeded by
``(seed, n)`` through :class:`numpy.random.SeedSequence` (counter-based seeding). The same seed
therefore gives the same masks whatever the batch sizes, the order of the calls or an early stop.

Antithetic (paired) masks. With ``antithetic=True`` the masks come in pairs: ``M(2k)`` is a fresh
random mask and ``M(2k+1) = 1 - M(2k)``. For RELAX grid masks with keep probability 0.5 a mask and
its complement are equally likely, so every sample is still distributed as in plain i.i.d.
sampling and the estimators stay consistent; only the dependence between the two halves of a
pair changes. The pair covers every pixel with a total weight of exactly one, which removes the
randomness of the denominator of RELAX's self-normalised average and cancels the part of the
similarity that is the same for a mask and its complement. Whether that helps depends on the
model: the part of the similarity that *changes sign* under complementing -- above all its
dependence on how much of the input is visible -- is made perfectly anti-correlated within a
pair, which adds map noise. On ResNet-18 with random weights antithetic masks alone gave
1.3x the map noise of i.i.d. masks; together with RELAX's area control variate (which removes
exactly that component, see :mod:`xaidesk.explain.relax_estimators`) 0.22x (``bench/bench_relax.py``). Random
weights flatter them: on a trained network whose decision rests on a small part of the picture the
similarity mostly says whether that part is visible, which changes sign under complementing, and
pairs made the map noisier at every mask count, with the control variate or without
(``bench/bench_sampling_faithfulness.py``; figures in ``docs/methods.md``). Masks are therefore i.i.d. by
default (``antithetic=False``). With a keep probability other than 0.5 the complement would come from a
different distribution, so :func:`make_sampler` falls back to i.i.d. masks (and says so via
:attr:`MaskSampler.notes`).

Adding a strategy (time bands, frequency bands, ...) is one small class::

    @register_sampler("time_bands")
    class TimeBandSampler(MaskSampler):
        def draw(self, rng, count):          # ``count`` base masks from one generator
            ...
            return masks                       # (count, 1, H, W) float tensor in [0, 1]

``draw`` is called with ``count=1`` per base index (the generator is that index's own).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

#: Registered sampler classes by name.
SAMPLERS: dict[str, type["MaskSampler"]] = {}

REFERENCE_SIZE = 224
#: Cells per side of the automatic random grid up to REFERENCE_SIZE pixels. 8 rather than 7: on trained networks
#: RELAX's maps put more of their relevance on the evidence for the same masks ("How the LIME and RELAX defaults
#: were chosen" in docs/methods.md), and the cells are then about as large as relax-xai's.
REFERENCE_CELLS = 8


def register_sampler(name: str) -> Callable[[type], type]:
    """Class decorator registering a :class:`MaskSampler` subclass under ``name``."""

    def decorator(cls: type) -> type:
        if name in SAMPLERS:
            raise ValueError(f"mask sampler {name!r} registered twice")
        cls.name = name
        SAMPLERS[name] = cls
        return cls

    return decorator


def automatic_cells(height: int, width: int) -> int:
    """RELAX grid size: 8 cells per side up to 224 pixels, more above (cells of about 28 pixels along the shorter side).

    Small inputs keep 8 cells: a model's input is usually the whole object however few pixels it
    has (a 32-pixel digit), so fewer cells would only show which corner matters. Only inputs under
    16 pixels get fewer (a cell is at least 2 pixels, and there are at least 2 cells).
    """
    shorter = min(height, width)
    scaled = int(round(REFERENCE_CELLS * shorter / REFERENCE_SIZE))
    return max(2, min(max(REFERENCE_CELLS, scaled), shorter // 2))


class MaskSampler:
    """Base class: an indexable, reproducible sequence of masks for inputs of shape (H, W).

    Parameters
    ----------
    shape
        (H, W) of the masks.
    seed
        Random seed; mask ``n`` depends only on ``(seed, n)`` (and the options).
    antithetic
        Return pairs ``(M, 1 - M)`` (see the module docstring).

    Subclasses implement :meth:`draw`; they may set :attr:`symmetric` to False when ``1 - M`` is
    not as likely as ``M`` (then antithetic pairs are switched off).
    """

    name = "base"
    #: Whether ``1 - M`` has the same distribution as ``M`` (antithetic pairs stay consistent).
    symmetric = True

    def __init__(self, shape: tuple[int, int], *, seed: int = 0, antithetic: bool = False) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.seed = int(seed)
        self.notes: list[str] = []
        if antithetic and not self.symmetric:
            self.notes.append(
                "Antithetic pairs were switched off: with these settings a mask and its complement "
                "are not equally likely, so pairing them would bias the result."
            )
            antithetic = False
        self.antithetic = bool(antithetic)
        #: Sizes of the requests served, for tests and statistics.
        self.requests: list[int] = []

    # -- to implement ---------------------------------------------------------------------------
    def draw(self, rng: np.random.Generator, count: int) -> torch.Tensor:
        """``count`` masks from ``rng`` as a (count, 1, H, W) float32 tensor in [0, 1]."""
        raise NotImplementedError

    def area_expectation(self) -> np.ndarray | None:
        """E[a · M_ij] / E[M_ij] (a = the mask's mean) if known exactly, else ``None``.

        Enables RELAX's area control variate (:class:`~xaidesk.explain.relax_estimators.RelaxAccumulator`).
        """
        return None

    def draw_many(self, indices: np.ndarray) -> torch.Tensor:
        """Base masks for the given base indices; override to vectorise (must equal per-index draws)."""
        return torch.cat([self.draw(self.generator(int(k)), 1) for k in indices], dim=0)

    # -- shared -----------------------------------------------------------------------------------
    def generator(self, index: int) -> np.random.Generator:
        """The random generator of base mask ``index`` (counter-based: independent of batching)."""
        return np.random.default_rng([self.seed & 0xFFFFFFFF, 0x5E1A, int(index)])

    def sample(self, start: int, stop: int) -> torch.Tensor:
        """Masks ``start .. stop-1`` as a (stop - start, 1, H, W) float32 tensor in [0, 1]."""
        if stop <= start:
            raise ValueError("empty mask request")
        self.requests.append(stop - start)
        n = np.arange(start, stop)
        if not self.antithetic:
            return self.draw_many(n)
        base = n // 2
        unique = np.unique(base)
        masks = self.draw_many(unique)[base - unique[0]]
        flip = torch.from_numpy((n % 2) == 1)
        if bool(flip.any()):
            masks[flip] = 1.0 - masks[flip]
        return masks


@register_sampler("grid")
class GridMaskSampler(MaskSampler):
    """RELAX/RISE masks: a random ``cells`` x ``cells`` grid, each cell kept with probability
    ``keep_probability``, upsampled bilinearly to (H + cell - 1, W + cell - 1) and cropped at a
    random shift of 0 .. cell - 1 pixels (a cell is ``ceil(H / cells)`` by ``ceil(W / cells)``
    pixels). The upsampled size makes the crops mirror-symmetric: a mask flipped top to bottom or
    left to right is exactly as likely as the mask itself, so no side or corner is favoured.

    ``cells=0`` chooses :func:`automatic_cells`.
    """

    def __init__(self, shape, *, seed: int = 0, antithetic: bool = False, cells: int = 0,
                 keep_probability: float = 0.5) -> None:
        self.cells = int(cells) if int(cells) > 0 else automatic_cells(*shape)
        self.keep_probability = float(keep_probability)
        if not 0.0 < self.keep_probability < 1.0:
            raise ValueError("keep_probability must lie strictly between 0 and 1")
        self.symmetric = math.isclose(self.keep_probability, 0.5)
        super().__init__(shape, seed=seed, antithetic=antithetic)
        h, w = self.shape
        self.cell = (math.ceil(h / self.cells), math.ceil(w / self.cells))

    def _draw_params(self, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
        grid = rng.random((self.cells, self.cells)) < self.keep_probability
        dy = int(rng.integers(0, self.cell[0]))
        dx = int(rng.integers(0, self.cell[1]))
        return grid, dy, dx

    def _interpolation(self, cells: int, size: int) -> torch.Tensor:
        """(size, cells) weights of 1-D linear upsampling (align_corners=False, edge-clamped)."""
        eye = torch.eye(cells, dtype=torch.float32).unsqueeze(0)  # (1, cells as channels, cells)
        return F.interpolate(eye, size=size, mode="linear", align_corners=False)[0].T.contiguous()

    def _render(self, params: list[tuple[np.ndarray, int, int]]) -> torch.Tensor:
        # Bilinear upsampling is separable: up = A_h G A_wᵀ. Cropping at (dy, dx) only selects
        # rows of A_h and A_w, so the cropped masks are two batched matrix products -- the same
        # values as F.interpolate(..., "bilinear") followed by the crop, in two operations (many
        # small copies are slow when the CPU is shared).
        h, w = self.shape
        if not hasattr(self, "_a_h"):
            self._a_h = self._interpolation(self.cells, h + self.cell[0] - 1)
            self._a_w = self._interpolation(self.cells, w + self.cell[1] - 1)
        grids = torch.from_numpy(np.stack([g for g, _, _ in params]).astype(np.float32))
        dy = torch.tensor([p[1] for p in params], dtype=torch.long)
        dx = torch.tensor([p[2] for p in params], dtype=torch.long)
        rows = self._a_h[dy[:, None] + torch.arange(h)]          # (B, h, cells)
        cols = self._a_w[dx[:, None] + torch.arange(w)]          # (B, w, cells)
        masks = torch.bmm(torch.bmm(rows, grids), cols.transpose(1, 2))
        return masks.clamp_(0.0, 1.0).unsqueeze(1)

    def area_expectation(self) -> np.ndarray:
        """Exact E[a · M_ij] / E[M_ij] for these masks, where a is the mask's mean (visible area).

        Used as the known expectation of RELAX's area control variate. With M = Σ_c w_c G_c
        (bilinear weights w, Bernoulli(p) cells G) the weights sum to one, so
        E[a M_ij] = p² + p(1−p) E_shift[Σ_c w_ij,c w̄_c] with w̄ the weights' mean over the
        image; the weights and the shifts are separable in rows and columns, which gives
        E[a M_ij] / p = p + (1−p) e_y[i] e_x[j].
        """
        h, w = self.shape
        self._render([self._draw_params(self.generator(0))])  # builds the interpolation weights

        def axis(weights: torch.Tensor, size: int, cell: int) -> np.ndarray:
            out = np.zeros(size)
            for shift in range(cell):
                rows = weights[shift : shift + size].double().numpy()
                out += rows @ rows.mean(0)
            return out / cell

        p = self.keep_probability
        e_y, e_x = axis(self._a_h, h, self.cell[0]), axis(self._a_w, w, self.cell[1])
        return p + (1 - p) * np.outer(e_y, e_x)

    def draw(self, rng: np.random.Generator, count: int) -> torch.Tensor:
        return self._render([self._draw_params(rng) for _ in range(count)])

    def draw_many(self, indices: np.ndarray) -> torch.Tensor:
        # One generator per index (reproducible under any batching), one batched upsampling.
        return self._render([self._draw_params(self.generator(int(k))) for k in indices])


# --- band masks (spectrogram strategies) --------------------------------------------------------------


class _BandAxis:
    """A 1-D RELAX mask along one axis of ``size`` elements: ``cells`` bands, each kept with
    probability ``keep``, upsampled linearly to ``size + cell - 1`` and cropped at a random shift
    of 0 .. cell - 1 (the 1-D version of :class:`GridMaskSampler`, mirror-symmetric as it is)."""

    def __init__(self, size: int, cells: int, keep: float) -> None:
        self.size = int(size)
        self.cells = max(1, min(int(cells), self.size))
        self.keep = float(keep)
        self.cell = math.ceil(self.size / self.cells)
        eye = torch.eye(self.cells, dtype=torch.float32).unsqueeze(0)
        self.weights = F.interpolate(eye, size=self.size + self.cell - 1, mode="linear",
                                     align_corners=False)[0].T.contiguous()  # (size + cell - 1, cells)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        return rng.random(self.cells) < self.keep, int(rng.integers(0, self.cell))

    def render(self, params: list[tuple[np.ndarray, int]]) -> torch.Tensor:
        """(B, size) masks."""
        bands = torch.from_numpy(np.stack([b for b, _ in params]).astype(np.float32))  # (B, cells)
        shift = torch.tensor([p[1] for p in params], dtype=torch.long)
        rows = self.weights[shift[:, None] + torch.arange(self.size)]                 # (B, size, cells)
        return torch.bmm(rows, bands[:, :, None])[:, :, 0].clamp_(0.0, 1.0)

    def area_factor(self) -> np.ndarray:
        """E[ā m_j] / E[m_j] for this axis (ā the mask's mean): keep + (1 − keep) e[j]."""
        out = np.zeros(self.size)
        for shift in range(self.cell):
            rows = self.weights[shift : shift + self.size].double().numpy()
            out += rows @ rows.mean(0)
        return self.keep + (1 - self.keep) * out / self.cell


#: Bands per axis of the band strategies when ``cells=0``.
DEFAULT_BANDS = 8


class _BandSampler(MaskSampler):
    """Masks built from whole bands: ``axes`` says which of (rows, columns) vary.

    ``cells`` is the number of bands per varying axis (0: :data:`DEFAULT_BANDS`). With two
    varying axes the mask is the *product* of a row-band mask and a column-band mask (a cell is
    visible only where both its row band and its column band are kept: the hidden part is the
    union of hidden row bands and hidden column bands); each axis then keeps a band with
    probability sqrt(keep_probability), so that a cell is visible with probability
    ``keep_probability`` as in the other strategies.
    """

    axes: tuple[bool, bool] = (False, True)

    def __init__(self, shape, *, seed: int = 0, antithetic: bool = False, cells: int = 0,
                 keep_probability: float = 0.5) -> None:
        self.keep_probability = float(keep_probability)
        if not 0.0 < self.keep_probability < 1.0:
            raise ValueError("keep_probability must lie strictly between 0 and 1")
        both = all(self.axes)
        per_axis = math.sqrt(self.keep_probability) if both else self.keep_probability
        # A product of two masks is not distributed like its complement: no antithetic pairs.
        self.symmetric = (not both) and math.isclose(self.keep_probability, 0.5)
        super().__init__(shape, seed=seed, antithetic=antithetic)
        bands = int(cells) if int(cells) > 0 else DEFAULT_BANDS
        h, w = self.shape
        self.row_axis = _BandAxis(h, bands, per_axis) if self.axes[0] else None
        self.col_axis = _BandAxis(w, bands, per_axis) if self.axes[1] else None
        self.cells = bands

    def _params(self, rng: np.random.Generator):
        rows = self.row_axis.draw(rng) if self.row_axis else None
        cols = self.col_axis.draw(rng) if self.col_axis else None
        return rows, cols

    def _render(self, params: list) -> torch.Tensor:
        h, w = self.shape
        b = len(params)
        rows = self.row_axis.render([p[0] for p in params]) if self.row_axis else torch.ones(b, h)
        cols = self.col_axis.render([p[1] for p in params]) if self.col_axis else torch.ones(b, w)
        return (rows[:, :, None] * cols[:, None, :]).unsqueeze(1)

    def draw(self, rng: np.random.Generator, count: int) -> torch.Tensor:
        return self._render([self._params(rng) for _ in range(count)])

    def draw_many(self, indices: np.ndarray) -> torch.Tensor:
        return self._render([self._params(self.generator(int(k))) for k in indices])

    def area_expectation(self) -> np.ndarray:
        """Exact E[a · M_ij] / E[M_ij]: the axes are independent, so it factorises per axis."""
        h, w = self.shape
        rows = self.row_axis.area_factor() if self.row_axis else np.ones(h)
        cols = self.col_axis.area_factor() if self.col_axis else np.ones(w)
        return np.outer(rows, cols)


@register_sampler("time")
class TimeBandSampler(_BandSampler):
    """Whole time bands: masks constant over frequency (every row alike; columns vary)."""

    axes = (False, True)


@register_sampler("frequency")
class FrequencyBandSampler(_BandSampler):
    """Whole frequency bands: masks constant over time (every column alike; rows vary)."""

    axes = (True, False)


@register_sampler("time_frequency")
class TimeFrequencySampler(_BandSampler):
    """Product of a time-band and a frequency-band mask (see :class:`_BandSampler`)."""

    axes = (True, True)


#: RELAX's ``strategy`` parameter -> registered sampler name.
STRATEGIES = {"random": "grid", "time": "time", "frequency": "frequency", "time_frequency": "time_frequency"}


def make_sampler(name: str, shape: tuple[int, int], **options) -> MaskSampler:
    """Build the registered sampler ``name`` for masks of ``shape`` (H, W)."""
    try:
        cls = SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown mask sampler {name!r}; known: {', '.join(sorted(SAMPLERS))}") from None
    return cls(shape, **options)
