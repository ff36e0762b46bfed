"""Plain table rendering shared by the report's tables: GitHub markdown and standalone HTML.

A table is a header (list of column labels, or a list of header rows of ``(label, colspan)``
cells for spanning headers), a body (list of rows of strings) and optional footnotes.
The HTML pages are self-contained (inline CSS, no scripts): they are embedded as they are
in the Snakemake HTML report and open in any browser.
"""

from __future__ import annotations

import html
from typing import Sequence

Cell = tuple[str, int]  # (label, colspan)

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.2em;
       color: #222; }
h1 { font-size: 1.25em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.text, th.text { text-align: left; }
thead tr:first-child th { border-top: 2px solid #222; }
thead tr:last-child th { border-bottom: 1px solid #222; }
tbody tr:last-child td { border-bottom: 2px solid #222; }
tr.avg td { border-top: 1px solid #222; }
tr.avg td:first-child { font-weight: 600; }
th.span { border-bottom: 1px solid #888; text-align: center; }
td.best { font-weight: 700; }
td.blank { color: #b00; }
p.note { font-size: 0.85em; color: #444; margin: 0.2em 0; }
""".strip()


def _header_rows(header: Sequence) -> list[list[Cell]]:
    if header and isinstance(header[0], (list, tuple)) and header[0] \
            and isinstance(header[0][0], (list, tuple)):
        return [list(r) for r in header]
    return [[(str(h), 1) for h in header]]


def markdown_table(header: Sequence, body: Sequence[Sequence[str]],
                   notes: Sequence[str] = (), *, align_left: int = 1) -> str:
    """A GitHub markdown table; spanning header rows are printed as extra header-like rows.

    The first ``align_left`` columns are left-aligned, the rest right-aligned.
    """
    rows = _header_rows(header)
    flat = [[c for label, span in r for c in [label] + [""] * (span - 1)] for r in rows]
    ncol = len(flat[-1])
    lines = []
    for r in flat[:-1]:
        lines.append("| " + " | ".join(r) + " |")
    if not lines:
        lines.append("| " + " | ".join(flat[-1]) + " |")
    lines.append("|" + ":---|" * align_left + "---:|" * (ncol - align_left))
    if len(flat) > 1:
        lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in flat[-1]) + " |")
    for row in body:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    if notes:
        lines += [""] + [f"{n}  " if i < len(notes) - 1 else n for i, n in enumerate(notes)]
    return "\n".join(lines) + "\n"


def html_table(header: Sequence, body: Sequence[Sequence[str]], *,
               classes: Sequence[Sequence[str]] | None = None,
               row_classes: Sequence[str] | None = None, table_id: str | None = None,
               text_columns: int = 1) -> str:
    """An HTML ``<table>``. ``classes[i][j]`` is the CSS class of body cell (i, j)."""
    out = [f'<table id="{html.escape(table_id)}">' if table_id else "<table>", "<thead>"]
    for r in _header_rows(header):
        cells = []
        for j, (label, span) in enumerate(r):
            cls = ' class="span"' if span > 1 else (' class="text"' if j < text_columns else "")
            colspan = f' colspan="{span}"' if span > 1 else ""
            cells.append(f"<th{colspan}{cls}>{html.escape(label)}</th>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</thead>", "<tbody>"]
    for i, row in enumerate(body):
        rc = row_classes[i] if row_classes else ""
        cells = []
        for j, c in enumerate(row):
            cls = [classes[i][j]] if classes and classes[i][j] else []
            if j < text_columns:
                cls.append("text")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(str(c))}</td>")
        out.append((f'<tr class="{rc}">' if rc else "<tr>") + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def html_notes(notes: Sequence[str]) -> str:
    return "\n".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)


def html_page(title: str, body: str) -> str:
    """A standalone HTML page (inline CSS, UTF-8)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n")
