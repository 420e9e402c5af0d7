"""Conventions of the public API, enforced in one place (as scanpy's test_package_structure):
every public function is typed, documented with numpydoc sections, and takes at most three
positional arguments (data first, options keyword-only)."""

from __future__ import annotations

import importlib
import inspect

import pytest

SUBPACKAGES = [
    "radiogenomics", "radiogenomics.datasets", "radiogenomics.imaging", "radiogenomics.expression",
    "radiogenomics.differential", "radiogenomics.association", "radiogenomics.enrichment", "radiogenomics.module",
    "radiogenomics.models", "radiogenomics.deep", "radiogenomics.plotting", "radiogenomics.report",
    "radiogenomics._io", "radiogenomics._validation", "radiogenomics._provenance", "radiogenomics._results",
    "radiogenomics._config",
]


def _public_functions():
    seen = set()
    for modname in SUBPACKAGES:
        try:
            mod = importlib.import_module(modname)
        except ImportError as exc:  # an optional extra missing
            pytest.skip(f"{modname}: {exc}")
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            obj = getattr(obj, "__stage__", obj)  # a callable stage package: check its stage function
            if inspect.isfunction(obj) and obj not in seen:
                seen.add(obj)
                yield pytest.param(obj, id=f"{modname}.{name}")


FUNCS = list(_public_functions())


def test_every_subpackage_declares_all():
    for modname in SUBPACKAGES:
        mod = importlib.import_module(modname)
        assert getattr(mod, "__all__", None), f"{modname} has no __all__"
        for name in mod.__all__:
            assert hasattr(mod, name), f"{modname}.__all__ lists missing {name!r}"


@pytest.mark.parametrize("func", FUNCS)
def test_public_function_is_typed_documented_and_keyword_heavy(func):
    sig = inspect.signature(func)
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "cls")]
    assert len(positional) <= 3, f"{func.__qualname__}: {len(positional)} positional parameters"
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        assert p.annotation is not inspect.Parameter.empty, f"{func.__qualname__}: {p.name} is not annotated"
    assert sig.return_annotation is not inspect.Signature.empty, f"{func.__qualname__}: no return annotation"
    doc = inspect.getdoc(func) or ""
    assert doc, f"{func.__qualname__} has no docstring"
    if [p for p in sig.parameters.values() if p.name not in ("self", "cls")]:
        assert "Parameters\n----------" in doc, f"{func.__qualname__}: no numpydoc Parameters section"
    if sig.return_annotation not in (None, "None"):
        assert ("Returns\n-------" in doc) or ("Yields\n------" in doc), f"{func.__qualname__}: no Returns section"


def test_library_never_prints():
    import pathlib
    import re

    root = pathlib.Path(importlib.import_module("radiogenomics").__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if "cli" in path.parts:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*print\(", line) or re.match(r"\s*assert ", line):
                offenders.append(f"{path.relative_to(root)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_public_api_and_error_classes_at_the_top_level():
    import radiogenomics as rg

    for name in ("extract", "differential", "associate", "enrich", "module", "evaluate", "read_results"):
        assert callable(getattr(rg, name)), name
    assert rg.pl.figures is importlib.import_module("radiogenomics.plotting").figures
    for name in ("RadiogenomicsError", "InputError", "LabelError", "AlignmentError", "ParameterError",
                 "DataFileError", "MissingDataFileError", "OptionalDependencyError"):
        assert issubclass(getattr(rg, name), rg.RadiogenomicsError), name
    assert issubclass(rg.InputError, ValueError)
    # the stage packages are their stage functions, and keep their modules
    assert rg.differential.DifferentialResult.stage == "differential" and rg.module.ModuleResult.stage == "module"
    assert inspect.signature(rg.differential).parameters["threshold"].default == 0.05


def test_compute_modules_never_import_plotting():
    import pathlib
    import re

    root = pathlib.Path(importlib.import_module("radiogenomics").__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] in ("plotting", "report", "cli") or rel.name == "_results.py":
            continue  # figures are drawn by plotting, shown by the report and the CLI; results dispatch lazily
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*(from|import) (\.+|radiogenomics\.)?(plotting|matplotlib)", line):
                offenders.append(f"{rel}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
