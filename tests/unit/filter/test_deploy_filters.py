# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the bpf_deploy role and the memlock report."""

from __future__ import absolute_import, division, print_function

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.deploy.plugins.filter.deploy import (
    bpf_deploy_entries, bpf_deploy_links, bpf_deploy_maps)
from ansible_collections.ebpf.deploy.plugins.filter.report import bpf_memlock_footprints, bpf_memlock_report

COUNTER = {"name": "counter", "maps": {"flows": {"prealloc": False}, "counts": {"max_entries": 10}},
           "presets": {"small": {"flows": 64, "counts": 8}, "large": {"flows": 65536}}}


def test_preset_sizes_maps_and_own_settings_win():
    assert bpf_deploy_maps(COUNTER, "small") == {"flows": {"prealloc": False, "max_entries": 64},
                                                 "counts": {"max_entries": 10}}
    assert bpf_deploy_maps(COUNTER, "") == COUNTER["maps"]
    assert bpf_deploy_maps({"name": "plain", "maps": {}}, "large") == {}


@pytest.mark.parametrize("collection, preset, words", [
    (COUNTER, "medium", ["collection 'counter'", "no preset 'medium'", "large, small"]),
    (COUNTER, "huge", ["unknown preset 'huge'"]),
    (dict(COUNTER, presets={"small": {"flows": 0}}), "small", ["presets.small.flows", "positive"]),
])
def test_preset_errors_name_collection_and_preset(collection, preset, words):
    with pytest.raises(AnsibleFilterError) as info:
        bpf_deploy_maps(collection, preset)
    for word in words:
        assert word in str(info.value)


def test_links_and_entries_flattened_for_present_collections():
    collections = [dict(COUNTER, links=[{"program": "count", "type": "xdp", "interface": "eth0"}],
                        entries={"counts": [{"key": 1, "value": 2}],
                                 "flows": {"entries": [], "exclusive": True}}),
                   {"name": "gone", "state": "absent", "links": [{"program": "x"}], "entries": {"m": []}}]
    assert bpf_deploy_links(collections) == [{"program": "count", "type": "xdp", "interface": "eth0",
                                              "collection": "counter"}]
    assert bpf_deploy_entries(collections) == [{"entries": [{"key": 1, "value": 2}], "map": "counter/counts"},
                                               {"entries": [], "exclusive": True, "map": "counter/flows"}]
    with pytest.raises(AnsibleFilterError, match=r"links\[0\]: unknown field\(s\) iface"):
        bpf_deploy_links([{"name": "c", "links": [{"program": "p", "iface": "eth0"}]}])
    with pytest.raises(AnsibleFilterError, match="entries.m: unknown field"):
        bpf_deploy_entries([{"name": "c", "entries": {"m": {"entries": [], "keyformat": "ipv4"}}}])


def fact(name, kernel_after, estimate_after, accounting):
    return {"collection": name, "kernel": "6.1.0" if accounting != "memcg-exact" else "6.18.0",
            "accounting": accounting, "footprint": "kernel" if accounting == "memcg-exact" else "estimate",
            "before": 100, "after": kernel_after, "delta": kernel_after - 100,
            "estimate": {"before": 1000, "after": estimate_after, "delta": estimate_after - 1000}}


def test_memlock_report_rows_totals_and_csv():
    hostvars = {"a": {"bpf_deploy_memlock": [fact("c1", 100, 400, "memcg-approximate"),
                                             fact("c2", 300, 300, "memcg-approximate")]},
                "b": {"bpf_deploy_memlock": [fact("c1", 50, 50, "memcg-exact")]},
                "down": {}}
    report = bpf_memlock_report(hostvars, ["a", "b", "down"])
    assert len(report["rows"]) == 3
    assert report["hosts"]["a"]["estimate_delta"] == (400 - 1000) + (300 - 1000)
    assert report["hosts"]["a"]["approximate"] and not report["hosts"]["b"]["approximate"]
    assert report["fleet"]["kernel_after"] == 450 and report["fleet"]["estimate_after"] == 750
    assert report["fleet"]["approximate_hosts"] == ["a"] and report["fleet"]["missing"] == ["down"]
    lines = report["csv"].splitlines()
    assert lines[0].startswith("host,kernel,accounting,approximate,collection,kernel_before")
    assert lines[1].startswith("a,6.1.0,memcg-approximate,True,c1,100,100,0,1000,400,-600")
    assert lines[1].endswith(",estimate,False") and report["fleet"]["predicted_hosts"] == []


