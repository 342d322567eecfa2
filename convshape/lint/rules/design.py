"""CS2xx: design warnings. The network runs, but a layer wastes input, parameters or accuracy."""
from __future__ import annotations

from fractions import Fraction

from ...dims import prod
from ...graph import INPUT
from ...layers.window import dropped_tail
from ..context import axis_names, by_axis, fmt_int, fmt_shape
from ..kinds import (BatchNorm, Conv, ConvTranspose, Dropout, Identity, Linear, Pool, is_window, span,
                     window_axes)
from ..registry import rule
from ..sizes import describe, one_symbol, period_of, residue_counts
from ..words import point

UNIT = {"H": "row", "W": "column"}


def _unit(name: str, count: int) -> str:
    word = UNIT.get(name, f"position on {name}")
    if count == 1:
        return f"the last {word}"
    return f"the last {count} {word}s" if name in UNIT else f"the last {count} positions on {name}"


def _rf_stride(ctx, node, n: int) -> tuple:
    rf = ctx.rf_of(node.inputs[0]) if node.inputs[0] != INPUT else None
    if rf is None or len(rf.stride) != n:
        return (1,) * n
    return tuple(rf.stride)


@rule("CS201", "stride-does-not-tile", "warning")
def stride_does_not_tile(ctx):
    """## What it does
    Flags a strided convolution or pooling layer whose windows do not tile its input, so that the
    last rows or columns are never read, and says how many pixels are dropped. For a symbolic input
    it says for which sizes this happens (for example "when H is even").

    ## Why is this bad?
    With a 7×7 input, a 3×3 kernel and stride 3, (7 − 3) / 3 is not a whole number: the windows
    stop at position 5 and the last row and column never reach the output, silently. Information
    at the border is lost, and the loss differs between input sizes.

    ## Example
    ```yaml
    input: [1, 3, 7, 7]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 3}
    ```

    ## Use instead
    Pad so that (size + 2·padding − kernel) is a multiple of the stride:
    ```yaml
    input: [1, 3, 7, 7]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 3, padding: 1}
    ```
    """
    for node, r in ctx.analyzed():
        layer = node.layer
        if not is_window(layer) or getattr(layer, "ceil_mode", False):
            continue
        axes = window_axes(layer)
        if isinstance(layer, Conv) and all(span(k, d) == 1 for k, _, d, _ in axes):
            continue  # strided 1×1 convolutions are CS202
        x = ctx.input_shapes(node)[0]
        spatial = x[-layer.ndim:]
        names = axis_names(layer.ndim)
        rf_stride = _rf_stride(ctx, node, layer.ndim)
        lost, clauses = {}, []
        for a, (L, (k, s, d, (pl, pr))) in enumerate(zip(spatial, axes)):
            if s == 1:
                continue
            w = span(k, d)

            def unread(size, k=k, s=s, d=d, pl=pl, pr=pr, w=w):
                if size + pl + pr < w:
                    return 0
                return max(0, dropped_tail(size, k, s, pl, pr, d) - pr)  # the padding may absorb the tail

            if type(L) is int:
                if unread(L):
                    lost[a] = unread(L)
                continue
            sym = one_symbol(L)
            period = period_of(rf_stride[a], s) if sym is not None else None
            counts = residue_counts(L, sym, period, unread) if period else None
            if counts and any(counts.values()):
                most = max(counts.values())
                what = _unit(names[a], 1) if most == 1 else f"up to {most} {UNIT.get(names[a], 'position')}s"
                clauses.append(f"{what} on {names[a]} {describe(sym.name, period, counts)}")
        geometry = f"{by_axis(layer.k())} {'window' if isinstance(layer, Pool) else 'kernel'} with stride {by_axis(layer.s())}"
        if lost:
            total = prod(spatial)
            kept = prod(L - lost.get(a, 0) for a, L in enumerate(spatial))
            a0 = next(iter(lost))
            (k, s, d, (pl, pr)), L = axes[a0], spatial[a0]
            pad = f" + {pl + pr}" if pl + pr else ""
            what = " and ".join(f"{_unit(names[a], c)} ({names[a]})" for a, c in lost.items())
            extra = s - (L + pl + pr - span(k, d)) % s
            fix = (f"padding={pl + extra // 2}" if extra % 2 == 0 else
                   f"an input {L + extra} or {L + extra - s} long on {names[a0]}")
            yield ctx.at(node, f"{node.kind} '{node.name}' slides a {geometry} over a {by_axis(spatial)} input, but "
                               f"({L}{pad} − {span(k, d)}) / {s} is not a whole number: the windows stop early and "
                               f"{what} are never read: {fmt_int(total - kept)} of {fmt_int(total)} input "
                               f"{point(len(spatial))} ({(total - kept) / total:.0%}) are "
                               f"dropped. Use {fix}, so that (size + 2·padding − kernel) is a multiple of the "
                               f"stride.", argument="stride")
        elif clauses:
            yield ctx.at(node, f"{node.kind} '{node.name}' slides a {geometry} that does not tile every input size: "
                               f"it never reads {' and '.join(clauses)}. Choose input sizes where "
                               f"(size + 2·padding − kernel) is a multiple of the stride, or pad accordingly.",
                         argument="stride")


