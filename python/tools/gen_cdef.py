#!/usr/bin/env python3
"""Generate python/urocket/_cdef.py from the public header shim/include/urocket.h.

The header is the contract; the Python binding never keeps a hand-written copy
of it. This script runs a tiny preprocessor over the header:

* comments, the include guard, ``extern "C"`` and ``#include`` lines go;
* ``#if``/``#ifdef``/``#ifndef``/``#else``/``#endif`` are evaluated with
  nothing defined except the header's own macros (so ``__cplusplus`` and
  ``URK_BUILDING_LIBRARY`` are off and ``URK_API`` is empty);
* every object-like ``#define URK_X <integer expression>`` is evaluated in
  Python, including macros built from other macros (``(URK_EBASE + 1)``,
  ``(1u << 3)``, ``(1ull << 3)``), and emitted as ``#define URK_X <decimal>``,
  the form cffi accepts in ABI mode;
* ``/* size N */`` comments after a typedef are kept as a table so the tests
  can check cffi's layout against the sizes the header pins.

Usage:
    gen_cdef.py [--header PATH] [--output PATH]   write the module
    gen_cdef.py --check                           exit 1 if the module is stale
    gen_cdef.py --stdout                          print the module
"""
import argparse
import ast
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_HEADER = os.path.join(REPO, "shim", "include", "urocket.h")
DEFAULT_OUTPUT = os.path.join(REPO, "python", "urocket", "_cdef.py")


class HeaderError(Exception):
    """The header uses a construct this generator does not understand."""


_INT_LITERAL = re.compile(r"\b(0[xX][0-9a-fA-F]+|[0-9]+)([uUlL]*)\b")
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def _strip_comments(text):
    """Remove /* */ and // comments, keeping newlines so line numbers hold."""
    def block(m):
        return "\n" * m.group(0).count("\n") + " "
    text = re.sub(r"/\*.*?\*/", block, text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _eval_int(expr, macros, where):
    """Evaluate a C integer constant expression using already known macros."""
    def sub_ident(m):
        name = m.group(0)
        if name in macros:
            value = macros[name]
            if value is None:
                raise HeaderError("%s: macro %s has no integer value" % (where, name))
            return "(%d)" % value
        raise HeaderError("%s: unknown identifier %r in %r" % (where, name, expr))

    py = _INT_LITERAL.sub(lambda m: str(int(m.group(1), 0)), expr)
    py = _IDENT.sub(sub_ident, py)
    try:
        tree = ast.parse(py.strip(), mode="eval")
    except SyntaxError as exc:
        raise HeaderError("%s: cannot parse %r: %s" % (where, expr, exc))
    return _eval_node(tree.body, where, expr)


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b,
    ast.BitOr: lambda a, b: a | b,
    ast.BitAnd: lambda a, b: a & b,
    ast.BitXor: lambda a, b: a ^ b,
}


def _eval_node(node, where, expr):
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval_node(node.left, where, expr),
                                      _eval_node(node.right, where, expr))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval_node(node.operand, where, expr)
        return -v if isinstance(node.op, ast.USub) else v
    # ~, /, % and casts would need C width/sign rules: refuse rather than guess.
    raise HeaderError("%s: unsupported construct in %r" % (where, expr))


def _is_defined_expr(cond, macros, where):
    """Evaluate the condition of #if: only defined(X) / !defined(X) / 0 / 1."""
    cond = cond.strip()
    m = re.fullmatch(r"(!\s*)?defined\s*\(?\s*([A-Za-z_]\w*)\s*\)?", cond)
    if m:
        result = m.group(2) in macros
        return not result if m.group(1) else result
    if cond in ("0", "1"):
        return cond == "1"
    raise HeaderError("%s: unsupported #if condition %r" % (where, cond))


