"""HER2 labels from sample characteristics, driven by the rules in ``data_manifests/*.yaml``.

A manifest is data: one YAML file per GEO series, validated against
``data_manifests/schema.json`` on load. Labelling follows it in a fixed order and never drops a
sample silently; every sample ends ``positive``, ``negative`` or ``excluded`` with the filter or
rule that decided it and the raw text it read:

1. Inclusion filters, in order. ``action: exclude`` excludes a sample that matches all of the
   filter's conditions; ``action: include`` excludes a sample that does not.
2. HER2 rules, in order; the first rule whose conditions all match decides
   (``positive``/``negative``/``excluded``).
3. No rule matched and every HER2 field is absent or a missing-value marker: excluded as
   unknown (rule ``missing``).
4. No rule matched but some HER2 text is present: an error naming the samples and the text
   (``her2.unmatched: error``, the default) or an exclusion (``unmatched: exclude``).

Field names are compared after normalisation (lower case, ``_`` → space, single spaces), so
``her2_status`` in a local table and ``HER2 status`` in a GEO characteristic are the same field.
Values are compared lower-cased with whitespace collapsed (``1.0`` reads as ``1``); ``regex``
conditions must match the whole normalised value (case-insensitive).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .._validation import (
    DataFileError,
    InputError,
    LabelError,
    MissingDataFileError,
    check_choice,
    format_names,
)

__all__ = [
    "Manifest",
    "ManifestError",
    "DEFAULT_MISSING_VALUES",
    "manifest_dir",
    "load_manifest",
    "validate_manifest",
    "normalize_field",
    "normalize_value",
    "label_samples",
    "check_counts",
    "labels_from_decisions",
    "unmatched_policy",
]

log = get_logger(__name__)

#: Values that mean "not recorded" in GEO characteristics (compared after normalisation).
DEFAULT_MISSING_VALUES = (
    "", "na", "n/a", "nan", "none", "null", "unknown", "not available", "not determined",
    "nd", "n.d.", "--", "-", "?", "missing", "not done", "not assessed",
)

LABELS = ("positive", "negative", "excluded")


class ManifestError(DataFileError):
    """A data manifest is malformed or violates ``data_manifests/schema.json``."""


def normalize_field(name: Any) -> str:
    """Normalise a characteristic field name: lower case, ``_`` → space, single spaces.

    Parameters
    ----------
    name
        Raw field name (``"HER2_status"``, ``"her2  IHC"``).

    Returns
    -------
    str
        e.g. ``"her2 status"``.
    """
    return re.sub(r"\s+", " ", str(name).replace("_", " ")).strip().lower()


_INT_FLOAT = re.compile(r"^[+-]?\d+\.0+$")


def normalize_value(value: Any) -> str | None:
    """Normalise a characteristic value for matching; ``None`` when absent (NaN/None).

    Parameters
    ----------
    value
        Raw value.

    Returns
    -------
    str or None
        Stripped, lower-cased text with single spaces and surrounding quotes removed;
        ``"1.0"`` becomes ``"1"``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = re.sub(r"\s+", " ", str(value)).strip().strip('"').strip("'").strip().lower()
    if _INT_FLOAT.match(text):
        text = text.split(".")[0]
    return text


@dataclass
class Manifest:
    """A validated series manifest (see ``data_manifests/schema.json``).

    Attributes
    ----------
    accession, platform, scale
        Series accession, GPL platform, value scale (``"log2"``/``"linear"``).
    log_offset
        Pseudo-count added before the log (0 when absent).
    her2
        The ``her2`` section (fields, rules, missing values, unmatched policy) with field
        names normalised.
    inclusion
        Inclusion filters with field names normalised.
    expected_counts
        Counts the source reports (``positive``, ``negative``, optional ``excluded``).
    local
        How a local samples table + matrix is read (``sample_id``, ``expression_column``).
    path
        File it was read from (``None`` for an in-memory dict).
    raw
        The document as read.
    """

    accession: str
    platform: str
    scale: str
    log_offset: float = 0.0
    her2: dict[str, Any] = field(default_factory=dict)
    inclusion: list[dict[str, Any]] = field(default_factory=list)
    expected_counts: dict[str, Any] | None = None
    local: dict[str, str] = field(default_factory=dict)
    technology: str | None = None
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """Name used in messages: the file path, or ``<accession> manifest``."""
        return str(self.path) if self.path is not None else f"{self.accession} manifest"


