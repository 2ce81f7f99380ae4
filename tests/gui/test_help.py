"""Help ▸ Guide shows an illustrated guide built from the registry, offline; Help ▸ About says what xaidesk is."""

import subprocess
import sys
from types import SimpleNamespace

from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage, QTextDocument

from xaidesk.core.registry import get_family, list_methods
from xaidesk.gui.help.guide import ILLUSTRATIONS, guide_html
from xaidesk.resources import resource_path


def test_the_help_menu_opens_a_guide_naming_every_registered_method(qtbot, window):
    titles = [action.text() for action in window.menuBar().actions()]
    assert "&Help" in titles
    guide = window.show_guide("faithfulness")
    assert guide.isVisible()
    text = guide.browser.toPlainText()
    for info in list_methods():
        assert info.title in text, info.name
    for words in ("How to read a heatmap", "How to read an uncertainty map", "MoRF", "LeRF", "AOPC",
                  "brighter means less certain", "evidence for"):
        assert words in text
    assert window.show_guide() is guide  # one guide window, brought to the front again


def test_the_guide_pictures_are_bundled_and_load_offline(qtbot, window):
    guide = window.show_guide()
    html = guide_html(list_methods())
    for name in ILLUSTRATIONS:
        assert resource_path("help", name).is_file()
        assert f'src="{name}"' in html
        image = guide.browser.loadResource(QTextDocument.ResourceType.ImageResource.value, QUrl(name))
        picture = image if isinstance(image, QImage) else QImage.fromData(image)
        assert not picture.isNull() and picture.width() > 300, name


def test_a_new_method_and_family_appear_in_the_guide_without_editing_it():
    new = SimpleNamespace(name="shapley.kernel", family="shapley", title="Kernel SHAP (new)",
                          help="Shares the score fairly among the features.", modality=("table",))
    known = SimpleNamespace(name="lrp.x", family="lrp", title="LRP <x>", help="A & B.", modality=("image", "audio"))
    html = guide_html([known, new])
    assert "Kernel SHAP (new)" in html and "Shares the score fairly" in html and "(tables)" in html
    assert get_family("lrp").guide in html and "LRP &lt;x&gt;" in html and "A &amp; B." in html
    assert "(images, sounds)" in html


def test_every_registered_family_has_a_paragraph():
    assert all(get_family(info.family) and get_family(info.family).guide for info in list_methods())


def test_about_names_the_version_and_points_to_the_guide():
    import xaidesk
    from xaidesk.gui.window_menus import about_html

    text = about_html()
    assert f"xaidesk {xaidesk.__version__}" in text and "Help ▸ Guide" in text


def test_the_help_and_plain_language_modules_do_not_import_torch():
    code = ("import sys; import xaidesk.gui.help.guide, xaidesk.gui.help.dialog, xaidesk.gui.formatting, "
            "xaidesk.gui.widgets.param_form, xaidesk.gui.views.view_common; "
            "print(sorted(m for m in ('torch', 'xaidesk.explain') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_tables_section_lists_the_readable_models_from_their_registry():
    html = guide_html([], repairs=[])
    assert '<a name="tables"></a>' in html and "Explainable boosting machine" in html and "Decision tree" in html
    extra = type("M", (), {"title": "Extra model", "help": "Reads like X."})()
    assert "Extra model</b>: Reads like X." in guide_html([], repairs=[], table_models=[extra])
