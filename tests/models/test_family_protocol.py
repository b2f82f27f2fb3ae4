"""The family contract (models/family.py): every registered family, the train stage's and the tagger and posenet,
is a module of the `Family` protocol's shape: its attributes, and load/run/sheet/summary with the protocol's
parameters in the protocol's order."""

from __future__ import annotations

import importlib
import inspect

import pytest

from core.params import Params
from models.family import Family
from stages.train import FAMILIES

MODULES = {**FAMILIES, "tagger": "models.tagger.family", "posenet": "models.pose.family"}
METHODS = ("load", "run", "sheet", "summary")


def _parameters(fn, drop_self: bool) -> list[str]:
    names = list(inspect.signature(fn).parameters)
    return names[1:] if drop_self else names


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_family_satisfies_the_protocol(name):
    module = importlib.import_module(MODULES[name])
    assert isinstance(module, Family), f"{MODULES[name]} lacks part of models.family.Family"
    assert isinstance(module.SECTION, str) and module.SECTION in Params.model_fields, (name, module.SECTION)
    assert isinstance(module.INPUTS, tuple) and all(isinstance(k, str) for k in module.INPUTS)
    for method in METHODS:
        fn = getattr(module, method)
        assert callable(fn), (name, method)
        want = _parameters(getattr(Family, method), drop_self=True)
        got = _parameters(fn, drop_self=False)
        assert got == want, f"{MODULES[name]}.{method}{tuple(got)}: the protocol has {tuple(want)}"


def test_the_train_stage_families_read_their_inputs_from_its_paths():
    from stages.train import PATHS

    for name, module in FAMILIES.items():
        family = importlib.import_module(module)
        assert set(family.INPUTS) <= set(PATHS), (name, family.INPUTS)


def test_a_module_missing_part_of_the_contract_is_not_a_family():
    import types

    half = types.ModuleType("half")
    half.SECTION, half.INPUTS = "half", ()
    half.load = lambda params, paths: ({}, {})
    assert not isinstance(half, Family)