def manifest_dir(path: str | os.PathLike | None = None) -> Path:
    """Folder holding the manifests and ``schema.json``.

    Parameters
    ----------
    path
        Explicit folder; otherwise ``$RADIOGENOMICS_MANIFESTS``, otherwise the repository's
        ``data_manifests/`` beside the package.

    Returns
    -------
    pathlib.Path
    """
    if path is not None:
        folder = Path(path)
    elif os.environ.get("RADIOGENOMICS_MANIFESTS"):
        folder = Path(os.environ["RADIOGENOMICS_MANIFESTS"])
    else:
        folder = Path(__file__).resolve().parents[2] / "data_manifests"
    if not folder.is_dir():
        raise MissingDataFileError(
            f"manifest folder {folder} not found; pass --manifest-dir (or set RADIOGENOMICS_MANIFESTS) "
            "to a folder with one <GSE>.yaml per series and schema.json."
        )
    return folder


def _schema(folder: Path | None) -> dict[str, Any]:
    import json

    candidates = [folder / "schema.json"] if folder is not None else []
    candidates.append(Path(__file__).resolve().parents[2] / "data_manifests" / "schema.json")
    for cand in candidates:
        if cand.exists():
            return json.loads(cand.read_text())
    raise MissingDataFileError(
        f"manifest schema not found (looked for {format_names([str(c) for c in candidates])})."
    )


def _where(error: Any) -> str:
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "<top level>"


