"""The console's pure presentation helpers: issues placed on lines and cells, plans and diffs in words."""

from __future__ import annotations

from api.console.present import describe_location, diff_lines, plan_rows, progress, source_lines
from shared.share_pack_file import Issue


def test_issues_land_on_their_lines_and_out_of_range_lines_are_ignored() -> None:
    lines = source_lines(
        "a: 1\nb: 2\nc: 3\n",
        errors=[Issue("b", "bad b", {"line": 2, "column": 1}), Issue("z", "nowhere", {"line": 99})],
        warnings=[Issue("c", "odd c", {"line": 3})],
    )
    assert [(line.number, line.errors, line.warnings) for line in lines] == [
        (1, [], []), (2, ["bad b"], []), (3, [], ["odd c"]),
    ]


def test_locations_read_as_words() -> None:
    assert describe_location(Issue("p", "m", {"sheet": "Recipients", "row": 4, "column": "type"})) == (
        "sheet Recipients, row 4, column type"
    )
    assert describe_location(Issue("p", "m", {"line": 7, "column": 3})) == "line 7, column 3"
    assert describe_location(Issue("p", "m")) == ""


def test_plan_rows_follow_the_step_order_not_the_stored_key_order() -> None:
    plan = {
        "strategy": "NEW",
        "steps": {
            "grants": [{"entity": "grant", "action": "grant", "name": "r1", "share": "s1"}],
            "recipients": [
                {"entity": "recipient", "action": "update", "name": "r1",
                 "old": {"comment": "a"}, "new": {"comment": "b"}},
            ],
            "data_objects": [{"entity": "data_object", "action": "remove", "name": "c.s.t", "share": "s1"}],
        },
    }
    rows = plan_rows(plan)
    assert [(row.section, row.kind) for row in rows] == [
        ("recipients", "change"), ("data_objects", "remove"), ("grants", "create"),
    ]
    assert rows[0].text == "update recipient r1: comment 'a' → 'b'"
    assert plan_rows(None) == []


def test_progress_reads_the_step_out_of_the_status_text() -> None:
    assert progress("IN_PROGRESS", "Step 3/8: Provisioning recipients", None).step == 3
    assert progress("IN_PROGRESS", "Queued for provisioning", None).step == 0
    assert progress("FAILED", "Step 5/8: Adding data objects", "PERMISSION_DENIED").is_final


def test_diff_lines_mark_what_changed() -> None:
    kinds = [(line.kind, line.text) for line in diff_lines("a\nb\nc", "a\nB\nc") if line.kind != "hunk"]
    assert kinds == [("context", "a"), ("remove", "b"), ("add", "B"), ("context", "c")]
