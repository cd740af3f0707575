#!/usr/bin/env python3
"""Generate tests/abi/abi_facts.c from the public header shim/include/urocket.h.

abi_facts.c is the one source of ABI truth for every binding: built against the
header and run, it prints JSON with

* every struct typedef: size, alignment, and each field's offset, size and
  declared type, measured by the C compiler (sizeof/_Alignof/offsetof);
* every integer URK_* macro, as the C compiler evaluates it;
* every function: name, return type and parameters (name and type).

The header is parsed with the same preprocessor the Python binding uses
(python/tools/gen_cdef.py), so there is no hand-kept list. The C file also
pins each function's signature with a _Generic static assertion: it stops
compiling if the header changes a prototype and this file was not
regenerated.

Usage:
    gen_abi_facts.py            write tests/abi/abi_facts.c
    gen_abi_facts.py --check    exit 1 if the committed abi_facts.c is stale
    gen_abi_facts.py --stdout   print it
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python", "tools"))
import gen_cdef  # noqa: E402  (the header parser shared with the Python binding)

HEADER = os.path.join(REPO, "shim", "include", "urocket.h")
OUTPUT = os.path.join(HERE, "abi_facts.c")


class FactsError(Exception):
    """A declaration this generator does not understand."""


def _norm(text):
    """Canonical spelling of a C type: single spaces, '*' bound as 'T *'."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*\*\s*", " *", text)
    text = text.replace("* *", "**")
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    return text


