"""A small, safe arithmetic language for spec arguments: `planes * 4`, `2 if i == 0 else 1`.

The text is parsed with Python's `ast` in "eval" mode (parsing never runs code) and the tree is
walked by an interpreter that allows only literals, names from the scope, arithmetic,
comparisons, boolean logic, conditional expressions, tuples/lists and a few pure functions.
Nothing is ever passed to eval() or sympify().
"""
from __future__ import annotations

import ast
import difflib
import math
import operator

MAX_LEN = 1000
MAX_INT_BITS = 256  # refuse results such as 10 ** 10 ** 10 before computing them


class ExprError(ValueError):
    """An expression could not be evaluated; the spec layer adds file/line/field."""


_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_CMPOPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_FUNCS = {
    "min": min, "max": max, "abs": abs, "int": int, "round": round,
    "ceil": math.ceil, "floor": math.floor,
    # torchvision's _make_divisible, used by MobileNet/EfficientNet channel counts
    "make_divisible": lambda v, divisor=8, min_value=None: _make_divisible(v, divisor, min_value),
}


def _make_divisible(v, divisor=8, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def looks_like_expression(text: str) -> bool:
    """A bare word such as `same` or `bilinear` is a string value, not an expression."""
    return not text.isidentifier() or text in ("True", "False", "None")


def names_in(text: str) -> set[str]:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def evaluate(text: str, scope: dict):
    if len(text) > MAX_LEN:
        raise ExprError(f"expression longer than {MAX_LEN} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"cannot parse expression {text!r}: {e.msg}") from None
    return _Eval(scope, text).visit(tree.body)


class _Eval:
    def __init__(self, scope: dict, text: str):
        self.scope = scope
        self.text = text

    def visit(self, node):
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise ExprError(f"{type(node).__name__} is not allowed in expressions (in {self.text!r})")
        return method(node)

    def visit_Constant(self, node):
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise ExprError(f"constant {node.value!r} is not allowed")

    def visit_Name(self, node):
        if node.id in self.scope:
            return self.scope[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        close = difflib.get_close_matches(node.id, list(self.scope), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ExprError(f"unknown name '{node.id}' in {self.text!r}{hint}")

    def visit_BinOp(self, node):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        _number(left, self.text), _number(right, self.text)
        if isinstance(node.op, ast.Pow):
            if abs(right) > 64 or (isinstance(left, int) and abs(left) > 2 ** 16 and right > 4):
                raise ExprError(f"power too large in {self.text!r}")
        if isinstance(node.op, (ast.FloorDiv, ast.Mod, ast.Div)) and right == 0:
            raise ExprError(f"division by zero in {self.text!r}")
        result = op(left, right)
        if isinstance(result, float) and result.is_integer() and isinstance(node.op, ast.Div):
            result = int(result)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise ExprError(f"number too large in {self.text!r}")
        return result

    def visit_UnaryOp(self, node):
        v = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            return -_number(v, self.text)
        if isinstance(node.op, ast.UAdd):
            return +_number(v, self.text)
        if isinstance(node.op, ast.Not):
            return not v
        raise ExprError(f"operator {type(node.op).__name__} is not allowed")

    def visit_BoolOp(self, node):
        if isinstance(node.op, ast.And):
            result = True
            for v in node.values:
                result = self.visit(v)
                if not result:
                    return result
            return result
        result = False
        for v in node.values:
            result = self.visit(v)
            if result:
                return result
        return result

    def visit_Compare(self, node):
        left = self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators):
            fn = _CMPOPS.get(type(op))
            if fn is None:
                raise ExprError(f"comparison {type(op).__name__} is not allowed")
            right = self.visit(comp)
            if not fn(left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node):
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Tuple(self, node):
        return [self.visit(e) for e in node.elts]

    visit_List = visit_Tuple

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS:
            name = getattr(node.func, "id", "?")
            raise ExprError(f"function '{name}' is not allowed (allowed: {', '.join(sorted(_FUNCS))})")
        args = [self.visit(a) for a in node.args]
        kwargs = {k.arg: self.visit(k.value) for k in node.keywords if k.arg}
        try:
            return _FUNCS[node.func.id](*args, **kwargs)
        except (TypeError, ValueError, OverflowError) as e:
            raise ExprError(f"{node.func.id}(): {e}") from None


def _number(v, text):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ExprError(f"arithmetic on a non-number {v!r} in {text!r}")
    return v
