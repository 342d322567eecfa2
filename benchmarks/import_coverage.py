"""How much real third-party CNN code `from_torch` imports exactly.

    python benchmarks/import_coverage.py --torchvision-all [--json out.json]
    python benchmarks/import_coverage.py [--timm] [--monai] [--json out.json]     (pip install .[bench])

For each model: import it at 1x3x224x224 (fx, eager fallback) and compare with torch itself:
every output's shape (tuple, list and dict outputs followed), parameter numel (total and trainable:
`sum(p.numel())`, modules forward never calls included), buffer numel and MACs (FlopCounterMode
forward FLOPs / 2 on the meta device). "exact" means all agree; "unmapped" lists the first ops convshape has no layer
kind for. Sources: torchvision's classification, segmentation and detection-backbone models, and,
when installed (`pip install timm`; not a convshape dependency), one or two CNNs per timm family,
which use functional calls, dynamic 'same' padding and custom blocks.

`--torchvision-all` instead takes every model of torchvision.models.list_models(module=torchvision.models)
(the 80 classification models), built on the meta device (no weight initialisation on the CPU;
RegNets, whose init reads a value, on the CPU), each
at the smallest of 1x3x64x64, 1x3x224x224 and 1x3x299x299 its forward accepts, and reports the import
time per model (median, max).
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.torch.importer import UnmappedOps, from_torch  # noqa: E402

TIMM_CNNS = [
    "resnet18d", "resnet26t", "resnet50d", "resnetaa50d", "resnetblur50", "resnext26ts", "seresnext26d_32x4d",
    "ecaresnet26t", "skresnet18", "res2net50_26w_4s", "resnest14d", "dla34", "dpn68", "densenet121",
    "densenetblur121d", "efficientnet_b0", "tf_efficientnet_b0", "efficientnetv2_rw_t", "tf_efficientnetv2_b0",
    "mobilenetv2_100", "mobilenetv3_large_100", "tf_mobilenetv3_small_100", "mixnet_s", "tf_mixnet_s",
    "mnasnet_100", "spnasnet_100", "fbnetc_100", "lcnet_050", "ghostnet_100", "rexnet_100", "tinynet_a",
    "hardcorenas_a", "regnetx_002", "regnety_002", "regnetz_b16", "convnext_atto", "convnextv2_atto",
    "cspresnet50", "cspdarknet53", "darknet17", "cs3darknet_s", "vovnet39a", "ese_vovnet19b_dw", "selecsls42b",
    "hrnet_w18_small", "inception_v3", "inception_v4", "xception41", "legacy_xception", "gernet_s",
    "repvgg_a0", "mobileone_s0", "vgg11", "nf_resnet26", "dm_nfnet_f0", "tresnet_m", "hgnet_tiny",
    "ghostnetv2_100", "fastvit_t8", "poolformer_s12", "convmixer_768_32", "edgenext_xx_small",
]


def torch_truth(model, shape):
    x = torch.empty(shape, device="meta")
    m = model.to("meta")  # after the import: the model is not used again
    with FlopCounterMode(display=False) as fc:
        y = m(x)
    outs = list(y.values()) if isinstance(y, dict) else list(y) if isinstance(y, (tuple, list)) else [y]
    return {"output_shapes": [tuple(o.shape) for o in outs], "params": sum(p.numel() for p in m.parameters()),
            "trainable_params": sum(p.numel() for p in m.parameters() if p.requires_grad),
            "buffers": sum(b.numel() for b in m.buffers()), "macs": fc.get_total_flops() // 2}


def measure(name, factory, shape=(1, 3, 224, 224), repeat=1):
    row = {"model": name}
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = factory().eval()
        if shape is None:
            shape = smallest_input(model)
    except Exception as e:  # noqa: BLE001
        row.update(status="skipped", why=f"cannot build: {type(e).__name__}: {e}"[:200])
        return row
    row["input"] = "x".join(map(str, shape))
    try:
        times = []
        for _ in range(repeat):  # the fastest of `repeat` imports: the machine is shared
            t = time.perf_counter()
            net = from_torch(model, shape)
            times.append(time.perf_counter() - t)
        row["import_s"] = round(min(times), 3)
        row["frontend"] = net.frontend.split(" ")[0]
        report = cs.analyze(net)
        ours = {"output_shapes": [tuple(s) for s in report.output_shapes.values()], "params": report.totals.params,
                "trainable_params": report.totals.trainable_params,
                "buffers": report.totals.buffers, "macs": report.totals.macs}
        row["layers"] = len(net.nodes)
    except UnmappedOps as e:
        row.update(status="unmapped", why=[w for w, _ in e.items][:5])
        return row
    except Exception as e:  # noqa: BLE001
        row.update(status="error", why=f"{type(e).__name__}: {e}"[:300])
        return row
    truth = torch_truth(model, shape)
    diffs = {k: (ours[k], truth[k]) for k in truth if ours[k] != truth[k]}
    row.update(status="exact" if not diffs else "different", diffs={k: list(map(str, v)) for k, v in diffs.items()},
               seconds=round(time.perf_counter() - t, 2))
    return row


def smallest_input(model, sizes=(64, 224, 299)):
    """The smallest square 1x3xSxS input the model's forward accepts (ViTs and MaxViT need 224)."""
    for size in sizes:
        try:
            with torch.no_grad():
                model.to("meta")(torch.empty(1, 3, size, size, device="meta"))
            return (1, 3, size, size)
        except Exception:  # noqa: BLE001 - a size the model refuses: try the next
            continue
    raise ValueError(f"no input of sizes {sizes} runs")


