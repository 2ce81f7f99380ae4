"""The Qt-free records of the explaining tabs: what a result's method counts."""

from __future__ import annotations

from types import SimpleNamespace

from xaidesk.core import get_method, list_methods
from xaidesk.gui.explain_records import map_unit, unit_of


def test_unit_of_reads_the_registry_and_falls_back_to_samples():
    counted = [m for m in list_methods("image") if m.sample_unit]
    assert counted
    for info in counted:
        assert unit_of(SimpleNamespace(method=info.name)) == get_method(info.name).sample_unit
    single_pass = next(m for m in list_methods("image") if not m.sample_unit)
    assert unit_of(SimpleNamespace(method=single_pass.name)) == "samples"
    assert unit_of(SimpleNamespace(method="no.such.method")) == "samples"


def test_map_unit_names_what_a_value_of_the_map_means():
    for info in list_methods("image"):
        assert map_unit(SimpleNamespace(method=info.name)) == info.unit
    assert {info.unit for info in list_methods("image")} > {"relevance"}
    assert map_unit(SimpleNamespace(method="no.such.method")) == "relevance"
