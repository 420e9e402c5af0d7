"""One source of defaults: the config schema, the CLI and the stage functions agree on every tunable,
and configs are plain YAML validated by the package."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

import radiogenomics as rg
from radiogenomics._config import INPUT_KEYS, SCHEMA_PATH, SECTIONS, load_config, stage_function, stage_parameters

SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())

#: CLI command (as typed) -> config section whose stage function it calls
COMMANDS = {
    ("extract",): "imaging",
    ("differential",): "differential",
    ("associate",): "association",
    ("enrich",): "enrichment",
    ("module",): "module",
    ("models",): "models",
    ("deep", "run"): "deep",
    ("deep", "compare"): "deep_comparison",
    ("deep", "features"): "deep_features",
    ("geo", "merge"): "expression",
    ("report",): "report",
}


def _resolve(sub: dict) -> dict:
    ref = sub.get("$ref")
    if ref:
        node = SCHEMA
        for part in ref[2:].split("/"):
            node = node[part]
        return node
    return sub


def _schema_defaults(section: str) -> dict:
    props = SCHEMA["properties"][section]["properties"]
    out = {}
    for key, sub in props.items():
        sub = _resolve(sub)
        if key not in INPUT_KEYS.get(section, ()) and "default" in sub:
            out[key] = sub["default"]
    return out


@pytest.mark.parametrize("section", list(SECTIONS))
def test_schema_defaults_are_the_stage_functions_defaults(section: str) -> None:
    func = stage_function(section)
    params = inspect.signature(func).parameters
    props = SCHEMA["properties"][section]["properties"]
    for key in props:
        if key in INPUT_KEYS.get(section, ()):
            continue
        assert key in params, f"config {section}.{key} is not a parameter of {func.__qualname__}"
    for key, value in _schema_defaults(section).items():
        default = params[key].default
        if isinstance(default, tuple):
            default = list(default)
        assert default == value, f"{section}.{key}: schema default {value!r} != {func.__qualname__} default {default!r}"


def _click_command(path: tuple[str, ...]):
    import typer.main

    from radiogenomics.cli import app

    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_cli_defaults_are_the_stage_functions_defaults(path: tuple[str, ...]) -> None:
    section = COMMANDS[path]
    func = stage_function(section)
    params = inspect.signature(func).parameters
    cmd = _click_command(path)
    shared = [p for p in cmd.params if p.name in params and params[p.name].default is not inspect.Parameter.empty]
    assert shared, f"{' '.join(path)} exposes no parameter of {func.__qualname__}"
    for p in shared:
        default = params[p.name].default
        got = p.default
        if isinstance(default, tuple):
            default, got = list(default), list(got) if got is not None else got
        assert got == default, f"{' '.join(path)} --{p.name}: CLI default {got!r} != API default {default!r}"
    assert any(p.name == "config" for p in cmd.params), f"{' '.join(path)} has no --config"


@pytest.mark.parametrize("section", list(SECTIONS))
def test_defaults_read_from_the_source_are_the_functions_defaults(section: str) -> None:
    from radiogenomics._config import source_defaults

    params = inspect.signature(stage_function(section)).parameters
    expected = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    assert source_defaults(section) == expected


def test_stage_parameters_take_the_section_and_the_master_seed(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("seed: 3\nimaging: {features: f.csv, labels: l.csv, n_jobs: 2}\nexpression: {series: [{name: A}]}\n"
                   "enrichment: {gmt: [x.gmt], min_size: 5}\nassociation: {n_null: 7}\n")
    config = load_config(cfg)
    assert stage_parameters(config, "association")["n_null"] == 7
    assert stage_parameters(config, "association")["seed"] == 3
    assert stage_parameters(config, "enrichment") == {"universe": None, "min_size": 5, "max_size": 500, "alpha": 0.05}
    assert stage_parameters(config, "imaging")["n_jobs"] == 2 and "features" not in stage_parameters(config, "imaging")
    # the filled defaults are the API's
    assert stage_parameters(config, "differential")["threshold"] == inspect.signature(
        rg.differential.differential).parameters["threshold"].default


def test_configs_are_plain_yaml_validated_before_anything(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("__use_yte__: true\nimaging: {cases: c.csv}\n")
    with pytest.raises(rg.DataFileError, match="YTE"):
        load_config(cfg)
    cfg.write_text("imaging: {cases: c.csv}\nexpression: {series: [{name: A}]}\nenrichment: {gmt: [g.gmt]}\n"
                   "association: {n_perturbations: 0}\n")
    with pytest.raises(rg.InputError, match="association/n_perturbations"):
        load_config(cfg)
    cfg.write_text("- a list\n")
    with pytest.raises(rg.DataFileError, match="mapping"):
        load_config(cfg)
    with pytest.raises(rg.MissingDataFileError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
