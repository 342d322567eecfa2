"""Two front ends that turn an nn.Module run into one list of recorded operations (Op).

- `trace_fx`: torch.fx symbolic tracing, then an Interpreter run on the meta device that records
  every node's concrete value (tensor shapes, ints from x.size(), tuples from chunk/split).
- `trace_eager`: for code fx cannot trace (data-dependent Python such as dynamic 'same' padding
  computed from x.shape): the module runs eagerly on the meta device under a TorchFunctionMode that
  records every torch function and tensor method called outside a leaf module, plus forward hooks
  that record each leaf module as one operation.

Both keep, per operation, the owning module path (for names and block recovery) and the user's
source location (for error messages). Leaf modules are those a layer kind maps directly.
"""
from __future__ import annotations

import contextlib
import copy
import traceback
import weakref
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class Ref:
    """A reference to the value of another recorded operation."""
    name: str


@dataclass
class Op:
    name: str             # unique in the trace
    kind: str             # "input" | "module" | "function" | "method" | "param" | "output"
    target: object        # module (module ops), callable (function), method name (method), path (param)
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    value: object = None  # the concrete (meta) value it produced
    scope: str = ""       # path of the innermost module whose forward issued it
    location: str = ""    # user source file:line


class TraceFailed(Exception):
    """where: the module path and type the forward failed in ("conv1 (Conv2d)"), "" if not in a leaf."""

    def __init__(self, message: str, where: str = ""):
        super().__init__(message)
        self.where = where


def _input_hint(mod: nn.Module, x) -> str:
    """A convolution handed the network's input it cannot take: say the ranks or channels, not torch's
    words (Conv2d reads a 3-D input as unbatched C,H,W, so 1,3,224 fails as "Invalid channel dimensions")."""
    if not isinstance(mod, nn.modules.conv._ConvNd) or not isinstance(x, torch.Tensor):
        return ""
    want = len(mod.kernel_size) + 2
    given = ",".join(str(d) for d in x.shape)
    if x.dim() != want:
        letters = {3: "N,C,L", 4: "N,C,H,W", 5: "N,C,D,H,W"}.get(want, f"{want} dims")
        return f"the network takes {letters} (its first layer is a {type(mod).__name__}); the input has " \
               f"{x.dim()} dims: {given}"
    if x.shape[1] != mod.in_channels:
        return f"the network takes {mod.in_channels} input channels (in_channels of its first " \
               f"{type(mod).__name__}); the input has {x.shape[1]} (dim 1 of {given})"
    return ""


def _to_meta(module: nn.Module, training: bool = False) -> nn.Module:
    # torch.nn.utils.prune leaves `weight` as a computed (non-leaf) tensor, which deepcopy refuses: copy
    # without it; the pruning pre-hook recomputes it (weight_orig * weight_mask) at every call
    pruned = [(m, hook._tensor_name) for m in module.modules() for hook in m._forward_pre_hooks.values()
              if hasattr(hook, "_tensor_name") and hasattr(m, hook._tensor_name + "_orig")]
    tensors = list(module.parameters()) + list(module.buffers())
    if not pruned and tensors and all(t.is_meta for t in tensors):
        return module.train(training)  # already on meta (built under torch.device("meta")): no copy to make
    held = [(m, name, m.__dict__.pop(name)) for m, name in pruned if name in m.__dict__]
    try:
        m = copy.deepcopy(module)
    finally:
        for owner, name, value in held:
            owner.__dict__[name] = value
    return m.to("meta").train(training)


def example_inputs(module: nn.Module, input_shape) -> dict:
    """name -> meta tensor: one input (a shape), or several (a dict of name -> shape, in order)."""
    shapes = input_shape if isinstance(input_shape, dict) else {"x": input_shape}
    return {k: torch.empty(tuple(s), device="meta", dtype=input_dtype(module)) for k, s in shapes.items()}


def _ordered(names: list, xs: dict) -> list:
    """The example tensors in the order of forward's arguments `names` when the keys are those
    names, else in the dict's own order."""
    if set(xs) == set(names[:len(xs)]):
        return [xs[n] for n in names[:len(xs)]]
    return list(xs.values())


