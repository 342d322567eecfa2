"""The safe expression language of spec arguments, and proof that no spec text is ever eval'd."""
import ast
from pathlib import Path

import pytest

import convshape as cs
from convshape.spec.expr import ExprError, evaluate, looks_like_expression

PACKAGE = Path(cs.__file__).parent
SCOPE = {"planes": 64, "i": 0, "width": 0.75, "deep": True}


@pytest.mark.parametrize("text, value", [
    ("planes * 4", 256),
    ("planes // 3 + planes % 3", 22),           # 21 + 1
    ("planes / 4", 16),                          # an integral quotient stays an int
    ("planes / 128", 0.5),
    ("2 ** 6", 64),
    ("-planes + +1", -63),
    ("2 if i == 0 else 1", 2),
    ("1 < planes <= 64", True),
    ("planes != 64 or not deep", False),
    ("deep and planes", 64),                     # Python's and/or semantics
    ("make_divisible(planes * width)", 48),      # 48.0 rounded to a multiple of 8
    ("make_divisible(10, 4)", 12),
    ("max(8, planes // 16)", 8),
    ("min([3, 5, 1])", 1),
    ("abs(-3) + ceil(2.1) + floor(2.9) + round(2.5) + int(7.9)", 3 + 3 + 2 + 2 + 7),
    ("[planes, planes * 2]", [64, 128]),
    ("(1, 2)", [1, 2]),
    ("'same'", "same"),
    ("None", None),
    ("1e-5", 1e-05),
])
def test_allowed(text, value):
    result = evaluate(text, SCOPE)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize("text, message", [
    ("plane * 4", "unknown name 'plane' in 'plane * 4'; did you mean 'planes'?"),
    ("planes.bit_length()", "function 'planes.bit_length' is not allowed"),
    ("().__class__.__bases__[0].__subclasses__()", "function '().__class__.__bases__[0].__subclasses__' is not allowed"),
    ("().__class__", "attribute access (a.b) cannot be used in expressions"),
    ("[1][0]", "indexing (a[i]) cannot be used in expressions"),
    ("open('/etc/passwd')", "function 'open' is not allowed"),
    ("__import__('os')", "function '__import__' is not allowed"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("lambda: 1", "lambda cannot be used in expressions"),
    ("[x for x in (1, 2)]", "comprehensions cannot be used in expressions"),
    ("{x for x in (1, 2)}", "comprehensions cannot be used in expressions"),
    ("{1: 2}", "dict literals cannot be used in expressions"),
    ("f'{planes}'", "f-strings cannot be used in expressions"),
    ("(x := 3)", "assignment (:=) cannot be used in expressions"),
    ("max(*[1, 2])", "unpacking (*a) cannot be used in expressions"),
    ("max(**{})", "unpacking (**a) cannot be used in expressions"),
    ("1 << 64", "operator LShift is not allowed"),
    ("1 in [1]", "comparison In is not allowed"),
    ("2 ** 65", "power too large"),
    ("10 ** 10 ** 10", "power too large"),
    ("(2 ** 64) ** 8", "power too large"),
    ("2.0 ** 2000", "power too large"),
    ("0 ** -1", "cannot evaluate '0 ** -1'"),
    ("(-8) ** 0.5", "'(-8) ** 0.5' gives a complex, not a real number"),
    ("1e308 * 10", "'1e308 * 10' does not give a finite number"),
    ("int(1e300)", "number too large in 'int(1e300)'"),
    ("make_divisible(1e300)", "number too large"),
    ("planes / 0", "division by zero"),
    ("planes % 0.0", "division by zero"),
    ("'a' * 3", "arithmetic on a non-number 'a'"),
    ("True + 1", "arithmetic on a non-number True"),
    ("'a' < 1", "cannot evaluate \"'a' < 1\""),
    ("max()", "max(): max expected at least 1 argument, got 0"),
    ("b'x'", "constant b'x' is not allowed"),
    ("1j", "constant 1j is not allowed"),
    ("3x3", "for a 3x3 size write [3, 3]"),
    ("1 +", "cannot read '1 +' as a number or an expression (invalid syntax)"),
    ("-" * 999 + "1", "is nested too deeply"),
    ("1" * 1001, "expression longer than 1000 characters"),
])
def test_refused(text, message):
    with pytest.raises(ExprError) as e:
        evaluate(text, SCOPE)
    assert message in str(e.value)


def test_refused_expressions_have_no_effect(tmp_path):
    marker = tmp_path / "ran"
    for text in (f"open({str(marker)!r}, 'w')", f"__import__('pathlib').Path({str(marker)!r}).touch()"):
        with pytest.raises(ExprError):
            evaluate(text, {})
    assert not marker.exists()


@pytest.mark.parametrize("text, is_expression", [
    ("same", False), ("bilinear", False), ("nearest-exact", False),  # words stay strings
    ("planes", True), ("True", True),                                 # names of variables / constants
    ("planes-i", True),                                               # every part a variable: arithmetic
    ("planes * 4", True), ("3", True), ("1e-5", True),
])
def test_words_and_expressions(text, is_expression):
    assert looks_like_expression(text, SCOPE) is is_expression


# ---------------------------------------------------------------- nothing in convshape evaluates spec text
# exec of code that convshape generates itself (never spec text), with the reason beside each site
EXEC_SITES = {
    "constraints/compile.py": "compiles sympy trees to integer code; names and literals are generated",
}


def _calls(tree):
    """(call, function name, owner): owner is None for a bare name (a builtin), the module name for
    `yaml.load(...)`, and "?" for a method of anything else (`module.eval()` is torch's, not Python's)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                yield node, func.id, None
            elif isinstance(func, ast.Attribute):
                yield node, func.attr, func.value.id if isinstance(func.value, ast.Name) else "?"


def _is_text(node) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def unsafe_calls(source: str, rel: str) -> list[str]:
    """Calls in one module that could evaluate text or construct arbitrary objects."""
    problems = []
    tree = ast.parse(source)
    for node, name, owner in _calls(tree):
        where = f"{rel}:{node.lineno}"
        if name == "eval" and owner is None:
            problems.append(f"{where}: eval()")
        elif name in ("parse_expr", "lambdify", "unsafe_load", "full_load"):  # parse or run text
            problems.append(f"{where}: {name}()")
        elif name in ("load", "loads") and owner in ("yaml", "pickle", "marshal", "dill"):  # build objects
            problems.append(f"{where}: {owner}.{name}()")
        elif name == "exec" and owner is None and rel not in EXEC_SITES:
            problems.append(f"{where}: exec() (add the site to EXEC_SITES with its reason if it runs only "
                            f"generated code)")
        elif name in ("sympify", "S") and node.args and _is_text(node.args[0]):
            problems.append(f"{where}: {name}() of a string")
    for node in ast.walk(tree):
        loader = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if loader in ("UnsafeLoader", "FullLoader"):
            problems.append(f"{rel}:{node.lineno}: YAML loader {loader}")
    return problems


def test_the_scan_finds_unsafe_calls():
    source = ("import yaml, sympy\nx = eval(t)\nyaml.load(t, Loader=yaml.FullLoader)\nsympy.sympify('H')\n"
              "exec(code)\nsympy.parsing.sympy_parser.parse_expr(t)\nmodel.eval()\nsympy.sympify(3)\n")
    assert unsafe_calls(source, "x.py") == [
        "x.py:2: eval()", "x.py:3: yaml.load()", "x.py:4: sympify() of a string", "x.py:5: exec() (add the site "
        "to EXEC_SITES with its reason if it runs only generated code)", "x.py:6: parse_expr()",
        "x.py:3: YAML loader FullLoader"]


def test_no_eval_or_sympify_of_strings_anywhere_in_convshape():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += unsafe_calls(path.read_text(), path.relative_to(PACKAGE).as_posix())
    assert problems == []


def test_spec_strings_never_reach_sympify(monkeypatch):
    """At run time too: loading and analysing symbolic specs passes no str to sympy's parser."""
    import sympy

    real = sympy.sympify

    def strict_sympify(a, *args, **kwargs):
        assert not isinstance(a, str), f"sympify({a!r})"
        return real(a, *args, **kwargs)

    monkeypatch.setattr(sympy, "sympify", strict_sympify)
    for ref in ("zoo:resnet50", "zoo:lenet5"):
        report = cs.analyze(cs.load(ref), ("N", 3, "H", "W") if ref.endswith("50") else ("N", 1, 28, 28))
        assert report.to_dict()["totals"]["macs"]
    spec = ("input: [N, C, H, W]\nvars: {w: 8}\nlayers:\n  - Conv2d: {in_channels: 3, out_channels: w * 2, "
            "kernel_size: 3, padding: 1}\n  - AdaptiveAvgPool2d: {output_size: 1}\n  - Flatten\n"
            "  - Linear: {out_features: 10}\n")
    assert cs.analyze(cs.loads(spec)).output_shape[1] == 10
