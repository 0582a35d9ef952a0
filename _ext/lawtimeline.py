"""One dated legal timeline for the whole book, kept as data in ``legal/timeline.yaml``.

Pages never type a legal date by hand; they take it from the timeline with a role, so two pages
cannot disagree and a corrected date changes everywhere at once:

=========================  ==============================  =====================
role                       renders                         example
=========================  ==============================  =====================
``{lawdate}`id```          the date in words               26 March 2027
``{lawmonth}`id```         month and year                  March 2027
``{lawyear}`id```          the year                        2027
``{lawiso}`id```           ISO 8601                        2027-03-26
=========================  ==============================  =====================

A milestone known only to the month (``date: 2025-03``) renders as "March 2025" with
``{lawdate}`` and as ``2025-03`` with ``{lawiso}``. A milestone whose status is ``reported``
renders with "(reported)" after the date, so an unconfirmed date is always marked as such.
Each rendered date links to its row on the timeline page (``legal/timeline``), whose title
attribute names the instrument, provision, status and source.

An unknown id is a build warning (so the strict build fails), and so is every problem in the
file itself. The directive ``{lawtimeline}`` renders the whole file as a table (``:view:
table``, the default) or as an SVG chart made at build time (``:view: chart``), inline so that
it takes the page's text colour in light and dark mode, with ``<title>`` and ``<desc>`` and no
script.

The checks (:func:`timeline_problems`, :func:`literal_dates`) are plain functions, so the tests
in ``tests/test_timeline.py`` call them directly.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

TIMELINE_FILE = "legal/timeline.yaml"
TIMELINE_DOC = "legal/timeline"
STATUSES = ("in force", "applies", "adopted", "proposal", "reported")
REQUIRED = ("id", "date", "instrument", "provision", "applies", "status", "source")
OPTIONAL = ("citation", "note")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MONTH_ONLY = re.compile(r"^(\d{4})-(\d{2})$")
_SOURCES = (
    re.compile(r"^CELEX:\d[0-9A-Z()]{5,}$"),  # CELEX:32025R0327, CELEX:52025PC0837
    re.compile(r"^ECLI:[A-Z]{2}:[A-Z0-9]+:\d{4}:[0-9A-Za-z.]+$"),  # ECLI:EU:C:2020:559
    re.compile(r"^OJ [LC] \S.*$"),  # OJ L 119, 4.5.2016, p. 1
    re.compile(r"^(Stb|Stcrt)\. \d{4}, \d+$"),  # Staatsblad / Staatscourant
    re.compile(r"^Kamerstukken (I|II) \d{4}/\d{2}, \d+"),  # Kamerstukken II 2025/26, 27529, nr. 1
    re.compile(r"^https://\S+$"),  # an official URL
)
MONTHS = list(calendar.month_name)[1:]
_ABBR = [m[:3] for m in MONTHS]
# Dutch month names, for dates quoted from Dutch sources
_DUTCH = "januari februari maart april mei juni juli augustus september oktober november december"  # noqa: E501  # codespell:ignore
_DUTCH = _DUTCH.split()


class TimelineError(ValueError):
    """The timeline file cannot be read at all."""


@dataclass(frozen=True)
class Milestone:
    id: str
    year: int
    month: int
    day: int | None  # None: known only to the month
    instrument: str
    provision: str
    applies: str
    status: str
    source: str
    citation: str | None = None
    note: str | None = None

    @property
    def month_only(self) -> bool:
        return self.day is None

    @property
    def sort_key(self) -> tuple[int, int, int]:
        return (self.year, self.month, self.day or 0)

    @property
    def date(self) -> dt.date:
        """A day for drawing: the middle of the month when only the month is known."""
        return dt.date(self.year, self.month, self.day or 15)

    @property
    def words(self) -> str:
        month = f"{MONTHS[self.month - 1]} {self.year}"
        return month if self.month_only else f"{self.day} {month}"

    @property
    def month_words(self) -> str:
        return f"{MONTHS[self.month - 1]} {self.year}"

    @property
    def iso(self) -> str:
        base = f"{self.year:04d}-{self.month:02d}"
        return base if self.month_only else f"{base}-{self.day:02d}"

    @property
    def lane(self) -> str:
        """The short name of the instrument: the text before its first " (" ."""
        return self.instrument.split(" (", 1)[0]

    @property
    def source_url(self) -> str | None:
        if self.source.startswith("https://"):
            return self.source
        if self.source.startswith("CELEX:"):
            return f"https://eur-lex.europa.eu/legal-content/EN/TXT/?uri={self.source}"
        if self.source.startswith("ECLI:"):
            return f"https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=ecli:{self.source}"
        return None

    def summary(self) -> str:
        return f"{self.instrument}, {self.provision}: {self.applies} ({self.status}; {self.source})"


def _parse_date(value) -> tuple[int, int, int | None]:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.year, value.month, value.day
    if isinstance(value, str):
        match = _MONTH_ONLY.match(value.strip())
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            if 1 <= month <= 12:
                return year, month, None
            raise ValueError(f"month {month} does not exist")
        day = dt.date.fromisoformat(value.strip())
        return day.year, day.month, day.day
    raise ValueError("use YYYY-MM-DD, or YYYY-MM (quoted or not) for a month-only date")


def timeline_problems(rows, bib_keys: set[str] | None = None) -> list[str]:
    """Everything wrong with the rows of a timeline file; an empty list when all is well."""
    if not isinstance(rows, list):
        return ["the timeline must be a YAML list of milestones"]
    problems, seen = [], set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            problems.append(f"row {number}: a milestone must be a mapping of fields")
            continue
        name = row.get("id")
        where = f"row {number} ({name})" if name else f"row {number}"
        for field in REQUIRED:
            value = row.get(field)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append(f"{where}: missing '{field}'")
        if unknown := sorted(set(row) - set(REQUIRED) - set(OPTIONAL)):
            problems.append(f"{where}: unknown field(s) {unknown}")
        if name is not None:
            if not isinstance(name, str) or not _ID.match(name):
                problems.append(f"{where}: id must be a kebab-case slug (a-z, 0-9, '-')")
            elif name in seen:
                problems.append(f"{where}: id '{name}' is used twice")
            seen.add(name)
        if row.get("date") is not None:
            try:
                _parse_date(row["date"])
            except ValueError as error:
                problems.append(f"{where}: date {row['date']!r} is not valid: {error}")
        status = row.get("status")
        if status is not None and status not in STATUSES:
            problems.append(f"{where}: unknown status {status!r}; use one of {list(STATUSES)}")
        source = row.get("source")
        if isinstance(source, str) and source.strip():
            if not any(p.match(source.strip()) for p in _SOURCES):
                problems.append(
                    f"{where}: source {source!r} is not a CELEX or OJ reference, an ECLI, "
                    "a Staatsblad/Staatscourant/Kamerstukken reference or an https URL"
                )
        citation = row.get("citation")
        if citation is not None and bib_keys is not None and citation not in bib_keys:
            problems.append(f"{where}: citation '{citation}' is not in references.bib")
    return problems


def milestones(rows) -> dict[str, Milestone]:
    """The valid rows as milestones, by id (rows with problems are left out)."""
    found = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or timeline_problems([row]):
            continue
        year, month, day = _parse_date(row["date"])
        found[row["id"]] = Milestone(
            id=row["id"],
            year=year,
            month=month,
            day=day,
            instrument=str(row["instrument"]).strip(),
            provision=str(row["provision"]).strip(),
            applies=str(row["applies"]).strip(),
            status=row["status"],
            source=str(row["source"]).strip(),
            citation=row.get("citation"),
            note=row.get("note"),
        )
    return found


def read_rows(path: Path):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise TimelineError(f"{path}: cannot be read: {error}") from error


def bib_keys_of(paths) -> set[str]:
    keys = set()
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        keys.update(re.findall(r"^@\w+\{\s*([^,\s]+)\s*,", text, flags=re.M))
    return keys


# --- literal dates in page sources --------------------------------------------------------


def _date_patterns(m: Milestone) -> list[re.Pattern]:
    month_names = "|".join([MONTHS[m.month - 1], _ABBR[m.month - 1] + r"\.?", _DUTCH[m.month - 1]])
    space = r"(?:\s|&nbsp;|\u00a0|~)+"
    # A month and year alone stands for a month-only milestone. For a binding full date it is
    # the usual hedge ("the EHDS, in force since March 2025"), but it is also often an unrelated
    # date (a software release in April 2026), so there it counts only near the instrument's
    # short name (see literal_dates).
    month_counts = m.month_only or m.status in ("in force", "applies")
    patterns = [
        # March 2025 / maart 2025; a match with a day in front ("day" group) is another date
        (
            rf"(?<![0-9a-z])(?:(?P<day>\d{{1,2}})(?:st|nd|rd|th)?{space})?"
            rf"(?:{month_names}){space}{m.year}(?!\d)"
        )
        if month_counts
        else None,
        rf"(?<!\d){m.year}-{m.month:02d}(?![\d-])" if m.month_only else None,
    ]
    if not m.month_only:
        day = rf"0?{m.day}"
        patterns = [
            rf"(?<![\d.]){day}(?:st|nd|rd|th)?{space}(?:{month_names}){space}{m.year}(?!\d)",
            rf"(?<![0-9a-z])(?:{month_names}){space}{day}(?:st|nd|rd|th)?,?{space}{m.year}(?!\d)",
            rf"(?<!\d){m.year}-{m.month:02d}-{m.day:02d}(?!\d)",
            rf"(?<![\d.]){day}[./-]0?{m.month}[./-]{m.year}(?!\d)",
            *patterns,
        ]
    return [re.compile(p, re.I) for p in patterns if p]


def _front_matter_lines(lines: list[str]) -> int:
    """How many lines at the top are YAML front matter (they may hold law_checked)."""
    if not lines or lines[0].strip() != "---":
        return 0
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return index + 1
    return 0


_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\S*)")


def _code_lines(lines: list[str]) -> set[int]:
    """Indexes of lines inside fenced code (a notebook's code cells, code examples): code is not
    prose, so a date there (a synthetic reference date, say) is not a typed legal date. Fences
    that open a MyST directive other than ``{code-cell}`` hold prose and are still searched."""
    inside, fence, found = False, "", set()
    for index, line in enumerate(lines):
        match = _FENCE.match(line)
        if not inside and match:
            info = match.group(3)
            if not info.startswith("{") or info.startswith("{code-cell}"):
                inside, fence = True, match.group(2)
                found.add(index)
            continue
        if inside:
            found.add(index)
            if line.strip().startswith(fence) and line.strip() == fence[0] * len(line.strip()):
                inside = False
    return found


def literal_dates(text: str, timeline: dict[str, Milestone]) -> list[tuple[int, str, str]]:
    """Dates the timeline holds that a page source types as literal text.

    Returns (line number, the text found, the ids of the milestones that hold it). A month and year
    ("March 2025") counts for a month-only milestone, and for a milestone whose status is "in
    force" or "applies" when the instrument's short name (its chart lane, such as "EHDS") is
    within 300 characters; the page should then use ``{lawmonth}`` (or ``{lawdate}`` for a
    month-only milestone).
    """
    compiled = [(m.id, p) for m in timeline.values() for p in _date_patterns(m)]
    lines = text.splitlines(keepends=True)
    skip = _front_matter_lines([line.rstrip("\n") for line in lines])
    # Blank the front matter (keeping its line breaks) and search the whole text, so that a
    # date broken over two lines ("26 March\n2027") is found too.
    code = _code_lines(lines)
    body = "".join("\n" if i < skip or i in code else line for i, line in enumerate(lines))
    starts = [0]
    for line in body.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    hits: dict[tuple[int, str], list[str]] = {}
    for ident, pattern in compiled:
        milestone = timeline[ident]
        for match in pattern.finditer(body):
            if "day" in pattern.groupindex:
                if match.group("day"):
                    continue  # a full date: the full-date patterns judge it
                if not milestone.month_only:
                    near = body[max(0, match.start() - 300) : match.end() + 300]
                    if milestone.lane not in near:
                        continue  # an unrelated month, far from the instrument's name
            hits.setdefault((match.start(), match.group(0)), []).append(ident)
    found = []
    for (start, text_), idents in sorted(hits.items()):
        number = next(i for i, s in enumerate(starts) if s > start)
        found.append((number, " ".join(text_.split()), ", ".join(sorted(set(idents)))))
    return found


# --- the chart --------------------------------------------------------------------------

# Fill colours with a contrast of at least 3:1 against both a white and a near-black page
# (checked in tests/test_timeline.py); shape, not colour alone, tells the status apart.
STATUS_STYLE = {
    "in force": ("circle", "#009E73", True),
    "applies": ("square", "#009E73", True),
    "adopted": ("circle", "#0072B2", False),
    "proposal": ("diamond", "#D55E00", False),
    "reported": ("triangle", "#D55E00", False),
}
_STRENGTH = {status: rank for rank, status in enumerate(reversed(STATUSES))}


def _shape(kind: str, x: float, y: float, colour: str, filled: bool) -> str:
    fill = colour if filled else "none"
    common = f'fill="{fill}" stroke="{colour}" stroke-width="2"'
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5.5" {common}/>'
    if kind == "square":
        return f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" {common}/>'
    if kind == "diamond":
        corners = [(x, y - 6.5), (x + 6.5, y), (x, y + 6.5), (x - 6.5, y)]
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in corners)
        return f'<polygon points="{points}" {common} stroke-dasharray="3 2"/>'
    points = f"{x:.1f},{y - 6.5:.1f} {x + 6.5:.1f},{y + 5.5:.1f} {x - 6.5:.1f},{y + 5.5:.1f}"
    return f'<polygon points="{points}" {common}/>'


def chart_svg(timeline: dict[str, Milestone], checked: dt.date | None, ident: str) -> str:
    """The timeline as an inline SVG: one lane per instrument, one marker per date."""
    rows = sorted(timeline.values(), key=lambda m: m.sort_key)
    if not rows:
        raise TimelineError("the timeline has no valid milestone to draw")
    lanes: list[str] = []
    for m in rows:
        if m.lane not in lanes:
            lanes.append(m.lane)
    first = min(m.year for m in rows)
    last = max(m.year for m in rows) + 1
    left, right, top, lane_h, width = 210, 20, 58, 26, 980
    height = top + lane_h * len(lanes) + 46
    start, end = dt.date(first, 1, 1), dt.date(last, 1, 1)

    def x_of(day: dt.date) -> float:
        return left + (width - left - right) * (day - start).days / (end - start).days

    esc = html.escape
    title_id, desc_id = f"{ident}-title", f"{ident}-desc"
    count = len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="{title_id} {desc_id}" '
        'class="law-timeline-chart" font-family="inherit" font-size="13" '
        'style="max-width:100%;height:auto;color:inherit">',
        f'<title id="{title_id}">Legal milestones the playbook relies on, {first} to {last - 1}'
        "</title>",
        f'<desc id="{desc_id}">{count} milestones from legal/timeline.yaml in {len(lanes)} lanes, '
        "one per instrument, placed on a time axis by year. Filled markers are dates from which "
        "law is in force (circle) or applies (square); a hollow circle is an adopted act not yet "
        "in force; a dashed diamond is a proposal; a hollow triangle is a reported date not "
        "confirmed in the Official Journal. The table below the chart lists every milestone "
        "with its source.</desc>",
    ]
    # legend
    lx = left
    for status, (kind, colour, filled) in STATUS_STYLE.items():
        parts.append(_shape(kind, lx + 6, 20, colour, filled))
        parts.append(f'<text x="{lx + 17}" y="24" fill="currentColor">{esc(status)}</text>')
        lx += 22 + 8 * len(status) + 34
    # year grid and axis
    axis_y = top + lane_h * len(lanes) + 6
    step = 1 if last - first <= 16 else 2
    for year in range(first, last + 1):
        x = x_of(dt.date(year, 1, 1))
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{axis_y}" stroke="currentColor" '
            'stroke-opacity="0.18" stroke-width="1"/>'
        )
        if (year - first) % step == 0 and year < last:
            parts.append(
                f'<text x="{x + 2:.1f}" y="{axis_y + 18}" fill="currentColor">{year}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" '
        'stroke="currentColor" stroke-width="1.5"/>'
    )
    parts.append(
        f'<text x="{width - right}" y="{axis_y + 38}" text-anchor="end" fill="currentColor" '
        'font-size="12">Year (grid lines mark 1 January)</text>'
    )
    if checked is not None and start <= checked <= end:
        x = x_of(checked)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 12}" x2="{x:.1f}" y2="{axis_y}" stroke="currentColor" '
            'stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top - 16}" text-anchor="middle" fill="currentColor" '
            f'font-size="12">checked {checked.isoformat()}</text>'
        )
    # lanes and markers (one marker per lane and date; its tooltip lists every milestone there)
    for index, lane in enumerate(lanes):
        y = top + lane_h * index + lane_h / 2
        parts.append(
            f'<text x="{left - 10}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor">'
            f"{esc(lane)}</text>"
        )
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            'stroke="currentColor" stroke-opacity="0.35" stroke-width="1"/>'
        )
        by_date: dict[dt.date, list[Milestone]] = {}
        for m in rows:
            if m.lane == lane:
                by_date.setdefault(m.date, []).append(m)
        for day, group in by_date.items():
            strongest = max(group, key=lambda m: _STRENGTH[m.status])
            kind, colour, filled = STATUS_STYLE[strongest.status]
            tip = "; ".join(f"{m.words}: {m.provision}, {m.applies} ({m.status})" for m in group)
            parts.append(
                f"<g><title>{esc(lane)}. {esc(tip)}</title>"
                f"{_shape(kind, x_of(day), y, colour, filled)}</g>"
            )
    parts.append("</svg>")
    return "\n".join(parts)


# --- Sphinx -------------------------------------------------------------------------------

try:  # the tests import this module without Sphinx set up; the extension needs it
    from docutils import nodes
    from docutils.parsers.rst import directives
    from docutils.statemachine import StringList
    from sphinx.util import logging
    from sphinx.util.docutils import SphinxDirective
except ImportError:  # pragma: no cover
    nodes = None

if nodes is not None:
    logger = logging.getLogger(__name__)

    class lawdate_ref(nodes.inline):  # noqa: N801 (docutils node names are lower case)
        """A rendered date that becomes a link to its timeline row once pages are resolved."""

    def _timeline(env) -> dict[str, Milestone]:
        return getattr(env.app, "law_timeline", {})

    def _make_role(render):
        def role(name, rawtext, text, lineno, inliner, options=None, content=None):
            env = inliner.document.settings.env
            env.note_dependency(str(Path(env.srcdir) / TIMELINE_FILE))
            key = text.strip()
            milestone = _timeline(env).get(key)
            if milestone is None:
                logger.warning(
                    "unknown timeline id %r in {%s}; add it to %s or fix the id",
                    key,
                    name,
                    TIMELINE_FILE,
                    location=(env.docname, lineno),
                    type="lawtimeline",
                )
                return [nodes.problematic(rawtext, rawtext)], []
            label = render(milestone)
            if milestone.status == "reported":
                label += " (reported)"
            node = lawdate_ref(rawtext, label, classes=["lawdate"])
            node["milestone"] = milestone.id
            node["reftitle"] = milestone.summary()
            return [node], []

        return role

    def _resolve_links(app, doctree, docname):
        has_page = TIMELINE_DOC in app.env.all_docs
        for node in list(doctree.findall(lawdate_ref)):
            text = node.astext()
            if not has_page:
                node.replace_self(nodes.inline(text, text, classes=["lawdate"]))
                continue
            uri = app.builder.get_relative_uri(docname, TIMELINE_DOC)
            link = nodes.reference(
                text,
                text,
                refuri=f"{uri}#lawdate-{node['milestone']}",
                reftitle=node["reftitle"],
                internal=True,
                classes=["lawdate"],
            )
            node.replace_self(link)

    class LawTimeline(SphinxDirective):
        """``{lawtimeline}`` with ``:view: table`` (default) or ``:view: chart``."""

        has_content = False
        option_spec = {"view": lambda arg: directives.choice(arg, ("table", "chart"))}

        def run(self):
            self.env.note_dependency(str(Path(self.env.srcdir) / TIMELINE_FILE))
            timeline = _timeline(self.env)
            if self.options.get("view", "table") == "chart":
                return self._chart(timeline)
            return self._table(timeline)

        def _chart(self, timeline):
            # The page's metadata is collected only after parsing, so read its front matter.
            source = Path(self.env.doc2path(self.env.docname)).read_text(encoding="utf-8")
            match = re.search(r"^law_checked:\s*(\d{4}-\d{2}-\d{2})\s*$", source, flags=re.M)
            checked = dt.date.fromisoformat(match.group(1)) if match else None
            svg = chart_svg(timeline, checked, ident="law-timeline-chart")
            figure = nodes.figure(classes=["law-timeline-figure"])
            figure += nodes.raw("", svg, format="html")
            caption = (
                "Every legal milestone in legal/timeline.yaml, one lane per instrument. The "
                "dashed vertical line is the date the law was last checked; hover over a marker "
                "for its milestones, or read the table below."
            )
            figure += nodes.caption(caption, caption)
            return [figure]

        def _table(self, timeline):
            headers = ("Date", "Instrument", "Provision", "What applies", "Status", "Source")
            widths = (12, 18, 14, 34, 8, 14)
            table = nodes.table(classes=["law-timeline-table"])
            group = nodes.tgroup(cols=len(headers))
            table += group
            for width in widths:
                group += nodes.colspec(colwidth=width)
            head = nodes.thead()
            group += head
            row = nodes.row()
            for text in headers:
                row += nodes.entry("", nodes.paragraph(text, text))
            head += row
            body = nodes.tbody()
            group += body
            for m in sorted(timeline.values(), key=lambda m: m.sort_key):
                row = nodes.row(ids=[f"lawdate-{m.id}"])
                date = m.words + (" (month only)" if m.month_only else "")
                for text in (date, m.instrument, m.provision, m.applies, m.status):
                    row += nodes.entry("", nodes.paragraph(text, text))
                source = nodes.entry()
                para = nodes.paragraph()
                url = m.source_url
                if url:
                    para += nodes.reference(m.source, m.source, refuri=url)
                else:
                    para += nodes.Text(m.source)
                source += para
                if m.citation:
                    self.state.nested_parse(
                        StringList([f"{{cite:p}}`{m.citation}`"], source=self.env.docname),
                        self.content_offset,
                        source,
                    )
                if m.note:
                    self.state.nested_parse(
                        StringList([m.note], source=self.env.docname), self.content_offset, source
                    )
                row += source
                body += row
            return [table]

    def _load(app):
        path = Path(app.srcdir) / TIMELINE_FILE
        app.law_timeline = {}
        if not path.exists():
            return
        try:
            rows = read_rows(path)
        except TimelineError as error:
            logger.warning(str(error), type="lawtimeline")
            return
        bibs = [Path(app.srcdir) / b for b in app.config.bibtex_bibfiles or []]
        for problem in timeline_problems(rows, bib_keys_of(bibs) if bibs else None):
            logger.warning("%s: %s", TIMELINE_FILE, problem, type="lawtimeline")
        app.law_timeline = milestones(rows)

    def setup(app) -> dict:
        app.add_node(
            lawdate_ref, html=(lambda s, n: s.visit_inline(n), lambda s, n: s.depart_inline(n))
        )
        renderers = {
            "lawdate": lambda m: m.words,
            "lawmonth": lambda m: m.month_words,
            "lawyear": lambda m: str(m.year),
            "lawiso": lambda m: m.iso,
        }
        for name, render in renderers.items():
            app.add_role(name, _make_role(render))
        app.add_directive("lawtimeline", LawTimeline)
        app.connect("builder-inited", _load)
        app.connect("doctree-resolved", _resolve_links)
        return {"parallel_read_safe": True, "parallel_write_safe": True}
