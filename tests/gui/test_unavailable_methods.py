"""A method the model cannot run is shown as unavailable, with the reason, before anyone presses Run."""

from xaidesk import selftest
from xaidesk.models import load_model


def test_an_onnx_model_without_a_pytorch_conversion_offers_occlusion_but_not_lrp(make_window, tmp_path, qtbot):
    path = selftest.write_tiny_onnx(tmp_path / "maxpool.onnx", pool="GlobalMaxPool")
    model = load_model(f"onnx:{path}")
    assert model.gradient_refusal and "GlobalMaxPool" in model.gradient_refusal
    window = make_window(demo=True)
    tab = window.images_tab
    tab.set_model(model)
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    assert tab.select_method("lrp.epsilon_plus_flat")
    assert not tab.run_button.isEnabled()
    assert "Not available for this model" in tab.method_help.text() and "GlobalMaxPool" in tab.method_help.text()
    assert tab.select_method("occlusion")
    assert tab.run_button.isEnabled() and "Not available" not in tab.method_help.text()


def test_a_convolutional_network_shows_lrp_for_transformers_as_unavailable(make_window, qtbot):
    window = make_window(demo=True)
    tab = window.images_tab
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    assert tab.select_method("lrp.attention")
    assert not tab.run_button.isEnabled()
    assert "no attention layer" in tab.method_help.text() and "LRP (epsilon-plus-flat)" in tab.method_help.text()
    assert tab.select_method("lrp.epsilon_plus_flat")
    assert tab.run_button.isEnabled()
