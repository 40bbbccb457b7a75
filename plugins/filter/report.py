# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's memlock report, from the ``bpf_deploy_memlock`` each host's
bpf_deploy role left: one row per host and collection with the kernel's
figure and our estimate side by side, per-host and fleet totals, CSV; from
each host's ``bpf`` facts (bpf_facts, collections subset) the biggest maps
across the fleet and map pressure; and all of it as one HTML page.
Maps collections share (pinned by name) are left out of each collection's
figures; they make one more row per host, ``(shared maps)``, each map
counted once however many collections use it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io

from ansible.errors import AnsibleFilterError

from ansible_collections.ebpf.deploy.plugins.plugin_utils.report_html import render

COLUMNS = ("host", "kernel", "accounting", "approximate", "collection", "kernel_before", "kernel_after",
           "kernel_delta", "estimate_before", "estimate_after", "estimate_delta", "footprint", "predicted")
# How many of the fleet's maps the report lists, biggest first.
TOP_MAPS = 20
_SUMS = ("kernel_before", "kernel_after", "kernel_delta", "estimate_before", "estimate_after", "estimate_delta")
SHARED_ROW = "(shared maps)"


def bpf_memlock_report(hostvars, hosts):
    """{rows, hosts, fleet, maps, pressure, csv, html} for ``hosts`` (names)
    from ``hostvars``. ``maps`` are the fleet's TOP_MAPS biggest maps by
    their footprint (the estimate where the kernel accounts approximately,
    else its figure) and ``pressure`` the maps at or above their host's
    pressure threshold, both from the hosts' ``bpf`` facts when gathered.
    Hosts without figures (unreachable, failed) are listed under
    ``fleet.missing``. ``approximate`` marks kernels whose own figure does
    not show the real footprint (anything but memcg-exact). ``predicted``
    marks rows whose ``after`` is check mode's prediction for a change not
    made yet (``before`` is what the host holds now)."""
    rows, per_host, missing = [], {}, []
    for host in hosts:
        facts = hostvars[host].get("bpf_deploy_memlock") if host in hostvars else None
        if facts is None:
            missing.append(host)
            continue
        totals = dict((k, 0) for k in _SUMS)
        for fact in facts:
            try:
                row = {"host": host, "kernel": fact["kernel"], "accounting": fact["accounting"],
                       "approximate": fact["accounting"] != "memcg-exact", "collection": fact["collection"],
                       "kernel_before": fact["before"], "kernel_after": fact["after"], "kernel_delta": fact["delta"],
                       "estimate_before": fact["estimate"]["before"], "estimate_after": fact["estimate"]["after"],
                       "estimate_delta": fact["estimate"]["delta"], "footprint": fact["footprint"],
                       "predicted": bool(fact.get("predicted"))}
            except (KeyError, TypeError) as e:
                raise AnsibleFilterError("host '%s': a bpf_memlock fact without %s" % (host, e))
            rows.append(row)
            for k in _SUMS:
                totals[k] += row[k]
        shared = _shared_row(host, facts)
        if shared is not None:
            rows.append(shared)
            for k in _SUMS:
                totals[k] += shared[k]
        kernel = facts[0]["kernel"] if facts else None
        accounting = facts[0]["accounting"] if facts else None
        per_host[host] = dict(totals, kernel=kernel, accounting=accounting,
                              approximate=accounting not in (None, "memcg-exact"), collections=len(facts))
    fleet = dict((k, sum(h[k] for h in per_host.values())) for k in _SUMS)
    fleet.update(hosts=len(per_host), approximate_hosts=sorted(h for h, v in per_host.items() if v["approximate"]),
                 predicted_hosts=sorted(set(r["host"] for r in rows if r["predicted"])), missing=missing)
    maps, pressure = _map_rows(hostvars, per_host)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    report = {"rows": rows, "hosts": per_host, "fleet": fleet, "maps": maps, "pressure": pressure,
              "csv": out.getvalue()}
    report["html"] = render(report)
    return report


def _map_rows(hostvars, per_host):
    """(biggest maps, maps under pressure) of the reported hosts' bpf facts."""
    maps, pressure = [], []
    for host in sorted(per_host):
        facts = (hostvars[host].get("ansible_facts") or {}).get("bpf") or {}
        approximate = per_host[host]["approximate"]
        for collection, c in sorted((facts.get("collections") or {}).items()):
            for name, u in sorted((c.get("map_usage") or {}).items()):
                footprint = u.get("memlock_estimate") if approximate else u.get("memlock")
                maps.append({"host": host, "collection": collection, "map": name, "type": u.get("type"),
                             "footprint": footprint if footprint is not None else u.get("memlock") or 0,
                             "memlock": u.get("memlock"), "memlock_estimate": u.get("memlock_estimate"),
                             "entries": u.get("entries"), "max_entries": u.get("max_entries"),
                             "pressure": u.get("pressure")})
        for high in (facts.get("pressure") or {}).get("high") or []:
            pressure.append(dict(high, host=host))
    maps.sort(key=lambda m: (-m["footprint"], m["host"], m["collection"], m["map"]))
    pressure.sort(key=lambda p: (-p["pressure"], p["host"], p["collection"], p["map"]))
    return maps[:TOP_MAPS], pressure


def _shared_row(host, facts):
    """The host's shared maps as one row: each map's figure before the first
    run that names it and after the last one, or None when there are none."""
    before, after = {}, {}
    for fact in facts:
        for name, entry in sorted((fact.get("shared_maps") or {}).items()):
            before.setdefault(name, entry)
            after[name] = entry
    if not after:
        return None
    first = facts[0]
    row = {"host": host, "kernel": first["kernel"], "accounting": first["accounting"],
           "approximate": first["accounting"] != "memcg-exact", "collection": SHARED_ROW,
           "kernel_before": sum(e["before"] for e in before.values()),
           "kernel_after": sum(e["after"] for e in after.values()),
           "estimate_before": sum(e["estimate"]["before"] for e in before.values()),
           "estimate_after": sum(e["estimate"]["after"] for e in after.values()),
           "footprint": first["footprint"], "predicted": any(f.get("predicted") for f in facts
                                                             if f.get("shared_maps"))}
    row["kernel_delta"] = row["kernel_after"] - row["kernel_before"]
    row["estimate_delta"] = row["estimate_after"] - row["estimate_before"]
    return row


def bpf_memlock_footprints(facts):
    """{collection: bytes} of ``bpf_memlock`` facts, each the figure that
    shows the real footprint on its kernel (``footprint``: the kernel's
    from 6.4, else the estimate), as budgets count them; the maps the
    collections share, each once (its latest figure), under
    ``(shared maps)``."""
    out, shared = {}, {}
    for fact in facts:
        try:
            estimated = fact["footprint"] == "estimate"
            out[fact["collection"]] = fact["estimate"]["after"] if estimated else fact["after"]
            for name, entry in (fact.get("shared_maps") or {}).items():
                shared[name] = entry["estimate"]["after"] if estimated else entry["after"]
        except (KeyError, TypeError) as e:
            raise AnsibleFilterError("a bpf_memlock fact without %s: %r" % (e, fact))
    if shared:
        out[SHARED_ROW] = sum(shared.values())
    return out


class FilterModule(object):
    def filters(self):
        return {"bpf_memlock_report": bpf_memlock_report, "bpf_memlock_footprints": bpf_memlock_footprints}
