"""study.md escapes every text it renders (issue 27: a spec's title went in as raw HTML)."""

from __future__ import annotations

from safebench.studies.tables import Table, markdown

HOSTILE = "<script>alert(1)</script> & <b>bold</b>"


def test_titles_names_values_and_notes_are_escaped() -> None:
    table = Table(
        title=f"ASR by {HOSTILE}",
        columns=["model", "<img src=x onerror=alert(1)>"],
        rows=[["evil|model\nnext", "1.0 <i>"]],
        note=f"note {HOSTILE}",
    )
    md = markdown(f"Study {HOSTILE}", [table], [f"Cell x: failed ({HOSTILE})."])
    assert "<" not in md and ">" not in md, md
    assert md.startswith("# Study &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold")
    assert "| model | &lt;img src=x onerror=alert(1)&gt; |" in md
    # A pipe cannot split the cell, a newline cannot end the row.
    assert "| evil\\|model next | 1.0 &lt;i&gt; |" in md
    assert "Cell x: failed (&lt;script&gt;" in md
    assert "note &lt;script&gt;" in md
