# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memlock report as one self-contained HTML page (runs on the
controller, from the bpf_memlock_report filter): inline CSS bars, no
script, no font or image to fetch, so it opens anywhere, offline.

Sections: per host, the kernel's figure and our estimate after the run (or
the prediction, in check mode) as bars on one scale, the change beside
them, hosts whose kernel accounts approximately marked; the biggest maps
across the fleet; map pressure (the maps at or above the threshold).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from html import escape

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; text-align: left; vertical-align: middle; }
th { border-bottom: 1px solid #999; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bars { width: 420px; } .bar { height: 10px; margin: 2px 0; border-radius: 2px; }
.bar.kernel { background: #3b6ea5; } .bar.estimate { background: #e08a1e; }
.approx { color: #a33; } .predicted { color: #fff; background: #6b4ea5; padding: 0 4px; border-radius: 3px; }
.legend span { display: inline-block; width: 12px; height: 10px; margin: 0 4px 0 12px; }
.high { color: #a33; font-weight: bold; }
"""


def _n(value):
    return "{:,}".format(value) if isinstance(value, int) else escape(str(value))


def _delta(value):
    return ("+" if value > 0 else "") + _n(value)


def _width(value, scale):
    return "%.1f%%" % (100.0 * max(value, 0) / scale) if scale else "0%"


def render(report, title="eBPF memlock report"):
    """The HTML text of a bpf_memlock_report() result."""
    hosts = report["hosts"]
    scale = max([max(h["kernel_after"], h["estimate_after"], h["kernel_before"], h["estimate_before"])
                 for h in hosts.values()] or [0])
    predicted = set(report["fleet"]["predicted_hosts"])
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           "<title>%s</title><style>%s</style></head><body>" % (escape(title), _STYLE),
           "<h1>%s</h1>" % escape(title)]
    fleet = report["fleet"]
    out.append("<p id=\"fleet\">%d host%s: kernel figure %s B (%s), estimate %s B (%s)%s%s</p>" % (
        fleet["hosts"], "" if fleet["hosts"] == 1 else "s", _n(fleet["kernel_after"]), _delta(fleet["kernel_delta"]), _n(fleet["estimate_after"]),
        _delta(fleet["estimate_delta"]),
        "; <span class=\"predicted\">predicted</span> in check mode on %s" % escape(", ".join(sorted(predicted)))
        if predicted else "",
        "; no figures from %s" % escape(", ".join(fleet["missing"])) if fleet["missing"] else ""))
    out.append("<h2>Per host</h2><p class=\"legend\"><span style=\"background:#3b6ea5\"></span>kernel figure"
               "<span style=\"background:#e08a1e\"></span>our estimate of the real footprint; "
               "<span class=\"approx\">\u2248</span> the kernel accounts approximately (before 6.4): read the "
               "estimate</p>")
    out.append("<table id=\"hosts\"><tr><th>host</th><th>kernel</th><th>after</th><th class=\"bars\"></th>"
               "<th>change</th></tr>")
    for name in sorted(hosts):
        h = hosts[name]
        mark = " <span class=\"approx\" title=\"approximate accounting\">\u2248</span>" if h["approximate"] else ""
        tag = " <span class=\"predicted\">predicted</span>" if name in predicted else ""
        out.append(
            "<tr class=\"host\" data-host=\"%(host)s\"><td>%(host)s%(mark)s%(tag)s</td><td>%(kernel)s %(acc)s</td>"
            "<td class=\"num\">%(ka)s B<br>%(ea)s B</td><td class=\"bars\">"
            "<div class=\"bar kernel\" style=\"width:%(kw)s\" title=\"kernel %(ka)s B\"></div>"
            "<div class=\"bar estimate\" style=\"width:%(ew)s\" title=\"estimate %(ea)s B\"></div></td>"
            "<td class=\"num\">%(kd)s B<br>%(ed)s B</td></tr>" % {
                "host": escape(name), "mark": mark, "tag": tag, "kernel": escape(str(h["kernel"])),
                "acc": escape(str(h["accounting"])), "ka": _n(h["kernel_after"]), "ea": _n(h["estimate_after"]),
                "kw": _width(h["kernel_after"], scale), "ew": _width(h["estimate_after"], scale),
                "kd": _delta(h["kernel_delta"]), "ed": _delta(h["estimate_delta"])})
    out.append("</table>")
    maps = report.get("maps", [])
    out.append("<h2>Biggest maps</h2>")
    if maps:
        top = max(m["footprint"] for m in maps) or 1
        out.append("<table id=\"maps\"><tr><th>host</th><th>collection</th><th>map</th><th>type</th>"
                   "<th>footprint</th><th class=\"bars\"></th><th>entries</th></tr>")
        for m in maps:
            out.append("<tr class=\"map\"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"num\">%s B</td>"
                       "<td class=\"bars\"><div class=\"bar estimate\" style=\"width:%s\"></div></td>"
                       "<td class=\"num\">%s</td></tr>" % (
                           escape(m["host"]), escape(m["collection"]), escape(m["map"]), escape(str(m["type"])),
                           _n(m["footprint"]), _width(m["footprint"], top),
                           "%s / %s" % (_n(m["entries"]), _n(m["max_entries"])) if m["entries"] is not None
                           else "max %s" % _n(m["max_entries"])))
        out.append("</table>")
    else:
        out.append("<p>No map figures (run bpf_facts with the collections subset).</p>")
    pressure = report.get("pressure", [])
    out.append("<h2>Map pressure</h2>")
    if pressure:
        out.append("<table id=\"pressure\"><tr><th>host</th><th>collection</th><th>map</th><th>entries</th>"
                   "<th>full</th></tr>")
        for p in pressure:
            out.append("<tr class=\"high\"><td>%s</td><td>%s</td><td>%s</td><td class=\"num\">%s / %s</td>"
                       "<td class=\"num\">%.1f%%</td></tr>" % (
                           escape(p["host"]), escape(p["collection"]), escape(p["map"]), _n(p["entries"]),
                           _n(p["max_entries"]), p["pressure"] * 100))
        out.append("</table>")
    else:
        out.append("<p id=\"pressure\">No map at or above its host's pressure threshold.</p>")
    out.append("</body></html>\n")
    return "\n".join(out)
