"""How much real third-party CNN code `from_torch` imports exactly.

    python benchmarks/import_coverage.py --corpus [--json out.json]          (pip install .[bench])
    python benchmarks/import_coverage.py [--torchvision] [--timm] [--monai] [--smp] [--json out.json]
    python benchmarks/import_coverage.py --torchvision-all [--repeat 3]       (the 80 classification models)

For each model: import it (fx, eager fallback) and compare with torch itself: every output's shape
(tuple, list and dict outputs followed), parameter numel (total and trainable: `sum(p.numel())`,
modules forward never calls included), buffer numel and MACs (FlopCounterMode forward FLOPs / 2 on
the meta device). "exact" means all agree; "unmapped" lists the first ops convshape has no layer
kind for; "different" is a wrong figure (the defect to reach 0 of).

`--corpus` runs every source (~300 models): all torchvision classification (80), segmentation,
detection backbones and video models; two or three CNNs and hybrids per timm family; MONAI 2-D and
3-D networks; every segmentation_models_pytorch architecture with two encoders. Models are built on
the meta device where their constructor allows (no weight initialisation), on the CPU otherwise, each
at the smallest input of its list that its forward accepts. Every model runs under a time limit
(`--timeout`, seconds) and its own exception capture, so one model cannot stop the run; run with
OMP_NUM_THREADS=1. Left out: whole torchvision detectors (postprocessing with data-dependent box
counts: their backbones are in), optical flow (RAFT: two images and a loop of grid-sample updates),
quantized models (int8 kernels), and timm's pure-transformer families (ViT, DeiT, BEiT, EVA, ...).
"""
from __future__ import annotations

import argparse
import collections
import json
import signal
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

