# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The BTF loader bundled with ebpf.deploy (runs on managed hosts, stdlib only).

See reader.py for the public entry point.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type
