# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ELF reader against ``readelf`` on the objects clang builds from tests/bpf: the checks of
tests/unit/test_elf.py (which runs them on committed objects, the corpus and a hand-made one),
here with tests/bpf's objects as ``object_path``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from unit.test_elf import (  # noqa: F401  pylint: disable=unused-import
    compared, test_relocations_match_readelf, test_sections_match_readelf, test_symbols_match_readelf,
)

from kernel_helpers import TEST_OBJECTS


@pytest.fixture(params=TEST_OBJECTS, ids=["tests-bpf-%s.o" % n for n in TEST_OBJECTS])
def object_path(request, bpf_build):
    return bpf_build.path(request.param)
