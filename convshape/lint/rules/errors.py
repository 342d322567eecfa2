"""CS1xx: the network cannot run on its input. analyze(on_error="stop") ends at the failing layer;
each rule here recomputes one cause on that layer and explains it; CS100 catches the rest."""
from __future__ import annotations

from ...analysis import analyze
from ...graph import INPUT
from ...layers.window import transposed_output
from ..context import axis_names, by_axis, fmt_int, fmt_shape
from ..kinds import Concat, Conv, ConvTranspose, Elementwise, GroupNorm, Linear, Pool, is_window, span, window_axes
from ..registry import rule

FEATURE_ARGS = {"in_features": "features (its last dim)"}


def _failing(ctx, kinds):
    node = ctx.failing_node()
    if node is None or not isinstance(node.layer, kinds):
        return None, None
    return node, [tuple(s) for s in ctx.failure.input_shapes]


def _dim_name(rank: int, net_rank: int, axis: int) -> str:
    if rank == net_rank and rank >= 3:
        return ("N", "C")[axis] if axis < 2 else axis_names(rank - 2)[axis - 2]
    return f"dim {axis}"


@rule("CS101", "merge-shape-mismatch", "error")
def merge_shape_mismatch(ctx):
    """## What it does
    Flags an `Add`, `Mul` or `Concat` whose input branches have shapes that cannot be combined,
    naming both branches and their shapes.

    ## Why is this bad?
    Element-wise merges need every dim equal (or 1, which broadcasts); `Concat` needs every dim
    but the joined one equal. A residual shortcut that is not downsampled like the main branch, or
    has a different channel count, fails at the first forward pass.

    ## Example
    ```yaml
    input: [1, 16, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
        name: conv
      - Add:
        inputs: [conv, input]
    ```

    ## Use instead
    Downsample the shortcut like the main branch:
    ```yaml
    input: [1, 16, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
        name: conv
      - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
        name: shortcut
        inputs: input
      - Add:
        inputs: [conv, shortcut]
    ```
    """
    node, ins = _failing(ctx, (Elementwise, Concat))
    if node is None:
        return
    names = node.inputs
    net_rank = len(ctx.report.input_shape)
    what = f"{node.kind} '{node.name}'"
    if isinstance(node.layer, Concat):
        ranks = [len(s) for s in ins]
        if len(set(ranks)) > 1:
            j = next(j for j, r in enumerate(ranks) if r != ranks[0])
            yield ctx.at(node, f"{what} cannot join {ctx.label(names[0])} {fmt_shape(ins[0])} with "
                               f"{ctx.label(names[j])} {fmt_shape(ins[j])}: they have {ranks[0]} and {ranks[j]} dims. "
                               f"Concat needs tensors of the same rank.")
            return
        d = node.layer.dim % ranks[0]
        for j, s in enumerate(ins[1:], 1):
            for axis, (a, b) in enumerate(zip(ins[0], s)):
                if axis != d and type(a) is int and type(b) is int and a != b:
                    yield ctx.at(node, f"{what} joins along dim {node.layer.dim}, so all other dims must match, but "
                                       f"{ctx.label(names[0])} gives {fmt_shape(ins[0])} and {ctx.label(names[j])} "
                                       f"gives {fmt_shape(s)}: {_dim_name(ranks[0], net_rank, axis)} is {a} vs {b}. "
                                       + _hint(axis, ranks[0], net_rank, a, b))
                    return
        return
    rank = max(len(s) for s in ins)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in ins]
    for axis in range(rank):
        sizes = [(j, p[axis]) for j, p in enumerate(padded) if not (type(p[axis]) is int and p[axis] == 1)]
        for (j0, a), (j, b) in zip(sizes, sizes[1:]):
            if type(a) is int and type(b) is int and a != b:
                yield ctx.at(node, f"{what} cannot combine {ctx.label(names[j0])} {fmt_shape(ins[j0])} with "
                                   f"{ctx.label(names[j])} {fmt_shape(ins[j])}: {_dim_name(rank, net_rank, axis)} is "
                                   f"{a} vs {b}, and element-wise merges need equal sizes (or 1) in every dim. "
                                   + _hint(axis, rank, net_rank, a, b))
                return


