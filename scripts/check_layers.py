#!/usr/bin/env python3
"""Checks that includes point one way (docs/ARCHITECTURE.md, "Layers").

  check_layers.py [ROOT]     check the repository at ROOT (default: this script's repo)
  check_layers.py --self-test  plant each kind of violation in a scratch tree and make
                               sure the check reports it

Rules:
  - src/<folder>/ may include its own folder and the folders of lower layers (LAYERS
    below, lowest first); folders of one layer do not include each other. src/*.cpp
    (the public API's definitions) sit above the pipeline. A folder missing from
    LAYERS is an error: place it before it is used.
  - include/spanline/ includes only <spanline/...> and system headers, never "...".
  - sidecar/include/ includes public headers and the exposed ones
    (sidecar/exposed_headers.txt); an exposed header includes only exposed ones.
  - agent/ includes its own files, public headers and exposed ones: it builds without
    src/ on its include path, and this names the header that would break that build.
Exit status 1 with one line per violation.
"""

import os
import re
import sys
import tempfile

# Lowest first. One tuple is one layer.
LAYERS = [
    ("core",),                     # leaf types: ids, clocks, rows, thread names, id rules
    ("metrics", "codec", "errors", "destinations", "produce"),  # leaf services
    ("accounting",),               # settles rows: counters and the memory budget
    ("queue", "spool"),            # admission and the row queue; the spool's files
    ("batch",),                    # batcher, coalescer, encoder
    ("transport",),                # sender and connections
    ("settings",),                 # the settings registry (redacts URLs with transport/url)
    ("pipeline",),                 # the composition root (LoggerCore)
    ("",),                         # src/*.cpp: Logger, Span, Options, Fields, Destination
    ("ingest",),                   # the sidecar's NDJSON stage (spanline::sidecar)
    ("otlp",),                     # OTLP ingest
]
RANK = {folder: rank for rank, layer in enumerate(LAYERS) for folder in layer}
# Include prefixes that are not folders of src/: OTLP's generated code (build tree).
GENERATED = {"proto": "otlp"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)
SOURCE_SUFFIXES = (".hpp", ".cpp", ".h")


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return INCLUDE.findall(f.read())


def sources(top):
    for dirpath, _, files in os.walk(top):
        for name in sorted(files):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.join(dirpath, name)


def exposed_headers(root):
    path = os.path.join(root, "sidecar", "exposed_headers.txt")
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


def folder_of(root, path):
    parts = os.path.relpath(path, os.path.join(root, "src")).split(os.sep)
    return parts[0] if len(parts) > 1 else ""


def check_src(root, problems):
    for path in sources(os.path.join(root, "src")):
        rel = os.path.relpath(path, root)
        here = folder_of(root, path)
        if here not in RANK:
            problems.append(f"{rel}: src/{here}/ is in no layer: add it to LAYERS in scripts/check_layers.py")
            continue
        for kind, target in includes(path):
            if kind != '"' or "/" not in target:
                continue  # system, public (<spanline/...>) or same-folder include
            there = target.split("/")[0]
            there = GENERATED.get(there, there)
            if there == here:
                continue
            if there not in RANK:
                problems.append(f'{rel}: includes "{target}" from src/{there}/, which is in no layer')
            elif RANK[there] > RANK[here]:
                problems.append(f'{rel}: includes upward: "{target}" ({there}) from {here or "src/*.cpp"}')
            elif RANK[there] == RANK[here]:
                problems.append(f'{rel}: includes "{target}" from {there}, a folder of its own layer')


def check_public(root, problems):
    for path in sources(os.path.join(root, "include")):
        for kind, target in includes(path):
            if kind == '"':
                problems.append(f'{os.path.relpath(path, root)}: a public header includes "{target}"')


def check_sidecar_side(root, problems):
    exposed = exposed_headers(root)
    for header in sorted(exposed):
        path = os.path.join(root, "src", header)
        if not os.path.exists(path):
            problems.append(f"sidecar/exposed_headers.txt: src/{header} does not exist")
            continue
        for kind, target in includes(path):
            if kind == '"' and target not in exposed and not target.startswith("proto/"):
                problems.append(f'src/{header}: exposed, but includes "{target}", which is not')
    for path in sources(os.path.join(root, "sidecar", "include")):
        for kind, target in includes(path):
            if kind == '"' and target not in exposed:
                problems.append(f'{os.path.relpath(path, root)}: includes "{target}", which is not exposed')
    agent = os.path.join(root, "agent")
    for path in sources(agent):
        for kind, target in includes(path):
            if kind != '"' or os.path.exists(os.path.join(agent, target)) or target in exposed:
                continue
            problems.append(f'{os.path.relpath(path, root)}: includes "{target}", neither the '
                            "daemon's own nor exposed (sidecar/exposed_headers.txt)")


def check(root):
    problems = []
    check_src(root, problems)
    check_public(root, problems)
    check_sidecar_side(root, problems)
    return problems


def self_test():
    """Each planted violation must be reported; the clean tree must pass."""
    def tree(files):
        root = tempfile.mkdtemp(prefix="check_layers.")
        for rel, text in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return root

    clean = {
        "src/core/row.hpp": "#pragma once\n#include <string>\n",
        "src/batch/batch.hpp": '#include "core/row.hpp"\n#include "accounting/settled_rows.hpp"\n',
        "src/accounting/settled_rows.hpp": "#pragma once\n",
        "src/pipeline/logger_core.hpp": '#include "batch/batch.hpp"\n',
        "src/logger.cpp": '#include "pipeline/logger_core.hpp"\n',
        "include/spanline/logger.hpp": "#include <spanline/options.hpp>\n",
        "sidecar/exposed_headers.txt": "# comment\ncore/row.hpp\n",
        "sidecar/include/spanline/sidecar/logger.hpp": '#include "core/row.hpp"\n',
        "agent/daemon.hpp": "#pragma once\n",
        "agent/daemon.cpp": '#include "daemon.hpp"\n#include "core/row.hpp"\n',
    }
    planted = {
        "upward": ("src/core/row.hpp", '#include "pipeline/logger_core.hpp"\n', "includes upward"),
        "accounting up": ("src/accounting/settled_rows.hpp", '#include "batch/batch.hpp"\n', "includes upward"),
        "same layer": ("src/queue/q.hpp", '#include "spool/spool.hpp"\n', "a folder of its own layer"),
        "unknown folder": ("src/misc/x.hpp", "\n", "is in no layer"),
        "public quoted": ("include/spanline/x.hpp", '#include "core/row.hpp"\n', "a public header includes"),
        "agent into src": ("agent/x.cpp", '#include "batch/batch.hpp"\n', "neither the daemon's own nor exposed"),
        "exposed not closed": ("src/core/row.hpp", '#include "core/ids.hpp"\n', "which is not"),
    }
    failures = []
    problems = check(tree(clean))
    if problems:
        failures.append("clean tree reported: " + "; ".join(problems))
    for name, (rel, text, expected) in planted.items():
        problems = check(tree({**clean, rel: text}))
        if not any(expected in p for p in problems):
            failures.append(f"{name}: expected a problem containing {expected!r}, got {problems}")
    for failure in failures:
        print("self-test:", failure)
    print("self-test:", "FAILED" if failures else f"{len(planted)} planted violations caught")
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} include(s) against the layer order (docs/ARCHITECTURE.md)")
        return 1
    print("includes point one way")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
