"""``torch.fx`` tracing confined to the thread that traces.

While it traces, ``torch.fx`` replaces ``torch.nn.Module.__call__`` and ``__getattr__`` for the
whole process. A model run by another thread at that moment (a dataset run, an explanation in
another tab) would have its layer calls recorded into the trace, or fail. The tracer below hands
every call and attribute read made from another thread straight to the original, so only the
tracing thread sees the patched behaviour. Traces run one at a time: two overlapping ones would
undo each other's patches out of order.
"""

from __future__ import annotations

import threading

import torch
import torch.fx


_ONE_TRACE_AT_A_TIME = threading.Lock()


class ThreadConfinedTracer(torch.fx.Tracer):
    """A ``torch.fx.Tracer`` whose process-wide patches act only in the thread that called :meth:`trace`."""

    def trace(self, root, concrete_args=None):
        with _ONE_TRACE_AT_A_TIME:
            self._tracing_thread = threading.get_ident()
            return super().trace(root, concrete_args)

    def _elsewhere(self) -> bool:
        return threading.get_ident() != getattr(self, "_tracing_thread", None)

    def call_module(self, m, forward, args, kwargs):
        if self._elsewhere():
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if self._elsewhere():
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def symbolic_trace(module: torch.nn.Module) -> torch.fx.GraphModule:
    """``torch.fx.symbolic_trace`` with :class:`ThreadConfinedTracer`: other threads keep running models."""
    tracer = ThreadConfinedTracer()
    graph = tracer.trace(module)
    name = module.__class__.__name__ if isinstance(module, torch.nn.Module) else module.__name__
    return torch.fx.GraphModule(tracer.root, graph, name)
