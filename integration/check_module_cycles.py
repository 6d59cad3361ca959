#!/usr/bin/env python3
"""Fails when two modules of the library import each other, directly or round a loop.

Reads every file under src/ (except src/main.rs, the binary), strips comments, string
and character literals, follows inline `mod name { ... }` blocks, and collects the
module paths each module names: `crate::a::b`, `super::x`, `self::x`, and `x::...`
where `x` is a child module declared in the file. Each path is resolved to the
deepest existing module, then cut to the level being checked:

  level 1: top-level modules (`auth`, `spf_eval`, `metrics`);
  level 2: top-level modules and their direct children (`auth::spf_check`,
           `scan::dlp`); deeper modules count as their level-2 ancestor.

A name re-exported by a module (`pub use`) counts as naming the module that defines
it. An edge a -> b means a module at a names b; a child naming its own parent (the
parent's shared items, `super::X`) is not counted, since Rust nests a child in its
parent. Any strongly connected component with more than one node is a cycle and is
printed with one file:line per edge.

Usage: integration/check_module_cycles.py [--src DIR]   (exit 1 on a cycle)
"""

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_code(text):
    """Blanks comments, strings and char literals, keeping line breaks and length."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and not re.match(r"\w", text[i - 1 : i] or " "):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}'); a lifetime ('a) is left alone.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def file_module(src, path):
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def module_exists(src, parts):
    if not parts:
        return True
    base = src.joinpath(*parts)
    return base.with_suffix(".rs").is_file() or (base / "mod.rs").is_file()


def module_file(src, parts):
    base = src.joinpath(*parts) if parts else src / "lib"
    if base.with_suffix(".rs").is_file():
        return base.with_suffix(".rs")
    return base / "mod.rs"


def absolute(here, segs, child_mods):
    """A path as written in module `here`, made absolute (None: another crate)."""
    head = segs[0]
    if head == "crate":
        return segs[1:]
    if head == "super":
        k = 0
        while k < len(segs) and segs[k] == "super":
            k += 1
        return here[: len(here) - k] + segs[k:]
    if head == "self":
        return here + segs[1:]
    if head in child_mods:
        return here + segs
    return None


REEXPORTS = {}


def reexports(src, parts):
    """`pub use` items of a module: item name -> the module it comes from."""
    key = tuple(parts)
    if key in REEXPORTS:
        return REEXPORTS[key]
    REEXPORTS[key] = {}
    path = module_file(src, parts)
    if not path.is_file():
        return REEXPORTS[key]
    code = strip_code(path.read_text(encoding="utf-8"))
    child_mods = set(re.findall(rf"\bmod\s+({IDENT})\s*;", code))
    out = {}
    for body in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", code):
        body = re.sub(r"\s+", "", body)
        prefix, _, group = body.partition("::{")
        items = group.rstrip("}").split(",") if group else [None]
        for item in items:
            full = prefix if item is None else f"{prefix}::{item}"
            full, _, alias = full.partition("as")
            segs = [x for x in full.split("::") if x]
            target = absolute(list(parts), segs, child_mods) if segs else None
            if not target:
                continue
            name = alias or segs[-1]
            out[name] = resolve(src, target)
    REEXPORTS[key] = out
    return out


def resolve(src, parts):
    """The module that defines what a path names: its deepest existing module,
    followed through that module's `pub use` re-exports."""
    best = []
    for k in range(1, len(parts) + 1):
        if module_exists(src, parts[:k]):
            best = parts[:k]
        else:
            break
    rest = parts[len(best) :]
    if rest:
        via = reexports(src, best).get(rest[0])
        if via:
            return via
    return best


def references(src, path):
    """(module path, line) of every module named in one file."""
    code = strip_code(path.read_text(encoding="utf-8"))
    base = file_module(src, path)
    # Inline modules: (brace depth at which they close, name).
    inline, depth = [], 0
    refs = []
    line = 1
    token = re.compile(
        rf"(?P<nl>\n)|(?P<open>\{{)|(?P<close>\}})"
        rf"|(?P<inline>\bmod\s+(?P<mname>{IDENT})\s*\{{)"
        rf"|(?P<path>(?<![\w:])(?:{IDENT})(?:\s*::\s*(?:{IDENT}|\{{))+)"
    )
    child_mods = set(re.findall(rf"\bmod\s+({IDENT})\s*;", code))
    for m in token.finditer(code):
        if m.group("nl"):
            line += 1
        elif m.group("inline"):
            depth += 1
            inline.append((depth, m.group("mname")))
        elif m.group("open"):
            depth += 1
        elif m.group("close"):
            if inline and inline[-1][0] == depth:
                inline.pop()
            depth -= 1
        else:
            here = base + [name for _, name in inline]
            segs = [s.strip() for s in re.split(r"::", m.group("path"))]
            segs = [s for s in segs if s and s != "{"]
            head = segs[0]
            target = absolute(here, segs, child_mods if not inline else set())
            if target is None:
                continue
            target = resolve(src, target)
            if target:
                refs.append((target, line))
            # `use crate::{a, b::c}`: the names inside the braces.
            if m.group("path").rstrip().endswith("{") and head in ("crate", "super", "self"):
                close = code.find("}", m.end())
                for name in re.findall(rf"(?<![\w:])({IDENT})\s*(?:::|,|\}}|$)", code[m.end() : close + 1]):
                    sub = resolve(src, target + [name])
                    if sub and sub != target:
                        refs.append((sub, line))
    return base, refs


def node(parts, level):
    return "::".join(parts[:level])


def is_ancestor(a, b):
    """Whether node `a` contains node `b` (`auth` contains `auth::sign`)."""
    return b.startswith(a + "::")


def cycles(edges):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=str(Path(__file__).resolve().parent.parent / "src"))
    args = ap.parse_args()
    src = Path(args.src)
    files = [p for p in sorted(src.rglob("*.rs")) if p != src / "main.rs"]
    found = False
    for level in (1, 2):
        edges = defaultdict(set)
        where = {}
        for path in files:
            base, refs = references(src, path)
            for target, line in refs:
                a, b = node(base, level), node(target, level)
                # A child naming its parent is Rust scoping (the parent holds what
                # its children share), not an import back; siblings and other
                # modules count.
                if a and b and a != b and not is_ancestor(b, a):
                    edges[a].add(b)
                    where.setdefault((a, b), f"{path.relative_to(src.parent)}:{line}")
        for comp in cycles(edges):
            found = True
            print(f"level {level} cycle: {' <-> '.join(comp)}")
            for a in comp:
                for b in comp:
                    if b in edges.get(a, ()):
                        print(f"  {a} -> {b}  ({where[(a, b)]})")
        print(f"level {level}: {len(edges)} modules with imports checked")
    if found:
        sys.exit(1)
    print("no module cycles")


if __name__ == "__main__":
    main()