TIMM_CNNS = [  # the first list (62): one or two CNNs per timm family
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
TIMM_MORE = [  # the corpus adds a second or third per CNN family, the remaining CNN families, and hybrids
    # CNN families
    "resnet10t", "resnet34", "resnetrs50", "seresnet50", "resnext50_32x4d", "wide_resnet50_2",
    "resnetv2_18", "resnetv2_50", "resnetv2_50x1_bit", "eca_resnet33ts", "gcresnet33ts", "repvgg_b0",
    "gernet_m", "mobileone_s1", "cspresnext50", "darknet53", "cs3darknet_focus_s", "cspnext_tiny", "cspnext_s",
    "convnext_femto", "convnext_atto_ols", "convnextv2_femto", "convmixer_1024_20_ks9_p14", "densenet169",
    "dla46_c", "dla60x_c", "dpn48b", "efficientnet_lite0", "efficientnet_b0_gn", "efficientnet_es",
    "semnasnet_050", "mobilenetv4_conv_small", "fbnetv3_b", "lcnet_100", "ghostnet_050", "ghostnetv3_100",
    "hardcorenas_b", "hgnetv2_b0", "hrnet_w18_small_v2", "inception_resnet_v2", "nasnetalarge", "pnasnet5large",
    "lcnetv2_small", "nf_regnet_b0", "eca_nfnet_l0", "nfnet_l0", "regnetx_004", "regnety_004",
    "repghostnet_050", "repghostnet_100", "repvit_m0_9", "repvit_m1", "res2next50", "resnest26d",
    "rexnetr_100", "selecsls60", "legacy_seresnet18", "legacy_seresnext26_32x4d", "skresnext50_32x4d",
    "tresnet_v2_l", "vgg11_bn", "eca_vovnet39b", "xception41p", "fasternet_t0", "fasternet_t1", "starnet_s1",
    "starnet_s2", "inception_next_atto", "inception_next_tiny", "mambaout_femto", "mambaout_kobe", "rdnet_tiny",
    "edgenext_x_small", "efficientvit_b0",
    # hybrids: convolution with attention or token mixing
    "botnet26t_256", "eca_halonext26ts", "lambda_resnet26t", "mobilenetv4_hybrid_medium", "mobilevit_xxs",
    "mobilevitv2_050", "fastvit_sa12", "poolformerv2_s12", "convformer_s18", "caformer_s18",
    "efficientformer_l1", "efficientformerv2_s0", "efficientvit_m0", "levit_128s", "coatnet_nano_rw_224",
    "maxvit_nano_rw_256", "nextvit_small", "tiny_vit_5m_224", "vit_tiny_r_s16_p8_224", "visformer_tiny",
    "pvt_v2_b0", "gcvit_xxtiny", "focalnet_tiny_srf", "shvit_s1", "swiftformer_xs", "efficientvim_m1",
    "repvit_m1_1", "convit_tiny", "pit_ti_224", "volo_d1_224", "sequencer2d_s", "coat_lite_mini",
]
TIMM_SIZES = (224, 256, 299, 331)


def torch_truth(model, shape):
    xs = {k: torch.empty(s, device="meta") for k, s in shape.items()} if isinstance(shape, dict) else \
        {"x": torch.empty(shape, device="meta")}
    m = model.to("meta")  # after the import: the model is not used again
    with FlopCounterMode(display=False) as fc:
        y = m(*xs.values())
    outs = list(y.values()) if isinstance(y, dict) else list(y) if isinstance(y, (tuple, list)) else [y]
    return {"output_shapes": [tuple(o.shape) for o in outs], "params": sum(p.numel() for p in m.parameters()),
            "trainable_params": sum(p.numel() for p in m.parameters() if p.requires_grad),
            "buffers": sum(b.numel() for b in m.buffers()), "macs": fc.get_total_flops() // 2}


class ModelTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise ModelTimeout()


def measure(name, factory, shape=(1, 3, 224, 224), repeat=1, timeout=120):
    """One model's row; `shape` None: the smallest input of the default sizes, a list: of those sizes."""
    row = {"model": name}
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)  # one model cannot stop the run: its build, import and truth share the limit
    try:
        return _measure(row, factory, shape, repeat)
    except ModelTimeout:
        row.update(status="timeout", why=f"over {timeout} s")
        return row
    finally:
        signal.alarm(0)


def _measure(row, factory, shape, repeat):
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = factory().eval()
        if shape is None or isinstance(shape, list):
            shape = smallest_input(model, *([tuple(shape)] if shape else []))
    except ModelTimeout:
        raise
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
    except ModelTimeout:
        raise
    except UnmappedOps as e:
        why = [w for w, _ in e.items][:5]
        missing = any("No module named" in w for w in why)  # the model's own optional dependency (einops)
        row.update(status="skipped" if missing else "unmapped", why=why[0][:200] if missing else why)
        return row
    except Exception as e:  # noqa: BLE001
        row.update(status="error", why=f"{type(e).__name__}: {e}"[:300])
        return row
    try:
        truth = torch_truth(model, shape)
    except ModelTimeout:
        raise
    except Exception as e:  # noqa: BLE001 - torch cannot run it on the meta device: nothing to compare with
        row.update(status="skipped", why=f"torch's own meta run fails: {type(e).__name__}: {e}"[:200])
        return row
    diffs = {k: (ours[k], truth[k]) for k in truth if ours[k] != truth[k]}
    row.update(status="exact" if not diffs else "different", diffs={k: list(map(str, v)) for k, v in diffs.items()},
               seconds=round(time.perf_counter() - t, 2))
    return row


def smallest_input(model, sizes=(64, 224, 299), channels=3, rank=2, frames=None):
    """The smallest 1 x channels x S x S input (x frames first for video) the model's forward accepts."""
    for size in sizes:
        shape = (1, channels) + ((frames,) if frames else ()) + (size,) * rank
        try:
            with torch.no_grad():
                model.to("meta")(torch.empty(shape, device="meta"))
            return shape
        except Exception:  # noqa: BLE001 - a size the model refuses: try the next
            continue
    raise ValueError(f"no input of sizes {sizes} runs")


def on_meta(build):
    """build() on the meta device (no weight initialisation), on the CPU where the constructor reads a
    value (RegNet's init calls .item(); timm's and MONAI's inits that compute on tensors)."""
    try:
        with torch.device("meta"):
            return build()
    except Exception:  # noqa: BLE001
        return build()


def torchvision_all():
    """Every torchvision classification model, built on the meta device at its smallest input."""
    import torchvision
    tv = torchvision.models
    for name in tv.list_models(module=tv):
        kw = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
        yield f"torchvision.{name}", (lambda n=name, kw=kw: on_meta(lambda: tv.get_model(n, weights=None, **kw))), \
            None


def torchvision_more():
    """torchvision beyond classification: every segmentation model (dict outputs), the detection
    backbones (FrozenBatchNorm2d FPNs, SSD features), the video models, and GoogLeNet's aux heads."""
    import torchvision
    tv = torchvision.models
    for name in tv.list_models(module=tv.segmentation):
        yield f"torchvision.segmentation.{name}", \
            (lambda n=name: on_meta(lambda: tv.get_model(n, weights=None, weights_backbone=None))), (1, 3, 224, 224)
    from torchvision.models import detection as det
    from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
    for arch in ("resnet18", "resnet50"):
        yield f"torchvision.detection.{arch}_fpn_backbone", \
            (lambda a=arch: on_meta(lambda: resnet_fpn_backbone(backbone_name=a, weights=None))), (1, 3, 224, 224)
    yield "torchvision.detection.resnet18_fpn_backbone(BatchNorm2d)", \
        (lambda: resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5,
                                     norm_layer=torch.nn.BatchNorm2d)), (1, 3, 224, 224)
    for fpn in (True, False):
        yield f"torchvision.detection.mobilenet_v3_large_backbone(fpn={fpn})", \
            (lambda f=fpn: mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=f)), \
            (1, 3, 224, 224)
    for name, shape in (("fasterrcnn_resnet50_fpn_v2", 224), ("retinanet_resnet50_fpn", 224),
                        ("retinanet_resnet50_fpn_v2", 224), ("fcos_resnet50_fpn", 224),
                        ("keypointrcnn_resnet50_fpn", 224), ("maskrcnn_resnet50_fpn_v2", 224),
                        ("fasterrcnn_mobilenet_v3_large_320_fpn", 320), ("ssdlite320_mobilenet_v3_large", 320),
                        ("ssd300_vgg16", 300)):
        yield f"torchvision.detection.{name}.backbone", \
            (lambda n=name: on_meta(lambda: getattr(det, n)(weights=None, weights_backbone=None)).backbone), \
            (1, 3, shape, shape)
    yield "torchvision.googlenet(aux_logits)", \
        (lambda: tv.googlenet(weights=None, aux_logits=True, init_weights=False)), (1, 3, 224, 224)
    for name in tv.list_models(module=tv.video):
        shape = (1, 3, 16, 224, 224) if name.startswith(("mvit", "swin3d", "s3d")) else (1, 3, 8, 112, 112)
        yield f"torchvision.video.{name}", (lambda n=name: on_meta(lambda: tv.get_model(n, weights=None))), shape