@rule("CS202", "strided-pointwise-conv", "warning")
def strided_pointwise_conv(ctx):
    """## What it does
    Flags a 1×1 convolution with a stride above 1.

    ## Why is this bad?
    Each output reads exactly one input position, so with stride 2 three quarters of the input
    never reach the output (ResNet's projection shortcuts do this; ResNet-D, He et al. 2019, showed
    that fixing it improves accuracy at nearly no cost).

    ## Example
    ```yaml
    input: [1, 64, 56, 56]
    layers:
      - Conv2d: {out_channels: 128, kernel_size: 1, stride: 2, bias: false}
    ```

    ## Use instead
    Average-pool first, then project with stride 1 (ResNet-D):
    ```yaml
    input: [1, 64, 56, 56]
    layers:
      - AvgPool2d: {kernel_size: 2, stride: 2}
      - Conv2d: {out_channels: 128, kernel_size: 1, bias: false}
    ```
    """
    for node, r in ctx.analyzed():
        layer = node.layer
        if not isinstance(layer, Conv) or any(span(k, d) != 1 for k, d in zip(layer.k(), layer.d())):
            continue
        strides = layer.s()
        if all(s == 1 for s in strides):
            continue
        skipped = 1 - Fraction(1, prod(strides))
        yield ctx.at(node, f"{node.kind} '{node.name}' is a 1×1 convolution with stride {by_axis(strides)}: each output "
                           f"reads one input position, so {skipped} of its {fmt_shape(ctx.input_shapes(node)[0])} input "
                           f"is never read. ResNet-D (He et al. 2019) average-pools with stride {by_axis(strides)} "
                           f"first and then applies a stride-1 1×1 convolution, so every position contributes.",
                     argument="stride")


def _channel_dim(layer, out_rank: int) -> int:
    return out_rank - layer.ndim - 1 if isinstance(layer, (Conv, ConvTranspose)) else out_rank - 1


@rule("CS203", "bias-before-batchnorm", "warning")
def bias_before_batchnorm(ctx):
    """## What it does
    Flags a convolution or linear layer with a bias whose output goes straight into a BatchNorm
    over the same channels.

    ## Why is this bad?
    BatchNorm subtracts each channel's mean, which removes any constant added per channel: the bias
    parameters are wasted (and cost one add per output element). BatchNorm's own shift takes their
    place.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1}
      - BatchNorm2d
      - ReLU
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1, bias: false}
      - BatchNorm2d
      - ReLU
    ```
    """
    for node, r in ctx.analyzed():
        layer = node.layer
        if not isinstance(layer, (Conv, ConvTranspose, Linear)) or not layer.bias:
            continue
        bn = ctx.sole_consumer(node)
        if bn is None or not isinstance(bn.layer, BatchNorm) or _channel_dim(layer, len(r.output_shape)) != 1:
            continue
        c = r.output_shape[1]
        yield ctx.at(node, f"{node.kind} '{node.name}' adds a bias, but {ctx.label(bn.name)} right after it subtracts "
                           f"each channel's mean, which removes the bias again: its {fmt_int(c)} bias parameters "
                           f"are wasted. Set bias: false on '{node.name}'.", argument="bias")


LINEAR_AT_INFERENCE = (BatchNorm, Dropout, Identity)  # may sit between two layers that still collapse


