# Shared helpers: config validation, result paths, which inputs each stage reads.
import shutil
import sys
from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

RESULTS = config.get("results", "results")
SEED = int(config.get("seed", 0))
SYNTHETIC = bool(config.get("synthetic", False))
# The `radiogenomics` console script that belongs to the Python running Snakemake, so that
# rules use the same installation even when its bin/ folder is not on PATH.
_beside = Path(sys.executable).parent / "radiogenomics"
RG = str(_beside) if _beside.exists() else (shutil.which("radiogenomics") or "radiogenomics")
SCRIPTS = Path(workflow.basedir) / "scripts"
_NEVER = "(?!x)x"  # a wildcard constraint no name matches


def R(path):
    """A path under the results folder."""
    return f"{RESULTS}/{path}"


def log_path(name):
    return R(f"logs/{name}.log")


def _cohort(cohort):
    if cohort == "training":
        return config["imaging"]
    return config["imaging"].get("validation") or {}


def has_validation():
    v = config["imaging"].get("validation") or {}
    return bool(v.get("cases") or (v.get("features") and v.get("labels")))


def features_file(cohort):
    """Patient-level feature table of a cohort: given in the config or extracted."""
    c = _cohort(cohort)
    if c.get("features"):
        return c["features"]
    return R(f"imaging/{cohort}/features_patient.parquet")


def labels_file(cohort):
    c = _cohort(cohort)
    if c.get("features"):
        return c["labels"]
    return R(f"imaging/{cohort}/labels.parquet")


def extracted_cohorts():
    out = []
    if config["imaging"].get("cases") and not config["imaging"].get("features"):
        out.append("training")
    v = config["imaging"].get("validation") or {}
    if v.get("cases") and not v.get("features"):
        out.append("validation")
    return out


SERIES = {s["name"]: s for s in config["expression"]["series"]}
LOCAL_SERIES = [n for n, s in SERIES.items() if s.get("expression")]
GEO_SERIES = [n for n in SERIES if n not in LOCAL_SERIES]
for _n, _s in SERIES.items():
    if not (_s.get("expression") or _s.get("geo") or _s.get("soft") or _s.get("series_matrix")):
        raise ValueError(
            f"config: expression series {_n!r} needs `expression` (+ `labels`), `geo`, `soft` or `series_matrix`."
        )
    if _s.get("expression") and not _s.get("labels"):
        raise ValueError(f"config: expression series {_n!r} has `expression` but no `labels` file.")


def _alt(names):
    return "|".join(names) if names else _NEVER


def expression_dir():
    """Folder with the expression table and labels the association reads (always merged, so
    that every series is brought to one scale the same way, also when there is only one)."""
    return R("expression/merged")


def deep_enabled():
    return bool((config.get("deep") or {}).get("enabled", False))


def all_outputs():
    out = [
        R("differential/differential.parquet"),
        R("association/positive_specific.parquet"),
        R("enrichment/enrichment.parquet"),
        R("module/module.parquet"),
        R("models/summary.parquet"),
        R("report/report.html"),
    ]
    if deep_enabled():
        out.append(R("deep/predictions.parquet"))
    return out
