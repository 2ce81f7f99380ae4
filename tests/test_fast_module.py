"""The faster copy of a network: safe while other threads run the model, checked against it, never stale."""

import threading

import pytest
import torch

from xaidesk.explain.fast_module import fast_copy, fast_gradient_module


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


def test_progress_is_told_only_when_a_copy_is_built():
    net, x, told = net_with_norm(), torch.randn(1, 3, 8, 8), []
    fast_copy(net, x, lambda fraction, message: told.append(message))
    fast_copy(net, x, lambda fraction, message: told.append(message))
    assert told == ["Preparing a faster copy of the network (once per model)"]


def test_a_copy_is_built_while_another_thread_runs_the_model():
    """Building the copy patches nothing outside it: a thread running the model meanwhile gets its own scores."""
    net, x = net_with_norm(), torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        want = net(x)
    stop, wrong, runs = threading.Event(), [], [0]

    def keep_running():
        while not stop.is_set():
            with torch.no_grad():
                if not torch.allclose(net(x), want, atol=1e-6):
                    wrong.append(runs[0])
            runs[0] += 1

    other = threading.Thread(target=keep_running)
    other.start()
    try:
        fast, channels_last = fast_gradient_module(net, x)
    finally:
        stop.set()
        other.join()
    assert fast is not net and channels_last
    assert runs[0] > 0 and not wrong
    assert isinstance(net[1], torch.nn.BatchNorm2d) and isinstance(fast[1], torch.nn.Identity)
    assert fast[0].weight is not net[0].weight and fast[5].weight is net[5].weight, "unchanged layers are shared"


def test_two_models_build_their_copies_at_once(monkeypatch):
    """The build lock is per model: one model's slow build does not hold up another's."""
    from xaidesk.explain import fast_module

    slow, quick, x = net_with_norm(), net_with_norm(), torch.randn(1, 3, 8, 8)
    building, release = threading.Event(), threading.Event()
    build = fast_module._build

    def gated_build(module, example):
        if module is slow:
            building.set()
            assert release.wait(20)
        return build(module, example)

    monkeypatch.setattr(fast_module, "_build", gated_build)
    got = {}
    thread = threading.Thread(target=lambda: got.setdefault("slow", fast_copy(slow, x)))
    thread.start()
    try:
        assert building.wait(20)
        assert fast_copy(quick, x) is not quick  # built while the other model's build is under way
        assert "slow" not in got
    finally:
        release.set()
        thread.join()
    assert got["slow"] is not slow and fast_copy(slow, x) is got["slow"]


class Shortcut(torch.nn.Module):
    """The convolution's output feeds the batch norm and a shortcut: merging would change the shortcut."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.head = torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.Linear(3, 2)

    def forward(self, x):
        y = self.conv(x)
        return self.head((self.norm(y) + y).mean((2, 3)))


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


class ScaledInPlace(torch.nn.Module):
    """The convolution's output is changed in place before its batch norm reads it: merging would skip the change."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.head = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2)
        self.pool = self.pooled  # a bound method kept as an attribute: the copy must call its own

    def pooled(self, y):
        return y.mean((2, 3))

    def forward(self, x):
        y = self.conv(x)
        y.mul_(2.0)
        return self.head(self.pool(self.norm(y)))


@pytest.mark.parametrize("kind", [Shortcut, ScaledInPlace])
def test_a_convolution_output_used_elsewhere_or_changed_in_place_keeps_its_batch_norm(kind):
    torch.manual_seed(2)
    net, x = kind().eval(), torch.randn(2, 3, 8, 8)
    net.norm.running_mean.normal_()
    fast = fast_copy(net, x)
    assert fast is not net and isinstance(fast.norm, torch.nn.BatchNorm2d)
    if kind is ScaledInPlace:
        assert fast.pool.__self__ is fast, "a bound method kept as an attribute follows the copy"
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x))


def test_the_copy_keeps_no_model_alive_and_carries_no_hooks():
    import gc
    import weakref

    net, x = ScaledInPlace().eval(), torch.randn(1, 3, 8, 8)
    fast = fast_copy(net, x)
    handle = net.conv.register_forward_hook(lambda *a: None)
    assert not fast.conv._forward_hooks and fast_copy(net, x) is net, "a hooked model is used as it is"
    handle.remove()
    alive = weakref.ref(net)
    del net, fast
    gc.collect()
    assert alive() is None


def test_models_that_cannot_be_copied_or_take_integers_are_used_as_they_are():
    from collections import defaultdict

    net, x = net_with_norm(), torch.randn(1, 3, 8, 8)
    torch.nn.utils.parametrizations.weight_norm(net[0])
    assert fast_copy(net, x) is net
    plain = net_with_norm()
    plain._notes = defaultdict(list)  # a private table of the model's own: copied, not refused
    assert fast_copy(plain, x) is not plain
    embedded = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Flatten(), torch.nn.Linear(12, 2),
                                   torch.nn.BatchNorm1d(2)).eval()
    tokens = torch.tensor([[1, 2, 3]])
    assert fast_copy(embedded, tokens) is embedded, "integer inputs: no pass with gradients, nothing to merge"
