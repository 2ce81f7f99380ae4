"""The guide's HTML: how to read the pictures, what each registered method shows, and how to repair a model.

Qt-free. The list of methods comes from the registry (titles and help texts), so a new
method appears in the guide without editing it; each method family's paragraph is registered
with the family (``xaidesk/explain/families.py``). The repairs of the Model workflow come from
the repair registry (``xaidesk/repair/methods.py``) and the Tables tab's readable models from theirs
(``xaidesk/tabular/models.py``) in the same way.
The illustrations are PNG files in ``resources/help`` (drawn by ``scripts/make_help_images.py``).
"""

from __future__ import annotations

from functools import partial
from html import escape as _escape
from typing import Iterable

escape = partial(_escape, quote=False)

#: Pictures the guide shows, in ``resources/help``.
ILLUSTRATIONS = ("heatmap.png", "uncertainty.png", "faithfulness.png")

MODALITY_WORDS = {"image": "images", "audio": "sounds", "table": "tables", "molecule": "molecules"}

HEATMAP_TEXT = """
<p>A heatmap lays colours over a grey copy of the input. The colour bar beside it has a caption that
says what its colours mean, for example <i>red: evidence for 'horse' · blue: against · white: neither</i>.
In this example the network looks at the small tag in the corner as much as at the horse: it learned a
shortcut, and the heatmap shows it.</p>
<ul>
<li><b>Red</b> parts speak <b>for</b> the explained class, <b>blue</b> parts <b>against</b> it; white (or
   transparent) parts do not matter. Pick another class under <i>Explain class</i> to ask "why not …?".</li>
<li>Maps that only say <i>how much</i> (RELAX's importance, squared gradients) have no "against": their
   caption reads <i>brighter: more important</i>.</li>
<li>The colours are scaled to the map's own strongest values (the statistics line says where full colour
   is reached), so compare strength between two maps with care.</li>
<li>Parts the model never saw (cut off by its preprocessing) are <b>transparent</b> and say nothing.</li>
<li>A heatmap shows what <i>this model</i> used for <i>this input</i>; it is not proof of what the right
   answer would be.</li>
</ul>
"""

UNCERTAINTY_TEXT = """
<p>RELAX computes its importance from random masks, so it also knows how much the answer varied between
masks. The uncertainty map shows that variation: <b>brighter means less certain</b>. Trust the importance
where the uncertainty is low; where it is high, more masks, or another method, may tell a different story.
The <i>U-RELAX</i> output keeps only the importance where the uncertainty is at or below its median.</p>
"""

FAITHFULNESS_TEXT = """
<p>A faithfulness check asks the model itself whether a heatmap is right: it removes parts of the input
in the order the heatmap gives and watches the score.</p>
<ul>
<li><b>MoRF</b> (most relevant first): the parts the heatmap calls most important are removed first. If the
   heatmap is right, the score falls <b>fast</b>.</li>
<li><b>LeRF</b> (least relevant first): the unimportant parts go first. The score should stay up for a long
   time.</li>
<li><b>Random</b>: parts removed in random order, the baseline any useful heatmap must beat.</li>
<li><b>AOPC</b> (area over the perturbation curve) is the average fall of the score along a curve, the shaded
   area in the picture. A <b>large MoRF AOPC</b> and a <b>small LeRF AOPC</b> mean a faithful explanation;
   compare methods on the same input and model.</li>
</ul>
"""

START_TEXT = """
<p>Open a picture, a sound, a table or a folder of molecules (File ▸ Open, or drop it on the window); it opens
in its tab. Choose a model (Model menu; the demo models need no download), choose a method, and press
<b>Run</b>. Every setting has a tooltip that says what it does. Results stay in the list under the pictures;
tick two or more to compare them side by side; File ▸ Export saves what you see.</p>
"""