def torchvision_first():
    """The first list (--torchvision without --corpus): 19 classification models, segmentation, backbones."""
    import torchvision
    tv = torchvision.models
    for name in ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_large",
                 "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf", "regnet_x_400mf", "densenet121",
                 "squeezenet1_1", "shufflenet_v2_x1_0", "mnasnet1_0", "googlenet", "inception_v3", "convnext_tiny",
                 "alexnet", "vgg11_bn"]:
        kw = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
        shape = (1, 3, 299, 299) if name == "inception_v3" else (1, 3, 224, 224)
        yield f"torchvision.{name}", (lambda n=name, kw=kw: getattr(tv, n)(weights=None, **kw)), shape
    yield from torchvision_more()


MONAI = [  # (name, constructor arguments, input): 2-D at 1x1x64x64 and 3-D at 1x1x32x32x32
    ("BasicUNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2}, (1, 1, 64, 64)),
    ("BasicUNetPlusPlus", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2}, (1, 1, 64, 64)),
    ("BasicUNetPlusPlus", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "deep_supervision": True},
     (1, 1, 64, 64)),
    ("UNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "channels": (8, 16, 32), "strides": (2, 2)},
     (1, 1, 64, 64)),
    ("AttentionUnet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "channels": (8, 16, 32),
                       "strides": (2, 2)}, (1, 1, 64, 64)),
    ("SegResNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "init_filters": 8}, (1, 1, 64, 64)),
    ("DenseNet121", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2}, (1, 1, 64, 64)),
    ("EfficientNetBN", {"model_name": "efficientnet-b0", "spatial_dims": 2, "in_channels": 1, "pretrained": False},
     (1, 1, 64, 64)),
    ("DynUNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "kernel_size": [3, 3, 3],
                 "strides": [1, 2, 2], "upsample_kernel_size": [2, 2]}, (1, 1, 64, 64)),
    ("HighResNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2}, (1, 1, 64, 64)),
    ("ResNet", {"block": "basic", "layers": [2, 2, 2, 2], "block_inplanes": [64, 128, 256, 512], "spatial_dims": 2,
                "n_input_channels": 1, "num_classes": 2}, (1, 1, 64, 64)),
    ("SwinUNETR", {"in_channels": 1, "out_channels": 2, "spatial_dims": 2, "feature_size": 12}, (1, 1, 64, 64)),
    ("FlexibleUNet", {"in_channels": 1, "out_channels": 2, "backbone": "efficientnet-b0", "spatial_dims": 2},
     (1, 1, 64, 64)),
    ("BasicUNet", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2}, (1, 1, 32, 32, 32)),
    ("UNet", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "channels": (8, 16, 32), "strides": (2, 2)},
     (1, 1, 32, 32, 32)),
    ("SegResNet", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "init_filters": 8}, (1, 1, 32, 32, 32)),
    ("DynUNet", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "kernel_size": [3, 3, 3],
                 "strides": [1, 2, 2], "upsample_kernel_size": [2, 2]}, (1, 1, 32, 32, 32)),
    ("VNet", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2}, (1, 1, 32, 32, 32)),
    ("DenseNet121", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2}, (1, 1, 32, 32, 32)),
    ("ResNet", {"block": "basic", "layers": [1, 1, 1, 1], "block_inplanes": [32, 64, 128, 256], "spatial_dims": 3,
                "n_input_channels": 1, "num_classes": 2}, (1, 1, 32, 32, 32)),
    ("UNETR", {"in_channels": 1, "out_channels": 2, "img_size": 32, "feature_size": 8, "hidden_size": 96,
               "mlp_dim": 192, "num_heads": 4}, (1, 1, 32, 32, 32)),
]


