"""CS5xx: input-size constraints (convshape.constraints). Which sizes work, and which lose pixels."""
from __future__ import annotations

from ..registry import rule
from ..words import point


def _symbolic_input(ctx):
    return tuple(d if isinstance(d, int) else str(d) for d in ctx.report.input_shape)


def _node_for(ctx, layers):
    """The layer a finding points at: the merge where sizes must agree, else the first layer named."""
    names = [n for n in layers if n in ctx.network.index]
    merges = [n for n in names if getattr(ctx.network.node(n).layer, "family", "") == "merge"]
    pick = merges[-1] if merges else (names[0] if names else None)
    return ctx.network.node(pick) if pick else None


@rule("CS501", "input-size-constrained", "warning")
def input_size_constrained(ctx):
    """## What it does
    For a symbolic input (`[N, 3, H, W]`), states the rule on the sizes that work when some sizes
    above the smallest working one fail, with the layers that cause it: "H must be a multiple of 16
    and at least 16: four 2× poolings (pool1..pool4) must be undone exactly by the 2×
    up-convolutions (up1..up4) before the concats cat1..cat4". A plain minimum size (every size
    from some size on works) is not flagged. `convshape constraints` prints the full derivation.

    ## Why is this bad?
    A network declared for any size but accepting only some works at 256×256 in development and
    crashes at 250×250 in production, deep inside a concat, with an error that names neither the
    rule nor its cause. Stating the rule where the network is defined lets callers pad or resize.

    ## Example
    ```yaml
    input: [1, 8, H, W]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
      - ReLU
      - ConvTranspose2d: {out_channels: 8, kernel_size: 2, stride: 2}
        name: up
      - Add:
        inputs: [up, input]
    ```

    ## Use instead
    Resample in a way that cancels for every size, or declare the sizes you support as numbers:
    ```yaml
    input: [1, 8, H, W]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
      - ReLU
      - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
        name: same
      - Add:
        inputs: [same, input]
    ```
    """
    if not ctx.report.symbols or ctx.failure is not None:
        return
    from ...constraints import derive
    c = derive(ctx.network, _symbolic_input(ctx))
    groups: dict = {}
    for d in c.dims:
        if d.minimum is not None and not d.exceptions and d.modulus == 1 and d.periodic_from == d.minimum:
            continue  # every size from the minimum on works: a lower bound, not a trap (see CS104/CS105)
        reasons = "; ".join(r.text for r in d.reasons)
        layers = [n for r in d.reasons for n in r.layers]
        key = (d.statement.replace(d.symbol, "\0"), reasons.replace(d.symbol, "\0"), tuple(layers))
        groups.setdefault(key, []).append(d)
    for (_, _, layers), dims in groups.items():
        d = dims[0]
        how = "" if d.proved else f" (exact enumeration of {d.range[0]}..{d.range[1]})"
        same = f" (and the same for {', '.join(x.symbol for x in dims[1:])})" if len(dims) > 1 else ""
        why = "; ".join(r.text for r in d.reasons)
        msg = (f"only some input sizes work: {d.statement}{same}{how}"
               + (f": {why}" if why else "") + ". See `convshape constraints` for the valid sizes.")
        node = _node_for(ctx, layers)
        yield ctx.at(node, msg) if node is not None else ctx.at_network(msg)
    for j in c.joint:
        msg = (f"only some input sizes work: {j.statement} ({'; '.join(r.text for r in j.reasons)}). "
               f"See `convshape constraints` for the valid combinations.")
        node = _node_for(ctx, [n for r in j.reasons for n in r.layers])
        yield ctx.at(node, msg) if node is not None else ctx.at_network(msg)


@rule("CS502", "input-pixels-never-read", "warning", runs_last=True)
def input_pixels_never_read(ctx):
    """## What it does
    Flags an input size that the network accepts but whose last rows or columns never reach the
    output along any path, because strided windows stop short of the border, and names the nearest
    sizes that use every pixel. Unlike CS201, which looks at one layer, this follows every path to
    the output: a row that one layer skips but another path reads is not lost. When CS201 or CS202
    already flags a layer that stops short, this rule stays silent about it. With several named
    inputs each one's border is checked (the nearest sizes are searched for the first input; the
    others are checked at their declared sizes, and at a concrete input only).

    ## Why is this bad?
    The border is silently cropped: objects touching the bottom or right edge are partly invisible,
    and the crop changes with the input size. Resizing or padding by a few pixels avoids it.

    ## Example
    With CS201 silenced (it would flag both layers on their own):
    ```yaml
    input: [1, 3, 34, 34]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2}
        noqa: CS201
      - ReLU
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2}
        noqa: CS201
    ```

    ## Use instead
    A size at which every window reaches the border: (35 − 3)/2 + 1 = 17 and (17 − 3)/2 + 1 = 8
    leave no remainder (34 loses its last 3 rows and columns):
    ```yaml
    input: [1, 3, 35, 35]
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2}
      - ReLU
      - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2}
    ```
    """
    if ctx.failure is not None:
        return
    from ...constraints.coverage import lost_pixels
    from ..config import matches_any
    # layers whose own finding (CS201/CS202) already says that they skip the border
    reported = {f.layer for f in ctx.findings if f.code in ("CS201", "CS202")
                and not matches_any(f.code, ctx.network.node(f.layer).noqa)}
    for axis_name, count, cut, below, above, when, source in lost_pixels(ctx.network, ctx.report):
        unit = {"H": "rows", "W": "columns"}.get(axis_name, f"positions along {axis_name}")
        layers = ", ".join(cut[:3]) or "strided layers"
        the_input = "the input" if source is None else f"input '{source}'"
        if when is not None:
            msg = (f"the last input {unit} never reach the output {when}: the windows of {layers} stop short "
                   f"of the border. See `convshape constraints` for the sizes that work.")
        else:
            options = " or ".join(str(x) for x in (below, above) if x is not None)
            what = f"{count} {unit}" if count > 1 else f"{unit[:-1]}"
            msg = (f"the last {what} of {the_input} on {axis_name} never reach{'es' if count == 1 else ''} the output "
                   f"at this size, by any path: the windows of {layers} stop short of the border"
                   + (f"; {axis_name} = {options} would use every {point(len(ctx.report.input_shape) - 2, 1)}"
                      if options else "") + ".")
        if reported & set(cut):
            continue
        node = ctx.network.node(cut[0]) if cut else None
        yield ctx.at(node, msg) if node is not None else ctx.at_network(msg)