MODELS_TEXT = """
<p>The demo models come with xaidesk. To explain your own, choose <b>Open model…</b> in the model picker
(or the Model menu) and pick a file or a folder; xaidesk says what it found:</p>
<ul>
<li>an <b>ONNX</b> file (.onnx);</li>
<li>a <b>Hugging Face</b> folder (config.json with the weights), or a <b>timm</b> folder (its config.json names
   the architecture);</li>
<li><b>PyTorch weights</b> (.safetensors, .pt, .pth, .bin, .ckpt): weights alone do not say which network they
   belong to. A torchvision network is recognised from its layers; otherwise type part of the name in the
   search box (torchvision's and timm's architectures are listed) and choose it;</li>
<li>a <b>TorchScript</b> model, or a <b>whole saved Python model</b>. Opening the latter runs code stored in
   the file, so xaidesk asks first: only say yes for files from a source you trust;</li>
<li>a <b>quick classifier</b> (.xdprobe) made with Model ▸ Train a quick classifier on a labelled folder.</li>
</ul>
<p>xaidesk then loads the model (the dialog stays usable; <b>Stop</b> ends the wait) and shows its classes and
how it prepares an image. A <b>class names</b> file (.txt with one name per line, or .json) replaces names the
model lacks. Check the <b>preprocessing</b> against what the model was trained with (input size, resize and
centre crop, interpolation, colour or grey, mean and std); a wrong one gives wrong scores and misleading
heatmaps. The label file and a preprocessing set by hand are saved with every exported setting and batch run.
Nothing is downloaded.</p>
"""


REPAIR_TEXT = """
<p>When a heatmap or a SpRAy cluster shows that a model decides by something that is not the object (the
demo's horse detector looks at a copyright tag), <b>Model ▸ Correct, prune or fine-tune…</b> makes a corrected
copy. The original model is never changed: the result is a new model file. On the SpRAy <i>Clusters</i> page,
<b>Correct the model for this cluster…</b> opens the same window with the cluster already chosen. Work through
the numbered sections:</p>
<ol>
<li><b>Method</b>: what to do (listed below). The line under it says what the method does; every setting has
   a tooltip.</li>
<li><b>What to remove</b>: the artefact, chosen one of three ways: a saved <i>SpRAy cluster</i>; <i>images I
   choose</i> (some that show the artefact and some clean ones; xaidesk finds where it is); or a <i>region on an
   image</i>: open a picture that shows it and drag a rectangle over it. Then say which class the artefact
   drives. Pruning needs no artefact.</li>
<li><b>Data and output</b>: labelled images, a folder with one subfolder per class named after the model's
   classes (the demo model can make its own pictures). The <i>held-out share</i> is never trained on: the model
   is measured on it before and after. The output folder is where the corrected model goes.</li>
<li><b>Run</b>. While something is missing, Run stays grey and the orange line above it (and its tooltip) says
   what. Progress and the time left are shown; <b>Cancel</b> stops. A stopped training run keeps a checkpoint
   beside the output folder: run again with the same settings and folder and it goes on where it stopped.</li>
<li><b>Before and after</b>: each figure measured on the original and the corrected model, on the same
   held-out images. Green means better, red worse, grey about the same; hover over a row for more.</li>
</ol>
<p>How to read the figures:</p>
<ul>
<li><b>Accuracy</b> as given should stay about the same; accuracy with the artefact <b>pasted in</b> should
   rise: a model that used the shortcut called every picture with the tag the tag's class.</li>
<li>The <b>share of relevance on the artefact</b> should fall: the corrected model's heatmaps no longer rest
   on it. The before-and-after picture shows the mean heatmap of images with the artefact under both models.</li>
<li>The two <b>SpRAy</b> figures fall when the heatmaps no longer split into "with" and "without the
   artefact".</li>
<li>Pruning shows the <b>parameters</b> and the <b>forward time</b> (in ms) before and after, and the
   <i>pruning curve</i>: held-out accuracy as more units are removed, for each way of choosing them.</li>
</ul>
<p><b>Open the corrected model</b> loads it in the tab the window came from; its note says what was edited.
<b>Show files</b> opens the output folder: model.safetensors (open it anywhere with Open model…), report.json,
comparison.csv and the pictures.</p>
"""


