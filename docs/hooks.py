"""MkDocs hooks of the docs site: ``options.md`` gets the configuration reference generated
from the installed SIAYN (:func:`siayn_core.cli.reference.options_reference`), and the benchmark
results the pages link to (``../benchmarks/results/*.json``) are published with the site."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

MARKER = "<!-- siayn:options-reference -->"
REPO = Path(__file__).resolve().parents[1]
RESULTS = "benchmarks/results"
SPHINX_ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|attr|data|exc|obj):<code>(~?)([^<]+)</code>")
RESULT_LINK = re.compile(r"\]\(((?:\.\./)+" + RESULTS + r"/[^)\s#]+)")


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    """Add every benchmark result as a file of the site, at ``benchmarks/results/``."""
    for path in sorted((REPO / RESULTS).rglob("*.json")):
        files.append(File.generated(config, path.relative_to(REPO).as_posix(), abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Point links to benchmark results at their copies in the site; put the generated
    reference where a page has the marker."""
    folder = posixpath.dirname(page.file.src_uri)

    def in_site(match: re.Match[str]) -> str:
        repo_path = posixpath.normpath(posixpath.join("docs", folder, match.group(1)))
        return "](" + posixpath.relpath(repo_path, folder or ".")

    markdown = RESULT_LINK.sub(in_site, markdown)
    if MARKER not in markdown:
        return markdown
    from siayn_core import load_plugins
    from siayn_core.cli.reference import options_reference

    return markdown.replace(MARKER, options_reference(load_plugins().registry))


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """Show the docstrings' Sphinx roles (``:class:`~a.B```) as code (``B``), and an option
    without a default as "-" in the CLI reference."""
    html = SPHINX_ROLE.sub(lambda match: f"<code>{match[3].rsplit('.', 1)[-1] if match[2] else match[3]}</code>",
                           html)
    # mkdocs-click prints Click's internal UNSET sentinel as the default of such an option.
    return html.replace("<code>Sentinel.UNSET</code>", "-")
