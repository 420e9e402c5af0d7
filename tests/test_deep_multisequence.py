"""Deep path for MRI and CT: multi-sequence case sheets, resampling and registration onto the first
sequence, 2D or 3D crops chosen by the data, every MONAI backbone in 2D and 3D, a cohort whose
signal lies in one sequence, the stage on volumes, and the backbone x learning-rate x weight-decay
comparison.

Cohorts come from :func:`radiogenomics.imaging.synthetic.make_multisequence_cohort` (NRRD
volumes or images, one per sequence). The backbone tests are tiny on purpose (8 patients, one
epoch, 32 px images and 16-voxel volumes; 32 for DenseNet121 and the Swin Transformer, which
need it); CI has two cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import HAS_DEEP, needs_deep

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*MetaTensor.*:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*torch.cuda.*:UserWarning"),
]

SEQUENCES = ["t1", "t2", "dce"]


def _write(array: np.ndarray, path: Path, *, spacing=None, origin=None) -> None:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array.astype(np.float32))
    if spacing is not None:
        img.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    if origin is not None:
        img.SetOrigin(tuple(float(o) for o in origin[::-1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))


def _blob(shape, centre, radius) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return np.exp(-sum((g - c) ** 2 for g, c in zip(grids, centre)) / (2 * radius ** 2))


def _centroid(array: np.ndarray) -> np.ndarray:
    w = np.clip(array, 0, None)
    grids = np.meshgrid(*[np.arange(n) for n in array.shape], indexing="ij")
    return np.array([(g * w).sum() / w.sum() for g in grids])


# ---------------------------------------------------------------------------------------------
# no torch needed: sheets, resampling, registration, crops
# ---------------------------------------------------------------------------------------------
def test_case_sheet_with_one_column_per_sequence(tmp_path):
    from radiogenomics._validation import InputError
    from radiogenomics.imaging.cases import load_cases, read_cases

    sheet = pd.DataFrame({"case_id": ["a", "b"], "t1": ["t1/a.nrrd", "t1/b.nrrd"], "t2": ["t2/a.nrrd", "t2/b.nrrd"],
                          "mask": ["m/a.nrrd", "m/b.nrrd"], "label": [1, 0]})
    sheet.to_csv(tmp_path / "cases.csv", index=False)
    got = read_cases(tmp_path / "cases.csv", images=["t1", "t2"])
    # every sequence column is resolved like image and mask; without an image column the first is it
    assert got.loc["a", "t2"] == str((tmp_path / "t2/a.nrrd").resolve())
    assert got["image"].tolist() == got["t1"].tolist()
    assert got.loc["b", "mask"] == str((tmp_path / "m/b.nrrd").resolve())
    # a table that is already normalised keeps its resolved paths
    again = load_cases(got, images=["t1", "t2"])
    pd.testing.assert_frame_equal(again[["t1", "t2", "mask"]], got[["t1", "t2", "mask"]])
    with pytest.raises(InputError, match=r"missing image column\(s\) 'dce'"):
        read_cases(tmp_path / "cases.csv", images=["t1", "dce"])
    sheet.assign(t2=["t2/a.nrrd", ""]).to_csv(tmp_path / "blank.csv", index=False)
    with pytest.raises(InputError, match="empty 't2' path"):
        read_cases(tmp_path / "blank.csv", images=["t1", "t2"])
    # the imaging path's sheet (no sequences) is unchanged: image and mask only
    plain = pd.DataFrame({"image": ["i.png"], "mask": ["m.png"]})
    assert list(load_cases(plain).columns[:4]) == ["patient_id", "image", "mask", "label"]


def test_low_resolution_sequence_is_resampled_onto_the_first_grid(tmp_path):
    """A sequence stored at half the in-plane resolution (same field of view) lands on the first
    sequence's voxels: a blob's centroid agrees within 0.1 voxel and the values within the
    interpolation error of the 2x2 block means."""
    pytest.importorskip("SimpleITK")
    from radiogenomics.deep.crops import read_volumes
    from radiogenomics.imaging.synthetic import _half_resolution

    shape, spacing = (10, 40, 40), (2.0, 1.0, 1.0)
    full = 100 * _blob(shape, (5, 17.3, 22.6), 4.0)
    half, hspacing, horigin = _half_resolution(full.astype(np.float32), spacing)
    assert half.shape == (10, 20, 20) and hspacing == (2.0, 2.0, 2.0)
    mask = (full > 50).astype(np.uint8)
    _write(full, tmp_path / "t1.nrrd", spacing=spacing)
    _write(half, tmp_path / "t2.nrrd", spacing=hspacing, origin=horigin)
    _write(mask, tmp_path / "mask.nrrd", spacing=spacing)
    arr, marr, got_spacing = read_volumes([tmp_path / "t1.nrrd", tmp_path / "t2.nrrd"], tmp_path / "mask.nrrd")
    assert arr.shape == (2, 10, 40, 40) and marr.shape == (10, 40, 40) and got_spacing == spacing
    np.testing.assert_allclose(arr[0], full, atol=1e-3)
    np.testing.assert_allclose(_centroid(arr[1]), _centroid(full), atol=0.1)
    inner = (slice(None), slice(4, 36), slice(4, 36))
    assert np.abs(arr[1][inner] - full[inner]).max() < 6.0  # of a peak of 100
    # a 2D sheet of one-slice images comes back 2D
    _write(full[5], tmp_path / "a.nrrd")
    _write(mask[5], tmp_path / "am.nrrd")
    arr2, marr2, sp2 = read_volumes([tmp_path / "a.nrrd", tmp_path / "a.nrrd"], tmp_path / "am.nrrd")
    assert arr2.shape == (2, 40, 40) and marr2.shape == (40, 40) and sp2 == (1.0, 1.0)


def test_registration_recovers_a_shift_between_sequences(tmp_path):
    """t2's content is shifted by (3, -2) pixels on the same grid: without registration the crops
    disagree by that shift, with ``register=True`` by less than half a pixel."""
    pytest.importorskip("SimpleITK")
    from radiogenomics.deep.crops import read_volumes

    rng = np.random.default_rng(0)
    from scipy import ndimage

    texture = ndimage.gaussian_filter(rng.normal(0, 1, (64, 64)), 3.0)
    t1 = 100 + 40 * texture / texture.std() + 80 * _blob((64, 64), (30, 34), 5.0)
    t2 = 300 - 0.8 * ndimage.shift(t1, (3, -2), order=3, mode="nearest")  # another contrast, moved
    mask = (_blob((64, 64), (30, 34), 5.0) > 0.3).astype(np.uint8)
    for name, arr in (("t1", t1), ("t2", t2)):
        _write(arr, tmp_path / f"{name}.nrrd")
    _write(mask, tmp_path / "mask.nrrd")
    plain, _, _ = read_volumes([tmp_path / "t1.nrrd", tmp_path / "t2.nrrd"], tmp_path / "mask.nrrd")
    reg, _, _ = read_volumes([tmp_path / "t1.nrrd", tmp_path / "t2.nrrd"], tmp_path / "mask.nrrd", register=True)
    inner = (slice(8, 56), slice(8, 56))

    def offset(moving: np.ndarray) -> np.ndarray:
        """The shift (quarter-pixel grid search) that best maps 0.8 * t1 onto the inverted moving image."""
        target = (300 - moving)[inner]
        steps = np.arange(-4, 4.01, 0.25)
        errors = np.array([[np.mean((ndimage.shift(0.8 * t1, (dy, dx), order=1, mode="nearest")[inner] - target) ** 2)
                            for dx in steps] for dy in steps])
        i, j = np.unravel_index(errors.argmin(), errors.shape)
        return np.array([steps[i], steps[j]])

    np.testing.assert_allclose(offset(plain[1]), [3, -2], atol=0.25)
    np.testing.assert_allclose(offset(reg[1]), [0, 0], atol=0.5)


def test_crops_are_2d_or_3d_as_the_data_and_isotropic_in_millimetres(tmp_path):
    pytest.importorskip("SimpleITK")
    from radiogenomics._validation import InputError
    from radiogenomics.deep.crops import crop_around_mask, load_crops
    from radiogenomics.imaging.synthetic import make_multisequence_cohort

    make_multisequence_cohort(tmp_path / "v", n_patients=4, spatial_dims=3, size=32, slices=12,
                              low_resolution=("t2",), seed=0)
    vol = load_crops(tmp_path / "v" / "cases.csv", sequences=SEQUENCES, size=16, margin=0.2, intensity="zscore")
    assert vol.images.shape == (4, 3, 16, 16, 16) and vol.masks.shape == (4, 1, 16, 16, 16)
    assert vol.spatial_dims == 3 and vol.channels == tuple(SEQUENCES) and vol.dropped.empty
    # per-sequence z-scores: each channel is on its own scale (the raw levels differ 400/300/250)
    assert np.all(np.abs(vol.images.mean(axis=(0, 2, 3, 4))) < 1.5)
    make_multisequence_cohort(tmp_path / "i", n_patients=4, spatial_dims=2, size=48, seed=0)
    img = load_crops(tmp_path / "i" / "cases.csv", sequences=SEQUENCES, size=24, margin=0.2, intensity="percentile")
    assert img.images.shape == (4, 3, 24, 24) and img.spatial_dims == 2
    assert 0.0 <= img.images.min() and img.images.max() <= 1.0
    # 5 mm slices under 1 mm pixels: a sphere stays a sphere in the crop (isotropic crop voxels)
    shape, spacing = (12, 60, 60), (5.0, 1.0, 1.0)
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    sphere = (sum((g - c) ** 2 for g, c in zip(grids, (30.0, 30.0, 30.0))) <= 12.0 ** 2).astype(np.uint8)
    _, cmask = crop_around_mask(sphere.astype(float), sphere, size=32, margin=0.1, spacing=spacing)
    extents = [np.ptp(np.nonzero(cmask)[a]) for a in range(3)]
    assert max(extents) - min(extents) <= 2, extents
    # a cohort mixing images and volumes is refused, naming the case
    # (the sheet lies in the folder above both cohorts: case-sheet paths must stay inside its folder)
    cols = [*SEQUENCES, "mask"]
    mixed = pd.concat([pd.read_csv(tmp_path / "v" / "cases.csv").assign(**{c: lambda d, c=c: "v/" + d[c] for c in cols}),
                       pd.read_csv(tmp_path / "i" / "cases.csv").assign(
                           case_id=lambda d: "I" + d["case_id"], patient_id=lambda d: "I" + d["patient_id"],
                           **{c: lambda d, c=c: "i/" + d[c] for c in cols})])
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(InputError, match=r"case 'IMR001_1' is a 2D image but case 'MR001_1' is a 3D volume"):
        load_crops(tmp_path / "mixed.csv", sequences=SEQUENCES, size=16, intensity="zscore")


def test_perturbed_crops_follow_the_mask_and_folds_keep_patients_whole(tmp_path):
    pytest.importorskip("SimpleITK")
    from radiogenomics.deep.crops import fold_patients, load_crops, perturbed_crops
    from radiogenomics.imaging.synthetic import make_multisequence_cohort

    make_multisequence_cohort(tmp_path, n_patients=10, images_per_patient=2, spatial_dims=2, size=48, seed=0)
    crops = load_crops(tmp_path / "cases.csv", sequences=SEQUENCES, size=24, margin=0.2, intensity="zscore")
    pert = perturbed_crops(crops, n_perturbations=3, seed=7)
    assert pert.images.shape == (60, 3, 24, 24)
    assert pert.cases["target"].value_counts().eq(3).all() and set(pert.cases["version"]) == {"v1", "v2", "v3"}
    again = perturbed_crops(crops, n_perturbations=3, seed=7)
    np.testing.assert_array_equal(pert.images, again.images)
    # each version differs from the original, but stays close to it (small rotation, shift, noise)
    orig = crops.images[crops.cases.index.get_indexer(pert.cases["target"])]
    diff = np.abs(pert.images - orig).mean(axis=(1, 2, 3))
    assert (diff > 0).all() and np.median(diff) < 0.5 * np.abs(orig).mean()
    folds = fold_patients(crops.cases, folds=5, seed=0)
    assert (folds.groupby(crops.cases["patient_id"]).nunique() == 1).all()
    per_fold = crops.cases.groupby(folds)["label"].agg(["sum", "count"])
    assert per_fold["count"].tolist() == [4] * 5 and per_fold["sum"].tolist() == [2] * 5  # 2 images per patient


# ---------------------------------------------------------------------------------------------
# torch + MONAI: every backbone in 2D and 3D
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_crops(tmp_path_factory):
    """8-patient cohorts (4 train, 2 validation, 2 test): 2D 32 px and 3D 16/32 voxels, 3 sequences."""
    if not HAS_DEEP:
        pytest.skip("the [deep] extra (torch, monai) is not installed")
    import torch

    from radiogenomics.deep.crops import load_crops, split_patients
    from radiogenomics.imaging.synthetic import make_multisequence_cohort

    torch.set_num_threads(2)
    out = {}
    for dims, image_size in ((2, 32), (3, 24)):
        folder = tmp_path_factory.mktemp(f"ms{dims}")
        make_multisequence_cohort(folder, n_patients=8, spatial_dims=dims, size=image_size, slices=8,
                                  low_resolution=("t2",), seed=1)
        for size in ((32,) if dims == 2 else (16, 32)):
            c = load_crops(folder / "cases.csv", sequences=SEQUENCES, size=size, margin=0.2, intensity="zscore")
            c.cases["split"] = split_patients(c.cases, validation=0.25, test=0.25, seed=0)
            out[dims, size] = c
    out["folder3d"] = folder
    return out


def _backbone_cases():
    from radiogenomics.deep.model import ARCHITECTURES

    heavy3d = {"resnet50", "resnet101", "seresnext50", "densenet121", "swin"}
    cases = [pytest.param(2, a, id=f"2d-{a}") for a in ARCHITECTURES]
    cases += [pytest.param(3, a, id=f"3d-{a}", marks=[pytest.mark.slow] if a in heavy3d else [])
              for a in ARCHITECTURES]
    return cases


@pytest.mark.deep
@needs_deep
@pytest.mark.parametrize(("dims", "arch"), _backbone_cases())
def test_every_backbone_trains_one_epoch_and_predicts(tiny_crops, dims, arch):
    import torch

    from radiogenomics.deep.embed import embed_images
    from radiogenomics.deep.gradcam import grad_cam
    from radiogenomics.deep.model import backbone_of, checkpoint_bytes, load_checkpoint
    from radiogenomics.deep.predict import predict
    from radiogenomics.deep.train import train_classifier

    size = 32 if dims == 2 or arch in ("swin", "densenet121") else 16
    crops = tiny_crops[dims, size]
    res = train_classifier(crops, arch=arch, epochs=1, min_epochs=1, batch_size=4, augment=dims == 2,
                           device="cpu", seed=0)
    assert res.history.shape[0] == 1 and np.isfinite(res.history["train_loss"]).all()
    assert res.config["spatial_dims"] == dims and res.config["in_channels"] == 3
    assert res.config["channels"] == SEQUENCES
    pred = predict(res.model, crops)
    assert len(pred) == 8 and pred["probability"].between(0, 1).all()
    # the backbone table is right: the embedding is the head's input, the head gives the logits
    spec = backbone_of(res.model)
    assert spec.name == arch
    emb = embed_images(res.model, crops.subset(crops.cases.index[:3]))
    head = dict(res.model.named_modules())[spec.head]
    with torch.no_grad():
        logits = res.model(torch.from_numpy(crops.images[:3]))
        via_head = head(torch.tensor(emb.to_numpy(), dtype=torch.float32))
    assert emb.shape[1] == head.in_features
    torch.testing.assert_close(via_head, logits, rtol=1e-4, atol=1e-4)
    # Grad-CAM runs on the default layer of every backbone, in 2D and 3D
    cam = grad_cam(res.model, crops.subset(crops.cases.index[:2]))
    assert cam.cams.shape == (2, *(size,) * dims) and cam.cams.min() >= 0 and cam.cams.max() <= 1
    # and the checkpoint rebuilds the same network
    again, cfg = load_checkpoint(checkpoint_bytes(res.model, config=res.config), device="cpu")
    assert cfg["arch"] == arch
    np.testing.assert_allclose(predict(again, crops)["probability"], pred["probability"], rtol=1e-4, atol=1e-5)


@pytest.mark.deep
@needs_deep
def test_backbone_constraints_are_named():
    from radiogenomics._validation import ParameterError
    from radiogenomics.deep.model import build_model

    with pytest.raises(ParameterError, match="multiple of 32"):
        build_model(arch="swin", size=48)
    with pytest.raises(ParameterError, match="at least 32"):
        build_model(arch="densenet121", spatial_dims=3, size=16)
    with pytest.raises(ParameterError, match="'size' parameter of build_model is needed"):
        build_model(arch="vit")
    with pytest.raises(ParameterError, match="'arch'"):
        build_model(arch="vgg16")


@pytest.mark.deep
@needs_deep
def test_pretrained_rgb_stem_fits_any_number_of_sequences(tmp_path):
    """A local state_dict made for RGB input loads into 1-, 2- and 3-channel networks: the stem's
    RGB kernels are summed and spread over the channels, so a gray image replicated in every
    channel gives the same first-layer response as it did in R, G and B."""
    import torch

    from radiogenomics.deep.model import build_model

    torch.manual_seed(0)
    rgb = build_model(arch="resnet18", in_channels=3)
    torch.save({"state_dict": rgb.state_dict()}, tmp_path / "rgb.pt")
    gray = torch.rand(2, 1, 32, 32)
    reference = rgb.conv1(gray.repeat(1, 3, 1, 1))
    for channels in (1, 2, 3):
        net = build_model(arch="resnet18", in_channels=channels, pretrained=tmp_path / "rgb.pt")
        torch.testing.assert_close(net.conv1(gray.repeat(1, channels, 1, 1)), reference, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(net.layer4[1].conv2.weight, rgb.layer4[1].conv2.weight)
    # EfficientNet-B0 keeps MONAI's parameter names: its own state_dict loads into a 3D, 2-channel one
    eff = build_model(arch="efficientnet-b0", in_channels=3, size=32)
    torch.save(eff.state_dict(), tmp_path / "eff.pt")
    eff3d = build_model(arch="efficientnet-b0", spatial_dims=3, in_channels=2, size=16)
    from radiogenomics.deep.model import load_pretrained

    report = load_pretrained(eff3d, tmp_path / "eff.pt")
    assert "_conv_stem.weight" in report["skipped"]  # 2D kernels do not fit a 3D stem: skipped, logged
    assert "_fc.weight" in report["loaded"] and len(report["loaded"]) > 100


# ---------------------------------------------------------------------------------------------
# a 3-sequence cohort whose signal is in one sequence is learned, and Grad-CAM points into the mask
# ---------------------------------------------------------------------------------------------
@pytest.mark.deep
@pytest.mark.slow
@needs_deep
def test_signal_in_one_sequence_is_learned_and_gradcam_points_into_the_mask(tmp_path):
    """HER2-positive lesions hold bright dots inside the lesion on the DCE sequence only (t1 and
    t2, stored at half resolution and resampled, carry none). The network reaches a validation
    AUC > 0.8; blanking the DCE channel drops it to chance while blanking t2 does not; and the
    Grad-CAM heat of confident positives lies in the lesion well above its share of the crop."""
    import torch

    from radiogenomics.deep.crops import load_crops, split_patients
    from radiogenomics.deep.gradcam import grad_cam
    from radiogenomics.deep.predict import probabilities
    from radiogenomics.deep.train import train_classifier
    from radiogenomics.imaging.synthetic import make_multisequence_cohort
    from radiogenomics.models.metrics import auc_score

    torch.set_num_threads(2)
    make_multisequence_cohort(tmp_path, n_patients=48, spatial_dims=2, size=64, low_resolution=("t2",), seed=3)
    crops = load_crops(tmp_path / "cases.csv", sequences=SEQUENCES, size=48, margin=0.25, intensity="zscore")
    crops.cases["split"] = split_patients(crops.cases, validation=0.3, test=0.0, seed=0)
    res = train_classifier(crops, arch="resnet18", epochs=8, min_epochs=3, patience=3, batch_size=16,
                           device="cpu", seed=0)
    assert res.best_validation_auc > 0.8
    val = crops.split("validation")
    blanked = {}
    for k, name in enumerate(SEQUENCES):
        x = val.images.copy()
        x[:, k] = 0.0  # the z-scored sequence's mean
        blanked[name] = auc_score(val.labels, probabilities(res.model, x))
    assert blanked["dce"] < 0.65 and blanked["t2"] > 0.8, blanked
    table = grad_cam(res.model, crops).table
    pos = table[(table["label"] == 1) & (table["probability"] > 0.5)]
    assert len(pos) >= 10
    assert pos["heat_in_mask"].mean() > 1.3 * pos["mask_fraction"].mean()
    assert pos["peak_in_mask"].mean() > 0.7


# ---------------------------------------------------------------------------------------------
# the stage on volumes: rg.deep.run -> DeepResult (3D, three sequences), written and applied again
# ---------------------------------------------------------------------------------------------
@pytest.mark.deep
@needs_deep
def test_deep_run_on_three_sequence_volumes_round_trip(tiny_crops, tmp_path):
    import radiogenomics as rg
    from radiogenomics.deep import DeepResult, apply_model

    cases = tiny_crops["folder3d"] / "cases.csv"
    res = rg.deep.run(cases, sequences=SEQUENCES, size=16, margin=0.2, intensity="zscore", epochs=1, min_epochs=1,
                      batch_size=4, validation=0.25, test=0.25, device="cpu", seed=0)
    assert res.parameters["spatial_dims"] == 3 and res.parameters["channels"] == SEQUENCES
    assert res.parameters["gradcam_layer"] == "auto" and res.parameters["gradcam_layer_used"] == "layer4"
    assert res.embeddings_patient.shape == (8, 512)
    maps = res.gradcam_maps
    assert maps["images"].shape == (8, 16, 16) and maps["cams"].shape == (8, 16, 16)
    # the overlays cut each volume at its largest lesion slice
    assert ((maps["slice"] >= 0) & (maps["slice"] < 16)).all()
    assert all(maps["masks"][i].sum() > 0 for i in range(8))
    out = tmp_path / "deep"
    res.write(out, inputs={"cases": cases})
    assert len(list((out / "gradcam").glob("*.png"))) == 8
    back = DeepResult.read(out)
    np.testing.assert_array_equal(back.gradcam_maps["slice"], maps["slice"])
    again = apply_model(back, cases, device="cpu", embeddings=False, gradcam_layer=None)
    np.testing.assert_allclose(again.predictions["probability"], res.predictions["probability"], rtol=1e-4, atol=1e-5)
    # a sheet without the sequences the model was trained on is refused, naming the column
    from radiogenomics._validation import InputError

    pd.read_csv(cases).drop(columns=["dce"]).to_csv(tmp_path / "no_dce.csv", index=False)
    with pytest.raises(InputError, match="'dce'"):
        apply_model(back, tmp_path / "no_dce.csv", device="cpu")


# ---------------------------------------------------------------------------------------------
# backbone x learning rate x weight decay: rg.deep.compare and `radiogenomics deep compare`
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def comparison(tiny_crops, tmp_path_factory):
    import radiogenomics as rg

    folder = tmp_path_factory.mktemp("cmp")
    from radiogenomics.imaging.synthetic import make_multisequence_cohort

    make_multisequence_cohort(folder, n_patients=10, spatial_dims=2, size=40, seed=2)
    res = rg.deep.compare(folder / "cases.csv", archs=["resnet18", "vit"], lrs=[0.001, 0.0001], weight_decays=[0.0001],
                          sequences=SEQUENCES, size=32, margin=0.2, intensity="zscore", epochs=2, min_epochs=1,
                          batch_size=4, validation=0.2, test=0.2, device="cpu", seed=0)
    return folder, res


@pytest.mark.deep
@needs_deep
def test_compare_grid_table_split_and_chosen_model(comparison, tmp_path):
    from sklearn.metrics import roc_auc_score

    from radiogenomics.deep import DeepComparisonResult, apply_model
    from radiogenomics.deep.compare import COMPARISON_COLUMNS

    folder, res = comparison
    table = res.comparison
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    assert table["setting"].tolist() == ["resnet18|lr=0.001|wd=0.0001", "resnet18|lr=0.0001|wd=0.0001",
                                         "vit|lr=0.001|wd=0.0001", "vit|lr=0.0001|wd=0.0001"]
    # one split for the whole grid: every setting scored the same patients in the same splits
    per = res.predictions.groupby("setting")
    first = res.predictions[res.predictions["setting"] == table["setting"][0]].set_index("sample_id")["split"]
    for _, sub in per:
        pd.testing.assert_series_equal(sub.set_index("sample_id")["split"], first)
    # the table's AUCs are the predictions' (independent sklearn AUC), with intervals around them
    for _, row in table.iterrows():
        sub = res.predictions[(res.predictions["setting"] == row["setting"]) & (res.predictions["split"] == "test")]
        assert row["test_auc"] == pytest.approx(roc_auc_score(sub["label"].astype(int), sub["probability"]))
        assert row["test_auc_low"] <= row["test_auc"] <= row["test_auc_high"]
        hist = res.history[res.history["setting"] == row["setting"]]
        assert row["train_loss"] == pytest.approx(hist.loc[hist["epoch"] == row["best_epoch"], "train_loss"].item())
    # the chosen model has the best validation AUC (never chosen by test AUC), and it is the checkpoint
    chosen = res.chosen
    assert table["chosen"].sum() == 1 and chosen["validation_auc"] == table["validation_auc"].max()
    assert res.parameters["chosen"] == chosen["setting"]
    pred = apply_model(res.checkpoint, folder / "cases.csv", device="cpu", embeddings=False, gradcam_layer=None)
    ours = res.predictions[res.predictions["setting"] == chosen["setting"]].set_index("sample_id")["probability"]
    np.testing.assert_allclose(pred.predictions["probability"], ours.loc[pred.predictions.index], rtol=1e-4, atol=1e-5)
    # written and read back whole, with its figures
    out = tmp_path / "cmp"
    names = {p.name for p in res.write(out)}
    assert {"comparison.parquet", "history.csv", "model.pt", "comparison.png", "comparison_history.png"} <= names
    back = DeepComparisonResult.read(out)
    pd.testing.assert_frame_equal(back.comparison, table, check_dtype=False)
    assert back.checkpoint == res.checkpoint and back.synthetic
    assert all(f.get_label() for f in back.figures().values())


@pytest.mark.deep
@needs_deep
def test_cli_deep_compare_reads_its_config_section(comparison, tmp_path):
    from typer.testing import CliRunner

    from radiogenomics.cli import app
    from radiogenomics.deep import DeepComparisonResult

    folder, _ = comparison
    config = tmp_path / "config.yaml"
    config.write_text("imaging: {cases: x.csv}\nexpression: {series: [{name: a}]}\nenrichment: {gmt: [g.gmt]}\n"
                      "seed: 2\ndeep_comparison: {enabled: true, archs: [resnet18], lrs: [0.001, 0.01], "
                      "weight_decays: [0.0], sequences: [t1, t2, dce], size: 32, intensity: zscore, epochs: 1, "
                      "min_epochs: 1, batch_size: 4, device: cpu}\n")
    out = tmp_path / "c"
    r = CliRunner().invoke(app, ["deep", "compare", "--cases", str(folder / "cases.csv"), "--out", str(out),
                                 "--config", str(config), "--weight-decay", "0.001"])
    assert r.exit_code == 0, r.output
    res = DeepComparisonResult.read(out)
    assert res.parameters["seed"] == 2 and res.parameters["weight_decays"] == [0.001]  # the command line wins
    assert res.comparison["setting"].tolist() == ["resnet18|lr=0.001|wd=0.001", "resnet18|lr=0.01|wd=0.001"]
    assert "chose resnet18|" in r.output
    r = CliRunner().invoke(app, ["deep", "compare", "--cases", str(folder / "cases.csv"), "--out", str(tmp_path / "x"),
                                 "--arch", "swin", "--size", "48", "--device", "cpu"])
    assert r.exit_code == 2 and "multiple of 32" in r.output
