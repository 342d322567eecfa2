"""Write a Network as a readable YAML spec, recovering repeated blocks.

A module instance (a custom class such as torchvision's Bottleneck or InvertedResidual) becomes a
block instance when its nodes are contiguous, read one outside value, and only its last node is
read from outside. Instances of one class with the same structure share one block definition;
argument values that differ between instances become block arguments (shared when two vary alike,
written as `other * k` when one is a constant multiple of another); the rest are written inline.
Chained instances of one block with the same arguments and numbered names (layer1.1, layer1.2)
become one entry with `repeat` and a name template (`layer1.{i + 1}`).
The loader expands the result back to the same nodes, names and arguments (tested).
"""
from __future__ import annotations

from collections import defaultdict

import yaml

from ..graph import INPUT, Network

CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}
ENTRY_META = ("name", "inputs", "repeat", "shares", "frozen")  # entry keys that are not the layer kind


def _layer_args(layer) -> dict:
    """The arguments a spec writes for a layer: those that differ from the field defaults."""
    out = {}
    for name, f in type(layer).model_fields.items():
        v = getattr(layer, name)
        if name in type(layer).inferred and v is None:
            continue
        if not f.is_required() and v == f.default:
            continue
        out[name] = v
    return out


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


class _Instance:
    def __init__(self, path, cls, nodes, entry):
        self.path, self.cls, self.nodes, self.entry = path, cls, nodes, entry

    def node(self, local):
        return next(n for n in self.nodes if n.name == f"{self.path}.{local}")

    def local(self, name):
        return name[len(self.path) + 1:]

    def signature(self):
        sig = []
        for n in self.nodes:
            ins = tuple("input" if i == self.entry else self.local(i) for i in n.inputs)
            sig.append((self.local(n.name), n.kind, ins, n.frozen))
        return tuple(sig)


def _instances(network: Network, module_classes: dict) -> list:
    """Module paths whose nodes form a single-input, single-output contiguous run."""
    nodes = network.nodes
    outputs = set(network.output_names)
    readers = defaultdict(set)
    for n in nodes:
        for i in n.inputs:
            readers[i].add(n.name)
    found = []
    for path, cls in module_classes.items():
        if not path or cls in CONTAINERS:
            continue
        members = [i for i, n in enumerate(nodes) if n.name.startswith(path + ".")]
        if len(members) < 2 or members != list(range(members[0], members[-1] + 1)):
            continue
        inside = {nodes[i].name for i in members}
        outside_inputs = {x for i in members for x in nodes[i].inputs if x not in inside}
        if len(outside_inputs) != 1:
            continue
        last = nodes[members[-1]].name
        if any(r not in inside for name in inside - {last} for r in readers[name]):
            continue
        if any(nodes[i].shares is not None for i in members) or (inside - {last}) & outputs:
            continue  # a call of another module's weights, or an output inside: written layer by layer
        found.append(_Instance(path, cls, [nodes[i] for i in members], next(iter(outside_inputs))))
    return found


def _select(instances: list) -> dict:
    """Repeated instances, biggest blocks first: {(class, signature): [instances]}.

    A group is kept when at least two of its instances do not overlap an instance already chosen.
    """
    groups = defaultdict(list)
    for inst in instances:
        groups[(inst.cls, inst.signature())].append(inst)
    chosen, taken = {}, []

    def overlaps(path):
        return any(path == t or path.startswith(t + ".") or t.startswith(path + ".") for t in taken)

    for key, members in sorted(groups.items(), key=lambda kv: (-len(kv[1][0].nodes), kv[1][0].path)):
        peers = [p for p in members if not overlaps(p.path)]
        if len(peers) >= 2:
            chosen[key] = peers
            taken.extend(p.path for p in peers)
    return chosen


