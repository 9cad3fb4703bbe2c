"""The results log keeps each benchmark's JSON line and renders it between the page's markers."""

import io
import json

from conftest import load_benchmark

results_log = load_benchmark("results_log")


def test_append_keeps_json_lines_and_passes_everything_through(tmp_path):
    log, out = tmp_path / "results.jsonl", io.StringIO()
    lines = ['{"benchmark": "world", "scenes_per_s": 3502, "ratio": {"png": 0.7}}\n', "a progress line\n"]
    assert results_log.append(lines, log, out) == 1
    assert out.getvalue() == "".join(lines)
    record = json.loads(log.read_text())
    assert record["benchmark"] == "world" and record["scenes_per_s"] == 3502 and record["date"] and record["commit"]


def test_render_writes_a_table_per_benchmark_between_the_markers(tmp_path):
    log, page = tmp_path / "results.jsonl", tmp_path / "results.md"
    rows = [
        {"date": "2026-12-01", "commit": "a", "machine": "x", "benchmark": "world", "ratio": {"png": 0.7}},
        {"date": "2026-12-06", "commit": "b", "machine": "x", "benchmark": "world", "ratio": {"png": 0.6}},
        {"date": "2026-12-06", "commit": "b", "machine": "x", "benchmark": "eval", "met": True},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    page.write_text(f"# log\nbefore\n{results_log.BEGIN}\nold\n{results_log.END}\nafter\n")
    results_log.render(log, page)
    text = page.read_text()
    assert text.startswith("# log\nbefore\n") and text.endswith("after\n") and "old" not in text
    assert (
        "### world" in text
        and "| 2026-12-06 | b | x | 0.6 |" in text
        and "| date | commit | machine | ratio.png |" in text
    )
    assert "### eval" in text and "| True |" in text
