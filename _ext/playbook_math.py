"""Formulas written as MathML when the site is built, so no page needs MathJax (issue 8).

Sphinx leaves each formula as TeX in the page (``\\(...\\)`` inline, ``\\[...\\]`` as a block)
for MathJax to typeset in the reader's browser: on a phone that meant 260 KiB more and about a
second of blocked main thread on every page with a formula. The playbook's formulas are short
(a few symbols, fractions, roots, sub- and superscripts), and browsers draw MathML themselves,
so each one is converted here with latex2mathml. A page with a formula that does not convert
keeps its TeX, and MathJax is then loaded for that page as before.
"""

from __future__ import annotations

import html as htmllib
import re

from sphinx.util import logging

logger = logging.getLogger(__name__)

_INLINE = re.compile(r'<span class="math notranslate nohighlight">\\\((.*?)\\\)</span>', re.S)
_BLOCK = re.compile(
    r'<div class="math notranslate nohighlight"([^>]*)>\s*\\\[(.*?)\\\]\s*</div>', re.S
)


def _mathml(tex: str, display: str) -> str:
    from latex2mathml.converter import convert

    mathml = convert(htmllib.unescape(tex).strip(), display=display)
    # The TeX stays as the formula's annotation: copied text and assistive technology that
    # reads it get the source.
    alttext = htmllib.escape(" ".join(htmllib.unescape(tex).split()), quote=True)
    return mathml.replace(
        '<math xmlns="http://www.w3.org/1998/Math/MathML"', f'<math alttext="{alttext}"', 1
    )


def to_mathml(page: str) -> str:
    """Every formula of one rendered page as MathML; the page unchanged if any fails."""
    try:
        converted = _BLOCK.sub(
            lambda m: f'<div class="formula"{m.group(1)}>{_mathml(m.group(2), "block")}</div>',
            page,
        )
        return _INLINE.sub(lambda m: _mathml(m.group(1), "inline"), converted)
    except Exception as error:  # latex2mathml raises its own errors for unknown commands
        logger.info(f"a formula did not convert to MathML ({error}); MathJax typesets the page")
        return page


def _filter(app, page: str, context: dict) -> str:
    return to_mathml(page)