def _combined(first, second, first_in, first_out, second_out) -> str | None:
    """What two stacked linear layers equal, or None when they are a deliberate cheaper factorization."""
    if isinstance(first, Linear) and isinstance(second, Linear):
        f_in, mid, f_out = first_in[-1], first_out[-1], second_out[-1]
        if mid < min(f_in, f_out):
            return None  # low-rank bottleneck
        return f"one Linear from {f_in} to {f_out} features"
    if not (isinstance(first, Conv) and isinstance(second, Conv) and first.ndim == second.ndim):
        return None
    n = first.ndim
    c_in, mid, c_out = first_in[-n - 1], first_out[-n - 1], second_out[-n - 1]
    if (first.groups > 1) != (second.groups > 1) or mid < min(c_in, c_out):
        return None  # depthwise-separable or bottleneck: fewer weights than the one layer they equal
    spans = [span(k1, d1) + (span(k2, d2) - 1) * s1
             for k1, d1, s1, k2, d2 in zip(first.k(), first.d(), first.s(), second.k(), second.d())]
    strides = [a * b for a, b in zip(first.s(), second.s())]
    stride = f" with stride {by_axis(strides)}" if any(s > 1 for s in strides) else ""
    return f"one {by_axis(spans)} convolution{stride} from {c_in} to {c_out} channels"


@rule("CS204", "consecutive-linear-layers", "warning")
def consecutive_linear_layers(ctx):
    """## What it does
    Flags two convolutions (or two Linear layers) with nothing nonlinear between them; only layers
    that are linear at inference (BatchNorm, Dropout, Identity) may sit between. Deliberate cheaper
    factorizations are left alone: a depthwise-separable pair, or a bottleneck narrower than both
    ends (MobileNetV2's linear bottleneck).

    ## Why is this bad?
    Two linear maps compose into one: y = W₂(W₁x) = (W₂W₁)x. The second layer adds depth, compute
    and parameters but no expressive power; usually an activation was forgotten.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
    ```
    """
    for node, r in ctx.analyzed():
        if not isinstance(node.layer, (Conv, Linear)):
            continue
        between = []
        p = ctx.producer(node)
        while p is not None and isinstance(p.layer, LINEAR_AT_INFERENCE) and ctx.sole_consumer(p) is not None:
            between.append(p)
            p = ctx.producer(p)
        if p is None or not isinstance(p.layer, (Conv, Linear)):
            continue
        equal = _combined(p.layer, node.layer, ctx.input_shapes(p)[0], ctx.output_of(p.name), r.output_shape)
        if equal is None:
            continue
        via = f" (only {', '.join(ctx.label(b.name) for b in reversed(between))}, linear at inference)" if between else ""
        yield ctx.at(node, f"{node.kind} '{node.name}' follows {ctx.label(p.name)} with nothing nonlinear between "
                           f"them{via}: two linear maps compose into one, so together they equal {equal}, and the "
                           f"extra layer adds no expressive power. Put an activation (e.g. ReLU) after "
                           f"'{(between[0] if between else p).name}'.")


@rule("CS205", "even-kernel-same-padding", "warning")
def even_kernel_same_padding(ctx):
    """## What it does
    Flags a convolution with `padding: same` and an even (dilated) kernel size.

    ## Why is this bad?
    Keeping the size then needs an odd number of padding pixels, which cannot be split evenly:
    torch pads one more after than before. The output is shifted by half a pixel against the
    input, and the shifts add up over layers.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 4, padding: same}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: same}
    ```
    """
    for node, r in ctx.analyzed():
        layer = node.layer
        if not isinstance(layer, Conv) or layer.padding != "same":
            continue
        uneven = [(name, k, pl, pr) for name, k, (pl, pr) in zip(axis_names(layer.ndim), layer.k(), layer.pads())
                  if pl != pr]
        if not uneven:
            continue
        name, k, pl, pr = uneven[0]
        yield ctx.at(node, f"{node.kind} '{node.name}' uses padding='same' with an even {by_axis(layer.k())} kernel: "
                           f"keeping the size needs {pl + pr} {point(layer.ndim, pl + pr)} of padding per axis, which "
                           f"torch splits as {pl} before and {pr} after, so the output is shifted by half a "
                           f"{point(layer.ndim, 1)} against the input. "
                           f"Use an odd kernel size (3, 5, 7), which centres 'same' padding.", argument="kernel_size")


