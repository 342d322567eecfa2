"""Import an existing nn.Module as a convshape Network: `from_torch(module, input_shape)`.

torch.fx symbolic tracing first; where that fails (data-dependent Python, e.g. 'same' padding
computed from x.shape), an eager trace on the meta device (trace.py). Both give a list of recorded
operations, which one mapper turns into layer models:

- a module whose class name is a registered layer kind (nn.Conv2d, nn.BatchNorm2d, torchvision's
  StochasticDepth and Permute, ...) becomes that kind, its arguments read from the module's
  attributes by the layer's own field names, so a new kind imports with no wiring here;
- functional and tensor ops (F.relu and friends, +, *, torch.cat, flatten, view/reshape, mean over
  the spatial dims, pooling, F.interpolate, F.pad, F.conv2d/F.linear/F.layer_norm on module
  parameters, permute, chunk/split into a Concat's inputs ...) map through the op patterns of
  ops/ (one registered function per op, ops/registry.py);
- an op that does not change values (dropout in eval mode, contiguous, clone, .float()) is skipped.

Every op that produces a tensor and maps to nothing is reported by name with its module and source
line (UnmappedOps); nothing is dropped silently. The result is checked against the traced shapes,
node by node, before it is returned.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import ValidationError
from torch import nn

from ..errors import ConvshapeError
from ..graph import INPUT, Network, Node
from ..layers import REGISTRY
from ..memory.rules import EVAL_IDENTITY, output_alias
from ..memory.schedule import indices_of
from .ops import PATTERNS, Mapped, bind
from .ops import canonical as _canonical
from .ops import plain as _plain
from .ops.registry import SIGNATURES
from .ops.registry import refs_in as _refs_in
from .ops.registry import tensor_refs as _tensor_refs
from .trace import Op, Ref, TraceFailed, trace_eager, trace_fx


class UnmappedOps(ConvshapeError):
    """The module uses operations convshape has no layer kind for (listed with their locations)."""

    exit_code = 2

    def __init__(self, items: list):
        self.items = items
        lines = "; ".join(f"{what} at {where}" for what, where in items[:8])
        more = f" (+{len(items) - 8} more)" if len(items) > 8 else ""
        super().__init__(f"cannot import {len(items)} operation(s): {lines}{more}")


# ------------------------------------------------------------------ leaf modules
def layer_kind_of_module(m: nn.Module):
    """The registered layer class for a torch module of the same class name, or None."""
    cls = REGISTRY.get(type(m).__name__)
    mod = type(m).__module__
    if cls is None or not (mod.startswith("torch.nn") or mod.startswith("torchvision.ops")
                           or mod == getattr(cls, "torch_module", None)):  # Swin's blocks
        return None
    return cls


def is_leaf(m: nn.Module) -> bool:
    return layer_kind_of_module(m) is not None


def module_args(m: nn.Module, cls) -> dict:
    """Constructor arguments of layer class `cls` read from module `m`'s attributes."""
    if hasattr(cls, "args_from_module"):  # a kind whose module does not keep its arguments
        return cls.args_from_module(m)
    args = {}
    for fname, f in cls.model_fields.items():
        if fname in cls.inferred or not hasattr(m, fname):
            continue  # (inplace is kept: it changes no count but the memory figures, docs/memory.md)
        v = getattr(m, fname)
        if f.annotation is bool and (v is None or isinstance(v, torch.Tensor)):
            v = v is not None  # bias=True means "has a bias parameter"
        elif isinstance(v, torch.Tensor):
            continue  # a parameter that happens to share a field's name (e.g. PReLU's init)
        args[fname] = _plain(v)
        if f.default is not None and args[fname] == _plain(f.default) and fname not in ("p",):
            del args[fname]
        elif f.default is None and args[fname] is None:
            del args[fname]
    if type(m).__name__ == "PReLU":
        args["num_parameters"] = m.num_parameters
    return args