def torchvision_all():
    """Every torchvision classification model, built on the meta device at its smallest input."""
    import torchvision
    tv = torchvision.models
    for name in tv.list_models(module=tv):
        kw = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}

        def factory(n=name, kw=kw):
            try:
                with torch.device("meta"):
                    return tv.get_model(n, weights=None, **kw)
            except NotImplementedError:  # RegNet's init reads a value (.item()): build it on the CPU
                return tv.get_model(n, weights=None, **kw)
        yield f"torchvision.{name}", factory, None


MONAI_2D = [  # (name, constructor arguments): 2-D, one input channel, at 1x1x64x64
    ("BasicUNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2}),
    ("BasicUNetPlusPlus", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2}),  # 3 heads unread in eval
    ("BasicUNetPlusPlus", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "deep_supervision": True}),
    ("UNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "channels": (8, 16, 32), "strides": (2, 2)}),
    ("AttentionUnet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "channels": (8, 16, 32),
                       "strides": (2, 2)}),
    ("SegResNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "init_filters": 8}),
    ("DenseNet121", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2}),
    ("EfficientNetBN", {"model_name": "efficientnet-b0", "spatial_dims": 2, "in_channels": 1, "pretrained": False}),
]


def sources(with_timm: bool, with_monai: bool = False):
    import torchvision
    tv = torchvision.models
    for name in ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_large",
                 "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf", "regnet_x_400mf", "densenet121",
                 "squeezenet1_1", "shufflenet_v2_x1_0", "mnasnet1_0", "googlenet", "inception_v3", "convnext_tiny",
                 "alexnet", "vgg11_bn"]:
        kw = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
        shape = (1, 3, 299, 299) if name == "inception_v3" else (1, 3, 224, 224)
        yield f"torchvision.{name}", (lambda n=name, kw=kw: getattr(tv, n)(weights=None, **kw)), shape
    seg = tv.segmentation
    for name in ["fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]:
        yield f"torchvision.segmentation.{name}", (lambda n=name: getattr(seg, n)(weights=None,
                                                                                   weights_backbone=None)), \
            (1, 3, 224, 224)
    from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
    yield "torchvision.detection.resnet18_fpn_backbone", \
        (lambda: resnet_fpn_backbone(backbone_name="resnet18", weights=None)), (1, 3, 224, 224)
    yield "torchvision.detection.resnet18_fpn_backbone(BatchNorm2d)", \
        (lambda: resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5,
                                     norm_layer=torch.nn.BatchNorm2d)), (1, 3, 224, 224)
    yield "torchvision.googlenet(aux_logits)", \
        (lambda: tv.googlenet(weights=None, aux_logits=True, init_weights=False)), (1, 3, 224, 224)
    from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large
    yield "torchvision.detection.ssdlite320_mobilenet_v3_large.backbone", \
        (lambda: ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).backbone), (1, 3, 320, 320)
    yield "torchvision.detection.ssd300_vgg16.backbone", \
        (lambda: ssd300_vgg16(weights=None, weights_backbone=None).backbone), (1, 3, 300, 300)
    yield "torchvision.detection.mobilenet_v3_fpn_backbone", \
        (lambda: mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True)), (1, 3, 224, 224)
    if with_monai:
        from monai.networks import nets
        for name, kw in MONAI_2D:
            label = f"monai.{name}" + ("(deep_supervision)" if kw.get("deep_supervision") else "")
            yield label, (lambda n=name, kw=kw: getattr(nets, n)(**kw)), (1, 1, 64, 64)
    if with_timm:
        import timm
        for name in TIMM_CNNS:
            if name in timm.list_models():
                shape = (1, 3, 299, 299) if name.startswith(("inception", "xception", "legacy_x")) else (1, 3, 224, 224)
                yield f"timm.{name}", (lambda n=name: timm.create_model(n, pretrained=False)), shape


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timm", action="store_true", help="include timm models (needs `pip install timm`)")
    ap.add_argument("--torchvision-all", action="store_true",
                    help="every torchvision classification model instead, with import times")
    ap.add_argument("--repeat", type=int, default=1, help="import each model this many times, keep the fastest")
    ap.add_argument("--monai", action="store_true", help="include MONAI networks (needs `pip install monai`)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    rows = []
    for name, factory, shape in (torchvision_all() if args.torchvision_all else sources(args.timm, args.monai)):
        row = measure(name, factory, shape, args.repeat)
        rows.append(row)
        extra = row.get("why") or row.get("diffs") or ""
        print(f"{row['status']:<9} {name:<52} {row.get('input', ''):<11} {row.get('frontend', ''):<6} "
              f"{row.get('import_s', '')!s:<6} {extra}", flush=True)
    counts = collections.Counter(r["status"] for r in rows)
    tried = len([r for r in rows if r["status"] != "skipped"])
    print(f"\n{counts['exact']} of {tried} models import exactly; {dict(counts)}")
    times = sorted(r["import_s"] for r in rows if "import_s" in r)
    if times:
        print(f"import time over {len(times)} imported models: median {statistics.median(times):.3f} s, "
              f"max {times[-1]:.3f} s ({max(rows, key=lambda r: r.get('import_s', 0))['model']})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