def monai_models():
    from monai.networks import nets
    for name, kw, shape in MONAI:
        label = f"monai.{name}{len(shape) - 2}d" + ("(deep_supervision)" if kw.get("deep_supervision") else "")
        yield label, (lambda n=name, kw=kw: getattr(nets, n)(**kw)), shape


SMP_ARCHS = ["Unet", "UnetPlusPlus", "MAnet", "Linknet", "FPN", "PSPNet", "DeepLabV3", "DeepLabV3Plus", "PAN",
             "UPerNet", "Segformer"]
SMP_ENCODERS = ["resnet18", "efficientnet-b0"]


def smp_models():
    """Every segmentation_models_pytorch architecture (DPT needs a ViT encoder: with tu-vit_tiny) with two
    encoders, at the smallest of 64, 128, 256 its forward accepts."""
    import segmentation_models_pytorch as smp
    for arch in SMP_ARCHS:
        for enc in SMP_ENCODERS:
            yield f"smp.{arch}({enc})", (lambda a=arch, e=enc: getattr(smp, a)(encoder_name=e, encoder_weights=None,
                                                                               classes=2)), [64, 128, 256]
    yield "smp.DPT(tu-vit_tiny_patch16_224)", \
        (lambda: smp.DPT(encoder_name="tu-vit_tiny_patch16_224", encoder_weights=None, classes=2)), [224]