# ------------------------------------------------------------------ functional and tensor ops (ops/)
class _Mapper:
    def __init__(self, ops: list):
        self.ops = {op.name: op for op in ops}
        self.position = {op.name: i for i, op in enumerate(ops)}  # to list causes in program order
        self.derived: set = set()  # ops computed from parameters alone (gamma.view(1, -1, 1, 1))
        self.calls: dict = {}      # parameter keys -> the first node holding them (shared weights)
        self.parts: dict = {}      # tuple op name -> the node its elements map to (a pool's values, indices)
        self.indices: dict = {}    # op name -> the pool node whose argmax indices it holds

    def value(self, v):
        """Resolve a Ref to a non-tensor value (ints from x.size(), tuples), recursively."""
        if isinstance(v, Ref):
            return self.ops[v.name].value
        if isinstance(v, (tuple, list)):
            return type(v)(self.value(x) for x in v)
        return v

    def shape(self, ref) -> tuple:
        return tuple(self.ops[ref.name].value.shape)

    def param(self, ref, buffers: bool = False):
        """The op holding a Parameter (or a value computed from parameters only), else None."""
        op = self.ops.get(ref.name) if isinstance(ref, Ref) else None
        if op is None or not (op.kind == "param" or op.name in self.derived):
            return None
        return op if buffers or not op.kwargs.get("__buffer__") else None

    def is_fixed(self, ref) -> bool:
        op = self.ops.get(ref.name) if isinstance(ref, Ref) else None
        return op is not None and (op.kind == "param" or op.name in self.derived) and bool(op.kwargs.get("__buffer__"))

    def shape_source(self, op: Op, cls, args: dict):
        """A kind called on sizes, not a tensor (timm's pos_embd((B, H, W))): its input is the one tensor
        those sizes were read from (x.shape[i]); the node's shape check confirms they are (B, _, H, W)."""
        sources: set = set()
        pending = _refs_in(op.args) + _refs_in(op.kwargs)
        if not pending:
            return f"{cls.kind} called on sizes that are not read from a traced tensor"
        while pending:
            ref = pending.pop()
            src = self.ops[ref.name]
            if isinstance(src.value, torch.Tensor) or src.kind == "input":
                sources.add(ref.name)
            else:
                pending += _tensor_refs(src)
        if len(sources) != 1:
            return f"{cls.kind} called on sizes read from {len(sources)} tensors (it takes one)"
        return Mapped([(cls.kind, args)], [Ref(sources.pop())])

    def map(self, op: Op):
        """-> Mapped, or a string naming why it is unmapped."""
        if op.kind == "module":
            m = op.target
            cls = layer_kind_of_module(m)
            args = module_args(m, cls)
            if cls.shape_input:
                return self.shape_source(op, cls, args)
            if not cls.forward_args:
                return Mapped([(cls.kind, args)], [a for a in op.args if isinstance(a, Ref)])
            # tensors first, then the forward's own arguments (MaxUnpool's output_size), often x.size()
            given = dict(zip(cls.forward_args, op.args[cls.max_inputs:]))
            given.update({k: v for k, v in op.kwargs.items() if k in cls.forward_args})
            args.update(cls.args_from_forward({k: self.value(v) for k, v in given.items() if v is not None}))
            return Mapped([(cls.kind, args)], [a for a in op.args[:cls.max_inputs] if isinstance(a, Ref)])
        name = _canonical(op.target)
        fn = PATTERNS.get(name)
        if fn is None:
            return name
        bound = bind(name, op.args, op.kwargs)
        if _in_place_name(op.target) and "inplace" in SIGNATURES.get(name, ()):
            bound["inplace"] = True   # torch.relu_(x), x.relu_(): the layer's inplace=True form
        return fn(self, name, bound, op.value)


def _in_place_name(target) -> bool:
    """relu_, Tensor.relu_ (not __iadd__: canonical maps operators, and Add has no in-place form)."""
    name = target if isinstance(target, str) else getattr(target, "__name__", "") or ""
    return name.endswith("_") and not name.endswith("__")