@rule("CS209", "padding-applied-to-some-axes", "warning")
def padding_applied_to_some_axes(ctx):
    """## What it does
    Flags a convolution with a `padding_mode` other than `zeros` whose padding torch applies to only
    some spatial axes: a one-entry `padding` tuple pads only the last axis, and `padding: same` with
    a one-entry `dilation` tuple pads only the first.

    ## Why is this bad?
    With `padding_mode` reflect, replicate or circular, `nn.Conv` pads with `F.pad` before the
    convolution and computes the amounts itself: `padding: [1]` is repeated into `F.pad(x, [1, 1])`,
    which pads the last axis only, and for `same` it zips `dilation` with `kernel_size`, so a
    one-entry dilation stops after the first axis. The convolution still applies the one entry to
    every axis (ATen broadcasts it), so the other axes shrink although the spec reads as if they
    were padded. With `padding_mode: zeros` the same arguments pad every axis.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: same, dilation: [2], padding_mode: reflect}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: same, dilation: 2, padding_mode: reflect}
    ```
    """
    for node, r in ctx.analyzed():
        layer = node.layer
        if not isinstance(layer, Conv) or layer.padding_mode == "zeros" or layer.ndim < 2:
            continue
        if layer.same_pads_first_axis_only():
            what, fix = (f"padding='same' with dilation={list(layer.dilation)}", f"write dilation: {layer.dilation[0]}")
        elif layer.last_axis_padding_only():
            what, fix = (f"padding={list(layer.padding)}", f"write padding: {layer.padding[0]}")
        else:
            continue
        padded = [name for name, (pl, pr) in zip(axis_names(layer.ndim), layer.pads()) if pl or pr]
        yield ctx.at(node, f"{node.kind} '{node.name}' with padding_mode={layer.padding_mode!r} and {what} is padded "
                           f"by torch on {', '.join(padded) or 'no axis'} only (nn.Conv computes F.pad's amounts "
                           f"itself), while the convolution applies the one entry to every axis: output "
                           f"{fmt_shape(r.output_shape)}. To pad every axis, {fix}.",
                     argument="dilation" if layer.padding == "same" else "padding")


@rule("CS206", "checkerboard-transposed-conv", "warning")
def checkerboard_transposed_conv(ctx):
    """## What it does
    Flags a transposed convolution whose kernel taps overlap unevenly: the kernel size (with its
    dilation) is not divisible by the stride.

    ## Why is this bad?
    Neighbouring output pixels then receive different numbers of kernel taps, which paints a
    checkerboard pattern into the output (Odena, Dumoulin and Olah 2016, "Deconvolution and
    Checkerboard Artifacts").

    ## Example
    ```yaml
    input: [1, 64, 16, 16]
    layers:
      - ConvTranspose2d: {out_channels: 32, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}
    ```

    ## Use instead
    A kernel divisible by the stride (or Upsample followed by a stride-1 convolution):
    ```yaml
    input: [1, 64, 16, 16]
    layers:
      - ConvTranspose2d: {out_channels: 32, kernel_size: 4, stride: 2, padding: 1}
    ```
    """
    for node, r in ctx.analyzed():
        layer = node.layer
        if not isinstance(layer, ConvTranspose):
            continue
        for name, k, s, d in zip(axis_names(layer.ndim), layer.k(), layer.s(), layer.d()):
            if s == 1:
                continue
            taps = [sum(1 for j in range(k) if (j * d) % s == res) for res in range(s)]
            if len(set(taps)) == 1:
                continue
            yield ctx.at(node, f"{node.kind} '{node.name}' has kernel {k} and stride {s} on {name}: the kernel taps "
                               f"overlap unevenly, so neighbouring output {point(layer.ndim)} receive {min(taps)} and {max(taps)} "
                               f"taps in turn, which paints a checkerboard pattern into the output (Odena et al. 2016). "
                               f"Use kernel_size {k + (-k) % s} with stride {s}, or Upsample followed by a stride-1 "
                               f"convolution.", argument="kernel_size")
            break


@rule("CS207", "pool-window-larger-than-input", "warning")
def pool_window_larger_than_input(ctx):
    """## What it does
    Flags a pooling layer whose window is larger than its (unpadded) input, which works only
    because of padding or `ceil_mode`.

    ## Why is this bad?
    Every window reaches into the padding: the layer computes a global maximum or average in a
    roundabout way (AvgPool with `count_include_pad` even averages in the zeros), and a slightly
    smaller input would make it fail.

    ## Example
    ```yaml
    input: [1, 64, 2, 2]
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1}
      - ReLU
      - MaxPool2d: {kernel_size: 3, stride: 2, padding: 1}
    ```

    ## Use instead
    Global pooling says what is meant:
    ```yaml
    input: [1, 64, 2, 2]
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1}
      - ReLU
      - AdaptiveMaxPool2d: {output_size: 1}
    ```
    """
    for node, r in ctx.analyzed():
        layer = node.layer
        if not isinstance(layer, Pool):
            continue
        x = ctx.input_shapes(node)[0]
        for name, L, (k, s, d, _) in zip(axis_names(layer.ndim), x[-layer.ndim:], window_axes(layer)):
            if type(L) is int and span(k, d) > L:
                kind = "maximum" if "Max" in node.kind else "average"
                yield ctx.at(node, f"{node.kind} '{node.name}' has a {by_axis(layer.k())} window but its input "
                                   f"{fmt_shape(x)} is only {L} on {name}: every window reaches into the padding, so "
                                   f"the layer computes a global {kind} in a roundabout way. Use Adaptive"
                                   f"{'Max' if kind == 'maximum' else 'Avg'}Pool{layer.ndim}d with output_size 1, or a "
                                   f"window no larger than the input.", argument="kernel_size")
                break