def timm_models(names):
    import timm
    known = set(timm.list_models())
    for name in names:
        if name not in known:
            yield f"timm.{name}", (lambda n=name: (_ for _ in ()).throw(KeyError(f"{n} not in timm.list_models()"))), \
                None
            continue
        yield f"timm.{name}", (lambda n=name: on_meta(lambda: timm.create_model(n, pretrained=False))), list(TIMM_SIZES)


def sources(args):
    if args.torchvision_all:
        yield from torchvision_all()
        return
    if args.corpus:
        yield from torchvision_all()
        yield from torchvision_more()
    elif args.torchvision:
        yield from torchvision_first()
    if args.monai or args.corpus:
        yield from monai_models()
    if args.smp or args.corpus:
        yield from smp_models()
    if args.timm or args.corpus:
        yield from timm_models(TIMM_CNNS + (TIMM_MORE if args.corpus else []))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="store_true", help="every source below (~300 models)")
    ap.add_argument("--torchvision", action="store_true", help="torchvision's first list (the default source)")
    ap.add_argument("--timm", action="store_true", help="include timm models (needs `pip install timm`)")
    ap.add_argument("--monai", action="store_true", help="include MONAI networks (needs `pip install monai`)")
    ap.add_argument("--smp", action="store_true", help="include segmentation_models_pytorch")
    ap.add_argument("--torchvision-all", action="store_true",
                    help="every torchvision classification model instead, with import times")
    ap.add_argument("--only", default=None, help="only models whose name contains this text")
    ap.add_argument("--rerun", default=None, help="only the models not exact in this earlier --json file")
    ap.add_argument("--names", default=None, help="only these models (comma-separated, as the rows name them)")
    ap.add_argument("--repeat", type=int, default=1, help="import each model this many times, keep the fastest")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per model (build, import and torch's run)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not (args.corpus or args.timm or args.monai or args.smp or args.torchvision_all):
        args.torchvision = True
    rows = []
    again = {r["model"] for r in json.loads(Path(args.rerun).read_text()) if r["status"] != "exact"} \
        if args.rerun else None
    if args.names:
        again = (again or set()) | set(args.names.split(","))
    for name, factory, shape in sources(args):
        if args.only and args.only not in name or again is not None and name not in again:
            continue
        row = measure(name, factory, shape, args.repeat, args.timeout)
        rows.append(row)
        extra = row.get("why") or row.get("diffs") or ""
        print(f"{row['status']:<9} {name:<52} {row.get('input', ''):<11} {row.get('frontend', ''):<6} "
              f"{row.get('import_s', '')!s:<6} {extra}", flush=True)
        if args.json:  # written as it goes: a run stopped early keeps its rows
            Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    counts = collections.Counter(r["status"] for r in rows)
    tried = len([r for r in rows if r["status"] != "skipped"])
    print(f"\n{counts['exact']} of {tried} models import exactly; {dict(counts)}")
    by_source = collections.defaultdict(collections.Counter)
    for r in rows:
        by_source[r["model"].split(".")[0]][r["status"]] += 1
    for src, c in by_source.items():
        print(f"  {src}: {dict(c)}")
    times = sorted(r["import_s"] for r in rows if "import_s" in r)
    if times:
        print(f"import time over {len(times)} imported models: median {statistics.median(times):.3f} s, "
              f"max {times[-1]:.3f} s ({max(rows, key=lambda r: r.get('import_s', 0))['model']})")


if __name__ == "__main__":
    main()