# ------------------------------------------------------------------ building the Network
def trace(module: nn.Module, input_shape, locations: bool = True):
    """(ops, front end used): fx first, the eager tracer where fx fails; `locations`: record each op's
    user source line (for error messages only)."""
    try:
        return trace_fx(module, input_shape, is_leaf, locations), "fx"
    except TraceFailed as fx_error:
        try:
            return trace_eager(module, input_shape, is_leaf, locations), f"eager (fx: {fx_error})"
        except TraceFailed as e:
            where = f"{type(module).__name__}.{e.where}" if e.where else type(module).__name__
            raise UnmappedOps([(f"tracing failed: {e}", where)]) from None


def from_torch(module: nn.Module, input_shape, name: str | None = None, check: bool = True) -> Network:
    """A Network with one node per mapped op; node names follow module paths (state_dict keys)."""
    try:  # without source lines first: only a refusal needs them, and it is traced again to name them
        return _import(module, input_shape, name, check, locations=False)
    except UnmappedOps:
        return _import(module, input_shape, name, check, locations=True)


def _import(module: nn.Module, input_shape, name, check: bool, locations: bool) -> Network:
    named = {str(k): tuple(int(d) for d in v) for k, v in input_shape.items()} if isinstance(input_shape, dict) \
        else None  # several inputs: {"image": (1, 3, 32, 32), "mask": (1, 1, 32, 32)}
    input_shape = next(iter(named.values())) if named else tuple(int(d) for d in input_shape)
    if isinstance(module, torch.jit.ScriptModule):
        raise UnmappedOps([("a torch.jit.script / torch.jit.trace module has no Python forward to trace: import "
                            "the nn.Module before scripting it", type(module).__name__)])
    root = module
    if is_leaf(module):  # a bare nn.ConvTranspose2d: fx would see its functional body, not the module
        module = _Root(module)
    was_training = root.training
    module.eval()
    try:
        ops, frontend = trace(module, named or input_shape, locations)
    finally:
        module.train(was_training)
    mapper = _Mapper(ops)
    alias, nodes, shapes, output_refs, returned, _ = _map_ops(ops, mapper, named)
    where = type(root).__name__
    if not output_refs:
        raise UnmappedOps([(f"the module returns no tensor: forward returned {_what(returned, mapper)} (it must "
                            f"return a tensor, or a tuple, list or dict of them)", where)])
    causes = set()
    for ref in output_refs:
        if ref.name in mapper.indices:
            causes.add((f"an output is the argmax indices of pooling '{mapper.indices[ref.name]}' (only MaxUnpool "
                        f"reads them)", _where(mapper.ops[ref.name]), mapper.position[ref.name]))
        elif not isinstance(mapper.ops[ref.name].value, torch.Tensor):
            causes.add((f"an output is the tuple result of {_describe(mapper.ops[ref.name])} (index it)",
                        _where(mapper.ops[ref.name]), mapper.position[ref.name]))
        elif isinstance(alias.get(ref.name), _Unmapped):
            causes |= alias[ref.name].causes
        elif alias.get(ref.name) == INPUT or named and alias.get(ref.name) in named:
            causes.add(("an output is the module's input itself", where, 0))
    # what runs but no output reads is counted as torch runs it: it must map too
    for op_name, value in alias.items():
        if isinstance(value, _Unmapped) and op_name not in mapper.derived:
            causes |= value.causes
    if causes:
        raise UnmappedOps([(what, at) for what, at, _ in sorted(causes, key=lambda c: (c[2], c[1]))])
    outputs = tuple(dict.fromkeys(alias[ref.name] for ref in output_refs))
    net = Network(name=name or type(root).__name__, input_shape=input_shape, nodes=nodes,
                  file=f"<{type(root).__name__}>", description=f"imported from {type(root).__module__}."
                  f"{type(root).__name__} (torch.{frontend.split(' ')[0]} trace)",
                  outputs=() if outputs == (nodes[-1].name,) else outputs,
                  unused_params=_unused_params(module, ops, mapper),
                  inputs=tuple(named.items()) if named else ())
    net.frontend = frontend
    module.eval()   # a meta module is traced as is (no copy): its mode is restored after
    try:
        net.holds, net.unseen_copies, eval_ops = _observed_holds(module, named or input_shape, net)
        net.train_only = _TrainOnly(module, named or input_shape, eval_ops)   # traced when first read
    finally:
        module.train(was_training)
    net.module_classes = {path: type(m).__name__ for path, m in module.named_modules()}
    if check:
        _verify_shapes(net, shapes)
        _verify_params(net, module)
    return net