@rule("CS208", "dropout-before-batchnorm", "warning")
def dropout_before_batchnorm(ctx):
    """## What it does
    Flags a dropout layer that feeds a BatchNorm directly.

    ## Why is this bad?
    Dropout rescales the kept activations by 1/(1 − p) during training only, so the variance
    BatchNorm accumulates in training does not match what it sees at inference. This "variance
    shift" costs accuracy (Li, Chen, Hu and Yang 2019, "Understanding the Disharmony between
    Dropout and Batch Normalization").

    ## Example
    ```yaml
    input: [1, 64, 16, 16]
    layers:
      - Dropout: {p: 0.5}
      - BatchNorm2d
      - ReLU
    ```

    ## Use instead
    Put dropout after the last BatchNorm (e.g. just before the classifier):
    ```yaml
    input: [1, 64, 16, 16]
    layers:
      - BatchNorm2d
      - ReLU
      - Dropout: {p: 0.5}
    ```
    """
    for node, r in ctx.analyzed():
        if not isinstance(node.layer, Dropout):
            continue
        bn = ctx.sole_consumer(node)
        if bn is None or not isinstance(bn.layer, BatchNorm):
            continue
        yield ctx.at(node, f"{node.kind} '{node.name}' (p={node.layer.p}) feeds {ctx.label(bn.name)} directly: dropout "
                           f"rescales activations by 1/(1 − p) in training only, so the variance BatchNorm learns "
                           f"does not match inference (the variance shift of Li et al. 2019). Move the dropout after "
                           f"the last BatchNorm, e.g. just before the classifier.")


LAYOUT_KINDS = {"Permute", "Reshape", "Flatten", "Unflatten"}  # after these, the last dim may be features


@rule("CS210", "linear-on-feature-map", "warning")
def linear_on_feature_map(ctx):
    """## What it does
    Flags a `Linear` that receives a feature map still laid out as N, C and spatial dims (from a
    convolution, a pooling layer or the network input, with no `Flatten`, `Reshape` or `Permute`
    in between), usually a forgotten `Flatten`.

    ## Why is this bad?
    torch's Linear multiplies over the last dim only: on a 1×32×32×32 map it mixes the 32 columns
    of each row and keeps C and H, giving a 1×32×32×10 output instead of 1×10. It runs without an
    error, so the mistake shows only as a wrong output shape or a poor model.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - Linear: {out_features: 10}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - Flatten
      - Linear: {out_features: 10}
    ```
    """
    rank = len(ctx.report.input_shape)
    if rank < 3:
        return
    names = axis_names(rank - 2)
    for node, r in ctx.analyzed():
        if not isinstance(node.layer, Linear):
            continue
        x = ctx.output_of(node.inputs[0])
        if x is None or len(x) != rank:
            continue
        origin = _feature_map_origin(ctx, node, rank)
        if origin is None:
            continue
        features = prod(x[1:])
        yield ctx.at(node, f"Linear '{node.name}' gets the feature map {fmt_shape(x)} from {ctx.label(origin)}, "
                           f"still N, C, {', '.join(names)}: it multiplies over the last dim only "
                           f"({names[-1]} = {fmt_int(x[-1])}) and gives {fmt_shape(r.output_shape)}. Add a Flatten "
                           f"before it (C×{'×'.join(names)} = {fmt_int(features)} features), or global pooling "
                           f"and a Flatten.")


def _feature_map_origin(ctx, node, rank: int):
    """The convolution, pooling layer or network input whose N, C, spatial layout reaches `node`
    unchanged (every ancestor keeps the rank, none reorders or reshapes, none is a Linear), or None."""
    origin = None
    stack, seen = list(node.inputs), set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name == INPUT:
            origin = origin or INPUT
            continue
        n = ctx.network.node(name)
        out = ctx.output_of(name)
        if n.kind in LAYOUT_KINDS or isinstance(n.layer, Linear) or out is None or len(out) != rank:
            return None
        if origin in (None, INPUT) and isinstance(n.layer, (Conv, ConvTranspose, Pool)):
            origin = name
        stack.extend(n.inputs)
    return origin
