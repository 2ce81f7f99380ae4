"""Prototypes of a class's reasoning (PCX): the mixture finds the ways to be class A, flags a third way as
atypical, refuses bad input plainly, and its folder reads back."""

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import planted_concepts as planted
from xaidesk.concepts.prototype_files import PROTOTYPE_FILES, read_prototypes, write_prototypes
from xaidesk.concepts.prototypes import (
    choose_prototype_count, fit_prototypes, prototypes_for_class, typicality,
)
from xaidesk.core import InputError


def _modes(rng, counts, channels, used, noise=0.05):
    """Vectors whose relevance sits on the channels ``used[k]`` for mode k, at random scales."""
    vectors, truth = [], []
    for mode, count in enumerate(counts):
        for _ in range(count):
            v = np.abs(rng.normal(0, noise, channels))
            v[list(used[mode])] += rng.uniform(0.5, 1.5, len(used[mode]))
            vectors.append(v * rng.uniform(0.2, 20.0))  # the scale (the logit) must not matter
            truth.append(mode)
    return np.array(vectors), np.array(truth)


@pytest.mark.parametrize("channels,counts", [(32, (30, 20)), (512, (60, 40))])
def test_two_ways_to_be_class_a_give_two_prototypes_and_a_third_way_is_atypical(channels, counts):
    rng = np.random.default_rng(0)
    used = [range(0, 5), range(10, 15), range(20, 25)]
    vectors, truth = _modes(rng, counts, channels, used)
    assert choose_prototype_count(vectors, max_count=5) == 2
    prototypes = fit_prototypes(vectors, 2, files=[f"s{i}.png" for i in range(len(vectors))])
    assert adjusted_rand_score(truth, prototypes.assignments) >= 0.8
    for c in range(2):
        mode = int(np.bincount(truth[prototypes.members[c]]).argmax())
        assert {channel for channel, _ in prototypes.top_concepts(c, 5)} == set(used[mode])
        assert all(truth[i] == mode for i in prototypes.closest[c])
        assert prototypes.closest_files[c][0] == f"s{prototypes.closest[c][0]}.png"
    assert np.isclose(prototypes.weights.sum(), 1.0)
    assert 0 <= prototypes.percentiles.min() and prototypes.percentiles.max() <= 100
    typical, _ = _modes(np.random.default_rng(1), (10, 10), channels, used)
    judged = [typicality(prototypes, v) for v in typical]
    assert np.median([j.percentile for j in judged]) > 20
    odd, _ = _modes(np.random.default_rng(2), (0, 0, 5), channels, used)
    for v in odd:
        judged = typicality(prototypes, v, k=None)
        assert judged.percentile < 5
        assert len(judged.differences) == channels
        assert {c for c, _ in judged.differences[:5]} <= set(used[2]) | set(used[0]) | set(used[1])
        assert abs(judged.differences[0][1]) >= abs(judged.differences[-1][1])


def test_on_the_planted_network_the_prototypes_are_the_two_marks_and_both_marks_at_once_is_atypical():
    from xaidesk.explain.lrp.cnn import build_composite
    from xaidesk.explain.lrp.concept_records import record_concepts

    model = planted.trained_model()

    def relevance(kinds, seed):
        pictures = planted.make_pictures(kinds, seed=seed)
        records = record_concepts(model, planted.normalise(pictures.images), None,
                                  build_composite("epsilon_plus_flat", {"epsilon": 1e-6}, model), planted.LAST_CONV)
        assert records.targets == [0] * len(kinds), "every picture here must be predicted as class A"
        return pictures.kinds, records.relevance.numpy()

    kinds, vectors = relevance([planted.RED_SQUARE, planted.BLUE_BAR] * 30, seed=11)
    prototypes = fit_prototypes(vectors, 2)
    assert adjusted_rand_score(kinds, prototypes.assignments) >= 0.8
    _, both = relevance([(planted.RED_SQUARE, planted.BLUE_BAR)] * 6, seed=12)
    assert max(typicality(prototypes, v).percentile for v in both) < 5
    held_out_kinds, held_out = relevance([planted.RED_SQUARE, planted.BLUE_BAR] * 10, seed=13)
    judged = [typicality(prototypes, v) for v in held_out]
    percentiles = np.array([j.percentile for j in judged])
    assert np.median(percentiles) > 20 and (percentiles < 5).mean() <= 0.2, percentiles
    # a held-out picture's nearest prototype is the one of its mark
    mark_of = {c: int(np.bincount(kinds[prototypes.members[c]]).argmax()) for c in range(2)}
    assert all(mark_of[j.prototype] == kind for j, kind in zip(judged, held_out_kinds))


