"""The faster copy of a network: never built while other threads run, checked against the model, never stale."""

import threading

import pytest
import torch

from xaidesk.explain import fast_module
from xaidesk.explain.fast_module import fast_copy, fast_gradient_module


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """Threads that earlier tests left behind do not run models; one test below starts a real one."""
    monkeypatch.setattr(fast_module, "other_threads_run", lambda: False)


def net_with_norm() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    net[1].running_mean.normal_()
    return net


class Viewing(torch.nn.Module):
    """Flattens with .view, which a channels-last input breaks."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.head = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.head(self.norm(self.conv(x)).view(x.shape[0], -1))


def test_a_copy_is_built_checked_and_reused():
    net, x = net_with_norm(), torch.randn(2, 3, 8, 8)
    fast = fast_copy(net, x)
    assert fast is not net and fast_copy(net, x) is fast
    assert torch.allclose(fast(x.contiguous(memory_format=torch.channels_last)), net(x), atol=1e-5)


def test_no_copy_is_traced_while_another_thread_runs(monkeypatch):
    monkeypatch.setattr(fast_module, "other_threads_run", lambda: threading.active_count() > 1)
    net, x = net_with_norm(), torch.randn(1, 3, 8, 8)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert fast_copy(net, x) is net
        assert fast_gradient_module(net, x) == (net, False), "the model keeps its own layout"
    finally:
        release.set()
        other.join()


def test_a_copy_that_does_not_give_the_models_scores_is_not_used():
    torch.manual_seed(0)
    net, x = Viewing().eval(), torch.randn(1, 3, 8, 8)
    assert fast_gradient_module(net, x) == (net, False)


def test_replacing_a_weights_storage_rebuilds_the_copy():
    net, x = net_with_norm(), torch.randn(1, 3, 8, 8)
    first = fast_copy(net, x)
    net[0].weight.data = torch.randn_like(net[0].weight)
    second = fast_copy(net, x)
    assert second is not first
    assert torch.allclose(second(x.contiguous(memory_format=torch.channels_last)), net(x), atol=1e-5)
