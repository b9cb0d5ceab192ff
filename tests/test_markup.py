"""Staff markup: checked on load, escaped and rendered per channel."""

from __future__ import annotations

from bot import markup


def test_html_escapes_everything_but_the_markup() -> None:
    text = '**Call 112** <script>&\n- see [STIB](https://www.stib-mivb.be?a=1&b="2")'
    assert markup.render_html(text) == (
        '<b>Call 112</b> &lt;script&gt;&amp;\n• see <a href="https://www.stib-mivb.be?a=1&amp;b=&quot;2&quot;">STIB</a>'
    )


def test_plain_rendering_and_strip() -> None:
    text = "**Bold** and [site](https://be.brussels)\n- item"
    assert markup.render_plain(text) == "Bold and site (https://be.brussels)\n• item"
    assert markup.strip(text) == "Bold and site\n• item"


def test_rtl_lines_start_with_a_right_to_left_mark() -> None:
    rendered = markup.render_html("112 أولا\n\nثانيا", rtl=True)
    assert rendered.split("\n") == ["\u200f112 أولا", "", "\u200fثانيا"]


def test_check_reports_the_line_of_each_mistake() -> None:
    problems = markup.check("fine line\n**unclosed bold\n[site](http://insecure.example)")
    assert [(p.line, p.reason.split(" ")[0]) for p in problems] == [(2, "'**'"), (3, "link")]


def test_non_https_links_are_not_rendered_as_links() -> None:
    assert "<a" not in markup.render_html("[x](javascript:alert(1))")


def test_split_for_limit_cuts_at_line_ends() -> None:
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(200))
    chunks = markup.split_for_limit(text, 4096)
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert "\n".join(chunks) == text
    huge = "word " * 2000
    assert all(len(chunk) <= 4096 for chunk in markup.split_for_limit(huge, 4096))