TABLES_TEXT = """
<p>A table with a decision in it (File ▸ Open, or <b>Open an example… ▸ Loans</b> in the Tables tab) answers
"why was this row decided this way, and what would have changed it?". Mark the decision's column as
<b>target</b> in the Data view, choose <b>Target: readable model and Shapley values</b>, pick a model and press
<b>Run</b>. Every row is ranked by the model's answer; Shapley values are computed for a random sample of rows
(200 by default, <i>rows explained</i>), and the Shapley values page computes any other row when you choose it.
Click a row in the <i>Ranking</i> view; the model's pages follow it. (The <i>Model</i> view shows the fit and,
for the neural network, its loss per epoch.)</p>
<ul>
<li><b>Readable model</b>: the model itself, read directly: weights, if-then rules and the tree drawn with the
   row's path, shape curves, per-column votes or the neighbours behind the prediction. Its held-out accuracy is
   at the top; <i>Compare models</i> fits every model on the same rows, so you can weigh readability against
   accuracy.</li>
<li><b>What if</b>: the model's answer as one column changes, for every row (thin lines), on average (thick
   line) and for the selected row. The shaded band is where the data lie: outside it the model guesses.</li>
<li><b>Shapley values</b>: how much each column moved this row's prediction away from the average prediction
   (the base value); the bars add up exactly to the prediction. The summary shows every explained row.</li>
<li><b>Counterfactuals</b>: the smallest changes that would give the outcome you want, clearly (by default
   with a probability of at least 55 %, not just over the 50 % boundary). The search knows nothing about what is
   possible: untick what cannot change (age, for example), narrow the ranges, and limit how many columns may
   change. Each answer is checked on the model.</li>
<li><b>Trust</b>: whether the explanation would stay the same for similar rows (stability), under another
   model (consistency) and across random seeds (certainty), and how well it reproduces the model
   (fidelity). LIME with its default settings is measured against xaidesk's.</li>
</ul>
<p>The models:</p>
"""


CONCEPTS_TEXT = """
<p>A heatmap says <i>where</i> the evidence lies; concepts say <i>what</i> the network recognised there. A
<b>concept</b> is one channel of a layer: a feature the network learnt, such as a texture, a part or a mark.
Concepts need an LRP method, so they work for the convolutional networks LRP explains.</p>
<ul>
<li><b>Images tab ▸ Concepts</b> (right of the heatmap): choose a layer and press <b>Find concepts</b>. The list
   shows the concepts that carried the most relevance for the explained class, with their share of the layer's
   relevance. Click one to see its own heatmap: the part of the explanation that went through that concept. The
   heatmaps of all concepts of a layer add up to the LRP heatmap; a small part of each concept's relevance is
   kept by the layers below (biases), and the panel says how much. <i>Fed by</i> lists the concepts of the layer
   below that pass it the most relevance; click one to follow it down.</li>
<li><b>Dataset tab ▸ Reference samples…</b> shows what a concept looks like: the folder's images where it was
   most relevant (RelMax: what the model <i>uses</i> it for) and most active (ActMax: what <i>drives</i> it),
   cropped around where it fired. The folder is run through the model once; the run is kept, so the Concepts
   panel shows the crops for any image afterwards. Cancel keeps the images done, and Run continues.</li>
<li><b>Dataset tab ▸ Prototypes…</b> summarises how the model usually recognises one class. It groups the
   images predicted as that class by the concepts their predictions used; each group is a <b>prototype</b>, shown
   by its top concepts and its most typical images. Every image gets a <b>typicality</b>: the percentage of the
   class's images whose reasoning was less typical than its own. A prediction with a typicality of a few percent
   was reached in an unusual way, so it is worth a look, even when the prediction is right.</li>
</ul>
"""


def tables_html(models: Iterable) -> str:
    """The tables section: the workflow, then each readable model's title and help from its registry."""
    items = "".join(f"<li><b>{escape(m.title)}</b>: {escape(m.help)}</li>" for m in models)
    return TABLES_TEXT + f"<ul>{items}</ul>"


def repairs_html(repairs: Iterable) -> str:
    """The Model workflow's section: :data:`REPAIR_TEXT` and each registered repair's title and help."""
    items = "".join(f"<li><b>{escape(r.title)}</b>: {escape(r.help)}</li>" for r in repairs)
    return REPAIR_TEXT + (f"<p>The methods:</p><ul>{items}</ul>" if items else "")


def _method_items(methods: Iterable) -> dict[str, list]:
    families: dict[str, list] = {}
    for info in methods:
        families.setdefault(info.family, []).append(info)
    return families


