"""``Param.percent``: a share of a whole shows as a percentage in forms, yet stays a fraction everywhere else."""

import pytest

from xaidesk.core import MethodError, list_methods
from xaidesk.core.registry import Param
from xaidesk.repair.methods import get_repair, list_repairs


def test_percent_is_only_for_floats_within_zero_and_one():
    share = Param("share", "float", 0.3, "A share.", minimum=0.0, maximum=0.95, percent=True)
    assert share.percent and share.to_dict()["percent"] is True
    assert not Param("x", "float", 0.3, "A number.").to_dict()["percent"]
    for wrong in (dict(kind="int", default=0, minimum=0, maximum=1),
                  dict(kind="float", default=0.5, minimum=0.0, maximum=2.0),
                  dict(kind="float", default=0.5, minimum=-0.5, maximum=1.0),
                  dict(kind="float", default=0.5, minimum=0.0),
                  dict(kind="float", default=0.5)):
        with pytest.raises(ValueError, match="percentage"):
            Param("share", help="A share.", percent=True, **wrong)


def test_the_command_line_still_takes_the_fraction():
    share = {p.name: p for p in get_repair("prune").params}["share"]
    assert share.percent and share.convert("0.3") == pytest.approx(0.3)
    with pytest.raises(MethodError, match="at most 0.95"):
        share.convert("30")  # a percentage is refused, not read as 3000 %


def test_the_shares_are_marked_and_only_shares():
    owners = [*list_methods(), *list_repairs()]
    marked = {(owner.name, p.name) for owner in owners for p in owner.params if p.percent}
    assert {("prune", "share"), ("a-clarc", "paste_share"), ("relax", "keep_probability"),
            ("ridge.atoms", "test_fraction"), ("supervised.mlp_lrp", "validation")} <= marked
    unmarked = {(owner.name, p.name) for owner in owners for p in owner.params if not p.percent}
    assert {("lime", "ratio"), ("gradient.smoothgrad", "noise_level")} <= unmarked  # a balance and a noise level: no shares