def test_memlock_report_marks_predictions():
    predicted = dict(fact("c1", 100, 400, "memcg-exact"), predicted=True)
    report = bpf_memlock_report({"a": {"bpf_deploy_memlock": [predicted, fact("c2", 1, 1, "memcg-exact")]}}, ["a"])
    assert [r["predicted"] for r in report["rows"]] == [True, False]
    assert report["fleet"]["predicted_hosts"] == ["a"]


def usage(memlock, estimate, entries=None, max_entries=64, pressure=None, map_type="hash"):
    return {"type": map_type, "max_entries": max_entries, "entries": entries, "pressure": pressure,
            "memlock": memlock, "memlock_estimate": estimate}


def test_memlock_report_lists_the_biggest_maps_and_pressure_and_renders_html():
    bpf_a = {"collections": {"c1": {"map_usage": {"small": usage(100, 900), "big": usage(5000, 8000, 60, 64, 0.9375)}}},
             "pressure": {"threshold": 90, "high": [{"collection": "c1", "map": "big", "entries": 60,
                                                     "max_entries": 64, "pressure": 0.9375}]}}
    bpf_b = {"collections": {"c1": {"map_usage": {"arr": usage(7000, 7000, map_type="array")}}},
             "pressure": {"threshold": 90, "high": []}}
    hostvars = {"a<1>": {"bpf_deploy_memlock": [dict(fact("c1", 100, 400, "memcg-approximate"), predicted=True)],
                         "ansible_facts": {"bpf": bpf_a}},
                "b": {"bpf_deploy_memlock": [fact("c1", 50, 50, "memcg-exact")], "ansible_facts": {"bpf": bpf_b}}}
    report = bpf_memlock_report(hostvars, ["a<1>", "b"])
    # a's kernel accounts approximately: its maps count by the estimate.
    assert [(m["host"], m["map"], m["footprint"]) for m in report["maps"]] == [
        ("a<1>", "big", 8000), ("b", "arr", 7000), ("a<1>", "small", 900)]
    assert report["pressure"] == [{"host": "a<1>", "collection": "c1", "map": "big", "entries": 60,
                                   "max_entries": 64, "pressure": 0.9375}]
    page = report["html"]
    assert page.startswith("<!DOCTYPE html>") and "http" not in page and "<script" not in page
    assert 'data-host="a&lt;1&gt;"' in page and "a<1>" not in page          # names escaped
    assert "approximate accounting" in page and "predicted</span> in check mode on a&lt;1&gt;" in page
    assert "<td>big</td>" in page and "60 / 64" in page and "93.8%" in page


def test_memlock_report_counts_a_shared_map_once_per_host():
    """Two collections share one map: its figure is in neither row, and the
    host's '(shared maps)' row counts it once, from before the first run
    that used it to after the last."""
    def shared(before, after):
        return {"counts": {"before": before, "after": after, "delta": after - before,
                           "estimate": {"before": before, "after": after, "delta": after - before}}}
    writer, reader = fact("writer", 100, 100, "memcg-exact"), fact("reader", 50, 50, "memcg-exact")
    writer["shared_maps"] = shared(0, 344)
    reader["shared_maps"] = shared(344, 344)
    report = bpf_memlock_report({"h": {"bpf_deploy_memlock": [writer, reader]}}, ["h"])
    assert [r["collection"] for r in report["rows"]] == ["writer", "reader", "(shared maps)"]
    row = report["rows"][-1]
    assert (row["kernel_before"], row["kernel_after"], row["kernel_delta"]) == (0, 344, 344)
    assert report["hosts"]["h"]["kernel_after"] == 100 + 50 + 344


def test_footprints_count_a_shared_map_once_for_the_hosts_budget():
    writer, reader = fact("writer", 100, 100, "memcg-exact"), fact("reader", 50, 50, "memcg-exact")
    for f in (writer, reader):
        f["shared_maps"] = {"counts": {"before": 0, "after": 344, "delta": 344,
                                       "estimate": {"before": 0, "after": 344, "delta": 344}}}
    assert bpf_memlock_footprints([writer, reader]) == {"writer": 100, "reader": 50, "(shared maps)": 344}
