"""Reference kernels against torch.nn, in float64, for every layer kind in the registry.

Cases are every valid example each layer class declares (the registry-wide contract test's, so a
new kind is covered with no wiring here), plus a table of edge cases: (kind, arguments, input
shape[, input transform]). A kind that is not (yet) in convshape's registry is still checked,
against torch.nn directly with a stand-in layer built from torch's constructor defaults.
"""
import inspect
from types import SimpleNamespace
from typing import get_args

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from convshape.executor.kernels import KERNELS  # noqa: E402
from convshape.executor.runner import TOLERANCE, rel_error  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402
from convshape.layers.arith import ArithOp, UnaryFn  # noqa: E402
from convshape.dims import prod  # noqa: E402
from convshape.layers.examples import examples_of  # noqa: E402

CASES = [
    # ---- convolution: strides, padding forms and modes, dilation, groups, unbatched, ranks
    ("Conv1d", {"out_channels": 4, "kernel_size": 3}, (2, 3, 10)),
    ("Conv1d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2}, (2, 3, 11)),
    ("Conv2d", {"out_channels": 10, "kernel_size": 5, "padding": 2}, (1, 3, 32, 32)),
    ("Conv2d", {"out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1, "bias": False}, (2, 4, 9, 8)),
    ("Conv2d", {"out_channels": 6, "kernel_size": (3, 1), "stride": (2, 1), "padding": (1, 0)}, (1, 4, 7, 5)),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "dilation": 2, "padding": 2}, (1, 2, 9, 9)),
    ("Conv2d", {"out_channels": 6, "kernel_size": 3, "groups": 2, "padding": 1}, (2, 4, 6, 6)),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "groups": 4, "stride": 2}, (1, 4, 9, 9)),   # depthwise x2
    ("Conv2d", {"out_channels": 3, "kernel_size": 4, "padding": "same", "dilation": 3}, (1, 2, 10, 11)),
    ("Conv2d", {"out_channels": 3, "kernel_size": 2, "padding": "valid"}, (1, 2, 5, 5)),
    ("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"}, (1, 2, 6, 7)),
    ("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": (1, 2), "padding_mode": "replicate"}, (1, 2, 6, 7)),
    ("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 3, "padding_mode": "circular"}, (1, 2, 4, 5)),
    ("Conv2d", {"out_channels": 5, "kernel_size": 3}, (3, 9, 9)),                                   # unbatched
    # torch quirks of non-zeros padding modes: a 1-entry padding pads the last axis only (F.pad)
    ("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": (2,), "padding_mode": "reflect"}, (2, 6, 7)),
    ("Conv3d", {"out_channels": 4, "kernel_size": 3, "stride": (1, 2, 2), "padding": 1}, (1, 2, 5, 6, 7)),
    ("Conv3d", {"out_channels": 4, "kernel_size": (1, 3, 3), "groups": 2}, (2, 4, 3, 5, 5)),
    # large enough for the row-shifted GEMMs (stride 1 on the first axis, 14+ output rows)
    ("Conv1d", {"out_channels": 3, "kernel_size": 5, "padding": 2}, (2, 4, 20)),
    ("Conv2d", {"out_channels": 5, "kernel_size": 3, "padding": 1, "stride": (1, 2), "dilation": (2, 1)},
     (2, 3, 18, 15)),
    ("Conv3d", {"out_channels": 2, "kernel_size": (3, 2, 3), "padding": (1, 0, 1)}, (1, 2, 16, 5, 4)),
    # ---- weight-standardized convolution: every rank, gain, a padding mode, unbatched, a large eps
    ("StdConv1d", {"out_channels": 3, "kernel_size": 3, "padding": 1, "padding_mode": "reflect", "gain": True},
     (2, 4, 9)),
    ("StdConv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "eps": 0.5}, (3, 7, 8)),
    ("StdConv3d", {"out_channels": 2, "kernel_size": (1, 2, 2), "dilation": 2, "gain": True, "bias": False},
     (1, 3, 3, 5, 5)),
    ("StdConv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1, "gain": True}, (1, 3, 16, 16)),  # row-shifted
    # ---- transposed convolution: output_padding, dilation, groups, cropping padding, unbatched
    ("ConvTranspose1d", {"out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
     (2, 4, 7)),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 2, "stride": 2}, (1, 6, 5, 4)),             # U-Net up
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2,
                         "output_padding": 1, "groups": 2}, (2, 4, 5, 6)),
    ("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "padding": 2, "bias": False}, (1, 3, 7, 7)),
    ("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "stride": 3}, (3, 4, 4)),
    ("ConvTranspose3d", {"out_channels": 2, "kernel_size": (2, 3, 3), "stride": (1, 2, 2), "padding": (0, 1, 1)},
     (1, 3, 3, 4, 4)),
    # ---- pooling
    ("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, (2, 3, 10)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 3, 8, 9)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, (1, 2, 8, 8)),
    ("MaxPool2d", {"kernel_size": 2, "dilation": 2, "stride": 1}, (1, 2, 7, 6)),
    ("MaxPool2d", {"kernel_size": 2}, (3, 7, 7)),
    ("MaxPool3d", {"kernel_size": 2, "stride": 2, "ceil_mode": True, "padding": 1}, (1, 2, 5, 6, 7)),
    # argmax indices: padding, dilation, ceil-mode overhang, unbatched; ties, NaN and -inf where torch's
    # scan order decides (first max, last NaN, first tap inside the input)
    ("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "return_indices": True}, (2, 3, 11)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True}, (2, 3, 8, 9), "ties"),
    ("MaxPool2d", {"kernel_size": 3, "stride": 1, "ceil_mode": True, "return_indices": True}, (1, 2, 7, 6), "nan"),
    ("MaxPool2d", {"kernel_size": (2, 3), "stride": 2, "padding": 1, "return_indices": True}, (3, 7, 7), "-inf"),
    ("MaxPool3d", {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1, "return_indices": True},
     (1, 2, 5, 6, 7), "ties"),
    ("AvgPool1d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 10)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 3, 8, 9)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 2, 8, 8)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
     (1, 2, 8, 8)),
    ("AvgPool2d", {"kernel_size": 2, "divisor_override": 3}, (1, 2, 6, 6)),
    ("AvgPool3d", {"kernel_size": (1, 2, 2), "stride": (1, 2, 2), "ceil_mode": True}, (1, 2, 3, 5, 5)),
    ("AdaptiveAvgPool1d", {"output_size": 3}, (2, 3, 10)),
    ("AdaptiveAvgPool2d", {"output_size": (3, 4)}, (1, 2, 7, 10)),
    ("AdaptiveAvgPool2d", {"output_size": (None, 2)}, (2, 5, 5)),
    ("AdaptiveAvgPool2d", {"output_size": 1}, (2, 3, 5, 6)),
    ("AdaptiveAvgPool3d", {"output_size": (2, 3, 1)}, (1, 2, 5, 7, 3)),
    ("AdaptiveMaxPool1d", {"output_size": 4}, (2, 3, 7)),
    ("AdaptiveMaxPool2d", {"output_size": (3, 5)}, (1, 2, 10, 7)),
    ("AdaptiveMaxPool3d", {"output_size": 2}, (1, 2, 5, 3, 4)),
    ("LPPool1d", {"norm_type": 2, "kernel_size": 3, "stride": 2}, (2, 3, 10)),
    ("LPPool2d", {"norm_type": 1.5, "kernel_size": 2, "ceil_mode": True}, (1, 2, 5, 7), "positive"),
    ("LPPool3d", {"norm_type": 3, "kernel_size": 2}, (1, 2, 4, 4, 4), "positive"),
    # ---- normalization
    ("BatchNorm1d", {}, (4, 5)),
    ("BatchNorm1d", {"affine": False}, (2, 3, 7)),
    ("BatchNorm2d", {"eps": 1e-3}, (2, 3, 4, 5)),
    ("BatchNorm2d", {"track_running_stats": False}, (3, 2, 4, 4)),
    ("BatchNorm3d", {}, (1, 2, 3, 4, 5)),
    ("LayerNorm", {"normalized_shape": 6}, (2, 3, 6)),
    ("LayerNorm", {"normalized_shape": (3, 4, 5), "bias": False}, (2, 3, 4, 5)),
    ("LayerNorm", {"normalized_shape": 5, "elementwise_affine": False}, (2, 5)),
    ("GroupNorm", {"num_groups": 2}, (2, 6, 4, 4)),
    ("GroupNorm", {"num_groups": 3, "affine": False}, (2, 6, 5)),
    ("InstanceNorm1d", {"num_features": 3, "affine": True}, (2, 3, 9)),
    ("InstanceNorm2d", {"num_features": 3}, (3, 5, 6)),
    ("InstanceNorm2d", {"num_features": 3, "track_running_stats": True, "affine": True}, (2, 3, 5, 6)),
    ("InstanceNorm3d", {"num_features": 2}, (1, 2, 3, 4, 5)),
    ("LocalResponseNorm", {"size": 5}, (2, 7, 4, 4)),
    ("LocalResponseNorm", {"size": 4, "alpha": 0.1, "beta": 0.5, "k": 2.0}, (2, 6, 5)),
    # ---- activations
    ("ReLU", {}, (2, 3, 4, 4)),
    ("ReLU6", {}, (2, 50), "wide"),
    ("LeakyReLU", {"negative_slope": 0.2}, (2, 3, 4)),
    ("ELU", {"alpha": 0.5}, (2, 3, 4)),
    ("GELU", {}, (2, 3, 4)),
    ("GELU", {"approximate": "tanh"}, (2, 3, 4)),
    ("SiLU", {}, (2, 3, 4)),
    ("Mish", {}, (2, 3, 4), "wide"),
    ("Sigmoid", {}, (2, 3, 4), "wide"),
    ("Tanh", {}, (2, 3, 4)),
    ("Hardswish", {}, (2, 50), "wide"),
    ("Hardsigmoid", {}, (2, 50), "wide"),
    ("Identity", {}, (2, 3)),
    ("PReLU", {}, (2, 3, 4)),
    ("PReLU", {"num_parameters": 3}, (2, 3, 4, 4)),
    ("Softmax", {}, (2, 3, 4, 4)),          # dim=None on 4-D: dim 1
    ("Softmax", {}, (2, 3, 4)),             # dim=None on 3-D: dim 0 (torch's legacy rule)
    ("Softmax", {"dim": -1}, (2, 3, 4), "wide"),
    ("LogSoftmax", {"dim": 1}, (2, 10), "wide"),
    ("Normalize", {"dim": 0}, (4, 3)),
    ("Normalize", {"dim": -2, "eps": 3.0}, (2, 5, 3)),           # eps above most norms: the clamp decides
    # ---- recurrent: stacked, bidirectional, projected, batch_first, unbatched, one step, no bias
    ("LSTM", {"hidden_size": 5, "num_layers": 2, "bidirectional": True, "batch_first": True, "proj_size": 2},
     (3, 4, 6)),
    ("LSTM", {"hidden_size": 3, "bidirectional": True, "bias": False}, (5, 2)),
    ("LSTM", {"hidden_size": 4, "num_layers": 3, "dropout": 0.5}, (1, 2, 3)),
    ("LSTM", {"hidden_size": 2, "proj_size": 1}, (6, 3, 1), "wide"),
    # ---- linear, scale
    ("Linear", {"out_features": 7}, (2, 5)),
    ("Linear", {"out_features": 3, "bias": False}, (2, 4, 4, 6)),
    ("LayerScale", {}, (2, 4, 3, 3)),
    ("LayerScale", {"dim": -1}, (2, 3, 3, 5)),
    # ---- regularizers: identity at inference
    ("Dropout", {"p": 0.5}, (2, 3)),
    ("Dropout1d", {}, (2, 3, 4)),
    ("Dropout2d", {}, (2, 3, 4, 4)),
    ("Dropout3d", {}, (2, 3, 2, 4, 4)),
    ("AlphaDropout", {}, (2, 3)),
    ("FeatureAlphaDropout", {}, (2, 3, 4)),
    ("StochasticDepth", {"p": 0.2}, (2, 3, 4)),
    # ---- re-arrangements
    ("Flatten", {}, (2, 3, 4, 5)),
    ("Flatten", {"start_dim": 0, "end_dim": 2}, (2, 3, 4, 5)),
    ("Unflatten", {"dim": 1, "unflattened_size": (2, 6)}, (2, 12, 3)),
    ("PixelShuffle", {"upscale_factor": 2}, (1, 8, 3, 4)),
    ("PixelShuffle", {"upscale_factor": 3}, (2, 9, 2, 2)),
    ("PixelUnshuffle", {"downscale_factor": 2}, (1, 2, 6, 4)),
    ("ChannelShuffle", {"groups": 3}, (2, 6, 4, 4)),
    # ---- padding
    ("ZeroPad1d", {"padding": 2}, (1, 2, 5)),
    ("ZeroPad2d", {"padding": (1, 2, 0, 3)}, (1, 2, 4, 5)),
    ("ZeroPad2d", {"padding": (-1, 2, 1, -2)}, (1, 2, 4, 5)),   # negative pads crop
    ("ZeroPad3d", {"padding": 1}, (1, 2, 3, 3, 3)),
    ("ConstantPad1d", {"padding": (3, 1), "value": 2.5}, (2, 5)),
    ("ConstantPad2d", {"padding": 1, "value": -1.0}, (1, 2, 3, 3)),
    ("ConstantPad3d", {"padding": (1, 0, 2, 0, 0, 1), "value": 0.5}, (1, 1, 2, 3, 4)),
    ("ReflectionPad1d", {"padding": (2, 3)}, (1, 2, 5)),
    ("ReflectionPad2d", {"padding": (2, 1, 1, 2)}, (1, 2, 4, 5)),
    ("ReflectionPad3d", {"padding": 1}, (1, 2, 3, 3, 3)),
    ("ReplicationPad1d", {"padding": 3}, (1, 2, 4)),
    ("ReplicationPad2d", {"padding": (0, 2, 3, 1)}, (2, 3, 3)),
    ("ReplicationPad3d", {"padding": (1, 2, 0, 1, 2, 0)}, (1, 1, 3, 3, 3)),
    ("CircularPad1d", {"padding": (4, 1)}, (1, 2, 4)),
    ("CircularPad2d", {"padding": 2}, (1, 2, 3, 4)),
    ("CircularPad3d", {"padding": (1, 1, 2, 0, 0, 2)}, (1, 1, 3, 3, 3)),
    # ---- upsampling: every mode, align_corners both ways, sizes that do not divide
    ("Upsample", {"scale_factor": 2, "mode": "nearest"}, (1, 2, 3, 4)),
    ("Upsample", {"size": (7, 5), "mode": "nearest"}, (1, 2, 4, 6)),
    ("Upsample", {"size": (7, 9), "mode": "nearest-exact"}, (1, 2, 4, 6)),
    ("Upsample", {"scale_factor": 1.5, "mode": "bilinear"}, (1, 2, 5, 6)),
    ("Upsample", {"size": (9, 4), "mode": "bilinear", "align_corners": True}, (1, 2, 5, 6)),
    ("Upsample", {"scale_factor": 2, "mode": "bicubic"}, (1, 2, 4, 5)),
    ("Upsample", {"size": (7, 11), "mode": "bicubic", "align_corners": True}, (1, 2, 4, 5)),
    ("Upsample", {"scale_factor": 2.5, "mode": "linear", "recompute_scale_factor": True}, (2, 3, 5)),
    ("Upsample", {"scale_factor": (2, 1.5, 2), "mode": "trilinear"}, (1, 2, 2, 4, 3)),
    ("Upsample", {"size": (3, 4), "mode": "area"}, (1, 2, 7, 9)),
    ("Upsample", {"scale_factor": 3, "mode": "nearest"}, (2, 3, 4)),
    # ---- merges and reshapes (several inputs are given as a list of shapes)
    ("Add", {}, [(2, 3, 4, 4), (2, 3, 4, 4), (1, 3, 1, 4)]),
    ("Mul", {}, [(2, 3, 4, 4), (2, 3, 1, 1)]),
    ("Concat", {}, [(2, 3, 4), (2, 5, 4)]),
    ("Concat", {"dim": -1}, [(2, 3, 4), (2, 3, 2), (2, 3, 1)]),
    ("Permute", {"dims": (0, 2, 3, 1)}, (2, 3, 4, 5)),
    ("Reshape", {"shape": (-1, 12)}, (2, 3, 4)),
    ("Narrow", {"dim": 1, "start": 2, "length": 3}, (2, 6, 4)),
    ("Narrow", {"dim": -1, "start": -4, "length": 2}, (2, 3, 5)),
    ("Expand", {"sizes": (3, -1, 4, 2)}, (1, 1, 2)),           # a new dim, a kept one, two grown from 1
    ("Expand", {"sizes": (0, 2, 3)}, (2, 3)),                   # an empty new leading dim
    ("TensorUnfold", {"dimension": 0, "size": 2, "step": 3}, (8, 3)),   # step > size: positions skipped
    ("TensorUnfold", {"dimension": -2, "size": 0, "step": 2}, (2, 5, 3)),   # empty windows
    ("Stack", {"dim": -3}, [(2, 3), (2, 3)]),
    ("Stack", {}, [(4,)] * 3),
    ("Unsqueeze", {"dim": 0}, (3,)),
    ("Unsqueeze", {"dim": -4}, (2, 3, 4)),
    ("Squeeze", {"dim": (0, -1)}, (1, 3, 1)),
    ("Squeeze", {"dim": 1}, (2, 3, 1)),                          # a listed dim of size 3 stays
    ("Index", {"index": ((1, None, 3), None, -2)}, (8, 5, 4)),  # slice with step, new axis, negative int
    ("Index", {"index": ((-3, -1, None),)}, (6, 2)),            # negative slice bounds
    ("Index", {"index": ((2, 9, 2),)}, (5, 3)),                 # stop past the end is clamped, as in Python
    ("ParamConcat", {"shape": (1, 3), "dim": 0}, (2, 3)),
    # ---- element-wise arithmetic: every op and function (the layer examples hold only some)
    ("Sub", {}, [(2, 1, 4), (3, 1)]),
    ("Div", {}, [(2, 3, 4), (4,)]),
    ("Maximum", {}, [(2, 3, 4), (1, 3, 1)]),
    ("Minimum", {}, [(3, 1), (3, 5)]),
    ("ScalarArith", {"op": "add", "value": 0.25}, (2, 3)),
    ("ScalarArith", {"op": "sub", "value": 1.5}, (2, 3)),
    ("ScalarArith", {"op": "div", "value": 3.0}, (2, 3)),
    ("ScalarArith", {"op": "rdiv", "value": 2.0}, (2, 3), "positive"),
    ("ScalarArith", {"op": "pow", "value": 0.5}, (2, 3), "positive"),
    ("ScalarArith", {"op": "rpow", "value": 2.0}, (2, 3)),
    ("ScalarArith", {"op": "minimum", "value": 0.1}, (2, 3, 4)),
    ("ScalarArith", {"op": "mul", "value": -2}, (5,)),          # an int value
    ("ParamArith", {"op": "rdiv", "shape": (3,)}, (2, 3), "positive"),
    ("ParamArith", {"op": "maximum", "shape": (1, 3, 1)}, (2, 3, 4)),
    ("ParamArith", {"op": "rsub", "shape": (2, 1)}, (3, 2, 4)),
    ("ParamArith", {"op": "pow", "shape": (4,)}, (2, 4), "positive"),
    ("ParamArith", {"op": "minimum", "shape": (2, 4), "trainable": False}, (3, 2, 4)),
    ("ParamArith", {"op": "div", "shape": (1, 4)}, (2, 4)),
    ("ParamArith", {"op": "rpow", "shape": (2, 1)}, (2, 3), "positive"),
    # a table gathered by its index buffer (random positions, repeats included: see randomize) and viewed as shape
    ("ParamArith", {"op": "mul", "shape": (2, 6, 3), "table": (5, 3), "index": (2, 6)}, (4, 2, 6, 3)),   # 12 rows of 3
    ("ParamArith", {"op": "add", "shape": (2, 4, 3), "table": (2, 7, 3), "index": (4,), "gather_dim": 1},
     (5, 2, 4, 3)),                                             # a 3-D table, columns gathered
    ("ParamArith", {"op": "rsub", "shape": (3, 4), "table": (10,), "index": (3, 4)}, (2, 3, 4)),      # a 1-D table
    ("ParamArith", {"op": "maximum", "shape": (2, 4), "table": (6, 2), "index": (4,)}, (3, 2, 4)),   # (4, 2) viewed (2, 4)
    ("ParamArith", {"op": "div", "shape": (1, 12), "table": (3, 5), "index": (2, 2), "gather_dim": 1}, (2, 12)),
    # Affine beyond its examples (GRN channels-last, buffers with value 0.5 and a (1,) bias, an outer
    # broadcast): an int and a negative value, a frozen bias broadcast over rows, a bias wider than weight
    ("Affine", {"shape": (1, 4, 1, 1), "value": -2}, (2, 4, 3, 3)),
    ("Affine", {"shape": (3,), "bias_shape": (2, 1), "trainable": False}, (2, 3)),
    ("Affine", {"shape": (1,), "bias_shape": (1, 6), "value": 0.25}, (4, 6)),
] + [("UnaryOp", {"fn": fn}, (2, 3, 4), "positive" if fn in ("rsqrt", "sqrt", "log") else "wide")
     for fn in get_args(UnaryFn)] + [
    ("UnaryOp", {"fn": "log"}, (2, 3, 4)),                      # NaN where torch's is, for negative inputs
    # ---- reductions
    ("Reduce", {"op": "amin", "dim": (0, 2), "keepdim": True}, (2, 3, 4)),
    ("Reduce", {"op": "mean"}, (2, 3, 4)),
    ("Reduce", {"op": "sum", "dim": -1, "keepdim": True}, (5, 6)),
    ("Reduce", {"op": "amax", "dim": (-1, 0)}, (2, 3, 4)),
    ("Reduce", {"op": "norm", "dim": (0, 2)}, (2, 3, 4)),
    ("Reduce", {"op": "norm"}, (3, 4)),                         # every dim: 0-D
    ("Reduce", {"op": "norm", "dim": -1, "keepdim": True}, (2, 5, 6)),
    ("Reduce", {"op": "norm", "dim": (-1, 1, 0)}, (2, 3, 4, 5)),  # unsorted, negative
    # ---- frozen and fixed-filter layers
    ("FrozenBatchNorm2d", {"eps": 1e-3}, (2, 4, 3, 3)),
    ("FixedConv2d", {"out_channels": 3, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}, (1, 2, 6, 5)),
    # ---- matmul and attention
    ("MatMul", {}, [(4,), (2, 4, 3)]),                          # 1-D first factor: a row, dropped after
    ("MatMul", {}, [(2, 3, 4), (4,)]),                          # 1-D second factor: a column
    ("MatMul", {}, [(5,), (5,)]),                               # a dot product, 0-D
    ("MatMul", {}, [(3, 1, 2, 4), (5, 4, 3)]),
    ("ScaledDotProductAttention", {"is_causal": True}, [(2, 5, 4), (2, 7, 4), (2, 7, 3)]),   # L < S: tril
    ("ScaledDotProductAttention", {"scale": 0.3}, [(2, 1, 5, 4), (3, 6, 4), (3, 6, 2)]),    # batch broadcasts
    ("ScaledDotProductAttention", {"attn_bias": (1, 5, 7)}, [(2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6)]),  # over heads
    ("ScaledDotProductAttention", {"attn_bias": (5, 1), "scale": 0.7}, [(2, 5, 4), (2, 7, 4), (2, 7, 3)]),  # over keys
    ("ScaledDotProductAttention", {"attn_bias": (3, 4, 4), "bias_table": (7, 3), "bias_index": (16,)},
     [(2, 3, 4, 5), (2, 3, 4, 5), (2, 3, 4, 2)]),              # table[idx] (16, 3) viewed (3, 4, 4)
    ("ScaledDotProductAttention", {"attn_bias": (6, 6), "bias_table": (1, 11), "bias_index": (6, 6), "gather_dim": 1,
                                   "scale": 0.5}, [(2, 6, 3), (2, 6, 3), (2, 6, 4)]),
    ("MultiheadAttention", {"embed_dim": 6, "num_heads": 2}, [(4, 3, 6), (5, 3, 6), (5, 3, 6)]),
    ("MultiheadAttention", {"embed_dim": 4, "num_heads": 1, "batch_first": True, "kdim": 3, "vdim": 5},
     [(2, 3, 4), (2, 6, 3), (2, 6, 5)]),
    ("MultiheadAttention", {"embed_dim": 6, "num_heads": 3, "bias": False}, [(4, 6), (2, 6), (2, 6)]),   # unbatched
    ("RelativePositionalMultiHeadAttention", {"head_dim": 3, "max_seq_len": 4}, (2, 2, 4, 6)),
    # ---- Swin: a shift on one axis only, a window covering its padded axis (the shift there is dropped),
    # odd sizes padded, shifts larger than half the window
    ("ShiftedWindowAttention", {"window_size": (2, 3), "shift_size": (0, 1), "num_heads": 2}, (2, 4, 6, 4)),
    ("ShiftedWindowAttention", {"window_size": 4, "shift_size": 2, "num_heads": 1, "qkv_bias": False},
     (1, 3, 9, 2)),                                             # H pads to 4 = the window: no shift on H
    ("ShiftedWindowAttention", {"window_size": 3, "shift_size": (2, 2), "num_heads": 2}, (1, 7, 5, 4)),
    ("ShiftedWindowAttention", {"window_size": 4, "shift_size": 2, "num_heads": 2}, (1, 3, 4, 4)),   # no shift
    ("ShiftedWindowAttentionV2", {"window_size": (2, 3), "shift_size": (1, 1), "num_heads": 2}, (2, 5, 6, 4)),
    ("ShiftedWindowAttentionV2", {"window_size": 3, "shift_size": (1, 0), "num_heads": 1, "proj_bias": False},
     (1, 7, 6, 3)),
    # ---- video Swin: a shift on one axis, a shift over half the window, every axis clipped (no shift;
    # the bias reads the full window's index cut to the clipped volume), no biases
    ("ShiftedWindowAttention3d", {"window_size": (2, 3, 3), "shift_size": (0, 0, 2), "num_heads": 2},
     (1, 3, 4, 5, 4)),
    ("ShiftedWindowAttention3d", {"window_size": (3, 4, 2), "shift_size": (2, 3, 1), "num_heads": 1},
     (2, 5, 6, 3, 2)),
    ("ShiftedWindowAttention3d", {"window_size": (4, 4, 4), "shift_size": (2, 2, 2), "num_heads": 2,
                                  "qkv_bias": False, "proj_bias": False}, (1, 2, 3, 4, 4)),
    ("PatchMerging", {}, (1, 5, 4, 3)),
    ("PatchMergingV2", {}, (2, 3, 3, 2)),
    ("PatchMergingV2", {}, (3, 6, 2)),                          # no batch dim
    # ---- EdgeNeXt's positional encoding: odd H and W, batch > 1, a 1x1 map (each sum is 1, / (1 + eps))
    ("PositionalEncodingFourier", {"hidden_dim": 6, "dim": 5}, (3, 2, 7, 9)),
    ("PositionalEncodingFourier", {"hidden_dim": 8, "dim": 4, "temperature": 20.0}, (2, 1, 1, 3)),
]

# every valid example every layer class declares for the contract test (tests/test_layer_contract.py);
# a kind without a kernel yet is listed here (`convshape run` refuses it by name,
# test_run_refuses_a_kind_without_kernel_by_name_before_running)
WITHOUT_KERNEL = set()
EXAMPLES = [(kind, dict(e.args), [tuple(s) for s in e.inputs])
            for kind in sorted(set(REGISTRY) - WITHOUT_KERNEL) for e in examples_of(REGISTRY[kind])
            if not e.rejected]


def case_id(case):
    kind, args = case[0], case[1]
    return kind + ("-" + "-".join(f"{k}={v}" for k, v in args.items()) if args else "")


def torch_kwargs_for(kind, args, shapes):
    """torch.nn constructor arguments for a kind convshape has not registered yet: add the inferred sizes."""
    kw = dict(args)
    cls = getattr(torch.nn, kind)
    params = inspect.signature(cls.__init__).parameters
    if "num_features" in params and "num_features" not in kw:
        kw["num_features"] = shapes[0][1]
    return cls, kw


def build(kind, args, shapes):
    """(layer model or stand-in, torch module) for a case."""
    if kind in REGISTRY:
        layer = REGISTRY[kind](**args)
        return layer, layer.to_torch(shapes)
    cls, kw = torch_kwargs_for(kind, args, shapes)
    module = cls(**kw)
    defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    ndim = int(kind[-2]) if kind[-1] == "d" and kind[-2].isdigit() else None
    return SimpleNamespace(kind=kind, ndim=ndim, **{**defaults, **kw}), module


def randomize(module, gen):
    """Constant-initialized tensors (norm affine, running stats, PReLU slopes) drawn around their value;
    zero-filled gather indices drawn over their table."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            c = float(t.flatten()[0]) if t.numel() else 0.0
            t.copy_(c + max(abs(c), 1.0) * (torch.rand(t.shape, generator=gen, dtype=t.dtype) - 0.5))
    for m in module.modules():   # a gathered table's index (zeros at init): random rows or columns of it
        if getattr(m, "idx", None) is not None:
            m.idx.copy_(torch.randint(0, m.t.shape[m.gather_dim], m.idx.shape, generator=gen))


@pytest.mark.parametrize("case", CASES + EXAMPLES, ids=[case_id(c) for c in CASES + EXAMPLES])
def test_reference_kernel_matches_torch(case):
    kind, args, shape = case[:3]
    transform = case[3] if len(case) > 3 else None
    shapes = shape if isinstance(shape, list) else [shape]
    gen = torch.Generator().manual_seed(0)
    layer, module = build(kind, args, shapes)
    module = module.double().eval()
    index_inputs = getattr(layer, "index_inputs", ())
    with torch.no_grad():
        randomize(module, gen)
        # an index input (MaxUnpool's) gets positions in one output plane, repeats included: where two
        # agree, torch's CPU kernel keeps the later value, and so must the reference
        plane = prod(layer.output_shape(shapes)[-layer.ndim:]) if index_inputs else 1
        xs = [torch.randint(0, plane, s, generator=gen) if j in index_inputs else
              torch.randn(s, generator=gen, dtype=torch.float64) for j, s in enumerate(shapes)]
        if transform == "positive":
            xs = [x.abs() + 0.1 for x in xs]
        elif transform == "wide":   # reach the saturating and clamped parts of the formula
            xs = [8 * x for x in xs]
        elif transform == "ties":   # three values only: most windows hold their max more than once
            xs = [x.round().clamp(-1, 1) for x in xs]
        elif transform == "nan":    # windows with one NaN, several, none
            xs = [torch.where(x > 0.8, float("nan"), x) for x in xs]
        elif transform == "-inf":   # windows whose every inside value is -inf
            xs = [torch.where(x > -1.0, float("-inf"), x) for x in xs]
        expected = module(*xs)
        state = dict(module.named_parameters())
        state.update(dict(module.named_buffers()))
        got = KERNELS[kind](layer, xs, state)
    if getattr(layer, "return_indices", False):   # (values, int64 indices): the indices exactly torch's
        (got, got_indices), (expected, indices) = got, expected
        assert got_indices.dtype == indices.dtype == torch.int64
        assert torch.equal(got_indices, indices)
    assert tuple(got.shape) == tuple(expected.shape)
    assert got.dtype == expected.dtype
    assert float(rel_error(got, expected)) <= TOLERANCE["float64"]


CONV_CASES = [c for c in CASES + EXAMPLES if c[0].startswith(("Conv", "StdConv"))]


@pytest.mark.parametrize("row_shift_min", [1, 10**9], ids=["row-shifted", "im2col"])
@pytest.mark.parametrize("case", CONV_CASES, ids=[case_id(c) for c in CONV_CASES])
def test_both_convolution_paths(case, row_shift_min, monkeypatch):
    """Each convolution case through the row-shifted GEMMs wherever they apply, and through plain im2col."""
    from convshape.executor.kernels import conv
    monkeypatch.setattr(conv, "ROW_SHIFT_MIN", row_shift_min)
    test_reference_kernel_matches_torch(case)


def test_every_registered_kind_has_a_reference_kernel_or_is_listed():
    missing = set(REGISTRY) - set(KERNELS)
    assert missing == WITHOUT_KERNEL, f"layer kinds without a reference kernel (add one in " \
                                      f"convshape/executor/kernels/): {sorted(missing - WITHOUT_KERNEL)}"


def test_every_arithmetic_op_has_a_case():
    """ScalarArith and ParamArith share one op list; each op is checked against torch at least once."""
    for kind in ("ScalarArith", "ParamArith"):
        ops = {c[1]["op"] for c in CASES + EXAMPLES if c[0] == kind}
        assert ops == set(get_args(ArithOp)), (kind, set(get_args(ArithOp)) - ops)


def test_run_refuses_a_kind_without_kernel_by_name_before_running(monkeypatch):
    from convshape.errors import SpecError
    monkeypatch.delitem(KERNELS, "ScalarArith")   # as a kind registered without a kernel would be
    from convshape.executor.runner import run
    from convshape.spec import loads
    net = loads("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n"
                "  - ScalarArith: {op: mul, value: 2.0}\n", "scaled.yaml")
    with pytest.raises(SpecError) as e:
        run(net, repeats=0)
    assert str(e.value) == ("scaled.yaml: run has no reference kernel yet for ScalarArith "
                            "(layers scalararith_1)")


def test_constant_input_torch_picks_the_first_tap_inside_the_input():
    """Ties: torch takes a value only when it is greater than the max so far (or NaN), so on a constant
    plane each window's index is its first tap inside the input, padding skipped."""
    layer = REGISTRY["MaxPool2d"](kernel_size=3, stride=2, padding=1, return_indices=True)
    x = torch.ones(1, 1, 4, 5, dtype=torch.float64)
    # windows start at rows -1, 1 and columns -1, 1, 3; the first inside tap is (max(r, 0), max(c, 0)),
    # flat r*5 + c: row 0 -> 0, 1, 3; row 1 -> 5, 6, 8
    expected = torch.tensor([[[[0, 1, 3], [5, 6, 8]]]])
    _, theirs = layer.to_torch([(1, 1, 4, 5)])(x)
    _, ours = KERNELS["MaxPool2d"](layer, [x], {})
    assert torch.equal(theirs, expected) and torch.equal(ours, expected)
    # -0.0 and 0.0 tie too: the value kept is the first one scanned, sign included, as torch's
    signed = torch.tensor([[[[-0.0, 0.0, 0.0, -0.0, -0.0], [0.0, -0.0, 0.0, 0.0, -0.0],
                             [-0.0, -0.0, 0.0, -0.0, 0.0], [0.0, 0.0, -0.0, 0.0, 0.0]]]], dtype=torch.float64)
    v_theirs, i_theirs = layer.to_torch([(1, 1, 4, 5)])(signed)
    v_ours, i_ours = KERNELS["MaxPool2d"](layer, [signed], {})
    assert torch.equal(i_ours, expected) and torch.equal(i_theirs, expected)
    # the first inside taps 0, 1, 3, 5, 6, 8 hold -0, 0, -0, 0, -0, 0
    assert v_ours.signbit().flatten().tolist() == v_theirs.signbit().flatten().tolist() == \
        [True, False, True, False, True, False]


def test_unpool_of_pool_indices_restores_the_maxima():
    """Pool, then unpool its own values with its indices: the maxima back where they were, zeros elsewhere,
    output_size restoring the odd size; against torch element by element."""
    pool = REGISTRY["MaxPool2d"](kernel_size=2, return_indices=True)
    unpool = REGISTRY["MaxUnpool2d"](kernel_size=2, output_size=(5, 5))
    x = torch.arange(25, dtype=torch.float64).view(1, 1, 5, 5)
    values, indices = KERNELS["MaxPool2d"](pool, [x], {})
    # windows' maxima are their bottom-right taps (x grows along rows and columns): flat 6, 8, 16, 18
    assert indices.flatten().tolist() == [6, 8, 16, 18]
    ours = KERNELS["MaxUnpool2d"](unpool, [values, indices], {})
    theirs = unpool.to_torch([(1, 1, 2, 2), (1, 1, 2, 2)])(values, indices)
    assert ours.shape == (1, 1, 5, 5) and torch.equal(ours, theirs)
    assert ours.flatten().nonzero().flatten().tolist() == [6, 8, 16, 18]


def test_unpool_refuses_an_index_outside_the_plane_and_an_output_size_torch_refuses():
    unpool = REGISTRY["MaxUnpool2d"](kernel_size=2)
    x = torch.ones(1, 1, 2, 2)
    indices = torch.tensor([[[[0, 1], [2, 16]]]])   # the output plane is (2 - 1)*2 + 2 = 4 squared: 0..15
    with pytest.raises(ValueError, match="index 16 is outside an output plane of 16 elements"):
        KERNELS["MaxUnpool2d"](unpool, [x, indices], {})
    # default (2 - 1)*2 + 2 = 4 per axis; an output_size must lie strictly between 4 - 2 and 4 + 2, as torch says
    too_big = REGISTRY["MaxUnpool2d"](kernel_size=2, output_size=(6, 4))
    with pytest.raises(ValueError, match=r"invalid output_size \[6, 4\]: 6 is not strictly between 2 and 6"):
        KERNELS["MaxUnpool2d"](too_big, [x, torch.zeros(1, 1, 2, 2, dtype=torch.int64)], {})
    with pytest.raises(ValueError, match="invalid output_size"):   # torch's refusal of the same
        too_big.to_torch([(1, 1, 2, 2), (1, 1, 2, 2)])(x, torch.zeros(1, 1, 2, 2, dtype=torch.int64))


def test_kernels_use_no_torch_nn():
    """Independence from torch.nn: no kernel module imports or names torch.nn (or its functional API)."""
    import ast
    import pathlib

    import convshape.executor.kernels as k
    for path in pathlib.Path(k.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("torch.nn") for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("torch.nn"), path.name
                assert not (node.module == "torch" and any(a.name == "nn" for a in node.names)), path.name
            elif isinstance(node, ast.Attribute) and node.attr == "nn":
                assert not (isinstance(node.value, ast.Name) and node.value.id == "torch"), f"{path.name}:{node.lineno}"


def test_registering_a_kind_twice_raises():
    from convshape.executor.kernels import reference
    with pytest.raises(ValueError, match="twice"):
        reference("ReLU")(lambda layer, xs, state: xs[0])