def parse_header(text):
    """Return (declarations, constants, sizes) parsed from the header text.

    declarations: C declarations with preprocessor lines removed.
    constants: list of (name, int) in header order.
    sizes: dict typedef name -> size pinned by a /* size N */ comment.
    """
    sizes = {}
    for m in re.finditer(r"\}\s*(\w+)\s*;\s*/\*\s*size\s+(\d+)\s*\*/", text):
        sizes[m.group(1)] = int(m.group(2))

    text = _strip_comments(text).replace("\\\n", " ")
    macros = {}          # name -> int value, or None for a valueless macro
    constants = []
    out = []
    stack = []           # per #if level: [taking, any_branch_taken]
    guard = None
    lines = text.split("\n")
    for lineno, raw in enumerate(lines, 1):
        where = "urocket.h:%d" % lineno
        line = raw.strip()
        active = all(level[0] for level in stack)
        if not line.startswith("#"):
            if active and line:
                out.append(raw)
            continue
        m = re.match(r"#\s*(\w+)\s*(.*)$", line)
        if not m:
            raise HeaderError("%s: bad directive %r" % (where, line))
        directive, rest = m.group(1), m.group(2).strip()
        if directive in ("ifdef", "ifndef", "if"):
            if directive == "ifdef":
                taking = rest in macros
            elif directive == "ifndef":
                taking = rest not in macros
                if guard is None and not stack:
                    guard = rest
            else:
                taking = _is_defined_expr(rest, macros, where)
            stack.append([taking, taking])
        elif directive == "else":
            if not stack:
                raise HeaderError("%s: #else without #if" % where)
            stack[-1][0] = not stack[-1][1]
            stack[-1][1] = True
        elif directive == "endif":
            if not stack:
                raise HeaderError("%s: #endif without #if" % where)
            stack.pop()
        elif not active:
            continue
        elif directive == "include":
            continue
        elif directive == "define":
            dm = re.match(r"([A-Za-z_]\w*)(\()?\s*(.*)$", rest)
            if not dm or dm.group(2):
                raise HeaderError("%s: function-like macro not supported: %r" % (where, rest))
            name, value = dm.group(1), dm.group(3).strip()
            if not value:
                macros[name] = None   # guard or attribute marker (URK_API)
                continue
            if not value.startswith("__attribute__"):
                macros[name] = _eval_int(value, macros, where)
                constants.append((name, macros[name]))
            else:
                macros[name] = None
        elif directive == "undef":
            macros.pop(rest, None)
        else:
            raise HeaderError("%s: unsupported directive #%s" % (where, directive))
    if stack:
        raise HeaderError("urocket.h: unterminated #if")

    decls = "\n".join(out)
    # extern "C" { ... } sits under #ifdef __cplusplus, which is off: gone.
    empty = [name for name, value in macros.items() if value is None]

    def sub_ident(m):
        name = m.group(0)
        if name in macros:
            value = macros[name]
            return "" if value is None else str(value)
        return name

    if empty or constants:
        decls = _IDENT.sub(sub_ident, decls)
    # Keep the header's layout, minus trailing blanks and empty lines left by
    # removed comments and directives. Leading space of a line that held only
    # "URK_API " before a declaration is dropped.
    decls = "\n".join(l.rstrip() for l in decls.split("\n"))
    decls = re.sub(r"^ (?=\S)", "", decls, flags=re.M)
    decls = re.sub(r"\n\s*\n+", "\n", decls).strip() + "\n"
    return decls, constants, sizes


def render_module(header_path):
    """Return the text of _cdef.py for the header at header_path."""
    with open(header_path, "rb") as f:
        raw = f.read()
    decls, constants, sizes = parse_header(raw.decode("utf-8"))
    consts = dict(constants)
    if "URK_ABI_VERSION" not in consts:
        raise HeaderError("urocket.h defines no URK_ABI_VERSION")
    defines = "".join("#define %s %d\n" % (n, v) for n, v in constants)
    lines = [
        "# Generated by python/tools/gen_cdef.py from shim/include/urocket.h.",
        "# Do not edit: run `python3 python/tools/gen_cdef.py` after changing the",
        "# header; tests/python/test_abi.py fails while this file is stale.",
        '"""cffi declarations generated from the public header urocket.h."""',
        "",
        "HEADER_SHA256 = %r" % hashlib.sha256(raw).hexdigest(),
        "ABI_VERSION = %d" % consts["URK_ABI_VERSION"],
        "",
        "# Every integer macro of the header, evaluated, in header order.",
        "CONSTANTS = {",
    ]
    lines += ["    %r: %d," % (n, v) for n, v in constants]
    lines += ["}", "", "# Sizes pinned by the header's /* size N */ comments.", "STRUCT_SIZES = {"]
    lines += ["    %r: %d," % (n, sizes[n]) for n in sorted(sizes)]
    lines += ["}", "", "CDEF = r'''", defines + decls + "'''", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", default=DEFAULT_HEADER)
    ap.add_argument("--output", default=DEFAULT_OUTPUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if --output is stale")
    ap.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = ap.parse_args(argv)
    text = render_module(args.header)
    if args.stdout:
        sys.stdout.write(text)
        return 0
    return write_or_check(args.output, text, args.check, "run python/tools/gen_cdef.py")


def write_or_check(path, text, check, how_to_update):
    """Writes text to path; with check, only compares and returns 1 (with a
    message saying how_to_update) when path is stale. Shared by the header
    generators (this one and tests/abi/gen_abi_facts.py)."""
    if check:
        try:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            sys.stderr.write("%s is stale: %s\n" % (path, how_to_update))
            return 1
        return 0
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