def input_dtype(module: nn.Module):
    """The dtype a model computes in (half and bfloat16 models are traced in theirs)."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float32


# ------------------------------------------------------------------ torch.fx
def trace_fx(module: nn.Module, input_shape, is_leaf, locations: bool = True) -> list:
    import torch.fx as fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return is_leaf(m) or super().is_leaf_module(m, qualname) and is_leaf(m) is not False

        # torch.fx looks a parameter or buffer up by walking root.named_parameters() / named_buffers()
        # at every attribute read and every tensor argument (quadratic: a third of MobileOne's import)
        def tensor_names(self) -> dict:
            if getattr(self, "_names_root", None) is not self.root:
                names = {}
                for n, t in list(self.root.named_parameters()) + list(self.root.named_buffers()):
                    names.setdefault(id(t), n)  # the first name, as torch's search finds
                self._names, self._names_root = names, self.root
            return self._names

        def getattr(self, attr, attr_val, parameter_proxy_cache):
            n = self.tensor_names().get(id(attr_val)) if isinstance(attr_val, torch.Tensor) else None
            if n is not None and (isinstance(attr_val, nn.Parameter) or self.proxy_buffer_attributes):
                if n not in parameter_proxy_cache:
                    parameter_proxy_cache[n] = self.create_proxy("get_attr", n, (), {})
                return parameter_proxy_cache[n]
            return super().getattr(attr, attr_val, parameter_proxy_cache)

        def create_arg(self, a):
            if isinstance(a, torch.Tensor) and not isinstance(a, fx.Proxy):
                n = self.tensor_names().get(id(a))
                if n is not None:
                    return self.create_node("get_attr", n, (), {})
            return super().create_arg(a)

    meta = _to_meta(module)
    tracer = Tracer()
    tracer.record_stack_traces = locations  # source lines cost a third of a large model's trace
    try:
        graph = tracer.trace(meta)
    except Exception as e:  # noqa: BLE001 - any tracing failure sends us to the eager tracer
        raise TraceFailed(f"{type(e).__name__}: {e}") from None
    gm = fx.GraphModule(meta, graph)
    parameters = {name for name, _ in meta.named_parameters()}
    values: dict = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            out = _lstm_on_meta(self, n)
            out = super().run_node(n) if out is None else out
            values[n.name] = out
            return out

    xs = example_inputs(module, input_shape)
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) < len(xs):
        raise TraceFailed(f"forward takes {len(placeholders)} tensor argument(s), {len(xs)} input shapes given")
    ordered = _ordered([n.target for n in placeholders], xs)
    keys = {id(t): k for k, t in xs.items()}
    try:
        Recorder(gm).run(*ordered)
    except Exception as e:  # noqa: BLE001
        raise TraceFailed(f"{type(e).__name__}: {e}") from None
    ops = []
    for n in graph.nodes:
        stack = n.meta.get("nn_module_stack") or {}
        scope = list(stack.values())[-1][0] if stack else ""
        if n.op == "call_module":
            scope = n.target.rpartition(".")[0]
        kind = {"placeholder": "input", "call_module": "module", "call_function": "function",
                "call_method": "method", "get_attr": "param", "output": "output"}[n.op]
        target = gm.get_submodule(n.target) if n.op == "call_module" else n.target
        ops.append(Op(name=n.name, kind=kind, target=target, args=_refs(n.args), kwargs=_refs(n.kwargs),
                      value=values.get(n.name), scope=scope, location=_user_frame(n.stack_trace or ""),
                      ))
        if n.op == "call_module":
            ops[-1].kwargs = dict(ops[-1].kwargs, __path__=n.target)
        if n.op == "get_attr":  # a Parameter, or a buffer (fixed: it is no parameter of a layer)
            ops[-1].kwargs = {"__buffer__": n.target not in parameters}
        if n.op == "placeholder":  # which of the given inputs it is
            j = placeholders.index(n)
            ops[-1].kwargs = {"__input__": keys[id(ordered[j])] if j < len(ordered) else None}
    return ops


def _lstm_on_meta(interpreter, n):
    """nn.LSTM's (output, (h, c)) as empty meta tensors of torch's shapes, for a leaf LSTM called on
    one batched or unbatched input: on the meta device torch runs it step by step through its
    element-wise decomposition (3.5 s of Sequencer2D-S's import), and only the shapes are read."""
    if n.op != "call_module":
        return None
    m = interpreter.module.get_submodule(n.target)
    if type(m) is not nn.LSTM:
        return None
    args, kwargs = interpreter.fetch_args_kwargs_from_env(n)
    if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor) or args[0].dim() not in (2, 3) \
            or args[0].shape[-1] != m.input_size:
        return None  # initial states, a packed sequence or a wrong size: torch runs it (and says why)
    x = args[0]
    d, p = 2 if m.bidirectional else 1, m.proj_size or m.hidden_size
    out = x.new_empty(tuple(x.shape[:-1]) + (d * p,))
    batch = () if x.dim() == 2 else (x.shape[0 if m.batch_first else 1],)
    h = x.new_empty((d * m.num_layers,) + batch + (p,))
    c = x.new_empty((d * m.num_layers,) + batch + (m.hidden_size,))
    return out, (h, c)