def validate_manifest(
    doc: Any,
    *,
    source: str = "manifest",
    schema_dir: str | os.PathLike | None = None,
) -> Manifest:
    """Validate a manifest document against the JSON schema and the rules' own consistency.

    Parameters
    ----------
    doc
        The parsed YAML document.
    source
        File name used in messages.
    schema_dir
        Folder with ``schema.json`` (the default manifest folder otherwise).

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        Naming the file, the offending key path and what the schema expects; also for
        duplicated rule ids and regular expressions that do not compile.
    """
    import jsonschema

    schema = _schema(Path(schema_dir) if schema_dir is not None else None)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        msgs = [f"{_where(e)}: {e.message}" for e in errors[:3]]
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ManifestError(f"{source}: violates data_manifests/schema.json: " + "; ".join(msgs) + more)

    def _conditions(conds: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
        out = []
        for c in conds:
            c = dict(c)
            c["field"] = normalize_field(c["field"])
            if "in" in c:
                c["in"] = [normalize_value(v) or "" for v in c["in"]]
            if "regex" in c:
                try:
                    c["_re"] = re.compile(c["regex"], re.IGNORECASE)
                except re.error as exc:
                    raise ManifestError(f"{source}: {where}: regex {c['regex']!r} does not compile ({exc}).") from exc
            out.append(c)
        return out

    her2 = dict(doc["her2"])
    her2["fields"] = [normalize_field(f) for f in her2["fields"]]
    her2["missing_values"] = [normalize_value(v) or "" for v in her2.get("missing_values", DEFAULT_MISSING_VALUES)]
    her2.setdefault("unmatched", "error")
    rules = []
    seen: set[str] = set()
    for i, rule in enumerate(her2["rules"]):
        if rule["id"] in seen:
            raise ManifestError(f"{source}: her2.rules[{i}]: duplicated rule id {rule['id']!r}.")
        seen.add(rule["id"])
        rules.append({**rule, "when": _conditions(rule["when"], f"her2.rules[{i}]")})
    her2["rules"] = rules
    inclusion = []
    for i, flt in enumerate(doc.get("inclusion", [])):
        if flt["id"] in seen:
            raise ManifestError(f"{source}: inclusion[{i}]: id {flt['id']!r} is also used elsewhere.")
        seen.add(flt["id"])
        inclusion.append({**flt, "when": _conditions(flt["when"], f"inclusion[{i}]")})
    return Manifest(
        accession=doc["accession"],
        platform=doc["platform"],
        scale=doc["scale"],
        log_offset=float(doc.get("log_offset", 0.0)),
        her2=her2,
        inclusion=inclusion,
        expected_counts=doc.get("expected_counts"),
        local=dict(doc.get("local", {})),
        technology=doc.get("technology"),
        raw=dict(doc),
    )


def load_manifest(
    name: str | os.PathLike,
    *,
    directory: str | os.PathLike | None = None,
) -> Manifest:
    """Load and validate a manifest by accession (``"GSE45827"``) or file path.

    Parameters
    ----------
    name
        Accession (looked up as ``<directory>/<accession>.yaml``) or path of a YAML file.
    directory
        Manifest folder (see :func:`manifest_dir`).

    Returns
    -------
    Manifest

    Raises
    ------
    MissingDataFileError
        No manifest for the accession.
    ManifestError
        Malformed YAML, schema violation, or an accession that does not match the file name.
    """
    import yaml

    text = str(name)
    if re.fullmatch(r"GSE\d+", text):
        folder = manifest_dir(directory)
        path = folder / f"{text}.yaml"
        if not path.exists():
            raise MissingDataFileError(
                f"no manifest for {text}: expected {path}. Add one (copy a file in {folder} and edit "
                "platform, scale and the HER2 rules); rules are data, no code is needed."
            )
    else:
        path = Path(text)
        if not path.exists():
            raise MissingDataFileError(f"{path}: manifest file not found.")
        folder = Path(directory) if directory is not None else path.parent
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML ({exc}).") from exc
    schema_dir = folder if (folder / "schema.json").exists() else None
    manifest = validate_manifest(doc, source=str(path), schema_dir=schema_dir)
    if path.stem.upper().startswith("GSE") and path.stem != manifest.accession:
        raise ManifestError(
            f"{path}: accession {manifest.accession!r} does not match the file name {path.stem!r}."
        )
    manifest.path = path
    return manifest


def _match(cond: dict[str, Any], value: str | None, missing: set[str]) -> bool:
    is_missing = value is None or value in missing
    if "missing" in cond:
        return is_missing == bool(cond["missing"])
    if is_missing:
        return False
    if "in" in cond:
        return value in cond["in"]
    return cond["_re"].fullmatch(value) is not None


def _get(row: dict[str, str | None], name: str) -> str | None:
    return row.get(name)


def unmatched_policy(manifest: Manifest, unmatched: str | None = None) -> str:
    """The policy for HER2 text no rule matches: ``unmatched`` when given, else the manifest's.

    Parameters
    ----------
    manifest
        The series manifest (``her2.unmatched``, ``"error"`` when absent).
    unmatched
        Override: ``"error"`` or ``"exclude"``.

    Returns
    -------
    str
    """
    policy = unmatched if unmatched is not None else manifest.her2.get("unmatched", "error")
    return check_choice(policy, "unmatched", owner="label_samples", choices=("error", "exclude"))


def label_samples(
    characteristics: pd.DataFrame,
    manifest: Manifest,
    *,
    unmatched: str | None = None,
) -> pd.DataFrame:
    """Label every sample positive, negative or excluded by the manifest's rules.

    Parameters
    ----------
    characteristics
        Rows = samples (index = sample id), columns = characteristic fields (any spelling;
        normalised here), values = raw text (NaN where absent).
    manifest
        The series manifest.
    unmatched
        Override of the manifest's ``her2.unmatched`` policy (``"error"`` or ``"exclude"``)
        for HER2 text that no rule matches.

    Returns
    -------
    pandas.DataFrame
        One row per sample (index ``sample_id``, same order as the input) with columns
        ``series`` (accession), ``status`` (``positive``/``negative``/``excluded``),
        ``her2`` (1, 0 or missing; nullable ``Int8``), ``rule`` (id of the inclusion filter
        or HER2 rule that decided, ``missing`` or ``unmatched``), ``reason`` (text) and
        ``raw`` (the HER2 fields as read, ``field=value; ...``).

    Raises
    ------
    InputError
        Duplicated sample ids or duplicated fields after normalisation.
    LabelError
        HER2 text that no rule matches while the policy is ``"error"``; the message names
        the samples, the text and the manifest file.
    """
    policy = unmatched_policy(manifest, unmatched)
    if not isinstance(characteristics, pd.DataFrame):
        raise InputError(f"characteristics must be a DataFrame; got {type(characteristics).__name__}.")
    chars = characteristics.copy()
    chars.index = chars.index.map(str)
    dup = chars.index[chars.index.duplicated()].unique()
    if len(dup):
        raise InputError(
            f"{manifest.accession}: duplicated sample id(s) {format_names(dup)}; each sample must appear once."
        )
    chars.columns = [normalize_field(c) for c in chars.columns]
    dupc = chars.columns[chars.columns.duplicated()].unique()
    if len(dupc):
        raise InputError(
            f"{manifest.accession}: characteristic field(s) {format_names(dupc)} appear twice after "
            "normalising names (case, '_' and spaces); merge or rename them."
        )
    missing = set(manifest.her2["missing_values"])
    fields = manifest.her2["fields"]
    rows = []
    unknown: list[str] = []
    norm = chars.map(normalize_value) if len(chars) else chars
    for sample in chars.index:
        values = {c: norm.at[sample, c] for c in chars.columns}
        raw_parts = [
            f"{f}={chars.at[sample, f]}" for f in fields
            if f in chars.columns and normalize_value(chars.at[sample, f]) is not None
        ]
        raw = "; ".join(raw_parts)
        decided = None
        for flt in manifest.inclusion:
            hit = all(_match(c, _get(values, c["field"]), missing) for c in flt["when"])
            if hit == (flt["action"] == "exclude"):
                shown = "; ".join(f"{c['field']}={chars.at[sample, c['field']] if c['field'] in chars.columns else None}"
                                  for c in flt["when"])
                verb = "matches exclusion filter" if flt["action"] == "exclude" else "fails inclusion filter"
                decided = ("excluded", f"inclusion:{flt['id']}", flt.get("reason", f"{verb} {flt['id']} ({shown})"))
                break
        if decided is None:
            for rule in manifest.her2["rules"]:
                if all(_match(c, _get(values, c["field"]), missing) for c in rule["when"]):
                    decided = (rule["label"], rule["id"], rule.get("reason", f"rule {rule['id']} ({raw})"))
                    break
        if decided is None:
            present = [f for f in fields if values.get(f) is not None and values.get(f) not in missing]
            if not present:
                decided = ("excluded", "missing", f"HER2 status unknown: no value in {', '.join(fields)}")
            else:
                decided = ("excluded", "unmatched", f"HER2 text matches no rule: {raw}")
                unknown.append(f"{sample} ({raw})")
        status, rule_id, reason = decided
        rows.append((sample, status, rule_id, reason, raw))
    if unknown and policy == "error":
        raise LabelError(
            f"{manifest.source}: HER2 text in {len(unknown)} sample(s) matches no rule: "
            f"{format_names(unknown)}. Add the value to a rule in the manifest, or set "
            "her2.unmatched: exclude to list such samples as excluded."
        )
    table = pd.DataFrame(rows, columns=["sample_id", "status", "rule", "reason", "raw"]).set_index("sample_id")
    table.insert(0, "series", manifest.accession)
    her2 = table["status"].map({"positive": 1, "negative": 0}).astype("Int8")
    table.insert(2, "her2", her2)
    counts = table["status"].value_counts()
    log.info(
        "%s: %d positive, %d negative, %d excluded (%s)", manifest.accession,
        counts.get("positive", 0), counts.get("negative", 0), counts.get("excluded", 0),
        ", ".join(f"{k}: {v}" for k, v in table.loc[table["status"] == "excluded", "rule"].value_counts().items()) or "none",
    )
    return table


def labels_from_decisions(decisions: pd.DataFrame) -> pd.Series:
    """The 0/1 labels of the samples a decision table labelled positive or negative.

    Parameters
    ----------
    decisions
        Output of :func:`label_samples`.

    Returns
    -------
    pandas.Series
        ``int8`` 1/0 named ``her2``, indexed by sample id.
    """
    kept = decisions[decisions["status"] != "excluded"]
    out = kept["her2"].astype("int8")
    out.name = "her2"
    return out


def check_counts(decisions: pd.DataFrame, manifest: Manifest | None) -> pd.DataFrame:
    """Compare the labelled counts with the counts the manifest expects, and warn on mismatch.

    Parameters
    ----------
    decisions
        Output of :func:`label_samples` (or any table with ``series`` and ``status``).
    manifest
        Manifest with ``expected_counts`` (without them the table says so; no check passes
        silently); ``None`` for labels given as a table (nothing is expected).

    Returns
    -------
    pandas.DataFrame
        One row per class (``positive``, ``negative``, ``excluded``) with columns
        ``series``, ``status``, ``observed``, ``expected`` (nullable), ``difference``
        (observed − expected, nullable), ``match`` (bool, or missing when nothing is
        expected) and ``source`` (where the expected count comes from).
    """
    observed = decisions["status"].value_counts()
    exp = (manifest.expected_counts if manifest is not None else None) or {}
    name = manifest.accession if manifest is not None else str(decisions["series"].iloc[0]) if len(decisions) else ""
    none = "no expected counts in manifest" if manifest is not None else "labels given as a table (no manifest)"
    rows = []
    for status in LABELS:
        o = int(observed.get(status, 0))
        e = exp.get(status)
        rows.append({
            "series": name,
            "status": status,
            "observed": o,
            "expected": e,
            "difference": None if e is None else o - int(e),
            "match": None if e is None else bool(o == int(e)),
            "source": exp.get("source", "") if exp else none,
        })
    table = pd.DataFrame(rows)
    for col in ("expected", "difference"):
        table[col] = table[col].astype("Int64")
    table["match"] = table["match"].astype("boolean")
    bad = table[table["match"] == False]  # noqa: E712  (nullable boolean)
    if manifest is None:
        log.info("%s: labels given as a table; no expected counts to check", name)
    elif not exp:
        log.warning("%s: manifest has no expected_counts; the labelled counts are not checked", name)
    elif len(bad):
        log.warning(
            "%s: labelled counts differ from the manifest's expected counts (%s): %s",
            name, exp.get("source", "manifest"),
            "; ".join(f"{r.status} observed {r.observed} expected {r.expected}" for r in bad.itertuples()),
        )
    else:
        log.info("%s: labelled counts match the manifest's expected counts", name)
    return table