def _split_top(text, sep):
    """Split on sep outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _parse_param(text, where):
    """'const urk_ring_t *ring' -> ('ring', 'const urk_ring_t *')."""
    text = text.strip()
    m = re.fullmatch(r"(.*?)(\b[A-Za-z_]\w*)", text, flags=re.S)
    if not m or not m.group(1).strip():
        raise FactsError("%s: parameter without a name: %r" % (where, text))
    if "(" in text or "[" in text:
        raise FactsError("%s: unsupported parameter %r" % (where, text))
    return m.group(2), _norm(m.group(1))


def _parse_member(text, where):
    """One struct member -> (name, type, array_len or None)."""
    text = " ".join(text.split())
    fp = re.fullmatch(r"(.*?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)", text)
    if fp:
        ret, name, params = fp.groups()
        ptypes = [_parse_param(p, where)[1] for p in _split_top(params, ",")]
        return name, "%s (*)(%s)" % (_norm(ret), ", ".join(ptypes)), None
    if "," in text:
        raise FactsError("%s: one declarator per member, please: %r" % (where, text))
    m = re.fullmatch(r"(.*?)(\b[A-Za-z_]\w*)\s*(?:\[\s*(\d+)\s*\])?", text)
    if not m or not m.group(1).strip():
        raise FactsError("%s: cannot parse member %r" % (where, text))
    arr = int(m.group(3)) if m.group(3) else None
    return m.group(2), _norm(m.group(1)), arr


def parse(text):
    """Return (structs, constants, functions) from the header text.

    structs: [(typedef, [(field, type, array_len)])] in header order
    constants: [name] in header order
    functions: [(name, return_type, [(param, type)])] in header order
    """
    decls, constants, _sizes = gen_cdef.parse_header(text)
    structs, functions = [], []
    # Struct bodies contain ';': take them out first, then split the rest.
    body_re = re.compile(r"typedef\s+struct\s+\w+\s*\{(.*?)\}\s*(\w+)\s*;", flags=re.S)
    for m in body_re.finditer(decls):
        body, name = m.group(1), m.group(2)
        fields = [_parse_member(part, name) for part in _split_top(body, ";") if part.strip()]
        structs.append((name, fields))
    rest = body_re.sub(" ", decls)
    for stmt in _split_top(rest, ";"):
        stmt = " ".join(stmt.split())
        if not stmt or stmt.startswith("typedef"):
            continue  # opaque handles and integer typedefs (urk_conn_t)
        fn = re.fullmatch(r"(.*?)\b(urk_\w+)\s*\((.*)\)", stmt)
        if not fn:
            raise FactsError("cannot parse declaration %r" % stmt)
        ret, name, params = fn.groups()
        plist = [] if params.strip() in ("", "void") else \
            [_parse_param(p, name) for p in _split_top(params, ",")]
        functions.append((name, _norm(ret), plist))
    names = set()
    for name, _, _ in functions:
        if name in names:
            raise FactsError("function %s declared twice" % name)
        names.add(name)
    return structs, [n for n, _ in constants], functions


def _c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json_c(s):
    """A JSON string literal as the content of a C string literal."""
    return _c_string('"' + s + '"')[1:-1]


def render(header_path):
    with open(header_path, encoding="utf-8") as f:
        text = f.read()
    structs, constants, functions = parse(text)
    out = [
        "/* Generated by tests/abi/gen_abi_facts.py from shim/include/urocket.h.",
        " * Do not edit: run `make -C bindings abi-facts-update` after changing the",
        " * header. Prints the ABI facts as JSON (tests/abi/abi_facts.json). */",
        "#include <stddef.h>",
        "#include <stdio.h>",
        "#include <urocket.h>",
        "",
        "/* Each prototype as this file knows it: a header change that is not",
        " * regenerated here stops the build; so does a struct whose size differs",
        " * from the size pinned in the header's comment. */",
    ]
    pinned = gen_cdef.parse_header(text)[2]
    for sname, _ in structs:
        if sname not in pinned:
            raise FactsError("%s has no /* size N */ comment in the header" % sname)
        out.append("_Static_assert(sizeof(%s) == %d, %s);"
                   % (sname, pinned[sname], _c_string(sname + " size pinned by the header")))
    for name, ret, params in functions:
        ptypes = ", ".join(t for _, t in params) or "void"
        out.append("_Static_assert(_Generic(&%s, %s (*)(%s): 1, default: 0), %s);"
                   % (name, ret, ptypes, _c_string(name + " signature")))
    out += [
        "",
        "#define FIELD(T, F) offsetof(T, F), sizeof(((T *)0)->F)",
        "",
        "int main(void)",
        "{",
        '    printf("{\\n");',
        '    printf("  \\"abi_version\\": %u,\\n", (unsigned)URK_ABI_VERSION);',
        '    printf("  \\"structs\\": {\\n");',
    ]
    for si, (sname, fields) in enumerate(structs):
        out.append('    printf("    %s: {\\"size\\": %%zu, \\"align\\": %%zu, \\"fields\\": [\\n", '
                   "sizeof(%s), _Alignof(%s));" % (_json_c(sname), sname, sname))
        for fi, (fname, ftype, arr) in enumerate(fields):
            tname = ftype if arr is None else "%s[%d]" % (ftype, arr)
            sep = "," if fi + 1 < len(fields) else ""
            out.append('    printf("      {\\"name\\": %s, \\"offset\\": %%zu, \\"size\\": %%zu, '
                       '\\"type\\": %s}%s\\n", FIELD(%s, %s));'
                       % (_json_c(fname), _json_c(tname), sep, sname, fname))
        sep = "," if si + 1 < len(structs) else ""
        out.append('    printf("    ]}%s\\n");' % sep)
    out.append('    printf("  },\\n");')
    out.append('    printf("  \\"constants\\": {\\n");')
    for ci, cname in enumerate(constants):
        sep = "," if ci + 1 < len(constants) else ""
        out.append('    printf("    %s: %%llu%s\\n", (unsigned long long)(%s));'
                   % (_json_c(cname), sep, cname))
    out.append('    printf("  },\\n");')
    out.append('    printf("  \\"functions\\": [\\n");')
    for fi, (name, ret, params) in enumerate(functions):
        plist = ", ".join('{"name": "%s", "type": "%s"}' % (p, t) for p, t in params)
        line = '    {"name": "%s", "ret": "%s", "params": [%s]}' % (name, ret, plist)
        line += "," if fi + 1 < len(functions) else ""
        out.append('    printf("%%s\\n", %s);' % _c_string(line))
    out += [
        '    printf("  ]\\n");',
        '    printf("}\\n");',
        "    return 0;",
        "}",
        "",
    ]
    # Every constant must be non-negative: the program prints them unsigned.
    consts = dict(gen_cdef.parse_header(text)[1])
    negative = [n for n in constants if consts[n] < 0]
    if negative:
        raise FactsError("negative constants are not supported: %s" % negative)
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", default=HEADER)
    ap.add_argument("--output", default=OUTPUT)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--stdout", action="store_true")
    args = ap.parse_args(argv)
    text = render(args.header)
    if args.stdout:
        sys.stdout.write(text)
        return 0
    return gen_cdef.write_or_check(
        args.output, text, args.check,
        "run `make -C bindings abi-facts-update` (%s)" % os.path.relpath(args.output, REPO))


if __name__ == "__main__":
    sys.exit(main())
