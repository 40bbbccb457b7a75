# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maps the object leaves at size 0 for user space (sized_by_user.c: a stack-trace map and a ring
buffer): the per-map max_entries and value_size options size them, a map still at 0 is refused
naming the map and the option before anything is created, and value_size is refused where the
map type or the object's BTF fixes the value."""

from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.ebpf.deploy.plugins.module_utils.errors import SpecError
from ansible_collections.ebpf.deploy.plugins.module_utils.kernel import syscalls
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.load import load_collection
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.read_object import read_object
from ansible_collections.ebpf.deploy.plugins.module_utils.loader.set_map_options import apply_map_settings

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "bpf", "build")


def spec_of(name="sized_by_user.o"):
    return read_object(os.path.join(BUILD, name))


def test_sized_from_options_load_and_run():
    spec = spec_of()
    apply_map_settings(spec, {"events": {"max_entries": 4096},
                              "stacks": {"max_entries": 256, "value_size": 127 * 8}})
    with load_collection(spec) as coll:
        stacks = syscalls.map_info(coll.maps["stacks"].fd)
        events = syscalls.map_info(coll.maps["events"].fd)
        assert (stacks.key_size, stacks.value_size, stacks.max_entries) == (4, 127 * 8, 256)
        assert events.max_entries == 4096
        # The program's bpf_ringbuf_output succeeded: the ring buffer is there and has room.
        assert syscalls.prog_test_run(coll.programs["emit"].fd, b"\0" * 64)[0] == 1


@pytest.mark.parametrize("maps, message", [
    ({}, r"object 'sized_by_user.o': map 'events' \(ringbuf\): max_entries left at 0 by the object; set "
         r"max_entries in the map's options \(bpf_collection maps: \{events: \{max_entries: N\}\}\)"),
    ({"events": {"max_entries": 4096}},
     r"map 'stacks' \(stack_trace\): max_entries and value_size left at 0 by the object; set max_entries and "
     r"value_size in the map's options \(bpf_collection maps: \{stacks: \{max_entries: N, value_size: N\}\}\)"),
    ({"events": {"max_entries": 4096}, "stacks": {"max_entries": 16}},
     r"map 'stacks' \(stack_trace\): value_size left at 0"),
])
def test_left_at_zero_is_refused_before_anything_is_created(maps, message):
    spec = spec_of()
    before = [(m.max_entries, m.value_size) for m in spec.maps.values()]
    with pytest.raises(SpecError, match=message) as info:
        apply_map_settings(spec, maps)
    assert info.value.hint
    assert [(m.max_entries, m.value_size) for m in spec.maps.values()] == before
    # The loader refuses the same before creating anything (nothing to clean up).
    with pytest.raises(SpecError, match="left at 0"):
        load_collection(spec_of())


@pytest.mark.parametrize("obj, maps, message", [
    ("sized_by_user.o", {"events": {"max_entries": 4096, "value_size": 8}, "stacks": {"max_entries": 1}},
     r"map 'events' \(ringbuf\): value_size cannot be set"),
    ("sized_by_user.o", {"events": {"max_entries": 4096}, "stacks": {"max_entries": 1, "value_size": 12}},
     r"map 'stacks' \(stack_trace\): value_size 12 must be a multiple of 8"),
    ("sized_by_user.o", {"events": {"max_entries": 4096}, "stacks": {"max_entries": 1, "value_size": 0}},
     r"map 'stacks': value_size 0 is not a whole number"),
    ("maps.o", {"hash_prealloc": {"value_size": 8}},
     r"map 'hash_prealloc' \(hash\): value_size 8 conflicts with the value type the object declares in BTF "
     r"\(4 bytes\)"),
])
def test_value_size_refused(obj, maps, message):
    with pytest.raises(SpecError, match=message):
        apply_map_settings(spec_of(obj), maps)


def test_value_size_equal_to_btf_type_is_accepted():
    spec = spec_of("maps.o")
    apply_map_settings(spec, {"hash_prealloc": {"value_size": 4}})
    assert spec.maps["hash_prealloc"].value_size == 4
