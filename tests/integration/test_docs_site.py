# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docs site (docs/site/build.py, ./dev docs) builds without a warning,
has a page for every module, filter and role with its options, the docs/
pages, the playbooks and the changelog, and its index renders in headless
Chromium: the screenshot is kept at build/docs/index.png."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from chromium import chromium

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(TOP, "build", "docs")


@pytest.fixture(scope="module")
def site():
    for tool in ("antsibull-docs", "sphinx-build", "pandoc"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed (./dev setup installs it)" % tool)
    proc = subprocess.run([sys.executable, os.path.join(TOP, "docs", "site", "build.py"), OUT],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return os.path.join(OUT, "html")


def read(path):
    with open(path) as f:
        return f.read()


def documented(path):
    text = read(path)
    return yaml.safe_load(text.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])


def test_every_module_page_renders_its_options(site):
    for path in sorted(glob.glob(os.path.join(TOP, "plugins", "modules", "*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        page = os.path.join(site, "%s_module.html" % name)
        assert os.path.exists(page), "no page for module %s" % name
        html = read(page)
        for option in documented(path)["options"]:
            assert re.search(r'id="parameter-%s"' % re.escape(option), html), "%s: option %s" % (name, option)


def test_every_role_page_renders_its_variables(site):
    for spec in sorted(glob.glob(os.path.join(TOP, "roles", "*", "meta", "argument_specs.yml"))):
        role = spec.split(os.sep)[-3]
        page = os.path.join(site, "%s_role.html" % role)
        assert os.path.exists(page), "no page for role %s" % role
        html = read(page)
        for entry in yaml.safe_load(read(spec))["argument_specs"].values():
            for option in entry.get("options", {}):
                assert option in html, "role %s: variable %s" % (role, option)


def test_collection_docs_pages(site):
    pages = {os.path.relpath(p, site) for p in glob.glob(os.path.join(site, "docsite", "*.html"))}
    expected = {"docsite/%s.html" % os.path.splitext(os.path.basename(md))[0]
                for md in glob.glob(os.path.join(TOP, "docs", "*.md"))} | {"docsite/playbooks.html"}
    assert expected <= pages, sorted(expected - pages)
    playbooks = read(os.path.join(site, "docsite", "playbooks.html"))
    for path in glob.glob(os.path.join(TOP, "playbooks", "*.yml")):
        assert "ebpf.deploy.%s" % os.path.splitext(os.path.basename(path))[0] in playbooks
    index = read(os.path.join(site, "index.html"))
    assert "bpf_collection_module.html" in index and "docsite/playbooks.html" in index


def test_index_renders_in_chromium(site):
    shot = os.path.join(OUT, "index.png")
    chromium(os.path.join(site, "index.html"), screenshot=shot)
    with open(shot, "rb") as f:
        png = f.read()
    assert len(png) > 20000, "a blank screenshot (%d bytes)" % len(png)
