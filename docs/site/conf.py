# Copyright: ebpf.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx settings for the docs site (docs/site/build.py), from `antsibull-docs sphinx-init`'s.

No intersphinx: the build must not need the network, and the few references antsibull-docs makes
to Ansible's own docs are defined on one local page that links there (build.py)."""

project = "ebpf.deploy"
copyright = "ebpf.deploy contributors"  # pylint: disable=redefined-builtin  # Sphinx's name
title = "ebpf.deploy documentation"
html_short_title = "ebpf.deploy"

extensions = ["sphinx_antsibull_ext"]
pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = "any"
nitpicky = True
