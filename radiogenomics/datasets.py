"""Synthetic demo cohorts and loaders of local data files.

Everything generated here is **synthetic** and says so (``SyntheticCohort.synthetic`` is
``True``; writers stamp it into provenance and reports). The generator plants the structure
that the Cui et al. 2023 analysis looks for, so that every stage has something true to find:

* a HER2 amplicon: ERBB2 and its 17q12 neighbours (GRB7, STARD3, PGAP3, MIEN1, PNMT, TCAP,
  PPP1R1B) are higher in HER2-positive expression samples, ESR1 is lower;
* differential imaging features: shifted upwards in HER2-positive patients;
* feature–gene links: latent per-patient factors drive one differential and one
  non-differential imaging feature and a block of genes. Most factors act only in HER2-positive
  patients (their genes are the planted HER2-positive-specific set); one acts in both classes;
* gene sets: one planted pathway per factor (its linked genes plus unrelated ones), the
  amplicon, and decoy pathways of random genes.

The demo's inputs (:func:`write_demo_inputs`, :func:`demo_config`) are made here too: images
and masks, two expression series, gene sets and a clinical table, all marked synthetic.

Two designs: ``"paired"`` (the same patients imaged and sequenced, so links are observable) and
``"unpaired"`` (the paper's design: different patients, so no pairing can reveal a link and the
association engine's null model is what a result must be compared with).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_choice, check_float, check_int

__all__ = [
    "SyntheticCohort", "make_cohort", "AMPLICON_GENES", "FEATURE_NAMES", "DEMO_SETTINGS", "write_demo_inputs",
    "demo_config",
]

AMPLICON_GENES = ("ERBB2", "GRB7", "STARD3", "PGAP3", "MIEN1", "PNMT", "TCAP", "PPP1R1B")

# Names in pyradiomics 3.x style for the first features, so tables look like real output.
FEATURE_NAMES = (
    "original_firstorder_Mean", "original_glcm_Contrast", "original_glszm_ZoneEntropy",
    "original_gldm_DependenceNonUniformity", "original_glrlm_RunEntropy",
    "original_firstorder_Entropy", "original_glcm_Correlation", "original_glcm_JointEnergy",
    "original_glrlm_ShortRunEmphasis", "original_glszm_SmallAreaEmphasis",
    "original_gldm_LargeDependenceEmphasis", "original_firstorder_Skewness",
    "original_firstorder_Kurtosis", "original_glcm_Idm", "original_glcm_ClusterShade",
    "original_glrlm_GrayLevelNonUniformity", "original_glszm_ZonePercentage",
    "original_gldm_GrayLevelVariance", "original_firstorder_90Percentile",
    "original_firstorder_RobustMeanAbsoluteDeviation", "original_glcm_Autocorrelation",
    "original_glrlm_LongRunEmphasis", "original_glszm_GrayLevelNonUniformity",
    "original_gldm_SmallDependenceEmphasis",
)


@dataclass
class SyntheticCohort:
    """A synthetic radiogenomic cohort (see the module docstring for what is planted).

    Attributes
    ----------
    features
        Imaging feature table, rows = imaging patients, positive values.
    feature_labels
        HER2 labels (1/0) of the imaging patients.
    expression
        Expression matrix, rows = expression samples, columns = genes.
    expression_labels
        HER2 labels of the expression samples.
    links
        Planted links: columns ``feature``, ``gene``, ``factor``, ``her2_class``
        (``"positive"``: only in HER2-positive patients; ``"both"``).
    gene_sets
        Term → genes: ``SYNTHETIC_PATHWAY_<k>`` per factor, ``SYNTHETIC_HER2_AMPLICON`` and
        ``SYNTHETIC_DECOY_<j>``.
    differential_features
        Features shifted in HER2-positive patients.
    amplicon_genes
        Genes raised in HER2-positive samples.
    design
        ``"paired"`` or ``"unpaired"``.
    seed
        The seed that generated it.
    synthetic
        Always ``True``.
    """

    features: pd.DataFrame
    feature_labels: pd.Series
    expression: pd.DataFrame
    expression_labels: pd.Series
    links: pd.DataFrame
    gene_sets: dict[str, list[str]]
    differential_features: list[str]
    amplicon_genes: list[str]
    design: str
    seed: int
    synthetic: bool = field(default=True)

    @property
    def positive_specific_links(self) -> pd.DataFrame:
        """Planted links that act only in HER2-positive patients."""
        return self.links[self.links["her2_class"] == "positive"].reset_index(drop=True)

    def to_gmt_lines(self) -> list[str]:
        """The gene sets as Enrichr-style GMT lines (term, description, genes)."""
        return [f"{term}\tsynthetic\t" + "\t".join(genes) for term, genes in self.gene_sets.items()]


def _feature_names(n: int) -> list[str]:
    names = list(FEATURE_NAMES[:n])
    names += [f"original_texture_Feature{j:03d}" for j in range(len(names), n)]
    return names


def _latent(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.standard_normal((n, k))


def _expression_values(
    rng: np.random.Generator,
    y: np.ndarray,
    z: np.ndarray,
    *,
    genes: list[str],
    factor_genes: list[list[str]],
    shared_factor: int | None,
    link_strength: float,
    amplicon_shift: float,
    expression_scale: str,
) -> np.ndarray:
    """Expression samples × genes: factor ``k`` drives its genes (in HER2-positive samples only,
    or in every sample for ``shared_factor``), the amplicon is raised and ESR1 lowered in HER2+."""
    n_exp, n_genes = y.size, len(genes)
    a = link_strength
    g_log = rng.standard_normal((n_exp, n_genes))
    gidx = {g: i for i, g in enumerate(genes)}
    for k in range(len(factor_genes)):
        acts = (y == 1) if k != shared_factor else np.ones(n_exp, dtype=bool)
        cols = [gidx[g] for g in factor_genes[k]]
        g_log[np.ix_(acts, cols)] = a * z[acts, k:k + 1] + np.sqrt(1 - a**2) * g_log[np.ix_(acts, cols)]
    log2_mean = rng.normal(3.0, 1.5, size=n_genes)
    log2_sd = rng.uniform(0.4, 0.9, size=n_genes)
    log2 = log2_mean + log2_sd * g_log
    amp_weights = np.r_[1.0, rng.uniform(0.6, 0.9, size=len(AMPLICON_GENES) - 1)]
    for g, w in zip(AMPLICON_GENES, amp_weights):
        log2[:, gidx[g]] += amplicon_shift * w * y
    log2[:, gidx["ESR1"]] -= 1.0 * y
    return np.maximum(np.power(2.0, log2) - 0.1, 0.0) if expression_scale == "linear" else log2


def _gene_sets(
    rng: np.random.Generator, gene_pool: np.ndarray, factor_genes: list[list[str]], *, n_decoy_sets: int
) -> dict[str, list[str]]:
    """One planted pathway per factor (its genes + 15 others), the amplicon and random decoys."""
    gene_sets: dict[str, list[str]] = {}
    others = np.setdiff1d(gene_pool, np.concatenate(factor_genes))
    for k in range(len(factor_genes)):
        extra = rng.choice(others, size=min(15, others.size), replace=False)
        gene_sets[f"SYNTHETIC_PATHWAY_{k}"] = sorted(factor_genes[k] + list(extra))
    amp_extra = rng.choice(others, size=min(6, others.size), replace=False)
    gene_sets["SYNTHETIC_HER2_AMPLICON"] = sorted(list(AMPLICON_GENES) + list(amp_extra))
    for j in range(n_decoy_sets):
        size = int(rng.integers(12, 60))
        gene_sets[f"SYNTHETIC_DECOY_{j:02d}"] = sorted(rng.choice(gene_pool, size=min(size, gene_pool.size), replace=False))
    return gene_sets


def make_cohort(
    *,
    n_positive: int = 40,
    n_negative: int = 60,
    n_expression_positive: int | None = None,
    n_expression_negative: int | None = None,
    n_features: int = 24,
    n_genes: int = 1000,
    n_factors: int = 4,
    genes_per_factor: int = 25,
    link_strength: float = 0.85,
    n_differential: int = 6,
    differential_shift: float = 1.2,
    amplicon_shift: float = 2.0,
    n_decoy_sets: int = 40,
    design: str = "unpaired",
    expression_scale: str = "linear",
    seed: int = 0,
) -> SyntheticCohort:
    """Generate a seeded synthetic cohort with planted HER2 biology and feature–gene links.

    Parameters
    ----------
    n_positive, n_negative
        HER2-positive and -negative imaging patients (also the expression samples when
        ``design="paired"``).
    n_expression_positive, n_expression_negative
        Expression samples per class in the unpaired design (default: 1.5 × the imaging
        numbers, as public series are larger than imaging cohorts).
    n_features
        Imaging features (≥ ``n_differential`` and ≥ ``2 * n_factors``).
    n_genes
        Genes (≥ amplicon + ESR1 + ``n_factors * genes_per_factor``).
    n_factors
        Latent factors; factors ``0 .. n_factors-2`` act only in HER2-positive patients,
        the last acts in both classes.
    genes_per_factor
        Genes linked to each factor.
    link_strength
        Loading of linked features and genes on their factor (correlation of each with the
        factor, in (0, 1)); linked feature–gene correlation is about its square.
    n_differential
        Features shifted upwards in HER2-positive patients (the first ones); feature ``k``
        (``k < n_factors``) is also linked to factor ``k``, and feature ``n_differential + k``
        is a non-differential feature linked to the same factor (an auxiliary candidate).
    differential_shift
        Shift of differential features, in standard deviations of their log-scale values.
    amplicon_shift
        log2 increase of ERBB2 in HER2-positive samples (neighbours get 60–90 % of it).
    n_decoy_sets
        Random gene sets added to ``gene_sets``.
    design
        ``"unpaired"`` (the paper: imaging and expression from different patients) or
        ``"paired"`` (same patients, same ids).
    expression_scale
        ``"linear"`` (FPKM-like positive values) or ``"log2"`` (``log2(x + 0.1)``).
    seed
        Seed of the generator; the same seed gives identical cohorts.

    Returns
    -------
    SyntheticCohort
    """
    owner = "make_cohort"
    check_choice(design, "design", owner=owner, choices=("unpaired", "paired"))
    check_choice(expression_scale, "expression_scale", owner=owner, choices=("linear", "log2"))
    check_int(n_positive, "n_positive", owner=owner, min_value=4)
    check_int(n_negative, "n_negative", owner=owner, min_value=4)
    check_int(n_factors, "n_factors", owner=owner, min_value=1)
    check_int(n_differential, "n_differential", owner=owner, min_value=0)
    check_int(n_features, "n_features", owner=owner, min_value=max(n_differential, n_differential + n_factors, 2 * n_factors))
    check_int(genes_per_factor, "genes_per_factor", owner=owner, min_value=1)
    min_genes = len(AMPLICON_GENES) + 1 + n_factors * genes_per_factor
    check_int(n_genes, "n_genes", owner=owner, min_value=min_genes)
    check_float(link_strength, "link_strength", owner=owner, min_value=0.0, max_value=1.0, closed="neither")
    check_int(seed, "seed", owner=owner, min_value=0)
    rng = np.random.default_rng(seed)

    if design == "paired":
        n_epos, n_eneg = n_positive, n_negative
    else:
        n_epos = n_expression_positive if n_expression_positive is not None else int(round(1.5 * n_positive))
        n_eneg = n_expression_negative if n_expression_negative is not None else int(round(1.5 * n_negative))
        check_int(n_epos, "n_expression_positive", owner=owner, min_value=4)
        check_int(n_eneg, "n_expression_negative", owner=owner, min_value=4)

    features = _feature_names(n_features)
    genes = list(AMPLICON_GENES) + ["ESR1"]
    genes += [f"GENE{j:05d}" for j in range(n_genes - len(genes))]
    gene_pool = np.array(genes[len(AMPLICON_GENES) + 1:])
    factor_genes = [list(gene_pool[k * genes_per_factor:(k + 1) * genes_per_factor]) for k in range(n_factors)]
    shared_factor = n_factors - 1 if n_factors > 1 else None

    # ---- imaging patients
    y_img = np.r_[np.ones(n_positive, dtype=int), np.zeros(n_negative, dtype=int)]
    n_img = y_img.size
    z_img = _latent(rng, n_img, n_factors)
    f_log = rng.standard_normal((n_img, n_features))
    a = link_strength
    links = []
    for k in range(n_factors):
        # a linked feature loads on its factor in every patient; the gene side decides
        # whether the link exists in HER2-positive patients only or in both classes
        for j in (k, n_differential + k):
            f_log[:, j] = a * z_img[:, k] + np.sqrt(1 - a**2) * f_log[:, j]
            links += [(features[j], g, k, "both" if k == shared_factor else "positive") for g in factor_genes[k]]
    f_log[:, :n_differential] += differential_shift * y_img[:, None]
    base = rng.uniform(0.5, 50.0, size=n_features)
    feat_values = base * np.exp(0.2 * f_log)
    img_ids = [f"P{j:03d}" for j in range(1, n_img + 1)]
    perm_img = rng.permutation(n_img)  # interleave classes so ids do not reveal labels
    feat_df = pd.DataFrame(feat_values[perm_img], index=pd.Index(np.array(img_ids), name="sample_id"), columns=features)
    feat_labels = pd.Series(y_img[perm_img], index=feat_df.index, name="her2", dtype="int8")

    # ---- expression samples
    if design == "paired":
        y_exp, z_exp, perm_exp = y_img, z_img, perm_img
        exp_ids = img_ids
    else:
        y_exp = np.r_[np.ones(n_epos, dtype=int), np.zeros(n_eneg, dtype=int)]
        z_exp = _latent(rng, y_exp.size, n_factors)
        perm_exp = rng.permutation(y_exp.size)
        exp_ids = [f"S{j:04d}" for j in range(1, y_exp.size + 1)]
    values = _expression_values(rng, y_exp, z_exp, genes=genes, factor_genes=factor_genes, shared_factor=shared_factor,
                                link_strength=a, amplicon_shift=amplicon_shift, expression_scale=expression_scale)
    expr_df = pd.DataFrame(values[perm_exp], index=pd.Index(np.array(exp_ids), name="sample_id"), columns=genes)
    if design == "paired":
        expr_df = expr_df.loc[feat_df.index]
        exp_labels = feat_labels.copy()
    else:
        exp_labels = pd.Series(y_exp[perm_exp], index=expr_df.index, name="her2", dtype="int8")

    gene_sets = _gene_sets(rng, gene_pool, factor_genes, n_decoy_sets=n_decoy_sets)
    links_df = pd.DataFrame(links, columns=["feature", "gene", "factor", "her2_class"])
    for table in (feat_df, feat_labels, expr_df, exp_labels):
        table.attrs["synthetic"] = True  # the flag follows the tables into every stage's result
    return SyntheticCohort(
        features=feat_df,
        feature_labels=feat_labels,
        expression=expr_df,
        expression_labels=exp_labels,
        links=links_df,
        gene_sets=gene_sets,
        differential_features=features[:n_differential],
        amplicon_genes=list(AMPLICON_GENES),
        design=design,
        seed=seed,
    )


# ---------------------------------------------------------------------------------- the demo
#: The demo's settings: a cohort shaped like Cui et al. 2023's (about 320 training patients, 46 %
#: HER2-positive, an independent validation cohort), sized so that `make demo` runs in about 3
#: minutes on 2 cores (the paper's analysis settings are in workflows/config/config.yaml).
DEMO_SETTINGS: dict[str, Any] = {
    "design": "paired",           # "paired": the training patients were also sequenced (the planted
                                  # link is observable); "unpaired": the paper's design
    "n_patients": 320,            # training imaging patients
    "positive_fraction": 0.46,    # HER2-positive fraction of the imaging cohorts
    "n_validation": 100,          # independent validation imaging patients (their own ids)
    "images_per_patient": 1,
    "image_size": 80,
    "size_effect": 0.13,          # HER2-positive lesions: log radius + 0.13 (1.1 SD of the size spread)
    "n_expression_positive": 180,  # expression samples of the unpaired design, over both series
    "n_expression_negative": 210,
    "n_genes": 600,
    "genes_per_factor": 25,       # genes of the planted pathway driven by the latent size factor
    "link_strength": 0.6,         # their correlation with the factor (HER2-positive samples only)
    "n_perturbations": 75,
    "min_hits": 6,
    "n_null": 30,
    "splits": 30,
}

SYNTHETIC_README = (
    "SYNTHETIC DATA written by `radiogenomics demo`. The images, masks, expression values,\n"
    "labels and gene sets here were simulated; they are not from patients and carry no\n"
    "clinical meaning. planted.json says what was planted.\n"
)

DESIGNS = ("paired", "unpaired")


def _demo_expression(
    rng: np.random.Generator,
    labels: pd.Series,
    factor: pd.Series,
    s: dict[str, Any],
) -> tuple[pd.DataFrame, pd.Series, dict[str, list[str]], list[str]]:
    """The demo's expression cohort, gene sets and the planted pathway's genes.

    Paired: the imaging patients themselves (same ids, same latent factor). Unpaired: other
    samples (``S0001``...) with their own factor, so no pairing can show the link.
    """
    genes = list(AMPLICON_GENES) + ["ESR1"]
    genes += [f"GENE{j:05d}" for j in range(s["n_genes"] - len(genes))]
    pool = np.array(genes[len(AMPLICON_GENES) + 1:])
    pathway = [str(g) for g in pool[:s["genes_per_factor"]]]
    if s["design"] == "paired":
        ids, y, z = labels.index.to_numpy(), labels.to_numpy(dtype=int), factor.loc[labels.index].to_numpy()
    else:
        n_pos, n_neg = int(s["n_expression_positive"]), int(s["n_expression_negative"])
        y = rng.permutation(np.r_[np.ones(n_pos, dtype=int), np.zeros(n_neg, dtype=int)])
        ids = np.array([f"S{j:04d}" for j in range(1, y.size + 1)])
        z = rng.standard_normal(y.size)
    values = _expression_values(rng, y, z[:, None], genes=genes, factor_genes=[pathway], shared_factor=None,
                                link_strength=float(s["link_strength"]), amplicon_shift=2.0,
                                expression_scale="linear")
    expr = pd.DataFrame(values, index=pd.Index(ids.astype(str), name="sample_id"), columns=genes)
    elab = pd.Series(y, index=expr.index, name="her2", dtype="int8")
    return expr, elab, _gene_sets(rng, pool, [pathway], n_decoy_sets=40), pathway


def write_demo_inputs(
    data_dir: str | os.PathLike,
    *,
    images: bool = True,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the synthetic demo inputs and return the config entries that point at them.

    What is planted (written to ``data_dir/planted.json``): with images, HER2-positive lesions
    are larger (``size_effect``; every other property of the lesion is drawn from one
    distribution for both classes, see :func:`radiogenomics.imaging.simulate_ultrasound`), so
    the small family of pyradiomics features that counts pixels
    (:data:`radiogenomics.imaging.synthetic.SIZE_FEATURES`, 9 of 88) differs between the
    classes with a moderate effect. The spread of sizes within a class is one latent
    per-patient factor, which also drives the genes of ``SYNTHETIC_PATHWAY_0`` in HER2-positive
    samples only. With ``design="paired"`` the training patients were also sequenced, so the
    association recovers that link (the size family beats the permutation null, and its genes
    are enriched in the pathway) while the other features stay at chance; with ``"unpaired"``
    (the paper's design) the expression samples are other people and every feature should stay
    at chance.

    Parameters
    ----------
    data_dir
        Destination folder (created).
    images
        Simulate ultrasound images + masks (extracted by the workflow); otherwise write a
        synthetic feature table (:func:`make_cohort`, 88 features, 9 of them shifted; faster,
        used by the tests).
    settings
        Overrides of :data:`DEMO_SETTINGS`.
    seed
        Random seed.

    Returns
    -------
    dict
        Config fragments: ``imaging``, ``expression``, ``enrichment`` and ``clinical`` (paths
        relative to the parent of ``data_dir``), and ``design``.
    """
    import json

    from ._io import atomic_write

    owner = "write_demo_inputs"
    s = {**DEMO_SETTINGS, **(settings or {})}
    design = check_choice(s["design"], "design", owner=owner, choices=DESIGNS)
    n_patients = check_int(s["n_patients"], "n_patients", owner=owner, min_value=8)
    n_validation = check_int(s["n_validation"], "n_validation", owner=owner, min_value=4)
    fraction = check_float(s["positive_fraction"], "positive_fraction", owner=owner, min_value=0.0,
                           max_value=1.0, closed="neither")
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    rel = data.name  # config paths are relative to the config's folder (data_dir's parent)
    with atomic_write(data / "SYNTHETIC.txt") as fh:
        fh.write(SYNTHETIC_README)
    rng = np.random.default_rng(seed)

    imaging: dict[str, Any]
    planted: dict[str, Any] = {"synthetic": True, "design": design, "seed": seed}
    if images:
        from .imaging.synthetic import LATENT_PROPERTY, SIZE_FEATURES, make_ultrasound_cohort

        factor = rng.standard_normal(n_patients)
        look = {"images_per_patient": s["images_per_patient"], "size": s["image_size"],
                "positive_fraction": fraction, "appearance": "shared", "size_effect": s["size_effect"]}
        train_sheet = make_ultrasound_cohort(data / "images_training", n_patients=n_patients, factors=factor,
                                             seed=seed, **look)
        sheet = make_ultrasound_cohort(data / "images_validation", n_patients=n_validation, prefix="VUS",
                                       factors=rng.standard_normal(n_validation), seed=seed + 1, **look)
        labels = train_sheet.groupby("patient_id")["label"].first().astype(int)
        factor_s = pd.Series(factor, index=[f"US{p + 1:03d}" for p in range(n_patients)])
        patients = pd.concat([labels, sheet.groupby("patient_id")["label"].first().astype(int)])
        expr, elab, gene_sets, pathway = _demo_expression(rng, labels, factor_s, s)
        imaging = {
            "cases": f"{rel}/images_training/cases.csv",
            "validation": {"cases": f"{rel}/images_validation/cases.csv"},
        }
        planted.update({
            "her2_effect": f"HER2-positive lesions are larger: log radius + {s['size_effect']}",
            "latent_property": LATENT_PROPERTY, "linked_features": list(SIZE_FEATURES),
            "pathway": "SYNTHETIC_PATHWAY_0", "pathway_genes": pathway, "pathway_acts_in": "HER2-positive",
        })
    else:
        def cohort(n: int, seed_: int, paired: bool) -> SyntheticCohort:
            n_pos = int(round(n * fraction))
            return make_cohort(
                n_positive=n_pos, n_negative=n - n_pos, n_features=88, n_differential=9, differential_shift=0.8,
                n_factors=1, genes_per_factor=s["genes_per_factor"], link_strength=s["link_strength"],
                n_expression_positive=s["n_expression_positive"], n_expression_negative=s["n_expression_negative"],
                n_genes=s["n_genes"], design="paired" if paired else "unpaired", seed=seed_)

        train = cohort(n_patients, seed, design == "paired")
        validation = cohort(n_validation, seed + 1, False)
        expr, elab, gene_sets = train.expression, train.expression_labels.astype(int), train.gene_sets
        pathway = sorted(train.links["gene"].unique())
        tables = {}
        for name, c in (("training", train), ("validation", validation)):
            feats = c.features.rename_axis("sample_id")
            if name == "validation":
                feats = feats.rename(index=lambda i: f"V{i}")
            labs = c.feature_labels.astype(int).rename("her2").rename_axis("sample_id")
            labs.index = feats.index
            tables[name] = labs
            with atomic_write(data / f"features_{name}.csv") as fh:
                feats.to_csv(fh)
            with atomic_write(data / f"labels_{name}.csv") as fh:
                labs.to_frame().to_csv(fh)
        patients = pd.concat([tables["training"], tables["validation"]])
        imaging = {
            "features": f"{rel}/features_training.csv", "labels": f"{rel}/labels_training.csv",
            "validation": {"features": f"{rel}/features_validation.csv", "labels": f"{rel}/labels_validation.csv"},
        }
        planted.update({
            "differential_features": train.differential_features,
            "linked_features": sorted(train.links["feature"].unique()),
            "pathway": "SYNTHETIC_PATHWAY_0", "pathway_genes": pathway, "pathway_acts_in": "HER2-positive",
        })

    # two expression series: the expression samples split in two, stratified by class
    series_cfg = []
    parts: dict[str, list[str]] = {"GSE_SYNTH_A": [], "GSE_SYNTH_B": []}
    for cls in (1, 0):
        ids = rng.permutation(elab.index[elab == cls].to_numpy())
        half = len(ids) // 2
        parts["GSE_SYNTH_A"] += list(ids[:half])
        parts["GSE_SYNTH_B"] += list(ids[half:])
    for name, ids in parts.items():
        stem = name.lower()
        with atomic_write(data / f"{stem}_expression.csv") as fh:
            expr.loc[ids].rename_axis("sample_id").to_csv(fh)
        with atomic_write(data / f"{stem}_labels.csv") as fh:
            elab.loc[ids].astype(int).rename("her2").rename_axis("sample_id").to_frame().to_csv(fh)
        series_cfg.append({"name": name, "expression": f"{rel}/{stem}_expression.csv",
                           "labels": f"{rel}/{stem}_labels.csv"})
    with atomic_write(data / "gene_sets.gmt") as fh:
        fh.write("\n".join(f"{term}\tsynthetic\t" + "\t".join(genes) for term, genes in gene_sets.items()) + "\n")

    # a synthetic clinical table (age, tumour size, grade) for the baseline table and the nomogram
    crng = np.random.default_rng(seed + 7)
    her2 = patients.astype(int).to_numpy()
    clinical = pd.DataFrame({
        "age": np.round(crng.normal(54, 10, len(her2))).clip(28, 85),
        "tumour_size_mm": np.round(crng.lognormal(np.log(18) + 0.25 * her2, 0.35), 1),
        "grade": np.where(crng.random(len(her2)) < 0.35 + 0.3 * her2, "G3", "G1-2"),
    }, index=pd.Index(patients.index.astype(str), name="sample_id"))
    with atomic_write(data / "clinical.csv") as fh:
        clinical.to_csv(fh)
    with atomic_write(data / "planted.json") as fh:
        json.dump(planted, fh, indent=1)
    return {
        "design": design,
        "imaging": imaging,
        "expression": {"series": series_cfg, "combat": False},
        "enrichment": {"gmt": [f"{rel}/gene_sets.gmt"]},
        "clinical": f"{rel}/clinical.csv",
    }


