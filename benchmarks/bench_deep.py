"""Benchmark of the deep path: images per second for training and inference at 128 x 128.

Run: ``python benchmarks/bench_deep.py [--patients 40] [--size 128] [--epochs 3]`` (needs the [deep] extra). On the CPU it uses 2 threads
(``torch.set_num_threads(2)``); when a CUDA GPU is visible the same measurements are repeated on
it. The reference is a plain torch loop (same MONAI ResNet18, random tensors already in memory,
no augmentation, no batch-norm recalibration, no validation), the ceiling our loop can reach;
ours is ``train_classifier`` / ``predict`` on crops of the synthetic ultrasound cohort,
including augmentation, data loading and per-epoch validation.

Targets (CPU, 2 cores, ResNet18, 128 px crops, batch 16):
* training  >= 20 images/s  (a 100-patient, 2-image cohort then trains 30 epochs in ~6 min);
* inference >= 100 images/s (scoring 1,000 images in 10 s);
* our training loop keeps >= 0.6 of the plain loop's throughput (overhead of augmentation,
  loading and validation).
GPU targets (when lent): training >= 500 images/s, inference >= 2,000 images/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _plain_loop(torch, model, x, y, steps: int, *, train: bool, device) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = x.to(device), y.to(device)
    model.train(train)
    # warm-up
    if train:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    else:
        with torch.no_grad():
            model(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        if train:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * len(x) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40, help="synthetic patients (2 images each)")
    parser.add_argument("--size", type=int, default=128, help="crop side in pixels")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs on the CPU (10 on a GPU)")
    args = parser.parse_args()
    import torch

    from radiogenomics._logging import set_verbosity
    from radiogenomics.deep.crops import load_crops, split_patients
    from radiogenomics.deep.model import build_model
    from radiogenomics.deep.predict import predict
    from radiogenomics.deep.train import train_classifier
    from radiogenomics.imaging.synthetic import make_ultrasound_cohort

    set_verbosity("WARNING")
    torch.set_num_threads(2)
    size, batch = args.size, 16
    goals = []
    with tempfile.TemporaryDirectory() as tmp:
        make_ultrasound_cohort(tmp, n_patients=args.patients, images_per_patient=2, size=max(160, size), seed=0)
        crops = load_crops(Path(tmp) / "cases.csv", size=size, margin=0.1)
        crops.cases["split"] = split_patients(crops.cases, seed=0)
        n_train = int((crops.cases["split"] == "train").sum())

        devices = [torch.device("cpu")]
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        else:
            print("GPU: no CUDA device visible on this machine (none was lent to this task); "
                  "GPU figures not measured. The same script measures them where a GPU is present.")
        for dev in devices:
            tag = dev.type
            x = torch.rand(batch, 1, size, size)
            y = torch.randint(0, 2, (batch,))
            torch.manual_seed(0)
            model = build_model(arch="resnet18")
            ref_train = _plain_loop(torch, model, x, y, 4 if tag == "cpu" else 50, train=True, device=dev)
            ref_infer = _plain_loop(torch, model, torch.rand(64, 1, size, size), torch.zeros(64, dtype=torch.long),
                                    3 if tag == "cpu" else 50, train=False, device=dev)
            print(f"[{tag}] plain torch loop, ResNet18 {size}px: train {ref_train:.1f} img/s, "
                  f"inference {ref_infer:.1f} img/s")

            epochs = args.epochs if tag == "cpu" else 10
            start = time.perf_counter()
            res = train_classifier(crops, arch="resnet18", epochs=epochs, min_epochs=epochs, patience=epochs,
                                   batch_size=batch, seed=0, device=tag)
            elapsed = time.perf_counter() - start
            ours_train = n_train * len(res.history) / elapsed
            predict(res.model, crops, batch_size=64)  # warm-up
            reps = 2 if tag == "cpu" else 10
            start = time.perf_counter()
            for _ in range(reps):
                predict(res.model, crops, batch_size=64)
            ours_infer = reps * len(crops) / (time.perf_counter() - start)
            print(f"[{tag}] radiogenomics train_classifier ({len(res.history)} epochs of {n_train} crops, "
                  f"augmentation + BN recalibration + validation included): {ours_train:.1f} img/s; "
                  f"predict: {ours_infer:.1f} img/s")
            if tag == "cpu":
                goals += [
                    ("deep_train_cpu_2cores", ours_train, "images/s", ">=", 20),
                    ("deep_inference_cpu_2cores", ours_infer, "images/s", ">=", 100),
                    ("deep_train_loop_efficiency_cpu", ours_train / ref_train, "x plain loop", ">=", 0.6),
                ]
            else:
                goals += [
                    ("deep_train_gpu", ours_train, "images/s", ">=", 500),
                    ("deep_inference_gpu", ours_infer, "images/s", ">=", 2000),
                ]
    for name, value, unit, op, target in goals:
        met = value >= target if op == ">=" else value <= target
        print(f"goal {name}: {value:.2f} {unit} (target {op} {target}) {'met' if met else 'missed'}")


if __name__ == "__main__":
    main()