def _map_ops(ops: list, mapper, named):
    """(alias: op name -> node name, INPUT or an _Unmapped marker; nodes; node name -> torch's shape;
    the output refs; forward's returned value; op name -> index of the last node made so far)."""
    returned = None
    alias: dict = {}
    nodes: list = []
    used: set = set(named or ())  # layer names never take an input's name
    counters: dict = {}
    shapes: dict = {}        # to verify the mapping
    output_refs: list = []
    made: dict = {}
    for op in ops:
        if op.kind == "input":
            key = op.kwargs.get("__input__") if named else INPUT
            if key is not None:  # else an argument given no shape: it keeps its default, and a reader fails
                alias[op.name] = key
        elif op.kind == "output":
            output_refs = _output_refs(op.args, mapper)
            returned = op.args[0] if op.args else None
        elif op.kind != "param" and isinstance(op.value, torch.Tensor):
            alias[op.name] = _add_op(op, mapper, alias, nodes, used, counters, shapes)
        made[op.name] = len(nodes) - 1
    return alias, nodes, shapes, output_refs, returned, made


def _observed_holds(module: nn.Module, input_shape, net: Network) -> tuple:
    """(holds: node name -> index of the node after which eager torch frees its value, or None; unseen:
    nodes whose value an op the importer skips as value-preserving copies: x + 0, torch.cat([x]), a
    .contiguous() that copies). Observed by running the module once on the meta device (eval, no_grad),
    following each value's storage: Python locals and lists of features hold values past their last
    reader, which no graph schedule sees (docs/memory.md). holds is None where the eager run does not
    make the same nodes (then the schedule is the graph's)."""
    freed_after: dict = {}
    try:
        ops = trace_eager(module, input_shape, is_leaf, False, lifetimes=freed_after)
    except TraceFailed:
        return None, (), None
    mapper = _Mapper(ops)
    alias, nodes, _, _, _, made = _map_ops(ops, mapper, input_shape if isinstance(input_shape, dict) else None)
    same = _same_nodes(nodes, net)
    if same is None:
        return None, (), ops
    # the eager run may order nodes differently (fx makes split's pieces where they are read, eager all at
    # once): a value freed after eager node k is freed, in the network's order, once all of 0..k have run;
    # a split's parts are views made at once, which allocate nothing: where fx reads them does not delay it
    ran, done = [], -1
    for n in nodes:
        if getattr(n.layer, "split", None) is None:
            done = max([done] + [net.index[m] for m in same[n.name]])
        ran.append(done)
    storage = freed_after.pop("__storage__")
    made_on: dict = {}   # (node name, indices?) -> the storage its making op's output is on
    unseen: dict = {}
    copies: set = set()
    for op in ops:
        node = alias.get(op.name)
        if not isinstance(node, str) or node not in same or op.name not in storage:
            continue
        value = (node, op.name in mapper.indices)   # a pool's indices are its second value
        if value not in made_on:
            made_on[value] = storage[op.name]
        elif storage[op.name] != made_on[value]:
            unseen.update(dict.fromkeys(same[node]))
            copies.add(op.name)
    holds: dict = {}
    for op_name, node in alias.items():   # a copy's lifetime is not its source's
        if isinstance(node, str) and node in same and op_name not in copies:   # -1: see trace_eager
            until = -1 if op_name in freed_after and freed_after[op_name] is None else \
                ran[max(made[freed_after[op_name]], 0)] if op_name in freed_after else len(nodes) - 1
            for m in same[node]:   # several ops on one value: the last free
                m = indices_of(m) if op_name in mapper.indices else m
                holds[m] = max(holds.get(m, -1), until)
    return holds, tuple(unseen), ops


