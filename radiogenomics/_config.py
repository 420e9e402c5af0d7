"""The workflow config: loading, validation, and which keys are which stage function's arguments.

Each stage's section of ``config.yaml`` holds keyword arguments of the stage's function under
their own names (``association.n_perturbations`` is ``rg.associate(n_perturbations=...)``); the
remaining keys are inputs (files) or workflow switches. The schema's defaults are the functions'
defaults (a test compares them), the CLI's defaults are taken from the functions, and every
stage command reads its section with ``--config``: one source of every default.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._validation import DataFileError, InputError, MissingDataFileError

__all__ = ["SCHEMA_PATH", "SECTIONS", "DEFINED_IN", "INPUT_KEYS", "load_config", "validate_config",
           "stage_parameters", "stage_function", "api_default", "source_defaults"]

#: The config schema (package data; the Snakemake workflow validates against the same file).
SCHEMA_PATH = Path(__file__).with_name("schemas") / "config.schema.yaml"

#: Config section → (module, function) whose keyword arguments the section holds.
SECTIONS: dict[str, tuple[str, str]] = {
    "imaging": ("radiogenomics.imaging", "extract"),
    "expression": ("radiogenomics.expression", "merge_series"),
    "differential": ("radiogenomics.differential", "differential"),
    "association": ("radiogenomics.association", "associate"),
    "enrichment": ("radiogenomics.enrichment", "enrich"),
    "module": ("radiogenomics.module", "module"),
    "models": ("radiogenomics.models", "evaluate"),
    "deep": ("radiogenomics.deep", "run"),
    "deep_comparison": ("radiogenomics.deep", "compare"),
    "deep_features": ("radiogenomics.deep", "cross_fit"),
    "report": ("radiogenomics.report", "render"),
}

#: The file (under the package) that defines each section's stage function: the CLI reads the
#: defaults from it without importing the stage (see :func:`source_defaults`).
DEFINED_IN: dict[str, str] = {
    "imaging": "imaging/stage.py",
    "expression": "expression/merge.py",
    "differential": "differential/stage.py",
    "association": "association/stage.py",
    "enrichment": "enrichment/ora.py",
    "module": "module/stage.py",
    "models": "models/evaluate.py",
    "deep": "deep/stage.py",
    "deep_comparison": "deep/compare.py",
    "deep_features": "deep/crossfit.py",
    "report": "report/render.py",
}

#: Keys of a section that are inputs or workflow switches, not function arguments.
INPUT_KEYS: dict[str, frozenset[str]] = {
    "imaging": frozenset({"cases", "features", "labels", "label_column", "validation"}),
    "expression": frozenset({"series"}),
    "enrichment": frozenset({"gmt", "background"}),
    "module": frozenset({"enrichment"}),
    "models": frozenset({"clinical", "feature_sets"}),
    "deep": frozenset({"enabled"}),
    "deep_comparison": frozenset({"enabled"}),
    "deep_features": frozenset({"enabled", "into_models"}),
}


def stage_function(section: str) -> Callable[..., Any]:
    """The stage function whose keyword arguments a config section holds.

    Parameters
    ----------
    section
        A key of :data:`SECTIONS`.

    Returns
    -------
    callable
    """
    module, name = SECTIONS[section]
    obj = getattr(importlib.import_module(module), name)
    return obj.__stage__ if hasattr(obj, "__stage__") else obj


def api_default(func: Callable[..., Any], name: str) -> Any:
    """The default of parameter ``name`` of ``func`` (the one place a default is written).

    Parameters
    ----------
    func
        A stage function (or a callable stage package).
    name
        Parameter name.

    Returns
    -------
    Any
    """
    func = getattr(func, "__stage__", func)
    param = inspect.signature(func).parameters[name]
    if param.default is inspect.Parameter.empty:
        raise KeyError(f"{func.__qualname__}: parameter {name!r} has no default")
    return param.default


@functools.cache
def source_defaults(section: str) -> dict[str, Any]:
    """The literal defaults of a section's stage function, read from its source without importing it.

    Importing every stage (scipy, scikit-learn, networkx...) only to show ``--help`` or start a
    command costs seconds per call; the defaults written in the function's signature are the
    same values (tests compare them with :func:`api_default`).

    Parameters
    ----------
    section
        A key of :data:`SECTIONS`.

    Returns
    -------
    dict
        Parameter name → default.
    """
    name = SECTIONS[section][1]
    path = Path(__file__).parent / DEFINED_IN[section]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if node is None:
        raise KeyError(f"{path}: no function {name!r}")
    args = node.args
    out: dict[str, Any] = {}
    positional = [*args.posonlyargs, *args.args]
    for arg, value in zip(positional[len(positional) - len(args.defaults):], args.defaults):
        out[arg.arg] = ast.literal_eval(value)
    for arg, value in zip(args.kwonlyargs, args.kw_defaults):
        if value is not None:
            out[arg.arg] = ast.literal_eval(value)
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.exists():
        raise MissingDataFileError(f"{path}: config file not found.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path}: not valid YAML ({' '.join(str(exc).split())}).") from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not a UTF-8 text file ({exc}).") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DataFileError(f"{path}: a config must be a mapping of sections; got {type(data).__name__}.")
    if "__use_yte__" in data:
        raise DataFileError(
            f"{path}: '__use_yte__' asks Snakemake to evaluate the config as a YTE template (Python "
            "expressions); radiogenomics configs are plain YAML, so it is refused."
        )
    return data


def validate_config(config: Mapping[str, Any], *, name: str = "config") -> dict[str, Any]:
    """Validate a config against the schema and fill the schema's defaults.

    Parameters
    ----------
    config
        The parsed config.
    name
        What it is (the file), for messages.

    Returns
    -------
    dict
        A validated copy with defaults filled in.
    """
    import jsonschema
    import yaml

    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    data = copy.deepcopy(dict(config))
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise InputError(f"{name}: invalid value at {where}: {err.message}.")
    _fill_defaults(data, schema, schema)
    return data


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return node
    return schema


def _fill_defaults(data: dict[str, Any], schema: Mapping[str, Any], root: Mapping[str, Any]) -> None:
    for key, sub in (schema.get("properties") or {}).items():
        sub = _resolve(sub, root)
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        value = data.get(key)
        if isinstance(value, dict) and sub.get("type") == "object":
            _fill_defaults(value, sub, root)
        elif isinstance(value, list) and isinstance(sub.get("items"), Mapping):
            items = _resolve(sub["items"], root)
            for item in value:
                if isinstance(item, dict):
                    _fill_defaults(item, items, root)


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a workflow config (plain YAML, safe loader), validate it and fill its defaults.

    Parameters
    ----------
    path
        ``config.yaml``.

    Returns
    -------
    dict
    """
    path = Path(path)
    return validate_config(_read_yaml(path), name=str(path))


def stage_parameters(config: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The keyword arguments a config gives a stage function (its section, the master seed and the Dask scheduler).

    Parameters
    ----------
    config
        A validated config (:func:`load_config`).
    section
        A key of :data:`SECTIONS`.

    Returns
    -------
    dict
        Argument name → value, only for keys the section sets (or the schema's defaults filled).
    """
    func = stage_function(section)
    params = inspect.signature(func).parameters
    values = dict(config.get(section) or {})
    skip = INPUT_KEYS.get(section, frozenset())
    out = {k: v for k, v in values.items() if k not in skip}
    unknown = [k for k in out if k not in params]
    if unknown:
        raise InputError(f"config section {section!r}: key(s) {unknown} are not arguments of {func.__qualname__}.")
    if "seed" in params and "seed" in config:
        out["seed"] = config["seed"]
    # one Dask scheduler address for both heavy loops (extraction, association)
    if "scheduler" in params and config.get("scheduler") and not out.get("scheduler"):
        out["scheduler"] = config["scheduler"]
    return out
