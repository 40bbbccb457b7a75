# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative max_entries / prealloc over the maps of tests/bpf/maps.c (its committed build,
tests/unit/fixtures/maps.o)."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import uapi
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.set_map_options import apply_map_settings
from unit.committed import FIXTURES

NO_PREALLOC = uapi.BPF_F_NO_PREALLOC


@pytest.fixture
def spec():
    return read_object(os.path.join(FIXTURES, "maps.o"))


def flags(spec):
    return dict((name, m.flags & NO_PREALLOC) for name, m in spec.maps.items())


@pytest.mark.parametrize("name, prealloc, want", [
    ("hash_prealloc", False, NO_PREALLOC),
    ("hash_noprealloc", True, 0),
    ("percpu_hash", False, NO_PREALLOC),
    ("lpm", False, NO_PREALLOC),
])
def test_explicit_prealloc_accepted(spec, name, prealloc, want):
    assert apply_map_settings(spec, {name: {"prealloc": prealloc}}) == []
    assert spec.maps[name].flags & NO_PREALLOC == want


@pytest.mark.parametrize("name, prealloc, reason", [
    ("array", False, "always preallocated"),
    ("lru", False, "always preallocated"),
    ("queue", False, "always preallocated"),
    ("stack", False, "always preallocated"),
    ("ringbuf", False, "always preallocated"),
    ("lpm", True, "requires BPF_F_NO_PREALLOC"),
])
def test_explicit_prealloc_refused_naming_map_type_and_reason(spec, name, prealloc, reason):
    before = flags(spec)
    with pytest.raises(SpecError) as info:
        apply_map_settings(spec, {name: {"prealloc": prealloc}})
    message = str(info.value)
    assert name in message and reason in message
    assert uapi.MAP_TYPE_NAMES[spec.maps[name].type] in message
    assert flags(spec) == before


def test_collection_default_applies_where_valid_and_warns_elsewhere(spec):
    warnings = apply_map_settings(spec, prealloc=False)
    assert spec.maps["hash_prealloc"].flags & NO_PREALLOC
    assert spec.maps["percpu_hash"].flags & NO_PREALLOC
    assert not spec.maps["array"].flags & NO_PREALLOC
    warned = sorted(w.split("'")[1] for w in warnings)
    assert "array" in warned and "lru" in warned and "hash_prealloc" not in warned
    assert all(".rodata" not in w for w in warnings)


def test_per_map_exception_beats_default(spec):
    apply_map_settings(spec, {"hash_prealloc": {"prealloc": True}}, prealloc=False)
    assert not spec.maps["hash_prealloc"].flags & NO_PREALLOC
    assert spec.maps["hash_noprealloc"].flags & NO_PREALLOC


def test_max_entries(spec):
    apply_map_settings(spec, {"hash_prealloc": {"max_entries": 4096}, "ringbuf": {"max_entries": 8192}})
    assert spec.maps["hash_prealloc"].max_entries == 4096
    assert spec.maps["ringbuf"].max_entries == 8192


@pytest.mark.parametrize("maps, words", [
    ({"no_such_map": {"max_entries": 1}}, ["no map 'no_such_map'", "hash_prealloc"]),
    ({"hash_prealloc": {"max_entries": 0}}, ["max_entries 0"]),
    ({"hash_prealloc": {"max_entries": "big"}}, ["max_entries 'big'"]),
    ({"hash_prealloc": {"max_entries": True}}, ["max_entries True"]),
    ({"ringbuf": {"max_entries": 5000}}, ["power of two"]),
    ({"hash_prealloc": {"size": 1}}, ["unknown setting(s) size"]),
])
def test_bad_settings_change_nothing(spec, maps, words):
    before = dict((n, (m.max_entries, m.flags)) for n, m in spec.maps.items())
    with pytest.raises(SpecError) as info:
        apply_map_settings(spec, dict(maps, hash_noprealloc={"max_entries": 7}))
    for word in words:
        assert word in str(info.value)
    assert dict((n, (m.max_entries, m.flags)) for n, m in spec.maps.items()) == before


def test_internal_maps_are_not_settable():
    spec = read_object(os.path.join(FIXTURES, "globals.o"))
    with pytest.raises(SpecError) as info:
        apply_map_settings(spec, {".bss": {"max_entries": 2}})
    assert "global data" in str(info.value)
