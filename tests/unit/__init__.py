# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests, laid out as plugins/module_utils (one directory a layer) and plugins/<kind>.

Packages, so that pytest imports each test as ``unit.<layer>.test_<name>``: two layers may
each have a test_<name>.py, and shared helpers import as ``unit.<layer>.<helper>``."""