def test_bad_input_is_refused_plainly():
    vectors = np.abs(np.random.default_rng(0).normal(size=(12, 6)))
    with pytest.raises(InputError, match="at least one prototype"):
        fit_prototypes(vectors, 0)
    with pytest.raises(InputError, match="need at least 15 samples"):
        fit_prototypes(vectors, 5)
    broken = vectors.copy()
    broken[3, 2] = np.nan
    with pytest.raises(InputError, match="not finite.*sample 3"):
        fit_prototypes(broken, 2)
    with pytest.raises(InputError, match="one row per sample"):
        fit_prototypes(vectors[0], 1)
    with pytest.raises(InputError, match="3 file names were given for 12 samples"):
        fit_prototypes(vectors, 2, files=["a", "b", "c"])
    with pytest.raises(InputError, match="Unknown covariance"):
        fit_prototypes(vectors, 2, covariance="round")
    with pytest.raises(InputError, match="table of numbers"):
        fit_prototypes([["a", "b"]] * 8, 1)
    prototypes = fit_prototypes(vectors, 2)
    with pytest.raises(InputError, match="has 5 concepts; the prototypes were fitted on 6"):
        typicality(prototypes, vectors[0, :5])
    with pytest.raises(InputError, match="not finite"):
        typicality(prototypes, np.full(6, np.inf))


def test_prototypes_for_a_class_take_the_samples_predicted_as_it():
    rng = np.random.default_rng(3)
    vectors, truth = _modes(rng, (12, 12), 16, [range(0, 3), range(5, 8)])
    noise = np.abs(rng.normal(size=(10, 16)))
    references = SimpleNamespace(relevance=np.vstack([vectors, noise]), targets=np.array([0] * 34),
                                 predicted=np.array([0] * 24 + [1] * 10),
                                 files=[f"f{i}.png" for i in range(34)])
    prototypes = prototypes_for_class(references, 0, 2)
    assert prototypes.files == [f"f{i}.png" for i in range(24)]
    assert adjusted_rand_score(truth, prototypes.assignments) >= 0.8
    assert prototypes.settings["class_index"] == 0 and prototypes.settings["by"] == "predicted"
    assert len(prototypes_for_class(references, 0, 2, by="target").files) == 34
    with pytest.raises(InputError, match="No sample of the reference run is predicted as, and explained for, class 4"):
        prototypes_for_class(references, 4, 2)
    # A run made for one fixed class (here 0) explains class 0 for every sample: the samples predicted as 1
    # carry class 0's relevance, so they cannot make prototypes of class 1.
    with pytest.raises(InputError, match="class 1"):
        prototypes_for_class(references, 1, 2)


def test_the_writer_writes_a_folder_that_reads_back(tmp_path):
    rng = np.random.default_rng(4)
    vectors, _ = _modes(rng, (15, 15), 24, [range(0, 4), range(8, 12)])
    files = [f"class a/img, {i}.png" for i in range(30)]
    prototypes = fit_prototypes(vectors, 2, files=files, covariance="full")
    out = write_prototypes(prototypes, tmp_path / "prototypes")
    assert sorted(p.name for p in out.iterdir()) == sorted(PROTOTYPE_FILES)
    header = (out / "prototypes.csv").read_text().splitlines()[0]
    assert header == "prototype,weight,members,top_concepts,closest_files"
    back = read_prototypes(out)
    assert back.files == files
    np.testing.assert_array_equal(back.assignments, prototypes.assignments)
    np.testing.assert_allclose(back.means, prototypes.means)
    np.testing.assert_allclose(back.log_likelihood, prototypes.log_likelihood, rtol=1e-10)
    np.testing.assert_allclose(back.percentiles, prototypes.percentiles)
    assert back.closest_files == prototypes.closest_files and back.settings == prototypes.settings
    assert [m.tolist() for m in back.members] == [m.tolist() for m in prototypes.members]
    new = vectors[0] + 0.1
    assert typicality(back, new) == typicality(prototypes, new)
    # writing again replaces the folder's files; a folder without prototypes is refused plainly
    write_prototypes(fit_prototypes(vectors, 3, files=files), out)
    assert read_prototypes(out).count == 3
    with pytest.raises(InputError, match="holds no prototypes"):
        read_prototypes(tmp_path)
    (out / "prototype_means.npy").write_bytes(b"broken")
    with pytest.raises(InputError, match="cannot be read"):
        read_prototypes(out)


def test_prototypes_of_a_reference_run_of_the_planted_pictures_are_the_two_marks(tmp_path, monkeypatch):
    from xaidesk.concepts import references as reference_runs
    from xaidesk.concepts.references import compute_references

    monkeypatch.setattr(reference_runs, "references_root", lambda: tmp_path / "cache")
    pictures = planted.make_pictures([planted.RED_SQUARE, planted.BLUE_BAR] * 16 + [planted.GREEN_CROSS] * 4,
                                     seed=14)
    planted.write_pictures(tmp_path / "pictures", pictures)
    references = compute_references(tmp_path / "pictures", planted.trained_model(), planted.LAST_CONV,
                                    out=tmp_path / "run", method="lrp.epsilon_plus_flat", batch_size=36)
    prototypes = prototypes_for_class(references, 0, 2)
    assert len(prototypes.files) == 32 and all(f.startswith("A/") for f in prototypes.files)
    kinds = [int(f.rsplit("kind", 1)[1].split(".")[0]) for f in prototypes.files]
    assert adjusted_rand_score(kinds, prototypes.assignments) >= 0.8