def _hint(axis, rank, net_rank, a, b) -> str:
    if rank == net_rank and rank >= 3 and axis == 1:
        return (f"The branches have different channel counts: project one with a 1×1 convolution to "
                f"{max(a, b)} channels.")
    if rank == net_rank and axis >= 2:
        if max(a, b) % min(a, b):  # 25 vs 24: a size halved with floor on one path, doubled on the other
            return (f"The sizes differ by {abs(a - b)}: one path rounded an odd size down when halving it. Use an "
                    f"input size every downsampling divides, or pad/crop so the sizes agree.")
        ratio = max(a, b) / min(a, b)
        return (f"One branch is downsampled {'%g' % ratio}× more than the other: give the other branch the same "
                f"stride (or pad/crop so the sizes agree).")
    return "Make the branches produce the same shape."


@rule("CS102", "channel-mismatch", "error")
def channel_mismatch(ctx):
    """## What it does
    Flags a layer whose declared `in_channels`, `in_features`, `num_features` or `num_channels`
    differs from what its input actually carries.

    ## Why is this bad?
    torch builds the weight from the declared size; the first forward pass then fails with a matrix
    size mismatch. Usually an earlier layer's `out_channels` changed and this one was not updated.

    ## Example
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {in_channels: 32, out_channels: 32, kernel_size: 3, padding: 1}
    ```

    ## Use instead
    Declare what arrives, or leave the input size out and let convshape infer it:
    ```yaml
    input: [1, 3, 32, 32]
    layers:
      - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
    ```
    """
    node = ctx.failing_node()
    if node is None or not node.layer.inferred or isinstance(node.layer, Linear) and ctx.flatten_before(node):
        return
    x = ctx.failure.input_shapes[0]
    try:
        actual = node.layer.infer([tuple(s) for s in ctx.failure.input_shapes])
    except Exception:
        return
    for arg, value in actual.items():
        written = getattr(node.layer, arg, None)
        if written is not None and type(value) is int and written != value:
            what = FEATURE_ARGS.get(arg, "channels")
            src = f" (the output of {ctx.label(node.inputs[0])})" if node.inputs[0] != INPUT else ""
            yield ctx.at(node, f"{node.kind} '{node.name}' declares {arg}={written} but its input {fmt_shape(x)}{src} "
                               f"has {value} {what}. The declared size must match what arrives: set {arg}: {value}, "
                               f"or leave {arg} out and convshape infers it.", argument=arg)
            return


@rule("CS103", "groups-not-dividing", "error")
def groups_not_dividing(ctx):
    """## What it does
    Flags a grouped convolution (`groups`) or a `GroupNorm` (`num_groups`) whose input channel count
    is not divisible by the number of groups. (`out_channels` not divisible by `groups` is refused
    when the spec loads, as torch's constructor does.)

    ## Why is this bad?
    Groups split the channels into equal parts; with 48 channels there are no 32 equal groups, so
    torch refuses the input at the first forward pass.

    ## Example
    ```yaml
    input: [1, 48, 16, 16]
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1, groups: 32}
    ```

    ## Use instead
    ```yaml
    input: [1, 48, 16, 16]
    layers:
      - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1, groups: 16}
    ```
    """
    node, ins = _failing(ctx, (Conv, ConvTranspose, GroupNorm))
    if node is None:
        return
    layer, x = node.layer, ins[0]
    if isinstance(layer, GroupNorm):
        c, g, arg, what = x[1] if len(x) > 1 else None, layer.num_groups, "num_groups", "GroupNorm normalizes"
    else:
        c = x[-layer.ndim - 1] if len(x) > layer.ndim else None
        g, arg, what = layer.groups, "groups", "a grouped convolution splits"
    if type(c) is not int or c % g == 0:
        return
    divisors = [d for d in range(1, c + 1) if c % d == 0]
    lower = max(d for d in divisors if d < g)
    higher = [d for d in divisors if d > g]
    options = f"{lower}" + (f" or {higher[0]}" if higher else "")
    yield ctx.at(node, f"{node.kind} '{node.name}' has {arg}={g} but its input {fmt_shape(x)} has {c} channels: "
                       f"{what} the channels into {g} equal groups, and {c} is not divisible by {g}. Use {arg} that "
                       f"divides {c} (e.g. {options}), or give the layer before it a multiple of {g} output channels.",
                 argument=arg)


