"""The contract of the explaining tabs' base: the hooks a tab implements and the widgets it provides."""

import pytest

from xaidesk.gui.tabs.explain_base import ExplainTabBase


def test_a_tab_class_without_the_hooks_is_refused():
    with pytest.raises(TypeError, match="lacks the hooks of ExplainTabBase: .*_relevance_view"):
        class Incomplete(ExplainTabBase):  # noqa: F841 - defining it is the test
            def _build(self) -> None:
                pass


def test_images_and_audio_tabs_provide_every_widget_of_the_contract(make_window):
    window = make_window()
    widgets = ExplainTabBase.contract_widgets()
    assert {"model_combo", "method_combo", "param_form", "target_combo", "run_button", "history_list"} <= set(widgets)
    for tab in (window.images_tab, window.audio_tab):
        for name, kind in widgets.items():
            assert isinstance(getattr(tab, name), kind), name
        assert tab.channel("explain") == f"{tab.DATA_KIND}.explain"


def test_a_tab_missing_a_widget_fails_its_contract_check(make_window):
    tab = make_window().images_tab
    label = tab.stats_label
    del tab.stats_label
    try:
        with pytest.raises(TypeError, match="stats_label"):
            tab._check_contract()
    finally:
        tab.stats_label = label