def _op_signature(ops) -> dict:
    """(module scope, what) -> count, for the calls a trace records that read a tensor other than
    parameters and buffers (a train-mode BatchNorm's `num_batches_tracked += 1` changes no activation):
    a leaf module's class, a function's or method's canonical name."""
    from collections import Counter
    kind = {op.name: op.kind for op in ops}
    return Counter((op.scope, type(op.target).__name__ if op.kind == "module" else _canonical(op.target))
                   for op in ops if op.kind in ("module", "function", "method")
                   and any(kind.get(r.name) != "param" for r in _tensor_refs(op)))


class _TrainOnly:
    """Network.train_only, traced on first read (a training figure): the train-mode trace costs as much
    as the import's own, and most imports never ask. Holds the module until then."""

    def __init__(self, module, input_shape, eval_ops):
        self._args, self._value = (module, input_shape, eval_ops), None

    def value(self) -> tuple:
        if self._value is None:
            module, input_shape, eval_ops = self._args
            was_training = module.training
            try:
                self._value = _train_only(module, input_shape, eval_ops)
            finally:
                module.train(was_training)   # a module already on meta is traced as is
            self._args = None
        return self._value

    def __eq__(self, other):
        return self.value() == other

    def __iter__(self):
        return iter(self.value())

    def __len__(self):
        return len(self.value())

    def __getitem__(self, i):
        return self.value()[i]


def _train_only(module: nn.Module, input_shape, eval_ops) -> tuple:
    """What forward runs in train mode (gradients enabled) and not in the eval trace the import is
    made from, as "train-only code in SCOPE (op, op)" lines: a branch behind `if self.training` (MONAI's drop_connect,
    GoogLeNet's aux heads), not in the network, so its saved tensors are not counted. () when the
    two traces agree or either cannot be made (the eval one is the import's own; a train-mode
    BatchNorm refuses one value per channel, as at batch 1, and the meta trace refuses a tensor made
    off the input's device): docs/memory.md says so."""
    if eval_ops is None:
        return ()
    try:
        train_ops = trace_eager(module, input_shape, is_leaf, False, training=True)
    except TraceFailed:
        return ()
    extra = _op_signature(train_ops) - _op_signature(eval_ops)
    by_scope: dict = {}
    for scope, what in extra:
        by_scope.setdefault(scope or "(top level)", []).append(what)
    return tuple(f"train-only code in {scope} ({', '.join(sorted(set(whats)))})" for scope, whats in by_scope.items())


def _same_nodes(nodes: list, net: Network) -> dict | None:
    """Eager node name -> the network's nodes computing the same value (kind, arguments and inputs alike),
    or None where some eager node has none, or a network node that allocates has no eager counterpart.
    Names of functional nodes follow the order they are made in, and fx may make a view twice. A
    dropout (eval) or Identity returns its input itself: eager readers of its result and fx readers of
    its input read one value (MONAI's VNet adds `down` where eager sees the dropout's result)."""
    ids: dict = {}

    def value_ids(ns):
        out = {}
        for n in ns:
            if (n.kind in EVAL_IDENTITY or n.kind == "Identity") and len(n.inputs) == 1:
                out[n.name] = out.get(n.inputs[0], n.inputs[0])
                continue
            # a split's name is the op's, which fx and eager number apart: the part is the same value
            layer = n.layer.model_copy(update={"split": None}) if getattr(n.layer, "split", None) else n.layer
            out[n.name] = ids.setdefault((n.kind, repr(layer), tuple(out.get(i, i) for i in n.inputs)), len(ids))
        return out

    mine, theirs = value_ids(net.nodes), value_ids(nodes)
    doing: dict = {}
    for name, v in mine.items():
        doing.setdefault(v, []).append(name)
    if any(v not in doing for v in theirs.values()):
        return None
    seen = set(theirs.values())
    if any(v not in seen and not output_alias(net.node(name).layer, False) for name, v in mine.items()):
        return None
    # parallel branches compute alike but hold their own weights: a module path names the one node
    return {name: [name] if mine.get(name) == v else doing[v] for name, v in theirs.items()}


