"""CS4xx: efficiency. Where the parameters and the hardware time go."""
from __future__ import annotations

from ...dims import prod, substitute
from ..context import fmt_int, fmt_shape
from ..kinds import Conv, ConvTranspose, Linear
from ..registry import rule

DOMINANT_FRACTION = 0.5
DOMINANT_MIN_PARAMS = 1_000_000   # small networks may well keep most weights in one layer
TENSOR_CORE_MULTIPLE = 8
MIN_MACS_SHARE = 0.01             # layers cheaper than this (SE squeezes, ...) do not matter for speed
SAMPLE_SIZE = 256                 # for shares of symbolic counts


@rule("CS401", "dominant-layer", "warning")
def dominant_layer(ctx):
    """## What it does
    Flags one layer holding more than half of the network's parameters (in networks of at least a
    million parameters).

    ## Why is this bad?
    Usually a fully connected layer on a flattened feature map: VGG-16's first one holds 103 of its
    138 million parameters. Such a layer needs much data, overfits, and fixes the input size.
    Global average pooling before the classifier (ResNet, GoogLeNet) removes most of it.

    ## Example
    ```yaml
    input: [1, 256, 7, 7]
    layers:
      - Conv2d: {out_channels: 256, kernel_size: 3, padding: 1}
      - ReLU
      - Flatten
      - Linear: {out_features: 1024}
      - ReLU
      - Linear: {out_features: 1000}
    ```

    ## Use instead
    Spend the parameters on convolutions and pool globally before the classifier:
    ```yaml
    input: [1, 256, 7, 7]
    layers:
      - Conv2d: {out_channels: 256, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 256, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 256, kernel_size: 3, padding: 1}
      - ReLU
      - AdaptiveAvgPool2d: {output_size: 1}
      - Flatten
      - Linear: {out_features: 1000}
    ```
    """
    if ctx.failure is not None:
        return
    total = ctx.report.totals.params
    if type(total) is not int or total < DOMINANT_MIN_PARAMS:
        return
    for node, r in ctx.analyzed():
        if type(r.params) is int and r.params > DOMINANT_FRACTION * total:
            why = ""
            p = ctx.flatten_before(node) if isinstance(node.layer, Linear) else None
            if p is not None:
                src = ctx.input_shapes(p)[0]
                positions = prod(src[2:])
                why = (f" It is fully connected to a flattened {fmt_shape(src)} map; global average pooling "
                       f"before it would divide its weights by {fmt_int(positions)}.") if positions != 1 else ""
            yield ctx.at(node, f"{node.kind} '{node.name}' holds {fmt_int(r.params)} of the network's {fmt_int(total)} "
                               f"parameters ({r.params / total:.0%}).{why} Such a layer needs much data and overfits "
                               f"easily; consider pooling before it or a smaller layer.")


def at_sample(x) -> int:
    """A count at a concrete size: symbolic input sizes taken as SAMPLE_SIZE (shares barely depend on it)."""
    if type(x) is int:
        return x
    return substitute(x, {s.name: SAMPLE_SIZE for s in x.free_symbols})


def _heads(ctx) -> set:
    """Names of the last layer with weights on the way to each output (its size is the task's, e.g.
    classes; a detector's or a multi-task network's every head)."""
    heads = set()
    for name in ctx.network.output_names:
        node = ctx.network.node(name)
        while node is not None and not isinstance(node.layer, (Conv, ConvTranspose, Linear)):
            node = ctx.producer(node)
        if node is not None:
            heads.add(node.name)
    return heads


@rule("CS402", "channels-not-multiple-of-8", "info")
def channels_not_multiple_of_8(ctx):
    """## What it does
    Notes a convolution or linear layer whose output channel count is not a multiple of 8. Exempt:
    the final layer of each output (its size is the task's) and layers doing under 1% of the MACs
    (such as squeeze-and-excitation reductions; symbolic sizes counted at 256), where speed does
    not depend on them.

    ## Why is this bad?
    GPU tensor cores (fp16, bf16) multiply matrices in tiles of 8; other sizes are padded or fall
    back to slower kernels, so 20 channels can cost as much time as 24 or more.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 20, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 10, kernel_size: 1}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 24, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 10, kernel_size: 1}
    ```
    """
    heads = _heads(ctx) if ctx.failure is None else set()
    total = at_sample(ctx.report.totals.macs)
    for node, r in ctx.analyzed():
        layer = node.layer
        if not isinstance(layer, (Conv, ConvTranspose, Linear)) or node.name in heads:
            continue
        if at_sample(r.macs) < MIN_MACS_SHARE * total:
            continue
        arg = "out_features" if isinstance(layer, Linear) else "out_channels"
        c = getattr(layer, arg)
        if c % TENSOR_CORE_MULTIPLE:
            lo = c - c % TENSOR_CORE_MULTIPLE
            near = f"{lo} or {lo + TENSOR_CORE_MULTIPLE}" if lo else f"{TENSOR_CORE_MULTIPLE}"
            yield ctx.at(node, f"{node.kind} '{node.name}' has {arg}={c}, not a multiple of {TENSOR_CORE_MULTIPLE}: "
                               f"tensor cores (fp16/bf16) work in tiles of {TENSOR_CORE_MULTIPLE}, so this size is "
                               f"padded or runs on slower kernels. Consider {near}.", argument=arg)