def methods_html(methods: Iterable) -> str:
    """One section per method family: its paragraph (from the family registry) and each method's title and help."""
    from xaidesk.core.registry import get_family

    parts = []
    families = _method_items(methods)
    for family, infos in sorted(families.items(), key=lambda item: getattr(get_family(item[0]), "order", 100)):
        record = get_family(family)
        heading = (record.guide_title or record.title) if record else infos[0].title
        paragraph = record.guide if record else ""
        parts.append(f"<h3>{escape(heading)}</h3>")
        if paragraph:
            parts.append(f"<p>{escape(paragraph)}</p>")
        parts.append("<ul>")
        for info in infos:
            kinds = ", ".join(MODALITY_WORDS.get(m, m) for m in info.modality)
            parts.append(f"<li><b>{escape(info.title)}</b> <span style='color:#777'>({escape(kinds)})</span>: "
                         f"{escape(info.help)}</li>")
        parts.append("</ul>")
    return "\n".join(parts)

SCALE_TEXT = """
<p>Large models and many files take time; two settings make them faster.</p>
<ul>
<li><b>Runs on</b> (under the method's settings, and <i>Device</i> in the Dataset tab): the CPU, or a CUDA GPU
   when this computer has one that PyTorch can use. The picker is greyed out while the CPU is the only choice.
   On a GPU the results are the same as on the CPU up to rounding: xaidesk switches the GPU's faster but
   less exact arithmetic (TF32) off while it explains. If the GPU runs out of memory, lower the batch size.</li>
<li><b>Cluster</b> (Dataset tab ▸ Run): leave it empty to run on this computer. To hand a large folder to a
   group of computers, start a Dask scheduler and workers there and give the scheduler's address
   (<code>tcp://HOST:8786</code>). The folder is split into shards, one task each; the shards are merged
   into the output folder, which then opens like any run. The folders and the model file must be at the same
   paths on every computer. <b>Commands…</b> shows the command line for a Dask cluster and the two lines for a
   SLURM job array, ready to copy.</li>
<li>A run folder has one writer at a time: a second run into a folder being written is refused with the name
   of the computer and process that writes it. A run stopped by a crash, a cancel or a lost worker continues
   where it stopped when it is started again with the same settings.</li>
</ul>
"""


def guide_html(methods: Iterable, repairs: Iterable | None = None, table_models: Iterable | None = None) -> str:
    """The whole guide as one HTML page; images are named relative to ``resources/help``.

    ``repairs`` are the Model workflow's repairs and ``table_models`` the Tables tab's readable
    models (by default their registries', loaded now).
    """
    if repairs is None:
        from xaidesk.repair.methods import list_repairs

        repairs = list_repairs()
    if table_models is None:
        from xaidesk.tabular.models import list_table_models

        table_models = list_table_models()
    sections = [
        ("start", "Getting started", START_TEXT),
        ("models", "Opening your own model", MODELS_TEXT),
        ("heatmap", "How to read a heatmap",
         '<p><img src="heatmap.png" alt="A heatmap with its colour bar"></p>' + HEATMAP_TEXT),
        ("uncertainty", "How to read an uncertainty map",
         '<p><img src="uncertainty.png" alt="RELAX importance and uncertainty"></p>' + UNCERTAINTY_TEXT),
        ("methods", "What each method shows", methods_html(methods)),
        ("faithfulness", "Is the explanation faithful? MoRF, LeRF and AOPC",
         '<p><img src="faithfulness.png" alt="MoRF, LeRF and random curves"></p>' + FAITHFULNESS_TEXT),
        ("repair", "Correcting, pruning and fine-tuning a model", repairs_html(repairs)),
        ("tables", "Why was this row decided so? Tables with a decision", tables_html(table_models)),
        ("concepts", "What did the network recognise? Concepts, reference samples and prototypes", CONCEPTS_TEXT),
        ("scale", "Faster: GPUs and clusters", SCALE_TEXT),
    ]
    contents = " · ".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "\n".join(f'<h2><a name="{key}"></a>{escape(title)}</h2>\n{text}' for key, title, text in sections)
    return (f"<html><body><h1>xaidesk guide</h1><p>{contents}</p>\n{body}\n"
            "<p style='color:#777'>This guide is part of xaidesk and works offline.</p></body></html>")
