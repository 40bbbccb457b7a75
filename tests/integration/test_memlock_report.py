# -*- coding: utf-8 -*-
# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memlock_report playbook in check mode: the cost of what the inventory
declares, predicted before anything is created, beside what the host holds
now; then the real deploy's figures match the prediction."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import yaml

from chromium import chromium
from playbook_runner import BIN, ansible_env

SHOTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build",
                     "memlock-report")


def report(tmp_path, pin_dir, collections, check, state="present"):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "bpf_deploy_collections": collections, "bpf_deploy_pin_root": pin_dir, "bpf_deploy_state": state}}}}))
    out = tmp_path / "report"
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), "ebpf.deploy.memlock_report",
           "-e", "memlock_report_dir=%s" % out]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout
    with open(str(out / "memlock.json")) as f:
        data = json.load(f)
    with open(str(out / "memlock.html")) as f:
        assert f.read() == data["html"]
    data["html_path"] = str(out / "memlock.html")
    return data, proc.stdout


def rendered(page, name):
    """The page's DOM as headless Chromium rendered it, with a screenshot
    kept at build/memlock-report/<name>.png."""
    os.makedirs(SHOTS, exist_ok=True)
    return chromium(page, screenshot=os.path.join(SHOTS, name + ".png"), dump_dom=True, size="1280,900")


def test_check_mode_report_predicts_the_deploy(tmp_path, pin_dir, bpf_build):
    collections = [{"name": "rep", "path": bpf_build.path("maps"),
                    "maps": {"hash_prealloc": {"max_entries": 4096}}}]
    predicted, out = report(tmp_path, pin_dir, collections, check=True)
    assert not os.path.exists(pin_dir)   # nothing deployed
    # maps.o's map pinned by name is shared: counted once per host, in a row of its own.
    (row, shared_row) = predicted["rows"]
    assert shared_row["collection"] == "(shared maps)" and shared_row["kernel_after"] > 0, shared_row
    assert row["predicted"] and row["kernel_before"] == 0 and row["kernel_after"] > 4096 * (8 + 4), row
    assert predicted["fleet"]["predicted_hosts"] == ["localhost"]
    assert "predicted (check mode, nothing changed) on localhost" in out
    # The HTML page, as a browser shows it: the host's bars at the predicted
    # figures, marked predicted; no map yet (nothing deployed).
    dom = rendered(predicted["html_path"], "check")
    assert 'data-host="localhost"' in dom and "predicted</span> in check mode on localhost" in dom
    assert '<div class="bar kernel" style="width:100.0%"' in dom or '<div class="bar estimate" style="width:100.0%"' in dom
    # The host's bar: its collections and its shared maps, each counted once.
    assert "{:,} B".format(predicted["hosts"]["localhost"]["kernel_after"]) in dom
    assert "No map figures" in dom
    try:
        real, _out = report(tmp_path, pin_dir, collections, check=False)
        (done, _shared) = real["rows"]
        assert not done["predicted"] and real["fleet"]["predicted_hosts"] == []
        # Deployed: the biggest maps are listed, biggest first, the resized
        # hash_prealloc among them with its fill (empty).
        footprints = [m["footprint"] for m in real["maps"]]
        assert footprints == sorted(footprints, reverse=True) and footprints[0] > 0
        resized = dict((m["map"], m) for m in real["maps"])["hash_prealloc"]
        assert (resized["collection"], resized["max_entries"], resized["entries"]) == ("rep", 4096, 0)
        assert resized["footprint"] > 4096 * 12
        dom = rendered(real["html_path"], "deployed")
        assert "<td>hash_prealloc</td>" in dom and "0 / 4,096" in dom and "predicted</span>" not in dom
        assert "No map at or above its host's pressure threshold." in dom
        # Within 1% of the prediction (maps are exact on 6.4+, programs within a page).
        assert abs(done["kernel_after"] - row["kernel_after"]) <= done["kernel_after"] * 0.01, (row, done)
        # Deployed as declared: a check-mode report now predicts no change.
        again, _out = report(tmp_path, pin_dir, collections, check=True)
        (same, same_shared) = again["rows"]
        assert same_shared["kernel_before"] == same_shared["kernel_after"] == _shared["kernel_after"]
        assert not same["predicted"] and same["kernel_before"] == same["kernel_after"] == done["kernel_after"]
    finally:
        report(tmp_path, pin_dir, collections, check=False, state="absent")
    assert not os.path.exists(pin_dir)
