# Shared helpers: config validation, result folders (from the package's layout table), inputs.
#
# Rules pass only paths to the `radiogenomics` CLI (argument lists, each element quoted by `:q`), plus --config: each stage
# command reads its own settings from the config section of its stage, so no config value is ever
# pasted into a shell line, and every default lives in the package (radiogenomics._config).
import shlex
import shutil
import sys
from pathlib import Path

from radiogenomics._config import validate_config
from radiogenomics._results import report_paths, stage_folder

# the config file the stage commands read (--config): the one given on the command line
# (`radiogenomics run` gives a JSON copy it validated), else the catalog's default
# config/config.yaml, read here by the package (plain YAML, YTE refused), never by Snakemake
_configs = list(getattr(workflow, "overwrite_configfiles", None) or []) or list(workflow.configfiles)
if not _configs:
    from snakemake.utils import update_config as _update_config

    from radiogenomics._config import load_config as _load_config

    _default = Path("config/config.yaml")
    if not _default.exists():
        raise ValueError(f"no config: give --configfile (or run `radiogenomics run --config FILE`); "
                         f"{_default.resolve()} does not exist.")
    _merged = _load_config(_default)
    _update_config(_merged, dict(config))  # --config KEY=VALUE overrides win
    config.clear()
    config.update(_merged)
    _configs = [str(_default)]
CONFIG = str(Path(_configs[-1]).resolve())
# the package's own validation (the schema is package data): fills every default, so no rule
# below needs a fallback value of its own
_validated = validate_config(config, name=CONFIG or "config")
config.clear()
config.update(_validated)

RESULTS = config["results"]
SYNTHETIC = bool(config["synthetic"])
# The `radiogenomics` console script that belongs to the Python running Snakemake, so that
# rules use the same installation even when its bin/ folder is not on PATH.
_beside = Path(sys.executable).parent / "radiogenomics"
RG = shlex.quote(str(_beside) if _beside.exists() else (shutil.which("radiogenomics") or "radiogenomics"))
_NEVER = "(?!x)x"  # a wildcard constraint no name matches


def R(path):
    """A path under the results folder."""
    return f"{RESULTS}/{path}"


def folder(stage, **wildcards):
    """The result folder of a stage (the package's layout table)."""
    return R(stage_folder(stage, **wildcards).as_posix())


# the report and its figures (the package's layout: `run` and `demo` print the same path)
REPORT_HTML, REPORT_FIGURES = (R(p.as_posix()) for p in report_paths())


def log_path(name):
    return R(f"logs/{name}.log")


def args(*parts):
    """Command-line arguments as a list (lists flattened, None dropped); a rule's shell line quotes each
    element with ``{params.name:q}``, so no value reaches the shell unquoted."""
    flat = []
    for part in parts:
        if part is None:
            continue
        if isinstance(part, (list, tuple)):
            flat.extend(str(p) for p in part if p is not None)
        else:
            flat.append(str(part))
    return flat


def threads_of(section):
    n = int(config[section]["n_jobs"])
    return workflow.cores if n == -1 else max(1, n)


def _cohort(cohort):
    if cohort == "training":
        return config["imaging"]
    return config["imaging"].get("validation") or {}


def has_validation():
    v = config["imaging"].get("validation") or {}
    return bool(v.get("cases") or (v.get("features") and (v.get("labels") or v.get("label_column"))))


def scheduler_args():
    """``--scheduler ADDRESS`` for the two heavy loops when the config (or `run --scheduler`) names one."""
    return args("--scheduler", config["scheduler"]) if config.get("scheduler") else []


def supplied_enrichment():
    """An enrichment table (or folder of per-feature tables) given in the config instead of computed."""
    return config["module"].get("enrichment")


def enrichment_input():
    return supplied_enrichment() or folder("enrichment")


def cohorts():
    return ["training", "validation"] if has_validation() else ["training"]


def case_files(sheet, *, sequences=(), allow_outside_paths=None):
    """The image and mask files a case sheet names (resolved as the package reads them: relative to
    the sheet's folder), so that replacing one re-runs the rules that read the sheet.

    A folder (a DICOM series) stands for the files inside it. Only files that exist are listed: a
    missing one is left to the stage, which records it as a failed case or refuses the sheet,
    naming it. A sheet the package cannot read (or a path it refuses) adds nothing here; the
    stage itself then fails with that message.
    """
    from radiogenomics._validation import RadiogenomicsError
    from radiogenomics.imaging.cases import read_cases

    if allow_outside_paths is None:
        allow_outside_paths = bool(config["imaging"]["allow_outside_paths"])
    try:
        cases = read_cases(sheet, images=list(sequences or ()), allow_outside_paths=allow_outside_paths)
    except (RadiogenomicsError, OSError, ValueError):
        return []
    columns = list(dict.fromkeys(["image", "mask", *(sequences or ())]))
    out = []
    for name in dict.fromkeys(str(p) for col in columns for p in cases[col]):
        path = Path(name)
        if path.is_file():
            out.append(name)
        elif path.is_dir():  # a DICOM series: the files inside it
            out += [str(f) for f in sorted(path.rglob("*")) if f.is_file()]
    return list(dict.fromkeys(out))


def imaging_source(cohort):
    """A cohort's features come from a case sheet (extracted) or from a table given as it is."""
    c = _cohort(cohort)
    return "table" if c.get("features") else "cases"


SERIES = {s["name"]: s for s in config["expression"]["series"]}
LOCAL_SERIES = [n for n, s in SERIES.items() if s.get("expression")]
GEO_SERIES = [n for n in SERIES if n not in LOCAL_SERIES]
for _n, _s in SERIES.items():
    if not (_s.get("expression") or _s.get("geo") or _s.get("soft") or _s.get("series_matrix")):
        raise ValueError(
            f"config: expression series {_n!r} needs `expression` (+ `labels`), `geo`, `soft` or `series_matrix`."
        )
    if _s.get("expression") and not (_s.get("labels") or _s.get("label_column") or str(_s["expression"]).endswith(".h5ad")):
        raise ValueError(
            f"config: expression series {_n!r} has `expression` but no `labels` file (or `label_column`: the "
            "column of HER2 labels inside the table, or the obs column of an .h5ad file)."
        )


def _alt(names):
    return "|".join(names) if names else _NEVER


def deep_enabled():
    return bool(config["deep"]["enabled"])


def all_outputs():
    out = [folder("extraction", cohort=c) for c in cohorts()]
    out += [folder(s) for s in ("expression", "differential", "association", "module", "models")]
    if not supplied_enrichment():
        out.append(folder("enrichment"))
    out += deep_outputs()  # rules/deep.smk
    out.append(REPORT_HTML)
    return out