def demo_config(
    fragments: dict[str, Any],
    *,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    jobs: int = 2,
) -> dict[str, Any]:
    """The workflow config of the demo (small settings, ``synthetic: true``).

    The design that ran is the association's ``mode`` (``parameters["mode"]`` of the
    association result) and is named in the report's title.

    Parameters
    ----------
    fragments
        Output of :func:`write_demo_inputs`.
    settings
        Overrides of :data:`DEMO_SETTINGS`.
    seed
        Master seed.
    jobs
        Parallel processes of extraction and association.

    Returns
    -------
    dict
        A config valid against the package's schema (``radiogenomics/schemas/config.schema.yaml``).
    """
    s = {**DEMO_SETTINGS, **(settings or {})}
    design = fragments.get("design", s["design"])
    imaging = dict(fragments["imaging"])
    if "cases" in imaging:
        imaging.update({"preset": s.get("preset", "ultrasound2d"), "aggregate": "mean", "n_jobs": jobs})
    what = "paired design" if design == "paired" else "unpaired design, as in the paper"
    return {
        "results": "results",
        "synthetic": True,
        "seed": seed,
        "imaging": imaging,
        "expression": fragments["expression"],
        "differential": {"select_by": "p", "threshold": 0.05},
        "association": {"mode": design, "n_perturbations": s["n_perturbations"], "sample_size": None,
                        "min_hits": s["min_hits"], "n_null": s["n_null"], "n_jobs": jobs},
        "enrichment": fragments["enrichment"],
        "module": {"threshold": 0.6},
        "models": {"n_splits": s["splits"], "n_bootstrap": s.get("bootstrap", 200), "n_jobs": jobs,
                   "clinical": fragments.get("clinical"), "feature_sets": ["differential", "module"]},
        "deep": {"enabled": False, "epochs": 1, "device": "cpu"},
        "report": {"title": f"HER2 radiogenomics demo report: {what}"},
    }