class _Root(nn.Module):
    """Holds a leaf module given as the root, under the name its node would get (`conv2d_1`)."""

    def __init__(self, leaf: nn.Module):
        super().__init__()
        self.name = f"{type(leaf).__name__.lower()}_1"
        self.add_module(self.name, leaf)

    def forward(self, x):
        return self.get_submodule(self.name)(x)


def _what(value, mapper) -> str:
    """What a forward returned instead of a tensor, in a few words: None, an int (4), a torch.Size."""
    from .trace import Ref
    if isinstance(value, Ref):
        value = mapper.ops[value.name].value
    if value is None:
        return "None"
    if isinstance(value, torch.Size):
        return f"a torch.Size ({list(value)})"
    name = type(value).__name__
    article = "an" if name[0] in "aeiou" else "a"
    if isinstance(value, (bool, int, float, str)):
        return f"{article} {name} ({value!r:.40})"
    if isinstance(value, (tuple, list, dict)):
        return f"{article} {name} holding no tensor"
    return f"{article} {name}"


def _output_refs(args, mapper) -> list:
    """Every value forward returns, in order: a tensor, or tuples, lists, dicts, namedtuples of them."""
    def holds_tensor(ref):
        v = mapper.ops[ref.name].value
        return isinstance(v, torch.Tensor) or isinstance(v, (tuple, list)) and any(isinstance(x, torch.Tensor) for x in v)
    return [r for r in _refs_in(args) if holds_tensor(r)]


def _unused_params(module: nn.Module, ops: list, mapper) -> tuple:
    """((module path, params, trainable, buffers, int64 buffers), ...) for parameters and buffers no
    recorded op reads: modules forward never calls (smp's conv_head, GoogLeNet's aux heads in eval).
    Named by the outermost module all of whose tensors are unread, else by the tensor's own name.
    int64 buffers (BatchNorm's num_batches_tracked) take 8 bytes whatever the model's dtype."""
    named = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    read = set()
    for op in ops:
        if op.kind == "module":
            path = op.kwargs.get("__path__", "")
            held = list(op.target.named_parameters()) + list(op.target.named_buffers())
            read.update(id(named.get(f"{path}.{n}" if path else n)) for n, _ in held)
        for r in _tensor_refs(op):
            src = mapper.ops.get(r.name)
            if src is not None and src.kind == "param" and isinstance(src.target, str) and src.target in named:
                read.add(id(named[src.target]))
    params = {id(p) for p in module.parameters()}
    unused = {id(t) for t in list(module.parameters()) + list(module.buffers()) if id(t) not in read}
    if not unused & params:  # buffers alone (a cache, a mask) are no sign of a module that never runs
        return ()

    def entry(path, tensors):
        ps = [t for t in tensors if id(t) in params]
        bs = [t for t in tensors if id(t) not in params]
        return (path, sum(t.numel() for t in ps), sum(t.numel() for t in ps if t.requires_grad),
                sum(t.numel() for t in bs), sum(t.numel() for t in bs if t.dtype == torch.int64))

    out, covered = [], set()
    for path, m in module.named_modules():
        if not path or any(path.startswith(c + ".") for c in covered):
            continue
        mine = list(m.parameters()) + list(m.buffers())
        if any(id(t) in params for t in mine) and all(id(t) in unused for t in mine):
            covered.add(path)
            out.append(entry(path, mine))
    done = {id(t) for c in covered for t in list(module.get_submodule(c).parameters())}
    for pname, p in module.named_parameters():
        if id(p) in unused and id(p) not in done:
            out.append(entry(pname, [p]))
    return tuple(out)


def _verify_params(net: Network, module: nn.Module):
    """The totals must be torch's sum(p.numel()) (trainable: requires_grad), or the import fails."""
    from ..analysis import analyze
    t = analyze(net).totals
    want = sum(p.numel() for p in module.parameters())
    want_trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if (t.params, t.trainable_params) != (want, want_trainable):
        raise UnmappedOps([(f"parameters: convshape counts {t.params} ({t.trainable_params} trainable), torch's "
                            f"sum(p.numel()) is {want} ({want_trainable} trainable): a parameter is read by an "
                            f"op convshape does not attribute it to", type(module).__name__)])


