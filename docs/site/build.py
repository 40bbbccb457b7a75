# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the collection's HTML docs site with antsibull-docs, as docs.ansible.com does.

    docs/site/build.py [OUT]      (./dev docs; OUT defaults to build/docs, the site is OUT/html)

The site has every module, filter and role page (from their own docs), and as collection docs
(antsibull-docs' "extra docs", which are RST): the pages of docs/ (Markdown, turned into RST by
pandoc), the playbooks (from each playbook's opening comment) and the changelog. antsibull-docs
reads a collection from where Ansible finds it, so the build works on a copy of the files git
tracks with those pages added, never on the checkout. Any warning, from antsibull-docs or Sphinx,
fails the build.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
LABEL = "ansible_collections.%s.docsite.%s"

# antsibull-docs' templates refer to these pages of Ansible's own docs through intersphinx, which
# needs the network; here they are defined on one page that links to docs.ansible.com instead.
ANSIBLE_REFERENCES = """:orphan:

References to Ansible's documentation
=====================================

.. _action_plugins:

Action plugins
--------------

https://docs.ansible.com/ansible/latest/plugins/action.html

.. _common_return_values:

Common return values
--------------------

https://docs.ansible.com/ansible/latest/reference_appendices/common_return_values.html

.. _ansible_configuration_settings:

Ansible configuration settings
------------------------------

https://docs.ansible.com/ansible/latest/reference_appendices/config.html
"""


def copy_tracked(dest):
    """The files git would ship (tracked, and new ones it does not ignore) into dest."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=TOP,
                            check=True, stdout=subprocess.PIPE).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = os.path.join(TOP, rel)
        if os.path.isfile(src) and not os.path.islink(src):
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel))


def page(fqcn, name, title, body):
    rule = "=" * len(title)
    return ".. _%s:\n\n%s\n%s\n\n%s\n" % (LABEL % (fqcn, name), title, rule, body)


def markdown_page(fqcn, path):
    """One docs/*.md page in RST; its first heading is the page title."""
    with open(path) as f:
        text = f.read()
    first, _sep, rest = text.partition("\n")
    if not first.startswith("# "):
        sys.exit("docs site: %s must start with a '# ' title" % path)
    rst = subprocess.run(["pandoc", "--from", "gfm", "--to", "rst", "--wrap", "preserve"], input=rest.encode(),
                         check=True, stdout=subprocess.PIPE).stdout.decode()
    title = first[2:].strip()
    return title.replace("`", ""), page(fqcn, os.path.splitext(os.path.basename(path))[0],
                                        re.sub(r"`([^`]+)`", r"``\1``", title), rst)


def playbooks_page(fqcn, collection):
    """Each playbook with the opening comment that says what it does and how to run it."""
    parts = []
    for path in sorted(glob.glob(os.path.join(collection, "playbooks", "*.yml"))):
        name = os.path.splitext(os.path.basename(path))[0]
        comment = []
        with open(path) as f:
            for line in f:
                if line.startswith("---"):
                    continue
                if not line.startswith("#"):
                    break
                comment.append(line[1:].strip())
        title = "%s.%s" % (fqcn, name)
        parts.append("%s\n%s\n\n::\n\n%s\n" % (title, "-" * len(title), "\n".join("    " + c for c in comment)))
    return page(fqcn, "playbooks", "Playbooks", "Run them as ``ansible-playbook %s.NAME -i inventory``.\n\n%s" % (
        fqcn, "\n".join(parts)))


def add_collection_docs(collection, fqcn):
    rst = os.path.join(collection, "docs", "docsite", "rst")
    os.makedirs(rst, exist_ok=True)
    toctree = []
    for path in sorted(glob.glob(os.path.join(collection, "docs", "*.md"))):
        title, text = markdown_page(fqcn, path)
        name = os.path.splitext(os.path.basename(path))[0]
        with open(os.path.join(rst, name + ".rst"), "w") as f:
            f.write(text)
        toctree.append({"ref": name, "title": title})
    with open(os.path.join(rst, "playbooks.rst"), "w") as f:
        f.write(playbooks_page(fqcn, collection))
    toctree.append({"ref": "playbooks", "title": "Playbooks"})
    changelog = os.path.join(collection, "CHANGELOG.rst")
    if os.path.exists(changelog):
        with open(changelog) as f:
            text = f.read()
        with open(os.path.join(rst, "changelog.rst"), "w") as f:
            f.write(".. _%s:\n\n%s" % (LABEL % (fqcn, "changelog"), text))
        toctree.append({"ref": "changelog", "title": "Changelog"})
    with open(os.path.join(collection, "docs", "docsite", "extra-docs.yml"), "w") as f:
        yaml.safe_dump({"sections": [{"title": "Guides", "toctree": toctree}]}, f, sort_keys=False)


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build", "docs"))
    with open(os.path.join(TOP, "galaxy.yml")) as f:
        galaxy = yaml.safe_load(f)
    fqcn = "%s.%s" % (galaxy["namespace"], galaxy["name"])
    work = tempfile.mkdtemp(prefix="ebpf-deploy-docs.")
    try:
        collections = os.path.join(work, "collections")
        collection = os.path.join(collections, "ansible_collections", galaxy["namespace"], galaxy["name"])
        copy_tracked(collection)
        add_collection_docs(collection, fqcn)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections)
        env.pop("PYTHONPATH", None)
        rst = os.path.join(work, "rst")
        os.makedirs(rst, mode=0o755)
        subprocess.run(["antsibull-docs", "--config-file", os.path.join(HERE, "antsibull-docs.cfg"), "collection",
                        "--use-current", "--squash-hierarchy", "--fail-on-error", "--dest-dir", rst, fqcn],
                       env=env, check=True)
        with open(os.path.join(rst, "ansible_references.rst"), "w") as f:
            f.write(ANSIBLE_REFERENCES)
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(["sphinx-build", "-q", "-b", "html", "-W", "--keep-going", "-c", HERE, rst,
                        os.path.join(out, "html")], env=env, check=True)
    except subprocess.CalledProcessError as e:
        sys.exit("docs site: %s failed (exit %d)" % (e.cmd[0], e.returncode))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("docs site: %s" % os.path.join(out, "html", "index.html"))


if __name__ == "__main__":
    main()
