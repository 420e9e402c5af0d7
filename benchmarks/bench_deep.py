"""Benchmark of the deep path: training and inference images/s, 2D and 3D, every backbone family.

Run: ``python benchmarks/bench_deep.py [--patients 40] [--epochs 2] [--families resnet,vit] [--dims 2,3]``
(needs the [deep] extra). On the CPU it uses 2 threads (``torch.set_num_threads(2)``); when a CUDA
GPU is visible every measurement is repeated on it (``device="auto"`` picks it).

Two parts:

1. **ResNet18, 2D, one channel, 128 px, batch 16** on the synthetic ultrasound cohort (the path's
   original goals): our ``train_classifier`` / ``predict`` against a plain torch loop (the same
   MONAI ResNet18, random tensors already in memory, no augmentation, no batch-norm
   recalibration, no validation: the ceiling our loop can reach).
2. **Every backbone family** (ResNet: resnet50, SE-ResNeXt: seresnext50, DenseNet: densenet121,
   EfficientNet: efficientnet-b0, ViT: vit, Swin: swin) in **2D** (64 px, batch 16) and **3D**
   (32 voxels, batch 4) on a synthetic **three-sequence** cohort (``make_multisequence_cohort``):
   plain-loop and our training and inference images/s, and our loop's share of the plain loop's
   training throughput (augmentation, loading, batch-norm recalibration and per-epoch validation
   are the overhead).

Targets (CPU, 2 cores):
* ResNet18 2D 128 px: training >= 20 images/s (a 100-patient, 2-image cohort then trains 30
  epochs in ~6 min); inference >= 100 images/s; our training loop keeps >= 0.6 of the plain
  loop's throughput.
* every family and dimension: our training loop keeps >= 0.5 of the plain loop's throughput
  (small cohorts make the per-epoch validation and recalibration passes a large share).
GPU targets (when lent): ResNet18 2D 128 px training >= 500 images/s, inference >= 2,000 images/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _goals import goal

#: Backbone family -> the architecture measured for it.
FAMILIES = {"resnet": "resnet50", "seresnext": "seresnext50", "densenet": "densenet121",
            "efficientnet": "efficientnet-b0", "vit": "vit", "swin": "swin"}
#: Spatial dims -> (crop side, batch size).
SHAPES = {2: (64, 16), 3: (32, 4)}


def _sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _plain_loop(torch, model, x, y, steps: int, *, train: bool, device) -> float:
    """Images/s of a bare loop: tensors in memory, one optimiser step per batch (or a forward pass)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    model = model.to(device)
    x, y = x.to(device), y.to(device)
    model.train(train)

    def step() -> None:
        if train:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)

    step()  # warm-up
    _sync(torch, device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(torch, device)
    return steps * len(x) / (time.perf_counter() - start)


def _ours(crops, arch: str, *, epochs: int, batch: int, device: str) -> tuple[float, float]:
    """Our training loop's and predict's images/s on ``crops`` (train split; all crops)."""
    from radiogenomics.deep.predict import predict
    from radiogenomics.deep.train import train_classifier

    n_train = int((crops.cases["split"] == "train").sum())
    start = time.perf_counter()
    res = train_classifier(crops, arch=arch, epochs=epochs, min_epochs=epochs, patience=epochs, batch_size=batch,
                           seed=0, device=device)
    train = n_train * len(res.history) / (time.perf_counter() - start)
    predict(res.model, crops, batch_size=max(2 * batch, 8))  # warm-up
    reps = 2 if device == "cpu" else 10
    start = time.perf_counter()
    for _ in range(reps):
        predict(res.model, crops, batch_size=max(2 * batch, 8))
    return train, reps * len(crops) / (time.perf_counter() - start)


def _resnet18_goals(torch, devices, *, patients: int, epochs: int, tmp: Path) -> list[tuple]:
    from radiogenomics.deep.crops import load_crops, split_patients
    from radiogenomics.deep.model import build_model
    from radiogenomics.imaging.synthetic import make_ultrasound_cohort

    size, batch = 128, 16
    make_ultrasound_cohort(tmp / "us", n_patients=patients, images_per_patient=2, size=160, seed=0)
    crops = load_crops(tmp / "us" / "cases.csv", size=size, margin=0.1)
    crops.cases["split"] = split_patients(crops.cases, seed=0)
    out = []
    for dev in devices:
        tag = dev.type
        torch.manual_seed(0)
        ref_train = _plain_loop(torch, build_model(arch="resnet18"), torch.rand(batch, 1, size, size),
                                torch.randint(0, 2, (batch,)), 4 if tag == "cpu" else 50, train=True, device=dev)
        ref_infer = _plain_loop(torch, build_model(arch="resnet18"), torch.rand(64, 1, size, size),
                                torch.zeros(64, dtype=torch.long), 3 if tag == "cpu" else 50, train=False, device=dev)
        ours_train, ours_infer = _ours(crops, "resnet18", epochs=epochs if tag == "cpu" else 10, batch=batch,
                                       device=tag)
        print(f"[{tag}] resnet18 2D {size}px 1 channel: plain loop train {ref_train:.1f} img/s, inference "
              f"{ref_infer:.1f} img/s; train_classifier {ours_train:.1f} img/s, predict {ours_infer:.1f} img/s",
              flush=True)
        if tag == "cpu":
            out += [("deep_train_cpu_2cores", ours_train, "images/s", ">=", 20),
                    ("deep_inference_cpu_2cores", ours_infer, "images/s", ">=", 100),
                    ("deep_train_loop_efficiency_cpu", ours_train / ref_train, "x plain loop", ">=", 0.6)]
        else:
            out += [("deep_train_gpu", ours_train, "images/s", ">=", 500),
                    ("deep_inference_gpu", ours_infer, "images/s", ">=", 2000)]
    return out


def _family_goals(torch, devices, *, families: list[str], dims: list[int], patients: int, epochs: int,
                  tmp: Path) -> list[tuple]:
    from radiogenomics.deep.crops import load_crops, split_patients
    from radiogenomics.deep.model import build_model
    from radiogenomics.imaging.synthetic import make_multisequence_cohort

    seqs = ["t1", "t2", "dce"]
    out = []
    for d in dims:
        size, batch = SHAPES[d]
        folder = tmp / f"ms{d}"
        make_multisequence_cohort(folder, n_patients=patients if d == 2 else max(12, patients // 2), spatial_dims=d,
                                  size=size + 16, slices=size // 2, low_resolution=("t2",), seed=0)
        crops = load_crops(folder / "cases.csv", sequences=seqs, size=size, margin=0.2, intensity="zscore")
        crops.cases["split"] = split_patients(crops.cases, seed=0)
        for family in families:
            arch = FAMILIES[family]
            for dev in devices:
                tag = dev.type
                torch.manual_seed(0)
                model = build_model(arch=arch, spatial_dims=d, in_channels=3, size=size)
                shape = (batch, 3, *(size,) * d)
                ref_train = _plain_loop(torch, model, torch.rand(*shape), torch.randint(0, 2, (batch,)),
                                        3 if tag == "cpu" else 30, train=True, device=dev)
                ref_infer = _plain_loop(torch, model, torch.rand(*shape), torch.zeros(batch, dtype=torch.long),
                                        3 if tag == "cpu" else 30, train=False, device=dev)
                ours_train, ours_infer = _ours(crops, arch, epochs=epochs if tag == "cpu" else 5, batch=batch,
                                               device=tag)
                eff = ours_train / ref_train
                print(f"[{tag}] {arch} {d}D {size}px 3 channels (batch {batch}): plain loop train {ref_train:.1f} "
                      f"img/s, inference {ref_infer:.1f} img/s; ours train {ours_train:.1f} img/s "
                      f"({eff:.2f}x plain), predict {ours_infer:.1f} img/s", flush=True)
                out.append((f"deep_{family}_{d}d_train_efficiency_{tag}", eff, "x plain loop", ">=", 0.5))
                del model
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40, help="synthetic patients of the 2D cohorts")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs on the CPU")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated backbone families")
    parser.add_argument("--dims", default="2,3", help="comma-separated spatial dims of the family part")
    parser.add_argument("--skip-resnet18", action="store_true", help="skip part 1 (ResNet18 2D 128 px)")
    args = parser.parse_args()
    import torch

    from radiogenomics._logging import set_verbosity

    set_verbosity("WARNING")
    torch.set_num_threads(2)
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    else:
        print("GPU: no CUDA device visible on this machine (none was lent to this task); GPU figures not measured. "
              "The same script measures them where a GPU is present.")
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {list(FAMILIES)}")
    dims = [int(d) for d in args.dims.split(",") if d.strip()]
    goals = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_resnet18:
            goals += _resnet18_goals(torch, devices, patients=args.patients, epochs=args.epochs, tmp=Path(tmp))
        goals += _family_goals(torch, devices, families=families, dims=dims, patients=args.patients,
                               epochs=args.epochs, tmp=Path(tmp))
    for name, value, unit, op, target in goals:
        goal(name, value, unit, op, target)


if __name__ == "__main__":
    main()
