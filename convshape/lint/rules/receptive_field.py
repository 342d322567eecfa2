"""CS3xx: receptive field. What each output can see of the input (convshape.rf)."""
from __future__ import annotations

from fractions import Fraction

from ...graph import INPUT
from ..context import axis_names, by_axis
from ..kinds import AdaptivePool
from ..registry import rule
from ..words import point, whole


def _num(x) -> str:
    if isinstance(x, Fraction):
        return str(x.numerator) if x.denominator == 1 else f"{float(x):g}"
    return str(x)


def _head_path(ctx, node) -> bool:
    """True when `node` reaches a network output through single-input layers only (a classifier head)."""
    outputs = set(ctx.network.output_names)
    while node.name not in outputs:
        nxt = ctx.sole_consumer(node)
        if nxt is None or len(nxt.inputs) != 1:
            return False
        node = nxt
    return True


@rule("CS301", "classifier-rf-too-small", "warning")
def classifier_rf_too_small(ctx):
    """## What it does
    Flags global pooling in a classifier head whose input features have a receptive field smaller
    than the network input: the classifier never sees the whole image. For a symbolic input it says
    from which size on this happens.

    ## Why is this bad?
    Global pooling averages (or maxes) features that each see one patch; no feature relates parts
    of the image farther apart than the receptive field, so objects larger than it are recognised
    only as a bag of local textures.

    ## Example
    ```yaml
    input: [1, 3, 64, 64]
    layers:
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - AdaptiveAvgPool2d: {output_size: 1}
      - Flatten
      - Linear: {out_features: 10}
    ```

    ## Use instead
    Downsample until the receptive field covers the input:
    ```yaml
    input: [1, 3, 64, 64]
    layers:
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - MaxPool2d: {kernel_size: 2}
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - MaxPool2d: {kernel_size: 2}
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - MaxPool2d: {kernel_size: 2}
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - MaxPool2d: {kernel_size: 2}
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
      - ReLU
      - AdaptiveAvgPool2d: {output_size: 1}
      - Flatten
      - Linear: {out_features: 10}
    ```
    """
    spatial = tuple(ctx.report.input_shape[2:])
    for node, r in ctx.analyzed():
        if not isinstance(node.layer, AdaptivePool) or not r.receptive_field.is_global or not _head_path(ctx, node):
            continue
        rf = ctx.rf_of(node.inputs[0]) if node.inputs[0] != INPUT else None
        sizes = tuple(rf.size) if rf is not None else (1,) * len(spatial)
        if rf is not None and rf.is_global or len(sizes) != len(spatial):
            continue
        names = axis_names(len(spatial))
        short = [(n, s, L) for n, s, L in zip(names, sizes, spatial) if type(s) is int and
                 (type(L) is not int or s < L)]
        if not short:
            continue
        when = ""
        if any(type(L) is not int for _, _, L in short):
            when = " when " + " or ".join(f"{L} > {s}" for _, s, L in short)
        yield ctx.at(node, f"{node.kind} '{node.name}' pools features that each see only {by_axis(sizes)} "
                           f"{point(len(spatial))} of the {by_axis(spatial)} input{when}: no feature relates parts of the "
                           f"{whole(len(spatial))} farther apart than that, so the classifier never sees the whole "
                           f"{whole(len(spatial))}. Add downsampling stages, dilation or "
                           f"larger kernels until the receptive field covers the input.")


@rule("CS302", "misaligned-merge", "warning")
def misaligned_merge(ctx):
    """## What it does
    Flags an `Add`, `Mul` or `Concat` whose branches' receptive fields are not aligned: they have
    different strides or their centres sit at different input positions.

    ## Why is this bad?
    The same output position then combines features computed around different places of the
    input, typically half a pixel apart after an even-sized window. The merge blurs or shifts what
    the branches found (the ResNet-D shortcut and U-Net skips are the usual places).

    ## Example
    ```yaml
    input: [1, 16, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
        name: main
      - MaxPool2d: {kernel_size: 2}
        name: pool
        inputs: input
      - Add:
        inputs: [main, pool]
    ```

    ## Use instead
    Windows whose centres agree (odd kernels with padding (k − 1) / 2):
    ```yaml
    input: [1, 16, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
        name: main
      - MaxPool2d: {kernel_size: 3, stride: 2, padding: 1}
        name: pool
        inputs: input
      - Add:
        inputs: [main, pool]
    ```
    """
    n = max(len(ctx.report.input_shape) - 2, 0)
    names = axis_names(n)
    for node, r in ctx.analyzed():
        if len(node.inputs) < 2 or r.receptive_field.aligned is not False:
            continue
        parts = []
        centres = []
        for i in node.inputs:
            rf = ctx.rf_of(i) if i != INPUT else None
            if rf is not None and rf.is_global:
                continue
            size, stride, pad = ((1,) * n, (1,) * n, (0,) * n) if rf is None else (rf.size, rf.stride, rf.padding)
            centre = tuple(Fraction(-p) + Fraction(s - 1, 2) for s, p in zip(size, pad))
            centres.append(centre)
            parts.append(f"{ctx.label(i)} has stride {by_axis(stride)} and centre "
                         f"{'×'.join(_num(c) for c in centre)}")
        if len(parts) < 2:
            continue
        gap = max(abs(a[j] - b[j]) for a in centres for b in centres for j in range(n)) if n else 0
        yield ctx.at(node, f"{node.kind} '{node.name}' merges branches whose receptive fields are not aligned on the "
                           f"input ({'; '.join(parts)}, in input {point(n)} on {by_axis(names)}): the same output "
                           f"position combines features centred up to {_num(gap)} {point(n, gap)} apart. Give the branches windows whose "
                           f"centres agree (odd kernels with padding (k − 1) / 2).")
