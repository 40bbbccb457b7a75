# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils is layered: every import points down (or within a layer),
and no imports go round in a cycle. The order is the package docstring's."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "plugins", "module_utils")
PKG = "ansible_collections.ebpf.deploy.plugins.module_utils"
# Lowest first. Top-level files are shared by every layer.
LAYERS = ["bytecode_cache", "values", "errors", "elf", "kernel", "btf", "loader", "memlock", "deploy"]


def modules():
    out = {}
    for top, _dirs, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(top, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[rel[:-len(".__init__")] if rel.endswith("__init__") else rel] = path
    return out


def imports(path, known):
    """The module_utils modules ``path`` imports (anywhere in the file)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PKG):
            base = node.module[len(PKG):].lstrip(".")
            names = [(base + "." + a.name).lstrip(".") for a in node.names]
            names = [n if n in known else base for n in names]
        elif isinstance(node, ast.Import):
            names = [a.name[len(PKG):].lstrip(".") for a in node.names if a.name.startswith(PKG + ".")]
        found.update(n for n in names if n)
    return found


def layer(module):
    return LAYERS.index(module.split(".")[0])


def graph():
    known = modules()
    return dict((m, imports(p, known)) for m, p in known.items()), known


def test_every_module_is_in_a_layer():
    known = modules()
    strays = sorted(m for m in known if m and m.split(".")[0] not in LAYERS)
    assert not strays, "modules outside the layers %s: %s" % (LAYERS, strays)


def test_imports_point_down():
    edges, _known = graph()
    upward = ["%s imports %s" % (m, t) for m, targets in sorted(edges.items()) if m
              for t in sorted(targets) if layer(t) > layer(m)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    edges, _known = graph()
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for t in sorted(edges.get(m, ())):
            if t == m or t not in edges:
                continue
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("package", [p for p in LAYERS if os.path.isdir(os.path.join(ROOT, p))])
def test_each_layer_says_what_it_holds(package):
    with open(os.path.join(ROOT, package, "__init__.py")) as f:
        doc = ast.get_docstring(ast.parse(f.read()))
    assert doc, "%s/__init__.py has no docstring" % package
    for name in sorted(os.listdir(os.path.join(ROOT, package))):
        if name.endswith(".py") and name != "__init__.py":
            assert name in doc, "%s/__init__.py does not describe %s" % (package, name)


def test_top_level_is_small():
    files = sorted(f for f in os.listdir(ROOT) if f.endswith(".py"))
    assert len(files) <= 6, files