def _block_definition(block_name: str, peers: list) -> tuple[dict, list]:
    """(definition, per-instance argument values) for instances of one structure."""
    first = peers[0]
    written = defaultdict(dict)  # local node -> args written in any instance (dict as ordered set)
    for inst in peers:
        for n in inst.nodes:
            written[inst.local(n.name)].update(dict.fromkeys(_layer_args(n.layer)))
    values = {}                  # (local node, arg) -> values over instances
    for local, names in written.items():
        for k in names:
            values[(local, k)] = [getattr(inst.node(local).layer, k) for inst in peers]
    params = {}                  # (local node, arg) -> expression string
    arg_vectors = {}             # arg name -> vector
    for (local, k), vec in values.items():
        if all(v == vec[0] for v in vec):
            continue
        expr = None
        for aname, avec in arg_vectors.items():
            if avec == vec:
                expr = aname
                break
            if all(isinstance(x, int) and not isinstance(x, bool) and x for x in avec + vec) and \
                    all(v % a == 0 for v, a in zip(vec, avec)) and len({v // a for v, a in zip(vec, avec)}) == 1:
                expr = f"{aname} * {vec[0] // avec[0]}"
                break
        if expr is None:
            base = local.replace(".", "_")
            if not base[0].isalpha():  # "0.out_channels" in a Sequential: name it by its kind
                base = f"{peers[0].node(local).kind.lower()}_{base}"
            expr = f"{base}_{k}"
            arg_vectors[expr] = vec
        params[(local, k)] = expr
    layers = []
    counts: dict = {}
    previous = "input"
    for n in first.nodes:
        local = first.local(n.name)
        args = {}
        for k in written[local]:
            args[k] = params.get((local, k), _plain(getattr(n.layer, k)))
        entry = {n.kind: args or None}
        _name_and_inputs(entry, n.kind, local, ["input" if i == first.entry else first.local(i) for i in n.inputs],
                         previous, counts)
        if n.frozen:
            entry["frozen"] = True
        layers.append(entry)
        previous = local
    definition = {"args": {a: None for a in arg_vectors}, "layers": layers}
    per_instance = [{a: _plain(vec[j]) for a, vec in arg_vectors.items()} for j in range(len(peers))]
    return definition, per_instance


def _name_and_inputs(entry, kind, name, inputs, previous, counts):
    # the loader numbers unnamed entries per kind: write the name unless it is that number
    counts[kind] = counts.get(kind, 0) + 1
    if name != f"{kind.lower()}_{counts[kind]}":
        entry["name"] = name
        counts[kind] -= 1
    if list(inputs) != [previous]:
        entry["inputs"] = inputs[0] if len(inputs) == 1 else list(inputs)


def spec_dict(network: Network, module_classes: dict | None = None) -> dict:
    """The spec document (plain data) for a network; blocks recovered from `module_classes`."""
    chosen = _select(_instances(network, module_classes or {}))
    blocks, instance_of = {}, {}
    used_names: dict = {}
    for (cls, _sig), peers in sorted(chosen.items(), key=lambda kv: kv[1][0].path):
        used_names[cls] = used_names.get(cls, 0) + 1
        bname = cls if used_names[cls] == 1 else f"{cls}_{used_names[cls]}"
        definition, per_instance = _block_definition(bname, peers)
        blocks[bname] = definition
        for inst, args in zip(peers, per_instance):
            instance_of[inst.nodes[0].name] = (bname, inst, args)
    # top-level entries
    layers, skip, value_name = [], set(), {}
    counts: dict = {}
    previous = network.input_names[0]  # INPUT, or the first of several named inputs
    for n in network.nodes:
        if n.name in skip:
            continue
        if n.name in instance_of:
            bname, inst, args = instance_of[n.name]
            skip.update(m.name for m in inst.nodes)
            entry = {bname: args or None, "name": inst.path}
            ins = [value_name.get(inst.entry, inst.entry)]
            if ins != [previous]:
                entry["inputs"] = ins[0]
            layers.append(entry)
            value_name[inst.nodes[-1].name] = inst.path
            previous = inst.path
            continue
        entry = {n.kind: {k: _plain(v) for k, v in _layer_args(n.layer).items()} or None}
        # unnamed entries are numbered per kind by the loader; keep explicit names otherwise
        counts[n.kind] = counts.get(n.kind, 0) + 1
        if n.name != f"{n.kind.lower()}_{counts[n.kind]}":
            entry["name"] = n.name
            counts[n.kind] -= 1
        ins = [value_name.get(i, i) for i in n.inputs]
        if ins != [previous]:
            entry["inputs"] = ins[0] if len(ins) == 1 else ins
        if n.shares is not None:
            entry["shares"] = n.shares
        if n.frozen:
            entry["frozen"] = True
        layers.append(entry)
        previous = n.name
    layers = _fold_repeats(layers, blocks)
    doc = {"name": network.name}
    if network.description:
        doc["description"] = network.description
    doc["input"] = {k: list(v) for k, v in network.inputs} if network.inputs else list(network.input_shape)
    if blocks:
        doc["blocks"] = blocks
    doc["layers"] = layers
    if network.outputs:
        doc["outputs"] = [value_name.get(o, o) for o in network.outputs]
    if network.unused_params:
        doc["unused_params"] = {m: n if (t, b) == (n, 0) else
                                {"params": n, "trainable_params": t, **({"buffers": b} if b else {}),
                                 **({"int64_buffers": i} if i else {})}
                                for m, n, t, b, i in network.unused_params}
    return doc


def _numbered(name: str):
    """('layer1.', 1) for 'layer1.1', ('features.denselayer', 12) for 'features.denselayer12'."""
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    if not digits or (len(digits) > 1 and digits[0] == "0"):
        return None
    return stem, int(digits)


def _fold_repeats(layers: list, blocks: dict) -> list:
    """Runs of chained block instances with the same arguments and numbered names become one entry
    with `repeat`: layer1.1, layer1.2 -> `name: "layer1.{i + 1}", repeat: 2` (layer1.0.. -> `layer1`)."""
    referenced = {r for e in layers if isinstance(e, dict) and "inputs" in e
                  for r in ([e["inputs"]] if isinstance(e["inputs"], str) else e["inputs"])}

    def key(e):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or e["name"] in referenced:
            return None
        kind = next(k for k in e if k not in ENTRY_META)
        numbered = _numbered(e["name"])
        return (kind, repr(e[kind]), numbered[0], e.get("frozen")) if kind in blocks and numbered else None

    out, j = [], 0
    while j < len(layers):
        k, run = key(layers[j]), 1
        while k is not None and j + run < len(layers) and key(layers[j + run]) == k \
                and "inputs" not in layers[j + run] \
                and _numbered(layers[j + run]["name"])[1] == _numbered(layers[j]["name"])[1] + run:
            run += 1
        if run < 2:
            out.append(layers[j])
            j += 1
            continue
        first = dict(layers[j])
        stem, start = _numbered(first["name"])
        if start == 0 and stem.endswith(".") and len(stem) > 1:
            first["name"] = stem[:-1]     # name.0, name.1, ...: repeat's own numbering
        else:
            first["name"] = stem + ("{i}" if start == 0 else f"{{i + {start}}}")
        first["repeat"] = run
        out.append(first)
        j += run
    return out


class _Flow(dict):
    """Layer arguments: written on one line, `{out_channels: 64, kernel_size: 3}`."""


class _FlowList(list):
    """A list of scalars: written on one line."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _styled(doc):
    """Entries in block style, argument mappings and scalar lists in flow style."""
    def style(v, in_args=False):
        if isinstance(v, dict):
            items = {k: style(x, in_args) for k, x in v.items()}
            return _Flow(items) if in_args else items
        if isinstance(v, list):
            if all(not isinstance(x, (dict, list)) for x in v):
                return _FlowList(v)
            return [style(x, in_args) for x in v]
        return v

    def entry(e):
        if isinstance(e, str):
            return e
        kind = next(k for k in e if k not in ENTRY_META)
        if e[kind] is None and len(e) == 1:
            return kind  # `- Flatten`
        out = {kind: style(e[kind], True) if e[kind] else None}
        for k in ENTRY_META:
            if k in e:
                out[k] = style(e[k])
        return out

    out = {}
    for k, v in doc.items():
        if k == "layers":
            out[k] = [entry(e) for e in v]
        elif k == "blocks":
            out[k] = {b: {"args": _Flow(d["args"]), "layers": [entry(e) for e in d["layers"]]} for b, d in v.items()}
        else:
            out[k] = style(v)
    return out


def to_yaml(network: Network, module_classes: dict | None = None, header: str = "") -> str:
    """The spec as YAML text; `module_classes` (path -> class name) enables block recovery."""
    if module_classes is None:
        module_classes = getattr(network, "module_classes", None)
    doc = _styled(spec_dict(network, module_classes))
    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=110)
    text = text.replace(": null\n", ":\n")
    return header + text
