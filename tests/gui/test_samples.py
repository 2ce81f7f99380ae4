"""Demo samples open with the demo model they belong to, and are named by their plain titles."""

from pathlib import Path


def _sample(catalog, spec, name):
    model = next(m for m in catalog.builtin_models if m["spec"] == spec)
    return next(path for path in model["samples"] if Path(path).name == name)


def test_sample_owner_is_the_model_that_lists_it(catalog, tmp_path):
    horse = _sample(catalog, "demo:clever_hans", "clever_hans_horse_tagged_1.png")
    assert catalog.sample_owner(horse)["spec"] == "demo:clever_hans"
    assert catalog.sample_owner(str(horse))["spec"] == "demo:clever_hans"
    assert catalog.sample_owner(tmp_path / "clever_hans_horse_tagged_1.png") is None


def test_image_sample_of_another_model_loads_that_model(qtbot, make_window, catalog):
    window = make_window(demo=True)
    tab = window.images_tab
    assert tab.model.spec == "demo:digits"
    horse = _sample(catalog, "demo:clever_hans", "clever_hans_horse_tagged_1.png")
    row = tab.sample_combo.findData(str(horse))
    assert row > 0
    tab.sample_combo.activated.emit(row)
    qtbot.waitUntil(lambda: tab.image is not None and tab.image.path.name == horse.name, timeout=10_000)
    assert tab.model.spec == "demo:clever_hans"
    assert "Clever Hans" in window.status_text() and "belongs to" in window.status_text()
    assert tab.image_info.text().startswith("Horse tagged 1 — 64x64 pixels")
    qtbot.waitUntil(lambda: tab.prediction is not None, timeout=10_000)
    assert tab.prediction_list.topLevelItemCount() == len(tab.model.class_names)
    assert not tab.prediction_list.topLevelItem(0).text(0).startswith("class 8")


def test_sample_of_the_loaded_model_keeps_it(qtbot, make_window, catalog):
    window = make_window(demo=True)
    tab = window.images_tab
    model = tab.model
    three = _sample(catalog, "demo:digits", "digits_3.png")
    tab.open_sample(three)
    qtbot.waitUntil(lambda: tab.image.path.name == "digits_3.png", timeout=10_000)
    assert tab.model is model
    assert window.status_text() == "Opened Digits 3."
    assert tab.image_info.text().startswith("Digits 3 —")


def test_file_menu_sample_loads_its_model(qtbot, make_window, catalog):
    window = make_window(demo=True)
    tab = window.images_tab
    action = next(a for a in window.samples_menu.actions() if a.text() == "Other untagged")
    action.trigger()
    qtbot.waitUntil(lambda: tab.image.path.name == "clever_hans_other_untagged.png", timeout=10_000)
    assert tab.model.spec == "demo:clever_hans"
    assert "belongs to" in window.status_text()


def test_audio_sample_loads_its_model(qtbot, make_window, catalog):
    import dataclasses

    from xaidesk.models import load_model

    window = make_window()
    tab = window.audio_tab
    window.tabs.setCurrentWidget(tab)
    other = dataclasses.replace(load_model("demo:sounds"), spec="test:other_sounds", name="other sounds")
    qtbot.waitUntil(lambda: not tab.is_job_running("model") and not tab.is_job_running("open"), timeout=10_000)
    tab.set_model(other)
    qtbot.waitUntil(lambda: not tab.is_job_running("open"), timeout=10_000)
    chirp = _sample(catalog, "demo:sounds", "sounds_chirp.wav")
    tab.sample_combo.activated.emit(tab.sample_combo.findData(str(chirp)))
    qtbot.waitUntil(lambda: tab.path is not None and tab.path.name == chirp.name, timeout=15_000)
    assert tab.model.spec == "demo:sounds"
    assert "Synthetic sounds" in window.status_text() and "belongs to" in window.status_text()
    assert tab.sound_panel.audio_info_label.text().startswith("Chirp —")
