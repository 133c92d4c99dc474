#!/usr/bin/env python3
"""Checks that every workspace member's declared `rust-version` covers what
its locked dependencies need.

For each member of the workspace (the partybus package, crates/loadgen,
third_party/tiny_http), walks the resolved dependency graph of Cargo.lock
(`cargo metadata --locked`; normal, build and dev dependencies, for every
platform, since any of them can be built) and takes the highest
`rust-version` any package in it declares. Fails when that is newer than the
member's own `rust-version`, or when a member declares none.

Stdlib only. Usage (from anywhere in the repository):

    python3 scripts/check_msrv.py           # exits 1 on a mismatch
    python3 scripts/check_msrv.py --verbose # also lists each member's neediest packages

Exit status: 0 when every member is consistent, 1 on a mismatch, 2 when
cargo metadata cannot be run or read.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Packages listed per member with --verbose.
SHOWN = 5


def parse_version(text):
    """'1.85' or '1.85.0' -> (1, 85, 0); None for anything else."""
    parts = text.strip().split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    nums = [int(p) for p in parts] + [0] * (3 - len(parts))
    return tuple(nums)


def show(version):
    return ".".join(str(n) for n in version)


def metadata():
    cmd = ["cargo", "metadata", "--format-version", "1", "--locked"]
    try:
        out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("check_msrv: cargo is not on PATH")
    except subprocess.CalledProcessError as e:
        print(e.stderr, file=sys.stderr)
        print("check_msrv: `cargo metadata --locked` failed (is Cargo.lock current?)", file=sys.stderr)
        sys.exit(2)
    return json.loads(out.stdout)


def reachable(root, edges):
    """Every package id reachable from root (root included)."""
    seen = {root}
    todo = [root]
    while todo:
        for dep in edges.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def check(meta, verbose=False):
    """Lines describing each mismatch (empty when all is well)."""
    packages = {p["id"]: p for p in meta["packages"]}
    edges = {n["id"]: [d["pkg"] for d in n["deps"]] for n in meta["resolve"]["nodes"]}
    problems = []
    for member in meta["workspace_members"]:
        pkg = packages[member]
        name = pkg["name"]
        declared_text = pkg.get("rust_version")
        declared = parse_version(declared_text) if declared_text else None
        if declared is None:
            problems.append(f"{name}: no rust-version declared in {pkg['manifest_path']}")
            continue
        needs = []
        for pid in reachable(member, edges) - {member}:
            dep = packages[pid]
            text = dep.get("rust_version")
            version = parse_version(text) if text else None
            if version is not None:
                needs.append((version, dep["name"], dep["version"]))
        needs.sort(reverse=True)
        needed = needs[0][0] if needs else (0, 0, 0)
        status = "ok" if needed <= declared else "TOO OLD"
        if verbose:
            print(f"{name}: declares {declared_text}, dependencies need {show(needed)} ({status})")
            for version, dep, dep_version in needs[:SHOWN]:
                print(f"    {dep} {dep_version}: {show(version)}")
        if needed > declared:
            culprits = ", ".join(
                f"{dep} {v} ({show(version)})" for version, dep, v in needs if version > declared
            )
            problems.append(
                f"{name}: declares rust-version {declared_text} but its locked dependencies "
                f"need {show(needed)}: {culprits}"
            )
    return problems


def main(argv):
    verbose = "--verbose" in argv or "-v" in argv
    problems = check(metadata(), verbose)
    for p in problems:
        print(f"check_msrv: {p}", file=sys.stderr)
    if problems:
        print(
            "check_msrv: raise rust-version in those Cargo.toml files (and the Dockerfile's "
            "rust image), or pin the dependencies lower in Cargo.lock",
            file=sys.stderr,
        )
        return 1
    if not verbose:
        print("check_msrv: every workspace member's rust-version covers its locked dependencies")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