def _refs(a):
    import torch.fx as fx
    if isinstance(a, fx.Node):
        return Ref(a.name)
    if isinstance(a, (list, tuple)):
        return type(a)(_refs(v) for v in a) if not hasattr(a, "_fields") else tuple(_refs(v) for v in a)
    if isinstance(a, dict):
        return {k: _refs(v) for k, v in a.items()}
    if isinstance(a, slice):  # x[:, :n] with n read from a size: the bound is a node too
        return slice(_refs(a.start), _refs(a.stop), _refs(a.step))
    return a


def _user_frame(stack_trace: str) -> str:
    """The last 'File "...", line N' of a stack trace that is not torch's or convshape's."""
    best = ""
    for line in stack_trace.splitlines():
        line = line.strip()
        if line.startswith('File "'):
            path = line[6:line.index('"', 6)]
            if "/torch/" in path or "/convshape/torch/" in path:
                continue
            lineno = line.split(", line ")[1].split(",")[0] if ", line " in line else "?"
            best = f"{path}:{lineno}"
    return best


# ------------------------------------------------------------------ eager
def trace_eager(module: nn.Module, input_shape, is_leaf, locations: bool = True, lifetimes: dict | None = None,
                training: bool = False) -> list:
    """lifetimes: a dict to fill with op name -> the name of the op after which torch freed its output's
    storage, for the last value made on each storage (None for the earlier ones: an in-place op's input,
    a view's base); run under no_grad, nothing kept alive by the trace (each Op.value is a meta stand-in
    of the same size, stride and dtype); an output still alive when forward returns has no entry. Its
    key "__storage__" maps op name -> a serial number of the storage the op's output is on.
    training: trace the module in train mode (with gradients enabled unless lifetimes are observed)."""
    from torch.overrides import TorchFunctionMode

    meta = _to_meta(module, training)
    ops: list = []
    names: dict = {}        # id(tensor or value) -> op name
    keep: list = []         # values kept alive so ids stay unique (not when observing lifetimes)
    watch = _Lifetimes(lifetimes, names) if lifetimes is not None else None
    if watch:
        lifetimes["__storage__"] = watch.storage
    scope_stack = [""]
    in_leaf = [0]
    counter = [0]
    entered = [None, None]  # the outermost leaf being run and its first argument's id (a reference would
    # keep the tensor alive and change the lifetimes observed): where a failure is
    paths = {id(m): p for p, m in meta.named_modules()}

    for buffer, (pname, p) in [(False, x) for x in meta.named_parameters()] + \
            [(True, x) for x in meta.named_buffers()]:
        names[id(p)] = pname
        keep.append(p)
        ops.append(Op(name=pname, kind="param", target=pname, value=p, kwargs={"__buffer__": buffer}))

    def ref(v):
        if isinstance(v, (list, tuple)):
            return type(v)(ref(x) for x in v) if not hasattr(v, "_fields") else tuple(ref(x) for x in v)
        if isinstance(v, dict):
            return {k: ref(x) for k, x in v.items()}
        if isinstance(v, torch.Tensor) and id(v) in names:
            return Ref(names[id(v)])
        if isinstance(v, torch.Tensor):
            raise TraceFailed("a tensor that is neither the input, a parameter nor a traced result "
                              "(created inside forward, e.g. torch.zeros)")
        return v

    def record(kind, target, args, kwargs, out, scope):
        counter[0] += 1
        name = f"op{counter[0]}"
        value = watch.stand_in(out) if watch else out
        ops.append(Op(name=name, kind=kind, target=target, args=ref(args), kwargs=ref(kwargs), value=value,
                      scope=scope, location=_user_frame("".join(traceback.format_stack())) if locations else ""))
        for v in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(v, torch.Tensor):
                names[id(v)] = name if not isinstance(out, (tuple, list)) else names.get(id(v), name)
                if watch:
                    watch.follow(v, names[id(v)])
                else:
                    keep.append(v)
        if watch:
            watch.latest = name
        if isinstance(out, (tuple, list)):
            # element i of a tuple result is a getitem on the tuple
            for i, v in enumerate(out):
                if isinstance(v, torch.Tensor):
                    counter[0] += 1
                    item = f"op{counter[0]}"
                    ops.append(Op(name=item, kind="function", target=getitem, args=(Ref(name), i),
                                  value=value[i] if watch else v, scope=scope))
                    names[id(v)] = item
                    if watch:
                        watch.follow(v, item)
                        watch.latest = item
        return name

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if in_leaf[0] == 0 and _produces_value(out) and not _is_plumbing(func):
                try:
                    record("function", func, args, kwargs, out, scope_stack[-1])
                except TraceFailed:
                    raise
            return out

    handles = []

    def pre(mod, args):
        if in_leaf[0]:
            in_leaf[0] += 1 if is_leaf(mod) else 0
            return
        if is_leaf(mod):
            in_leaf[0] += 1
            entered[0], entered[1] = mod, (id(args[0]) if args else None)
        else:
            scope_stack.append(paths.get(id(mod), ""))

    def post(mod, args, out):
        if is_leaf(mod):
            in_leaf[0] -= 1
            if in_leaf[0] == 0:
                record("module", mod, args, {"__path__": paths.get(id(mod), "")}, out,
                       paths.get(id(mod), "").rpartition(".")[0])
        elif in_leaf[0] == 0:
            scope_stack.pop()

    for m in meta.modules():
        if m is meta:
            continue
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    import inspect
    xs = example_inputs(module, input_shape)
    for j, (key, x) in enumerate(xs.items()):
        op_name = "x" if len(xs) == 1 else f"__input_{key}"
        names[id(x)] = op_name
        ops.insert(j, Op(name=op_name, kind="input", target=key, value=x, kwargs={"__input__": key}))
    try:
        arg_names = list(inspect.signature(meta.forward).parameters)
    except (TypeError, ValueError):
        arg_names = []
    ordered = _ordered(arg_names, xs)
    try:
        with Mode(), torch.no_grad() if watch else contextlib.nullcontext():
            out = meta(*ordered)
        if watch:
            watch.latest = None  # forward has returned: what is still alive is held to the end
    except TraceFailed:
        raise
    except Exception as e:  # noqa: BLE001
        mod, x_id = entered if in_leaf[0] else (None, None)
        where = f"{paths.get(id(mod), '')} ({type(mod).__name__})" if mod is not None else ""
        x = next((o.value for o in ops if o.kind == "input" and id(o.value) == x_id), None)
        hint = _input_hint(mod, x) if x is not None else ""
        raise TraceFailed(hint or f"{type(e).__name__}: {e}", where) from None
    finally:
        for h in handles:
            h.remove()
    ops.append(Op(name="output", kind="output", target="output", args=(ref(out),)))
    return ops


