"""Lint findings as GitHub Actions workflow commands, which become annotations on the diff:
`::error file=...,line=...,col=...,title=convshape (CODE)::message`."""
from __future__ import annotations

LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, file: str, line, col, title: str, message: str) -> str:
    props = [f"file={_prop(file)}"]
    if line is not None:
        props.append(f"line={line}")
        if col is not None:
            props.append(f"col={col}")
    props.append(f"title={_prop(title)}")
    return f"::{level} {','.join(props)}::{_data(message)}"


def render(result) -> str:
    lines = [command(LEVEL[f.severity], f.file, f.line, f.column, f"convshape ({f.code})", f.message)
             for f in result.findings]
    for fr in result.errors:
        e = fr.error
        lines.append(command("error", fr.file, getattr(e, "line", None), getattr(e, "column", None),
                             "convshape (spec)", getattr(e, "message", str(e))))
    return "".join(line + "\n" for line in lines)