@rule("CS104", "spatial-collapse", "error")
def spatial_collapse(ctx):
    """## What it does
    Flags a layer whose output would have a spatial size of zero or less by its own formula, such
    as a transposed convolution whose padding removes more than the layer produces.

    ## Why is this bad?
    A tensor with a zero-sized dim carries nothing: torch refuses it, or every later layer works
    on an empty tensor. (A sliding window that does not fit its input is CS105; padding layers
    that crop too much and Upsample with a too small scale_factor check their own output size and
    are reported by CS100 in their own words.)

    ## Example
    ```yaml
    input: [1, 8, 1, 1]
    layers:
      - ConvTranspose2d: {out_channels: 8, kernel_size: 3, padding: 2}
    ```

    ## Use instead
    ```yaml
    input: [1, 8, 1, 1]
    layers:
      - ConvTranspose2d: {out_channels: 8, kernel_size: 3, padding: 1}
    ```
    """
    node, ins = _failing(ctx, ConvTranspose)
    if node is not None and len(ins[0]) in (node.layer.ndim + 1, node.layer.ndim + 2):
        layer, x = node.layer, ins[0]
        names = axis_names(layer.ndim)
        for a, (L, k, s, p, op, d) in enumerate(zip(x[-layer.ndim:], layer.k(), layer.s(), layer.p(),
                                                     layer.op(), layer.d())):
            if type(L) is not int:
                continue
            size = transposed_output(L, k, s, p, op, d)
            if size < 1:
                top = ((L - 1) * s + d * (k - 1) + op) // 2
                yield ctx.at(node, f"{node.kind} '{node.name}' would produce size {size} on {names[a]}: "
                                   f"({L} − 1)·{s} − 2·{p} + {d}·({k} − 1) + {op} + 1 = {size}, so padding {p} removes "
                                   f"more than the layer produces. Use padding ≤ {top} for this input.",
                             argument="padding")
                return
    for node, r in ctx.analyzed():
        bad = [(i, d) for i, d in enumerate(r.output_shape) if type(d) is int and d < 1]
        if bad:
            i, d = bad[0]
            yield ctx.at(node, f"{node.kind} '{node.name}' outputs {fmt_shape(r.output_shape)}: dim {i} has size {d}, "
                               f"so the tensor is empty from here on. Check the sizes this layer is given.")


@rule("CS105", "kernel-larger-than-input", "error")
def kernel_larger_than_input(ctx):
    """## What it does
    Flags a convolution or pooling layer whose (dilated) kernel is larger than its padded input,
    and says how far earlier layers have already shrunk the input and which input size would work.

    ## Why is this bad?
    No window fits, so the output would be empty and torch stops with "Output size is too small".
    Typically the input is too small for the number of downsampling stages before the layer.

    ## Example
    ```yaml
    input: [1, 3, 16, 16]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
      - MaxPool2d: {kernel_size: 2}
      - MaxPool2d: {kernel_size: 2}
      - MaxPool2d: {kernel_size: 2}
      - Conv2d: {out_channels: 8, kernel_size: 3}
    ```

    ## Use instead
    Pad the last convolution (or feed a larger input, or drop a downsampling stage):
    ```yaml
    input: [1, 3, 16, 16]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
      - MaxPool2d: {kernel_size: 2}
      - MaxPool2d: {kernel_size: 2}
      - MaxPool2d: {kernel_size: 2}
      - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
    ```
    """
    node, ins = _failing(ctx, (Conv, Pool))
    if node is None or not is_window(node.layer) or len(ins[0]) not in (node.layer.ndim + 1, node.layer.ndim + 2):
        return
    layer, x = node.layer, ins[0]
    names = axis_names(layer.ndim)
    word = "window" if isinstance(layer, Pool) else "kernel"
    short = [a for a, (L, (k, s, d, (pl, pr))) in enumerate(zip(x[-layer.ndim:], window_axes(layer)))
             if type(L) is int and L + pl + pr < span(k, d)]
    if not short:
        return
    a = short[0]
    L, (k, s, d, (pl, pr)) = x[-layer.ndim:][a], window_axes(layer)[a]
    size = f"{k}" + (f" (dilation {d}: it spans {span(k, d)})" if d > 1 else "")
    padded = f" ({L + pl + pr} with padding)" if pl + pr else ""
    msg = (f"{node.kind} '{node.name}' has a {word} of {size} on {names[a]} but its input {fmt_shape(x)} is only "
           f"{L}{padded} there: no window fits, so the output would be empty.")
    rf = ctx.rf_of(node.inputs[0]) if node.inputs[0] != INPUT else None
    if rf is not None and a < len(rf.stride) and rf.stride[a] != 1:
        msg += f" The layers before it have already downsampled {names[a]} {rf.stride[a]}×."
    first = len(x) - layer.ndim
    need = {first + b: _smallest_input(ctx, node, first + b, [first + c for c in range(layer.ndim)]) for b in short}
    if all(v is not None for v in need.values()):
        msg += " " + _needed_sizes(ctx, need, {first + b: names[b] for b in short}) + "; or use"
    else:
        msg += " Use"
    msg += " padding, a smaller kernel or fewer downsampling stages."
    yield ctx.at(node, msg, argument="kernel_size")


