"""The legal timeline is the one source of legal dates: its rows are complete and sourced, and no
page of the book types a date it holds (pages use the {lawdate} role instead)."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from bookcheck import ROOT, bib_keys, page_path, toc_files

sys.path.insert(0, str(ROOT / "_ext"))
import lawtimeline as lt  # noqa: E402

TIMELINE = ROOT / "legal" / "timeline.yaml"


def _rows():
    return lt.read_rows(TIMELINE)


def _good_row(**changes) -> dict:
    row = {
        "id": "ehds-applies",
        "date": dt.date(2027, 3, 26),
        "instrument": "EHDS (Regulation (EU) 2025/327)",
        "provision": "Art. 105",
        "applies": "General date of application",
        "status": "applies",
        "source": "CELEX:32025R0327",
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


# --- the file itself ----------------------------------------------------------------------


def test_the_timeline_file_has_no_problems():
    problems = lt.timeline_problems(_rows(), bib_keys())
    assert not problems, "\n".join(problems)


def test_every_row_becomes_a_milestone():
    assert len(lt.milestones(_rows())) == len(_rows()) >= 40


def test_a_good_row_passes():
    assert lt.timeline_problems([_good_row()]) == []
    assert lt.timeline_problems([_good_row(date="2026-01")]) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"source": None}, "row 1 (ehds-applies): missing 'source'"),
        ({"source": "  "}, "row 1 (ehds-applies): missing 'source'"),
        ({"source": "a blog post"}, "is not a CELEX or OJ reference"),
        ({"status": "in effect"}, "row 1 (ehds-applies): unknown status 'in effect'"),
        ({"status": None}, "row 1 (ehds-applies): missing 'status'"),
        ({"date": "2027-02-30"}, "date '2027-02-30' is not valid"),
        ({"date": "2027-13"}, "date '2027-13' is not valid"),
        ({"id": "EHDS Applies"}, "id must be a kebab-case slug"),
        ({"applies": None}, "missing 'applies'"),
        ({"citaton": "ehds2025"}, "unknown field(s) ['citaton']"),
    ],
)
def test_a_bad_row_is_reported(changes, expected):
    problems = lt.timeline_problems([_good_row(**changes)])
    assert any(expected in p for p in problems), problems


def test_a_row_without_a_source_or_status_is_left_out():
    rows = [_good_row(source=None), _good_row(id="other", status="rumoured")]
    assert lt.milestones(rows) == {}


def test_duplicate_ids_and_unknown_citations_are_reported():
    problems = lt.timeline_problems([_good_row(citation="nosuchkey"), _good_row()], {"ehds2025"})
    assert "row 1 (ehds-applies): citation 'nosuchkey' is not in references.bib" in problems
    assert "row 2 (ehds-applies): id 'ehds-applies' is used twice" in problems


def test_a_file_that_is_not_a_list_is_reported():
    assert lt.timeline_problems({"id": "x"}) == ["the timeline must be a YAML list of milestones"]


def test_dates_render_in_words_month_year_and_iso():
    full = lt.milestones([_good_row()])["ehds-applies"]
    month = lt.milestones([_good_row(date="2026-01")])["ehds-applies"]
    assert (full.words, full.month_words, full.iso) == ("26 March 2027", "March 2027", "2027-03-26")
    assert (month.words, month.iso, month.month_only) == ("January 2026", "2026-01", True)


# --- literal dates in pages ---------------------------------------------------------------


def _timeline():
    return lt.milestones(
        [
            _good_row(),
            _good_row(id="nl-letter", date="2026-01"),
            _good_row(id="draft", date=dt.date(2026, 5, 12), status="proposal"),
        ]
    )


@pytest.mark.parametrize(
    "typed",
    [
        "26 March 2027",
        "26 Mar 2027",
        "26th March 2027",
        "March 26, 2027",
        "2027-03-26",
        "26.03.2027",
        "26/03/2027",
        "26 maart 2027",
        "26 March\n2027",
        "March 2027 (EHDS)",  # a binding milestone's month near its instrument: {lawmonth}
        "January 2026",  # a month-only milestone
        "2026-01",
    ],
)
def test_a_typed_date_is_found_with_its_line(typed):
    text = f"---\ntheme: legal\n---\n# Title\n\nFrom {typed} on.\n"
    found = lt.literal_dates(text, _timeline())
    assert len(found) == 1 and found[0][0] == 6, found
    assert found[0][2] in ("ehds-applies", "nl-letter")


@pytest.mark.parametrize(
    "text",
    [
        "From {lawdate}`ehds-applies` on.",
        "From 25 March 2027 on.",  # a date the timeline does not hold
        "In 2027 and in 126 March 20270.",
        "Checked 2027-03-25; see section 26.3.",
        "OpenFHE 1.5.1, May 2026.",  # the month of a proposal row is not flagged
        "A GP direction by March 2027.",  # a binding row's month, far from its instrument
    ],
)
def test_roles_and_other_dates_are_not_flagged(text):
    assert lt.literal_dates(f"# T\n\n{text}\n", _timeline()) == []


def test_front_matter_dates_are_not_flagged():
    text = "---\nlaw_checked: 2027-03-26\n---\n# T\n"
    assert lt.literal_dates(text, _timeline()) == []


def test_no_page_types_a_date_the_timeline_holds():
    timeline = lt.milestones(_rows())
    problems = []
    for name in toc_files():
        path = page_path(name)
        if path.suffix != ".md":
            continue
        for line, text, ids in lt.literal_dates(path.read_text(encoding="utf-8"), timeline):
            problems.append(
                f"{path.relative_to(ROOT)}:{line}: '{text}' is in legal/timeline.yaml "
                f"({ids}); write {{lawdate}}`{ids.split(', ')[0]}` instead"
            )
    assert not problems, "\n".join(problems)


# --- the chart ----------------------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("status", lt.STATUSES)
def test_chart_colours_read_on_light_and_dark_pages(status):
    colour = lt.STATUS_STYLE[status][1]
    for background in ("#ffffff", "#121212"):
        assert _contrast(colour, background) >= 3.0, (status, background)


def test_chart_is_an_accessible_svg_without_script():
    svg = lt.chart_svg(lt.milestones(_rows()), dt.date(2026, 11, 30), ident="t")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert '<title id="t-title">' in svg and '<desc id="t-desc">' in svg
    assert 'aria-labelledby="t-title t-desc"' in svg
    assert "<script" not in svg and "href=" not in svg
    assert "currentColor" in svg  # text takes the page colour in light and dark mode
    assert "checked 2026-11-30" in svg
    lanes = {m.lane for m in lt.milestones(_rows()).values()}
    assert all(f">{lane}</text>" in svg for lane in lanes if "&" not in lane)


def test_code_is_skipped_but_directive_prose_is_not():
    text = (
        "# T\n\n```{code-cell} ipython3\nax.set_xlabel('age on 26 March 2027')\n```\n\n"
        "```python\nstart = '2027-03-26'\n```\n\n"
        ":::{note}\nFrom 26 March 2027.\n:::\n\n```{admonition} A\nFrom 2027-03-26.\n```\n"
    )
    found = lt.literal_dates(text, _timeline())
    assert [(line, typed) for line, typed, _ in found] == [
        (12, "26 March 2027"),
        (16, "2027-03-26"),
    ]
