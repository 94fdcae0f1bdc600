#!/usr/bin/env python3
"""Lists long Rust functions and files, for `.ci/run`.

Reports every function over 80 lines and every file over 800 lines in
bot/src, bot/scan/src, rules/src and tests/fakes/src (the fakes are
read as often as the code they judge). A function over 100 lines is a problem
unless its doc comment says why with a line containing "Long because"; a file
over 800 lines is always a problem. Tests (`#[cfg(test)]` modules, `tests.rs`
files) are not counted: a table of cases is long on purpose.

    python3 scripts/long-functions.py            # report; exit 1 on problems
    python3 scripts/long-functions.py --report   # report only; always exit 0

The function scanner is a small lexer, not a Rust parser: it skips comments,
strings (raw strings too), character literals and lifetimes, and measures a
function from its `fn` line to its closing brace.
"""

import os
import re
import sys

ROOTS = ["bot/src", "bot/scan/src", "rules/src", "tests/fakes/src"]
FN_REPORT = 80
FN_LIMIT = 100
FILE_LIMIT = 800
EXCUSE = "Long because"

FN_RE = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def raw_string_at(src, i):
    """Whether the `r` at `i` starts a raw string literal: `r"…"`, `r#"…"#`,
    or the byte and C string forms `br#"…"#`, `cr"…"` (not an identifier
    ending in `r` before a string)."""
    if not re.match(r'r#*"', src[i:i + 300]):
        return False
    j = i
    while j and (src[j - 1].isalnum() or src[j - 1] == "_"):
        j -= 1
    return src[j:i] in ("", "b", "c")


def blank_out(src):
    """`src` with comments, strings and char literals replaced by spaces
    (newlines kept), so braces and `fn` inside them are not seen."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "r" and raw_string_at(src, i):
            hashes = re.match(r'r(#*)"', src[i:]).group(1)
            end = src.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}', '{') or a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
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


def test_ranges(code):
    """Line ranges (1-based, inclusive) of `#[cfg(test)] mod … { … }`."""
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", code):
        end = matching_brace(code, m.end() - 1)
        ranges.append((line_of(code, m.start()), line_of(code, end)))
    return ranges


def matching_brace(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def line_of(code, offset):
    return code.count("\n", 0, offset) + 1


def doc_above(lines, fn_line):
    """The doc comment and attributes right above line `fn_line` (1-based)."""
    doc = []
    k = fn_line - 2
    while k >= 0:
        s = lines[k].strip()
        if s.startswith("///") or s.startswith("#[") or s.startswith("//!"):
            doc.append(s)
            k -= 1
        else:
            break
    return "\n".join(doc)


def functions(path):
    src = open(path, encoding="utf-8").read()
    code = blank_out(src)
    lines = src.split("\n")
    tests = test_ranges(code)
    found = []
    for m in FN_RE.finditer(code):
        # The body starts at the first `{` before any `;` (a trait method
        # without a body ends at `;`).
        j = m.end()
        depth = 0
        while j < len(code):
            ch = code[j]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1
            elif ch == ";" and depth <= 0:
                j = -1
                break
            elif ch == "{" and depth <= 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        start = line_of(code, m.start())
        if any(a <= start <= b for a, b in tests):
            continue
        end = line_of(code, matching_brace(code, j))
        found.append((m.group(1), start, end - start + 1, doc_above(lines, start)))
    return found, len(lines) - (1 if src.endswith("\n") else 0)


def main(argv):
    report_only = "--report" in argv
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    problems = 0
    long_fns, long_files = [], []
    for r in ROOTS:
        base = os.path.join(root, r)
        if not os.path.isdir(base):
            continue
        for dirpath, _, names in os.walk(base):
            for name in sorted(names):
                if not name.endswith(".rs") or name == "tests.rs":
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                fns, nlines = functions(path)
                if nlines > FILE_LIMIT:
                    long_files.append((nlines, rel))
                for fname, line, length, doc in fns:
                    if length > FN_REPORT:
                        excused = EXCUSE in doc
                        long_fns.append((length, rel, line, fname, excused))
    long_fns.sort(reverse=True)
    long_files.sort(reverse=True)
    print(f"functions over {FN_REPORT} lines (over {FN_LIMIT} needs a doc line with \"{EXCUSE}\"):")
    for length, rel, line, fname, excused in long_fns:
        mark = ""
        if length > FN_LIMIT:
            if excused:
                mark = "  (long because: documented)"
            else:
                mark = "  <- PROBLEM"
                problems += 1
        print(f"  {length:5}  {rel}:{line}  {fname}{mark}")
    if not long_fns:
        print("  none")
    print(f"files over {FILE_LIMIT} lines:")
    for nlines, rel in long_files:
        print(f"  {nlines:5}  {rel}  <- PROBLEM")
        problems += 1
    if not long_files:
        print("  none")
    if problems:
        print(f"{problems} problem(s)" + (" (report only)" if report_only else ""))
        return 0 if report_only else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
