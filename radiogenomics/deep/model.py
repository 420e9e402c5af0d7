"""The networks of the deep path: MONAI backbones in 2D and 3D, any number of input channels, local
pretrained weights, checkpoints.

Every backbone comes from MONAI (no torchvision); :data:`BACKBONES` lists them with the modules
the rest of the path uses:

================  ============  ======================  ====================  ===============
``arch``          family        embedding (penultimate)  Grad-CAM layer        head
================  ============  ======================  ====================  ===============
resnet18/34       resnet        ``avgpool`` (512)        ``layer4``            ``fc``
resnet50/101      resnet        ``avgpool`` (2048)       ``layer4``            ``fc``
seresnext50       seresnext     ``adaptive_avg_pool``    ``layer4``            ``last_linear``
densenet121       densenet      ``class_layers.pool``    ``class_layers.relu``  ``class_layers.out``
efficientnet-b0   efficientnet  ``_avg_pooling`` (1280)  ``_bn1``              ``_fc``
vit               vit           ``pool`` (384)           ``grid``              ``fc``
swin              swin          ``pool`` (768)           ``grid``              ``fc``
================  ============  ======================  ====================  ===============

``vit`` is ViT-Small (12 blocks, width 384, 6 heads, the MRI study's ViT-Small) on patches of
16 px for crops of at least 128 px, 8 px from 32 px and 4 px below; its patch tokens are laid
back on their grid (``grid``, channels first) so that Grad-CAM and the pooled embedding work as
for a CNN. ``swin`` is a Swin-T-shaped MONAI ``SwinTransformer`` (width 48, depths 2-2-6-2, heads
3-6-12-24, window 7, the SwinUNETR encoder's settings) with global pooling and a linear head on
its last, normalised stage; crops must be a multiple of 32 px. The stem of the ResNets follows
``conv1_stride`` and ``max_pool`` (see :func:`build_model`); the other families keep MONAI's stems.
EfficientNet's ``_swish`` activation is one module used twice (stem and head), so Grad-CAM
explains ``_bn1`` (the head's normalised output) instead.

A checkpoint is one ``torch.save`` payload: ``format``, ``state_dict``, ``config`` (every setting
needed to rebuild the network and crop new cases the same way: ``arch``, ``spatial_dims``,
``in_channels``, ``channels``, ``size``...) and ``extra`` (epoch, validation AUC). Pretrained
weights are read only from a local file; nothing is downloaded (MONAI's own ``pretrained=True``
paths download, and are never used).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_path
from .._logging import get_logger
from .._validation import DataFileError, MissingDataFileError, ParameterError, check_choice, check_int
from ._backend import require_torch, resolve_device

__all__ = [
    "ARCHITECTURES",
    "BACKBONES",
    "Backbone",
    "backbone_of",
    "build_model",
    "load_pretrained",
    "checkpoint_bytes",
    "save_checkpoint",
    "load_checkpoint",
    "vit_patch_size",
]

log = get_logger(__name__)


@dataclass(frozen=True)
class Backbone:
    """One backbone of :data:`BACKBONES` and the modules the deep path hooks.

    Attributes
    ----------
    name
        The ``arch`` value.
    family
        ``resnet``, ``seresnext``, ``densenet``, ``efficientnet``, ``vit`` or ``swin``.
    embed_layer
        Module whose flattened output is the penultimate embedding (the input of ``head``).
    gradcam_layer
        Module explained by Grad-CAM by default (the last spatial feature map).
    head
        The final linear layer (embedding → logits).
    """

    name: str
    family: str
    embed_layer: str
    gradcam_layer: str
    head: str


#: ``arch`` → :class:`Backbone` (see the module docstring).
BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("resnet18", "resnet", "avgpool", "layer4", "fc"),
    Backbone("resnet34", "resnet", "avgpool", "layer4", "fc"),
    Backbone("resnet50", "resnet", "avgpool", "layer4", "fc"),
    Backbone("resnet101", "resnet", "avgpool", "layer4", "fc"),
    Backbone("seresnext50", "seresnext", "adaptive_avg_pool", "layer4", "last_linear"),
    Backbone("densenet121", "densenet", "class_layers.pool", "class_layers.relu", "class_layers.out"),
    Backbone("efficientnet-b0", "efficientnet", "_avg_pooling", "_bn1", "_fc"),
    Backbone("vit", "vit", "pool", "grid", "fc"),
    Backbone("swin", "swin", "pool", "grid", "fc"),
)}

#: The ``arch`` values, in the table's order.
ARCHITECTURES = tuple(BACKBONES)

#: Attribute of a built network naming its ``arch`` (set by :func:`build_model`).
ARCH_ATTRIBUTE = "radiogenomics_arch"

VIT_SMALL = {"hidden_size": 384, "mlp_dim": 1536, "num_layers": 12, "num_heads": 6}
SWIN = {"embed_dim": 48, "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24), "window": 7, "patch": 2}


def backbone_of(model: Any) -> Backbone:
    """The :class:`Backbone` of a network built by :func:`build_model`.

    Parameters
    ----------
    model
        The network.

    Returns
    -------
    Backbone
        For a network of unknown origin, the ResNet entry (``avgpool``, ``layer4``, ``fc``).
    """
    return BACKBONES.get(getattr(model, ARCH_ATTRIBUTE, "resnet18"), BACKBONES["resnet18"])


def vit_patch_size(size: int) -> int:
    """The ViT's patch side for crops of ``size`` pixels (16 from 128 px, 8 from 32 px, else 4).

    Parameters
    ----------
    size
        Crop side.

    Returns
    -------
    int
    """
    patch = 16 if size >= 128 else 8 if size >= 32 else 4
    if size % patch:
        raise ParameterError(f"arch 'vit' needs a crop size that is a multiple of its patch size {patch}; "
                             f"got size={size} (use {size - size % patch} or {size - size % patch + patch}).")
    return patch


def _heads(torch: Any) -> tuple[type, type]:
    """The two transformer classifiers (classes are built on first use: torch is optional)."""
    cached = getattr(_heads, "cache", None)
    if cached is not None:
        return cached
    nn = torch.nn

    class TokensToGrid(nn.Module):
        """Patch tokens ``(B, N, C)`` back onto their grid ``(B, C, *grid)``."""

        def __init__(self, grid: tuple[int, ...]) -> None:
            super().__init__()
            self.grid = tuple(grid)

        def forward(self, x: Any) -> Any:
            return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *self.grid)

    class ViTClassifier(nn.Module):
        """MONAI ViT encoder, tokens on their grid, global average pool, linear head."""

        def __init__(self, *, in_channels: int, size: int, spatial_dims: int, num_classes: int) -> None:
            from monai.networks.nets import ViT

            super().__init__()
            patch = vit_patch_size(size)
            self.vit = ViT(in_channels=in_channels, img_size=(size,) * spatial_dims, patch_size=(patch,) * spatial_dims,
                           classification=False, spatial_dims=spatial_dims, **VIT_SMALL)
            self.grid = TokensToGrid((size // patch,) * spatial_dims)
            pool = nn.AdaptiveAvgPool2d(1) if spatial_dims == 2 else nn.AdaptiveAvgPool3d(1)
            self.pool = nn.Sequential(pool, nn.Flatten(1))
            self.fc = nn.Linear(VIT_SMALL["hidden_size"], num_classes)

        def forward(self, x: Any) -> Any:
            tokens, _ = self.vit(x)
            return self.fc(self.pool(self.grid(tokens)))

    class SwinClassifier(nn.Module):
        """MONAI Swin Transformer encoder, its last normalised stage pooled, linear head."""

        def __init__(self, *, in_channels: int, spatial_dims: int, num_classes: int) -> None:
            from monai.networks.nets.swin_unetr import SwinTransformer

            super().__init__()
            d = spatial_dims
            self.swin = SwinTransformer(in_chans=in_channels, embed_dim=SWIN["embed_dim"],
                                        window_size=(SWIN["window"],) * d, patch_size=(SWIN["patch"],) * d,
                                        depths=SWIN["depths"], num_heads=SWIN["num_heads"], spatial_dims=d)
            self.grid = nn.Identity()  # the hook point: the last stage's map, channels first
            pool = nn.AdaptiveAvgPool2d(1) if d == 2 else nn.AdaptiveAvgPool3d(1)
            self.pool = nn.Sequential(pool, nn.Flatten(1))
            self.fc = nn.Linear(SWIN["embed_dim"] * 2 ** len(SWIN["depths"]), num_classes)

        def forward(self, x: Any) -> Any:
            return self.fc(self.pool(self.grid(self.swin(x, normalize=True)[-1])))

    _heads.cache = (ViTClassifier, SwinClassifier)  # type: ignore[attr-defined]
    return _heads.cache  # type: ignore[attr-defined]


def build_model(
    *,
    arch: str = "resnet18",
    num_classes: int = 2,
    spatial_dims: int = 2,
    in_channels: int = 1,
    size: int | None = None,
    conv1_stride: int = 2,
    max_pool: bool = False,
    pretrained: str | os.PathLike | None = None,
) -> Any:
    """A MONAI classifier: any :data:`ARCHITECTURES` entry, 2D or 3D, any number of input channels.

    Parameters
    ----------
    arch
        One of :data:`ARCHITECTURES` (``resnet18/34/50/101``, ``seresnext50``, ``densenet121``,
        ``efficientnet-b0``, ``vit``, ``swin``).
    num_classes
        Output units (2: softmax over HER2-negative/positive).
    spatial_dims
        2 (images) or 3 (volumes).
    in_channels
        Input channels (one per sequence).
    size
        Crop side: needed by ``vit`` (its position embedding and patch grid) and ``swin``
        (a multiple of 32); ``densenet121`` needs at least 32; the other CNNs take any size
        (checked when given).
    conv1_stride
        ResNets: stride of the first 7×7 convolution (2 as in the original ResNet; MONAI's
        default is 1, which is about 4× slower for the same crop).
    max_pool
        ResNets: keep the max-pool after the first convolution. Off by default: for small crops
        (64 px) it leaves the last block a 4×4 grid instead of 2×2, which Grad-CAM needs.
    pretrained
        Local weights file (a ``state_dict``, possibly under ``"state_dict"`` or ``"model"``);
        see :func:`load_pretrained`. Never downloaded.

    Returns
    -------
    torch.nn.Module
        The network; its ``radiogenomics_arch`` attribute names ``arch`` (see :func:`backbone_of`).
    """
    torch, _ = require_torch("build_model")
    from monai.networks import nets

    owner = "build_model"
    check_choice(arch, "arch", owner=owner, choices=ARCHITECTURES)
    num_classes = check_int(num_classes, "num_classes", owner=owner, min_value=1)
    spatial_dims = check_int(spatial_dims, "spatial_dims", owner=owner, min_value=2, max_value=3)
    in_channels = check_int(in_channels, "in_channels", owner=owner, min_value=1)
    conv1_stride = check_int(conv1_stride, "conv1_stride", owner=owner, min_value=1, max_value=4)
    family = BACKBONES[arch].family
    if family in ("vit", "swin") and size is None:
        raise ParameterError(f"The 'size' parameter of {owner} is needed for arch {arch!r} (the crop side).")
    if size is not None:
        size = check_int(size, "size", owner=owner, min_value=8)
        if family == "swin" and size % 32:
            raise ParameterError(f"arch 'swin' needs a crop size that is a multiple of 32 (five halvings); got "
                                 f"size={size}.")
        if family == "densenet" and size < 32:
            raise ParameterError(f"arch 'densenet121' needs crops of at least 32 px (its stem and three transitions "
                                 f"halve the grid five times); got size={size}.")
    common = {"spatial_dims": spatial_dims}
    if family == "resnet":
        model = getattr(nets, arch)(pretrained=False, n_input_channels=in_channels, num_classes=num_classes,
                                    conv1_t_stride=conv1_stride, no_max_pool=not max_pool, **common)
    elif family == "seresnext":
        model = nets.SEResNext50(pretrained=False, in_channels=in_channels, num_classes=num_classes,
                                 dropout_prob=None, **common)
    elif family == "densenet":
        model = nets.DenseNet121(pretrained=False, in_channels=in_channels, out_channels=num_classes, **common)
    elif family == "efficientnet":
        model = _efficientnet_b0(nets, in_channels=in_channels, num_classes=num_classes, size=size, **common)
    else:
        vit_cls, swin_cls = _heads(torch)
        if family == "vit":
            model = vit_cls(in_channels=in_channels, size=int(size), num_classes=num_classes, **common)
        else:
            model = swin_cls(in_channels=in_channels, num_classes=num_classes, **common)
    setattr(model, ARCH_ATTRIBUTE, arch)
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model


#: EfficientNet-B0's blocks (MONAI's ``EfficientNetBN`` table).
EFFICIENTNET_B0_BLOCKS = (
    "r1_k3_s11_e1_i32_o16_se0.25", "r2_k3_s22_e6_i16_o24_se0.25", "r2_k5_s22_e6_i24_o40_se0.25",
    "r3_k3_s22_e6_i40_o80_se0.25", "r3_k5_s11_e6_i80_o112_se0.25", "r4_k5_s22_e6_i112_o192_se0.25",
    "r1_k3_s11_e6_i192_o320_se0.25",
)


def _efficientnet_b0(nets: Any, *, in_channels: int, num_classes: int, size: int | None, spatial_dims: int) -> Any:
    """EfficientNet-B0 with its "same" padding computed for the crop's size.

    MONAI's ``EfficientNetBN`` fixes the padding for 224 px inputs (and downloads weights when
    ``pretrained``); on small crops that padding no longer fits a 5x5 kernel (a 16-voxel crop fails
    in 3D). The network is built from MONAI's ``EfficientNet`` with B0's blocks and coefficients
    (width 1.0, depth 1.0, dropout 0.2, drop-connect 0.2) and ``image_size`` = the crop side; the
    parameter names are ``EfficientNetBN``'s, so its state_dicts load (:func:`load_pretrained`).
    """
    return nets.EfficientNet(blocks_args_str=list(EFFICIENTNET_B0_BLOCKS), spatial_dims=spatial_dims,
                             in_channels=in_channels, num_classes=num_classes, width_coefficient=1.0,
                             depth_coefficient=1.0, dropout_rate=0.2, image_size=int(size or 224),
                             norm=("batch", {"eps": 1e-3, "momentum": 0.01}), drop_connect_rate=0.2)


def _stem_key(own: dict[str, Any]) -> str | None:
    """The first convolution's weight: the first tensor with a kernel (ndim >= 4) in the state."""
    return next((k for k, v in own.items() if v.ndim >= 4 and k.endswith("weight")), None)


