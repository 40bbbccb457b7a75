# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests, laid out as plugins/module_utils (one directory a layer) and plugins/<kind>.

Packages, so that pytest imports each test as ``unit.<layer>.test_<name>``: two layers may
each have a test_<name>.py, and shared helpers import as ``unit.<layer>.<helper>``.

Unit tests need no root, no bpf(), no bpffs and no clang (tests/unit/conftest.py enforces it).
Where one needs a compiled object it reads a committed copy from tests/unit/fixtures/
(``make -C tests/bpf fixtures`` refreshes them; tests/integration/test_unit_fixtures.py checks
they still match their sources)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
