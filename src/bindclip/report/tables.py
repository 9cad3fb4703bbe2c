"""Results as tables: a column per model, a row per benchmark split, the papers' numbers beside them."""

from __future__ import annotations

from .paper import PAPER


def headline(result: dict) -> str:
    if "accuracy" in result:
        return f"{100 * result['accuracy']:.1f}"
    if "text_to_image" in result:
        return f"{100 * result['text_to_image']['r@1']:.1f}/{100 * result['image_to_text']['r@1']:.1f}"
    return "-"


def comparison_rows(results: dict[str, dict[str, dict]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): rows benchmark/split, a column per model (accuracy %, retrieval R@1 t2i/i2t), then
    the papers' numbers where they report the same benchmark."""
    models = list(results)
    keys = list(dict.fromkeys(k for r in results.values() for k in r))
    paper_cols = list(dict.fromkeys(m for k in keys for m in PAPER.get(k, {})))
    header = ["benchmark/split", "n", "skipped", *models, *[f"paper: {p}" for p in paper_cols]]
    rows = []
    for k in keys:
        runs = [r[k] for r in results.values() if k in r]
        row = [k] + ["/".join(dict.fromkeys(str(r[f]) for r in runs)) for f in ("n", "skipped")]
        row += [headline(results[m][k]) if k in results[m] else "" for m in models]
        row += [f"{PAPER[k][p]:.1f}" if p in PAPER.get(k, {}) else "" for p in paper_cols]
        rows.append(row)
    return header, rows


def comparison_table(results: dict[str, dict[str, dict]], markdown: bool = False) -> str:
    """comparison_rows as aligned text, or as a Markdown table."""
    header, rows = comparison_rows(results)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]) + "\n"