@dataclass(frozen=True)
class _Unmapped:
    """Stands for a value convshape cannot follow; carries the ops that caused it."""
    causes: frozenset  # of (what, where, order)


def _add_op(op, mapper, alias, nodes, used, counters, shapes):
    """Map one op; append its nodes; return the node name now holding its value (or _Unmapped)."""
    refs = _tensor_refs(op)
    learned = [r for r in refs if mapper.ops[r.name].kind == "param" or r.name in mapper.derived]
    # ints read from shapes (token.expand(x.shape[0], -1, -1)) do not make a parameter an activation
    if learned and all(r in learned or not isinstance(mapper.ops[r.name].value, torch.Tensor) for r in refs):
        # computed from parameters/buffers alone (gamma.view(1, -1, 1, 1)): a parameter, not a layer
        mapper.derived.add(op.name)
        buffer = any(mapper.ops[r.name].kwargs.get("__buffer__") for r in refs)
        op.kwargs = dict(op.kwargs, __buffer__=buffer)
        return _Unmapped(frozenset({(f"{_canonical(op.target)} of parameters ({_describe(op)})", _where(op),
                                     mapper.position[op.name])}))
    poisoned = [alias[r.name] for r in refs
                if isinstance(alias.get(r.name), _Unmapped) and r.name not in mapper.derived]
    result = mapper.map(op)
    order = mapper.position[op.name]
    if poisoned:  # downstream of an unmapped value: report this op too if it cannot map either
        own = {(f"{result} ({_describe(op)})", _where(op), order)} if isinstance(result, str) else set()
        return _Unmapped(frozenset().union(own, *(p.causes for p in poisoned)))
    if isinstance(result, str):
        return _Unmapped(frozenset({(f"{result} ({_describe(op)})", _where(op), order)}))
    ins = [alias.get(r.name) for r in result.inputs]
    bad = [i for i in ins if isinstance(i, _Unmapped)]  # a parameter-derived value read as a tensor
    if bad:
        return _Unmapped(frozenset().union(*(b.causes for b in bad)))
    if any(i is None for i in ins):
        return _Unmapped(frozenset({(f"{_describe(op)} reads a value convshape does not follow", _where(op),
                                     order)}))
    misread = _misread_indices(op, result, mapper)
    if misread:
        return _Unmapped(frozenset({(misread, _where(op), order)}))
    if result.part is not None and result.part[0] in mapper.parts:  # the other element of the same pool
        node_name = mapper.parts[result.part[0]]
        if result.part[1] == 1:
            mapper.indices[op.name] = node_name
        return node_name
    if not result.layers:
        if result.inputs and result.inputs[0].name in mapper.indices:  # i.contiguous(): still the indices
            mapper.indices[op.name] = mapper.indices[result.inputs[0].name]
        return ins[0]
    held = _held_params(op, mapper)
    grads = {p.requires_grad for _, p in held}
    if len(grads) > 1:
        return _Unmapped(frozenset({(f"{_describe(op)} has some parameters frozen (requires_grad=False) and "
                                     f"some trainable", _where(op), order)}))
    frozen = grads == {False}
    key = tuple(sorted(k for k, _ in held))  # the same parameters again: a module called again
    current = ins
    for j, (kind, args) in enumerate(result.layers):
        cls = REGISTRY.get(kind)
        if cls is None:
            return _Unmapped(frozenset({(f"{kind} is not a layer kind ({_describe(op)})", _where(op), order)}))
        try:
            layer = cls.model_validate(args)
        except ValidationError as e:
            return _Unmapped(frozenset({(f"{kind}{args}: {e.errors()[0]['msg']} ({_describe(op)})",
                                         _where(op), order)}))
        # a pool's values and indices are getitems on its tuple: the node is named for the pool's call
        name_op = mapper.ops[result.part[0]] if result.part is not None else op
        node_name = _node_name(name_op, kind, used, counters, functional=j > 0)
        shares = None
        if j == 0 and key:
            shares = mapper.calls.setdefault(key, node_name)
            shares = None if shares == node_name else shares
        nodes.append(Node(name=node_name, layer=layer, inputs=tuple(current), shares=shares, frozen=frozen))
        current = [node_name]
    shapes[current[0]] = tuple(op.value.shape)
    if result.part is not None:
        mapper.parts[result.part[0]] = current[0]
        if result.part[1] == 1:  # the indices have the values' shape: shapes checks hold for them too
            mapper.indices[op.name] = current[0]
    return current[0]


