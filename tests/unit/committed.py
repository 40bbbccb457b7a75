# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Committed copies of compiled test objects, for unit tests that read one
without clang: ``make -C tests/bpf fixtures`` refreshes them, and
tests/integration/test_unit_fixtures.py checks they still match their
sources.

tests/unit and its subdirectories are packages (empty ``__init__.py``, as
ansible-test wants), so that each test imports as
``unit.<layer>.test_<name>`` and two layers may each have a test_<name>.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