def _needed_sizes(ctx, need: dict, names: dict) -> str:
    """'It needs a network input with H ≥ 47 and W ≥ 47', bounded above where a later layer's written
    argument (a Linear's in_features after Flatten) fixes the size, or saying that no such input passes it."""
    shape = list(ctx.report.input_shape)
    for i, v in need.items():
        shape[i] = v
    at_least = " and ".join(f"{names[i]} ≥ {v}" for i, v in need.items())
    failure = _full_failure(ctx, shape)
    if failure is not None:  # the smallest sizes that reach the layer break a later one: say which, and why
        sizes = ", ".join(f"{names[i]} = {v}" for i, v in need.items())
        return (f"It needs a network input with {at_least}, but at {sizes} {failure.layer} fails next "
                f"({failure.message}): {_fix_for(failure)}")
    upper = {i: _largest_input(ctx, shape, i) for i in need}
    if all(u is None for u in upper.values()):
        return f"It needs a network input with {at_least}"
    bounds = " and ".join(f"{names[i]} ≥ {v}" if upper[i] is None else f"{v} ≤ {names[i]} ≤ {upper[i][0]}"
                          for i, v in need.items())
    why = next(u[1] for u in upper.values() if u is not None)
    return f"It needs a network input with {bounds} (above that {why.layer} fails: {why.message})"


def _fix_for(failure) -> str:
    """What to change when a written input-side argument (in_features, in_channels, ...) blocks every size."""
    if failure.argument in ("in_features", "in_channels", "num_features", "num_channels"):
        return f"choose sizes that give {failure.layer} its {failure.argument}, or leave {failure.argument} out " \
               f"(it is inferred)"
    return f"choose sizes that {failure.layer} accepts too"


def _full_failure(ctx, shape):
    """The ShapeError the whole network meets at this input, or None when it runs."""
    from ...analysis import analyze
    return analyze(ctx.network, [d if type(d) is int else str(d) for d in shape], on_error="stop").failure


def _largest_input(ctx, shape, dim: int, limit: int = 1 << 16):
    """(largest size on `dim` for which the whole network still runs, the failure just above it), or None
    when every size up to `limit` runs (no upper bound). `shape` runs; validity is an interval above it."""
    def fails(size):
        trial = list(shape)
        trial[dim] = size
        return _full_failure(ctx, trial)

    lo, hi = shape[dim], shape[dim] * 2
    while fails(hi) is None:
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fails(mid) is not None else (mid, hi)
    return lo, fails(hi)


