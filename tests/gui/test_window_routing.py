"""The main window's routing, start-up and export-action decisions, tested headless (no Qt)."""

import subprocess
import sys
from types import SimpleNamespace

from xaidesk.gui import window_routing as routing
from xaidesk.gui.window_exports import OVERLAY_EXPORT_TEXTS, export_action_states


def test_the_decisions_import_no_qt():
    code = ("import sys, xaidesk.gui.window_routing, xaidesk.gui.window_exports; "
            "print(any(m.startswith(('PySide6', 'shiboken6', 'pyqtgraph')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_each_kind_of_path_goes_to_its_tab(tmp_path):
    molecules = tmp_path / "qm"
    molecules.mkdir()
    (molecules / "a.xyz").write_text("1\n\nH 0 0 0\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert routing.tab_for_path(molecules) == routing.MOLECULES
    assert routing.tab_for_path(molecules / "a.xyz") == routing.MOLECULES
    assert routing.tab_for_path(empty) == routing.NO_MOLECULES
    assert routing.tab_for_path(tmp_path / "t.CSV") == routing.TABLES
    assert routing.tab_for_path(tmp_path / "s.wav") == routing.AUDIO
    assert routing.tab_for_path(tmp_path / "p.png") == routing.IMAGES
    assert routing.dropped_path([str(empty), str(tmp_path / "p.png")]) == tmp_path / "p.png"
    assert routing.dropped_path([str(molecules)]) == molecules and routing.dropped_path([str(empty)]) is None
    first = routing.open_file_filter().split(";;")[0]
    assert first.startswith("All supported files (") and "*.csv" in first and "*.wav" in first


def test_start_up_opens_what_the_options_ask_else_the_remembered_or_first_demo():
    images = [{"spec": "demo:digits", "samples": ["digits_3.png"]}, {"spec": "demo:shapes", "samples": []}]
    sounds = [{"spec": "demo:sounds", "samples": ["tone.wav"]}]

    def plan(remembered="", **options):
        values = dict(demo=False, image=None, model=None, audio=None)
        values.update(options)
        return routing.startup_plan(SimpleNamespace(**values), images, sounds, remembered)

    assert plan() == routing.StartupPlan(image_model="demo:digits")
    assert plan("demo:shapes").image_model == "demo:shapes" and plan("gone:x").image_model == "demo:digits"
    assert plan(demo=True) == routing.StartupPlan(image_model="demo:digits", image="digits_3.png")
    assert plan(model="demo:sounds") == routing.StartupPlan(image_model="demo:digits", audio_model="demo:sounds")
    assert plan(model="vggish:/w.pt").audio_model == "vggish:/w.pt"
    assert plan(image="/x/song.wav") == routing.StartupPlan(image_model="demo:digits", audio="/x/song.wav")
    assert plan(model="probe:/p.xdprobe", demo=True).image_model == "probe:/p.xdprobe"
    assert routing.startup_plan(SimpleNamespace(demo=True, image=None, model=None, audio=None), [], [], "") == \
        routing.StartupPlan()


def test_the_export_actions_follow_the_shown_tab():
    none = export_action_states("Dataset", None, None)
    assert [text for text, _, _ in none] == list(OVERLAY_EXPORT_TEXTS) and not any(on for _, on, _ in none)
    assert none[0][2] == "The Dataset tab exports its results with its own buttons."
    empty = export_action_states("Images", None, SimpleNamespace(has_result=lambda: False))
    assert empty[0] == (OVERLAY_EXPORT_TEXTS[0], False, "Nothing to export yet: run an explanation first.")
    done = export_action_states("Images", None, SimpleNamespace(has_result=lambda: True))
    assert done[1] == (OVERLAY_EXPORT_TEXTS[1], True, "Export relevance .npy")
    analysis = SimpleNamespace(has_result=lambda: True, can_save_plot=lambda: False,
                               RESULTS_EXPORT_TEXT="Export &results (CSV)…", SETTINGS_EXPORT_NOTE="No settings.")
    states = export_action_states("Tables", analysis, None)
    assert states[0] == ("Export plot &PNG…", False, "The Tables tab shows no plot yet.")
    assert states[1] == ("Export &results (CSV)…", True, "Export results (CSV)")
    assert states[2] == ("Export settings &JSON…", False, "No settings.")