class _Lifetimes:
    """Follows the storage of every traced value (a weakref on the storage's Python object, which torch
    keeps while the storage lives, as memtrack.LiveStorages does) and records, when torch frees it,
    the op recorded last: the op after which eager Python dropped its last reference."""

    def __init__(self, freed_after: dict, names: dict):
        self.freed_after, self.names = freed_after, names
        self.latest = None
        self._storages: dict = {}   # id of a live storage -> (weakref, op names on it, serial number)
        self.storage: dict = {}     # op name -> serial number of its output's storage (ids are reused)

    def follow(self, t: torch.Tensor, name: str):
        # a tensor's id may be reused once it dies: its name goes with it
        weakref.finalize(t, lambda names=self.names, key=id(t), name=name:
                         names.pop(key) if names.get(key) == name else None).atexit = False
        st = t.untyped_storage()
        entry = self._storages.get(id(st))
        if entry is None:
            entry = self._storages[id(st)] = (weakref.ref(st, lambda _r, key=id(st): self._freed(key)), [],
                                              len(self.storage))
        entry[1].append(name)
        self.storage[name] = entry[2]

    def _freed(self, key):
        # the storage outlives the values made on it first (an in-place op's input, a view's base) through
        # the last one made on it: only that one is held, each earlier one (None) no longer than its readers
        _, on, _ = self._storages.pop(key)
        if self.latest is not None:
            self.freed_after.update(dict.fromkeys(on[:-1]), **{on[-1]: self.latest})

    @staticmethod
    def stand_in(v):
        """A meta tensor of v's size, stride and dtype (tuples of them alike): the trace holds no value."""
        if isinstance(v, torch.Tensor):
            return torch.empty_strided(v.size(), v.stride(), dtype=v.dtype, device="meta")
        if isinstance(v, (tuple, list)):
            items = [_Lifetimes.stand_in(x) for x in v]
            return type(v)(*items) if hasattr(v, "_fields") else type(v)(items)
        return v


def getitem(seq, i):
    """Stands for element i of a tuple result (named like operator.getitem, as fx records it)."""
    return seq[i]


def _produces_value(out) -> bool:
    if isinstance(out, torch.Tensor):
        return True
    if isinstance(out, (tuple, list)):
        return any(isinstance(v, torch.Tensor) for v in out)
    return False


def _is_plumbing(func) -> bool:
    name = getattr(func, "__name__", "")
    return name in ("__get__", "__set__", "size", "dim", "numel", "__len__", "__format__", "__repr__")
