"""The onnxruntime session as a PyTorch module: scoring ONNX models on the CPU.

Predictions and every method that only calls the model (occlusion, LIME, RELAX, the faithfulness
curves, batch runs) go through :class:`OnnxRuntimeModule`, the model's ``perturbation_module``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...core import MethodError, ModelError

#: Batch size below which onnxruntime's CPU throughput drops (ResNet-18, 224 px, 2 threads: batches of
#: 1-4 ran 1.5-2x slower per sample than batches of 16; ``bench/bench_onnx.py``).
PREFERRED_BATCH = 16


def session_threads() -> int:
    """Threads for onnxruntime's operators: as many as PyTorch uses (the CPUs this process may use)."""
    return max(1, int(torch.get_num_threads()))


def make_session(path: Path):
    """An onnxruntime session on the CPU, its options set once here (threads, optimisation, no spinning)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = session_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings about unused initializers mean nothing to people
    # Threads sleep between runs instead of spinning: the CPU is shared with the GUI, the masks being
    # built and, on a busy machine, other programs (no measurable loss in bench/bench_onnx.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class _NamedOutput:
    """One output of an :class:`OnnxRuntimeModule` as an encoder (RELAX on an intermediate output)."""

    prefetch_batches = True

    def __init__(self, scorer: "OnnxRuntimeModule", name: str) -> None:
        self.scorer, self.name = scorer, name
        self.preferred_min_batch = scorer.preferred_min_batch

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.scorer.run(x, [self.name])[0]


class OnnxRuntimeModule(torch.nn.Module):
    """An onnxruntime session as a module: (B, C, H, W) float tensor in, first output's scores out.

    Batches are split into the session's fixed batch size where the graph has one (a last, shorter
    chunk is padded by repeating its last sample, and the padding's outputs dropped). Outputs that
    hold NaN or infinity are refused. Calling it on an input that requires gradients raises the
    model's ``gradient_refusal`` (onnxruntime computes no gradients).

    Parameters
    ----------
    session
        The onnxruntime ``InferenceSession``.
    name
        The model's display name, for messages.
    input_name, input_dtype
        The graph's image input and its element type.
    batch
        The fixed batch size of the graph, or 0 when the batch axis is dynamic.
    size
        Fixed (height, width) of the input, ``None`` entries where the graph leaves them open.
    output_names
        The graph's outputs; the first holds the class scores, the others are intermediate outputs
        (the layers RELAX may compare).
    """

    def __init__(self, session, name: str, input_name: str, input_dtype, batch: int,
                 size: tuple[int | None, int | None], channels: int | None, output_names: list[str]) -> None:
        super().__init__()
        self.session = session
        self.model_name = name
        self.input_name = input_name
        self.input_dtype = np.dtype(input_dtype)
        self.batch = int(batch)
        self.size = size
        self.channels = channels
        self.output_names = list(output_names)
        self.output_shapes: dict[str, tuple[int, ...]] = {}
        self.gradient_refusal: str | None = None

    @property
    def preferred_min_batch(self) -> int:
        """Smallest batch worth running (read by the perturbation engine): :data:`PREFERRED_BATCH`
        samples, rounded up to a whole number of the graph's fixed batches."""
        if self.batch <= 1:
            return PREFERRED_BATCH if self.batch == 0 else 1
        return self.batch * -(-PREFERRED_BATCH // self.batch)

    #: onnxruntime releases the GIL while it runs: the perturbation engine builds the next batch meanwhile.
    prefetch_batches = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's first output for ``x``, computed by onnxruntime."""
        return self.run(x)[0]

    def output_encoder(self, name: str) -> _NamedOutput:
        """A callable returning the graph output ``name`` for a batch (same batching and checks)."""
        return _NamedOutput(self, name)

    def run(self, x: torch.Tensor, outputs: list[str] | None = None) -> list[torch.Tensor]:
        """The named outputs (default: the class scores) for the batch ``x``, as float32 tensors."""
        if torch.is_grad_enabled() and x.requires_grad:
            raise MethodError(self.gradient_refusal or
                              f"{self.model_name} runs in onnxruntime, which computes no gradients.")
        names = list(outputs) if outputs else [self.output_names[0]]
        array = self._as_input(x)
        count = array.shape[0]
        if self.batch <= 0 or count == self.batch:
            results = self.session.run(names, {self.input_name: array})
        else:
            pieces = []
            for start in range(0, count, self.batch):
                chunk = array[start:start + self.batch]
                if chunk.shape[0] < self.batch:
                    pad = np.repeat(chunk[-1:], self.batch - chunk.shape[0], axis=0)
                    chunk = np.concatenate([chunk, pad])
                pieces.append(self.session.run(names, {self.input_name: chunk}))
            results = [np.concatenate([p[i] for p in pieces])[:count] for i in range(len(names))]
        tensors = []
        for name, value in zip(names, results):
            value = np.asarray(value)
            if value.dtype != np.float32:
                value = value.astype(np.float32)
            if not np.isfinite(value).all():
                raise ModelError(
                    f"{self.model_name} gave invalid values (NaN or infinity) in its output '{name}' for this "
                    "input, so nothing it says can be explained. Check the model file and its preprocessing."
                )
            tensors.append(torch.from_numpy(value))
        return tensors

    def _as_input(self, x: torch.Tensor) -> np.ndarray:
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise MethodError(f"{self.model_name} takes a batch of images (N x C x H x W), not {shape}.")
        expected = (self.channels, *self.size)
        got = tuple(int(v) for v in x.shape[1:])
        if any(e is not None and e != g for e, g in zip(expected, got)):
            want = "x".join("?" if e is None else str(e) for e in expected)
            raise MethodError(
                f"{self.model_name} takes inputs of {want} (channels x height x width) but was given "
                f"{'x'.join(map(str, got))}. Set the model's preprocessing to that size and those channels."
            )
        array = x.detach().cpu().numpy()
        if array.dtype != self.input_dtype:
            array = array.astype(self.input_dtype)
        return np.ascontiguousarray(array)

    def layers(self) -> list[tuple[str, str]]:
        """The intermediate outputs as ``(name, "name · C×h×w")`` (the graph's outputs after the first)."""
        result = []
        for name in self.output_names[1:]:
            shape = "×".join(str(d) for d in self.output_shapes.get(name, ())) or "scalar"
            result.append((name, f"{name} · graph output · {shape}"))
        return result
