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
import re

MAX_LEN = 1000
MAX_INT_BITS = 256  # refuse results such as 10 ** 10 ** 10 before computing them
MAX_EXPONENT = 64


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


_HYPHENATED = re.compile(r"[A-Za-z_]\w*(?:-[A-Za-z_]\w*)+")
_SIZE_BY_SIZE = re.compile(r"\s*(\d+)\s*[xX\u00d7]\s*(\d+)(?:\s*[xX\u00d7]\s*(\d+))?\s*")


def looks_like_expression(text: str, scope: dict) -> bool:
    """Whether a string value is an expression rather than a word.

    A bare word such as `same` or `bilinear` is a string unless it names a variable, and so is a
    hyphenated word such as `nearest-exact` (torch's Upsample mode) unless every part is a variable.
    """
    if text.isidentifier():
        return text in scope or text in ("True", "False", "None")
    if _HYPHENATED.fullmatch(text):
        return all(part in scope for part in text.split("-"))
    return True


def evaluate(text: str, scope: dict):
    """Evaluate `text` with the names in `scope`; every failure is an ExprError."""
    if len(text) > MAX_LEN:
        raise ExprError(f"expression longer than {MAX_LEN} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"cannot read {text!r} as a number or an expression ({e.msg}){_hint(text, e.msg)}") from None
    except (RecursionError, MemoryError):
        raise ExprError(f"expression {text[:40]!r}... is nested too deeply") from None
    try:
        return _Eval(scope, text).visit(tree.body)
    except RecursionError:
        raise ExprError(f"expression {text[:40]!r}... is nested too deeply") from None


def _hint(text: str, problem: str) -> str:
    """What a newcomer most likely meant by an unreadable expression."""
    m = _SIZE_BY_SIZE.fullmatch(text)
    if m:
        sizes = [g for g in m.groups() if g]
        return f"; for a {'x'.join(sizes)} size write [{', '.join(sizes)}]"
    if "never closed" in problem:  # YAML's {a: f(x, y)} ends the value at the comma
        return "; inside YAML's {...} or [...] a comma ends the value, so quote an expression that has one"
    return ""


# Readable names for Python syntax that expressions do not allow.
_SYNTAX_NAMES = {
    "Attribute": "attribute access (a.b)", "Subscript": "indexing (a[i])", "Lambda": "lambda",
    "ListComp": "comprehensions", "SetComp": "comprehensions", "DictComp": "comprehensions",
    "GeneratorExp": "comprehensions", "Dict": "dict literals", "Set": "set literals",
    "JoinedStr": "f-strings", "NamedExpr": "assignment (:=)", "Starred": "unpacking (*a)",
    "Await": "await", "Slice": "slices",
}


class _Eval:
    def __init__(self, scope: dict, text: str):
        self.scope = scope
        self.text = text

    def visit(self, node):
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            what = _SYNTAX_NAMES.get(type(node).__name__, type(node).__name__)
            raise ExprError(f"{what} cannot be used in expressions (in {self.text!r}); expressions allow "
                            f"numbers, names, + - * / // % **, comparisons, 'x if c else y' "
                            f"and {', '.join(sorted(_FUNCS))}")
        try:
            result = method(node)
        except (ArithmeticError, TypeError) as e:  # 0 ** -1, 'a' < 1, ...
            raise ExprError(f"cannot evaluate {self.text!r}: {e}") from None
        return self._checked(result)

    def _checked(self, value):
        """Every intermediate value is a finite number of bounded size, a bool, a string, None or a list."""
        if isinstance(value, bool) or value is None or isinstance(value, (str, list)):
            return value
        if isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                raise ExprError(f"number too large in {self.text!r}")
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ExprError(f"{self.text!r} does not give a finite number")
            return value
        raise ExprError(f"{self.text!r} gives a {type(value).__name__}, not a real number")

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
            # bound the work before doing it: |exponent| <= 64 and a result of at most ~MAX_INT_BITS bits
            if abs(right) > MAX_EXPONENT or abs(left) > 1 and abs(right) * math.log2(abs(left)) > MAX_INT_BITS:
                raise ExprError(f"power too large in {self.text!r} (exponent at most {MAX_EXPONENT}, "
                                f"result at most {MAX_INT_BITS} bits)")
        if isinstance(node.op, (ast.FloorDiv, ast.Mod, ast.Div)) and right == 0:
            raise ExprError(f"division by zero in {self.text!r}")
        result = op(left, right)
        if isinstance(result, float) and result.is_integer() and isinstance(node.op, ast.Div):
            result = int(result)
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
            raise ExprError(f"function '{ast.unparse(node.func)}' is not allowed in {self.text!r} "
                            f"(allowed: {', '.join(sorted(_FUNCS))})")
        if any(k.arg is None for k in node.keywords):
            raise ExprError(f"unpacking (**a) cannot be used in expressions (in {self.text!r})")
        args = [self.visit(a) for a in node.args]
        kwargs = {k.arg: self.visit(k.value) for k in node.keywords}
        try:
            return _FUNCS[node.func.id](*args, **kwargs)
        except (TypeError, ValueError, ArithmeticError) as e:
            raise ExprError(f"{node.func.id}(): {e} (in {self.text!r})") from None


def _number(v, text):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ExprError(f"arithmetic on a non-number {v!r} in {text!r}")
    return v
