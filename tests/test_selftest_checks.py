"""The self-test's data-set and quick-classifier checks pass on the demos and fail loudly when broken."""

import pytest

from xaidesk import selftest


def test_dataset_mode_check_runs_batch_spray_and_faithfulness():
    assert "12 generated pictures" in selftest._check_dataset_mode()


def test_dataset_mode_check_fails_when_spray_puts_everything_in_one_cluster(monkeypatch):
    import numpy as np

    import xaidesk.evaluate.spray as spray_module

    real = spray_module.spray

    def one_cluster(*args, **kwargs):
        result = real(*args, **kwargs)
        result.labels = np.zeros_like(result.labels)
        return result

    monkeypatch.setattr(spray_module, "spray", one_cluster)
    with pytest.raises(RuntimeError, match="one cluster"):
        selftest._check_dataset_mode()


def test_probe_check_fits_and_explains():
    assert "LRP explains it" in selftest._check_probe()