def _misread_indices(op, result, mapper) -> str | None:
    """Why the op reads pooling indices where they are not indices (or the reverse), else None."""
    cls = REGISTRY.get(result.layers[0][0]) if result.layers else None
    index_inputs = cls.index_inputs if cls is not None else ()
    at_index = {r.name for j, r in enumerate(result.inputs) if j in index_inputs}
    for r in _tensor_refs(op):
        if r.name in mapper.indices and r.name not in at_index and result.layers:
            return (f"{_describe(op)} reads the argmax indices of pooling '{mapper.indices[r.name]}' (only "
                    f"MaxUnpool reads them)")
    for name in at_index:
        if name not in mapper.indices:
            return (f"{_describe(op)} takes indices that are not the argmax indices of a max pooling with "
                    f"return_indices")
    return None


def _held_params(op, mapper) -> list:
    """[(key, parameter tensor)] of the parameters an op's first layer holds (not buffers)."""
    if op.kind == "module":
        path = op.kwargs.get("__path__", "")
        return [(f"{path}.{n}", p) for n, p in op.target.named_parameters()]
    out, seen = [], set()

    def walk(ref):
        src = mapper.ops[ref.name]
        if ref.name in seen or src.kwargs.get("__buffer__") or not isinstance(src.value, torch.Tensor):
            return
        seen.add(ref.name)
        if src.kind == "param":
            out.append((src.target, src.value))
        elif ref.name in mapper.derived:  # a weight computed from parameters (standardized): held by its sources
            for r in _tensor_refs(src):
                walk(r)
    for r in _tensor_refs(op):
        walk(r)
    return out


def _describe(op: Op) -> str:
    if op.kind == "module":
        return f"{type(op.target).__name__} module '{op.kwargs.get('__path__', '')}'"
    target = op.target if isinstance(op.target, str) else getattr(op.target, "__qualname__", str(op.target))
    scope = f" in '{op.scope}'" if op.scope else ""
    return f"{op.kind} {target}{scope}"


def _where(op: Op) -> str:
    return op.location or (op.scope or "<top>")


def _node_name(op: Op, kind: str, used: set, counters: dict, functional: bool = False) -> str:
    if op.kind == "module" and not functional:
        base = op.kwargs.get("__path__") or kind.lower()
        name, k = base, 0
        while name in used:  # a module called more than once
            k += 1
            name = f"{base}_{k}"
    else:
        scope = op.scope + "." if op.scope else ""
        while True:
            key = (scope, kind)
            counters[key] = counters.get(key, 0) + 1
            name = f"{scope}{kind.lower()}_{counters[key]}"
            if name not in used:
                break
    used.add(name)
    return name


def _verify_shapes(net: Network, shapes: dict):
    from ..analysis import analyze
    from ..errors import ShapeError
    try:
        report = analyze(net)
    except ShapeError as e:
        raise UnmappedOps([(f"the imported network does not analyze: {e}", e.layer or "")]) from None
    bad = [(r.name, tuple(r.output_shape), shapes[r.name]) for r in report.layers
           if r.name in shapes and tuple(r.output_shape) != shapes[r.name]]
    if bad:
        raise UnmappedOps([(f"{n}: convshape gives {list(a)}, torch {list(b)}", n) for n, a, b in bad])


__all__ = ["from_torch", "UnmappedOps", "module_args", "layer_kind_of_module", "is_leaf"]