def load_pretrained(model: Any, path: str | os.PathLike) -> dict[str, list[str]]:
    """Load matching weights from a local file into ``model``.

    Keys prefixed ``module.`` (DataParallel) are stripped; the first convolution of a file made
    for another number of input channels (typically RGB) is adapted by summing over its input
    channels and spreading the sum evenly over the model's channels (one channel: the plain
    sum, which keeps the response to a gray image replicated in R, G and B); tensors whose
    shape still differs (typically the final layer) are skipped and logged.

    Parameters
    ----------
    model
        The network to update in place.
    path
        ``.pt``/``.pth`` file readable by ``torch.load(..., weights_only=True)``.

    Returns
    -------
    dict
        ``loaded``, ``skipped`` (shape mismatch) and ``missing`` (not in the file) key lists.
    """
    torch, _ = require_torch("load_pretrained")
    path = Path(path)
    if not path.exists():
        raise MissingDataFileError(f"{path}: pretrained weights file not found (weights are never downloaded).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file (its advice not relayed)
        raise DataFileError(f"{path}: cannot be read as torch weights ({_load_failure(exc)}).") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise DataFileError(f"{path}: expected a state_dict (mapping of tensors), got {type(state).__name__}.")
    own = model.state_dict()
    stem = _stem_key(own)
    loaded, skipped = [], []
    new_state = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key not in own or not hasattr(value, "shape"):
            continue
        target = own[key]
        if (key == stem and value.ndim == target.ndim and value.shape[1] != target.shape[1]
                and value.shape[0] == target.shape[0] and value.shape[2:] == target.shape[2:]):
            value = value.sum(dim=1, keepdim=True).repeat(1, target.shape[1], *[1] * (value.ndim - 2))
            value = value / target.shape[1]
        if tuple(value.shape) != tuple(target.shape):
            skipped.append(key)
            continue
        new_state[key] = value
        loaded.append(key)
    if not loaded:
        raise DataFileError(f"{path}: none of its tensors match the model's parameters; is it a state_dict of "
                            f"the same architecture ({getattr(model, ARCH_ATTRIBUTE, type(model).__name__)})?")
    model.load_state_dict(new_state, strict=False)
    missing = [k for k in own if k not in new_state]
    log.info("%s: loaded %d tensors, skipped %d (shape), %d not in file", path, len(loaded), len(skipped), len(missing))
    if skipped:
        log.info("skipped tensors: %s", ", ".join(skipped))
    return {"loaded": loaded, "skipped": skipped, "missing": missing}


def checkpoint_bytes(model: Any, *, config: dict[str, Any], extra: dict[str, Any] | None = None) -> bytes:
    """The model's weights and configuration as the bytes of a checkpoint file.

    Parameters
    ----------
    model
        The network.
    config
        Settings needed to rebuild it (``arch``, ``num_classes``, ``spatial_dims``,
        ``in_channels``, ``channels``, ``conv1_stride``, ``max_pool``, ``size``, ``margin``...).
    extra
        Anything else to store (epoch, validation AUC).

    Returns
    -------
    bytes
        What :func:`save_checkpoint` writes and :func:`load_checkpoint` reads.
    """
    torch, _ = require_torch("checkpoint_bytes")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": "radiogenomics.deep/2", "state_dict": state, "config": dict(config),
               "extra": dict(extra or {})}
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def save_checkpoint(
    path: str | os.PathLike,
    model: Any,
    *,
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the model's weights and configuration to ``path`` atomically.

    Parameters
    ----------
    path
        Destination ``.pt`` file.
    model
        The network.
    config
        Settings needed to rebuild it (see :func:`checkpoint_bytes`).
    extra
        Anything else to store (epoch, validation AUC).

    Returns
    -------
    pathlib.Path
    """
    content = checkpoint_bytes(model, config=config, extra=extra)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(content)
    return Path(path)


def model_from_config(config: dict[str, Any]) -> Any:
    """An untrained network of a checkpoint's configuration.

    Parameters
    ----------
    config
        A checkpoint's ``config`` (older checkpoints without ``spatial_dims``/``in_channels``
        are 2D, one channel).

    Returns
    -------
    torch.nn.Module
    """
    return build_model(arch=config["arch"], num_classes=int(config.get("num_classes", 2)),
                       spatial_dims=int(config.get("spatial_dims", 2)), in_channels=int(config.get("in_channels", 1)),
                       size=config.get("size"), conv1_stride=int(config.get("conv1_stride", 2)),
                       max_pool=bool(config.get("max_pool", False)))


def _load_failure(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, without torch's advice to load with ``weights_only=False``.

    That advice is to unpickle the file, which runs any code it holds: never to be relayed for a
    file of unknown origin.
    """
    text = str(exc)
    if "weights_only" in text or "Weights only load failed" in text or "Unsupported global" in text:
        return ("it holds Python objects other than tensors, which are refused because unpickling them "
                "could run code; only plain tensor checkpoints (weights_only) are read")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def load_checkpoint(path: str | os.PathLike | bytes, *, device: str = "auto") -> tuple[Any, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint` (or held as :func:`checkpoint_bytes`).

    Parameters
    ----------
    path
        Checkpoint file, or its content.
    device
        Where to put the model.

    Returns
    -------
    tuple
        ``(model, config)``; the model is in eval mode.
    """
    torch, _ = require_torch("load_checkpoint")
    name = "checkpoint" if isinstance(path, bytes) else str(path)
    if not isinstance(path, bytes) and not Path(path).exists():
        raise MissingDataFileError(f"{path}: model checkpoint not found.")
    try:
        source = io.BytesIO(path) if isinstance(path, bytes) else Path(path)
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file (its advice not relayed)
        raise DataFileError(f"{name}: cannot be read as a checkpoint ({_load_failure(exc)}).") from None
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise DataFileError(f"{name}: not a radiogenomics deep checkpoint (needs 'state_dict' and 'config').")
    cfg = payload["config"]
    if not isinstance(cfg, dict) or "arch" not in cfg:
        raise DataFileError(f"{name}: the checkpoint's config is not a mapping with 'arch'.")
    try:
        model = model_from_config(cfg)
    except (ParameterError, DataFileError) as exc:
        raise DataFileError(f"{name}: the checkpoint's config is invalid: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFileError(f"{name}: the checkpoint's config is invalid ({type(exc).__name__}: {exc}).") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(ln.strip() for ln in first[1:4]) or (first[0] if first else type(exc).__name__)
        raise DataFileError(
            f"{name}: the checkpoint's weights do not fit its {cfg.get('arch')!r} network ({detail})."
        ) from None
    model.to(resolve_device(device)).eval()
    return model, dict(cfg)
