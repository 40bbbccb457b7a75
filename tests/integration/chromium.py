# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Headless Chromium (Debian's ``chromium``) for the tests that check what
a page shows: a screenshot, or the DOM after the page rendered. Each run
gets its own throw-away profile and no network."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
import tempfile

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(page, screenshot=None, dump_dom=False, size="1280,1600"):
    """Open the file ``page``: write a PNG to ``screenshot`` (checked to be
    a real picture) and/or return the rendered DOM (``dump_dom``). Skips
    the test when chromium is not installed."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (./dev setup installs it)")
    url = "file://%s" % os.path.abspath(page)
    dom = None
    profile = tempfile.mkdtemp(prefix="ebpf-deploy-chromium.")
    try:
        if screenshot is not None:
            if os.path.exists(screenshot):
                os.unlink(screenshot)
            subprocess.run([binary] + FLAGS + ["--user-data-dir=%s" % profile, "--window-size=%s" % size,
                                               "--screenshot=%s" % screenshot, url],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False)
            assert os.path.exists(screenshot), "chromium wrote no screenshot"
            with open(screenshot, "rb") as f:
                png = f.read()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, (
                "a blank or broken screenshot (%d bytes)" % len(png))
        if dump_dom:
            proc = subprocess.run([binary] + FLAGS + ["--user-data-dir=%s" % profile, "--dump-dom", url],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120, check=False,
                                  universal_newlines=True)
            dom = proc.stdout
            assert "<body" in dom, "chromium dumped no DOM (exit %d)" % proc.returncode
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return dom