def _smallest_input(ctx, node, dim: int, spatial, limit: int = 1 << 16):
    """Smallest network input size on `dim` for which `node` gets a non-empty output, with the other
    spatial dims made large (sizes only grow with the input: a doubling search, then bisection)."""
    shape = list(ctx.report.input_shape)
    if len(shape) != len(ctx.failure.input_shapes[0]) or any(type(shape[i]) is not int for i in spatial):
        return None
    for i in spatial:
        if i != dim:
            shape[i] = max(shape[i], limit)

    def reaches(size):
        trial = list(shape)
        trial[dim] = size
        report = analyze(ctx.network, [d if type(d) is int else str(d) for d in trial], on_error="stop")
        return node.name in {r.name for r in report.layers}

    lo, hi = shape[dim], shape[dim] * 2
    while not reaches(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return hi


@rule("CS106", "flatten-linear-mismatch", "error")
def flatten_linear_mismatch(ctx):
    """## What it does
    Flags a `Linear` after `Flatten` whose declared `in_features` differs from the flattened size,
    and shows how that size arises (channels × height × width).

    ## Why is this bad?
    This is the classic LeNet bug: `in_features` was worked out by hand for another input size or
    padding, and the network fails with "mat1 and mat2 shapes cannot be multiplied" at the first
    forward pass.

    ## Example
    ```yaml
    input: [1, 1, 32, 32]
    layers:
      - Conv2d: {out_channels: 50, kernel_size: 5, padding: 2}
      - MaxPool2d: {kernel_size: 4}
      - Flatten
      - Linear: {in_features: 2450, out_features: 10}
    ```

    ## Use instead
    ```yaml
    input: [1, 1, 32, 32]
    layers:
      - Conv2d: {out_channels: 50, kernel_size: 5, padding: 2}
      - MaxPool2d: {kernel_size: 4}
      - Flatten
      - Linear: {in_features: 3200, out_features: 10}
    ```
    """
    node, ins = _failing(ctx, Linear)
    if node is None or node.layer.in_features is None:
        return
    flat = ctx.flatten_before(node)
    actual = ins[0][-1]
    if flat is None or type(actual) is not int or actual == node.layer.in_features:
        return
    src = ctx.input_shapes(flat)[0]
    s, e = flat.layer._range(src)
    parts = src[s:e + 1]
    how = " × ".join(str(p) for p in parts)
    if len(src) >= 3 and s == 1 and e == len(src) - 1:
        how = f"{parts[0]} channels × " + " × ".join(str(p) for p in parts[1:])
    msg = (f"Linear '{node.name}' declares in_features={node.layer.in_features} but '{flat.name}' (Flatten) gives "
           f"{how} = {fmt_int(actual)} features from its input {fmt_shape(src)}.")
    w = node.layer.in_features
    if len(parts) >= 2 and all(type(p) is int for p in parts) and w % parts[0] == 0:
        side = round((w // parts[0]) ** (1 / (len(parts) - 1)))
        if side ** (len(parts) - 1) == w // parts[0]:
            msg += (f" {w} = {parts[0]} × " + " × ".join([str(side)] * (len(parts) - 1))
                    + f" would fit a {by_axis([side] * (len(parts) - 1))} map, i.e. another input size or padding.")
    msg += f" Set in_features: {actual}, or leave it out and convshape infers it."
    yield ctx.at(node, msg, argument="in_features")


@rule("CS100", "invalid-layer", "error", runs_last=True)
def invalid_layer(ctx):
    """## What it does
    Reports a layer that cannot take its input for a reason no more specific CS1xx rule explains,
    for example a 2-D convolution fed a flattened tensor.

    ## Why is this bad?
    torch would raise at the first forward pass. Analysis stops at this layer, so layers after it
    are not checked until it is fixed.

    ## Example
    ```yaml
    input: [1, 3, 8, 8]
    layers:
      - Flatten
      - Conv2d: {out_channels: 8, kernel_size: 3}
    ```

    ## Use instead
    ```yaml
    input: [1, 3, 8, 8]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3}
      - Flatten
    ```
    """
    node = ctx.failing_node()
    if node is None or any(f.layer == node.name and f.severity == "error" for f in ctx.findings):
        return
    shapes = ", ".join(fmt_shape(s) for s in ctx.failure.input_shapes)
    yield ctx.at(node, f"{node.kind} '{node.name}' cannot take its input {shapes}: {ctx.failure.message.rstrip('.')}.",
                 argument=ctx.failure.argument)
