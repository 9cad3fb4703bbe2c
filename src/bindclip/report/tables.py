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
    return text_table(*comparison_rows(results), markdown=markdown)


def text_table(header: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    """Rows as aligned text (first column left, the rest right), or as a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]) + "\n"


def interval(m: dict, digits: int = 1) -> str:
    """ "mean [lo, hi]" from a study's {"mean", "lo", "hi"}."""
    if m.get("lo") is None:
        return f"{m['mean']:.{digits}f}"
    return f"{m['mean']:.{digits}f} [{m['lo']:.{digits}f}, {m['hi']:.{digits}f}]"


def study_rows(doc: dict, budget: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of one budget of a study: a row per variant; the headline metric's mean with its
    95 % interval, per-seed values and paired difference from the first variant, the learned rate
    with its Wilson interval, and the other metrics' means with intervals."""
    head, *others = doc["metrics"]
    learned = doc.get("learned_at")
    first = next(iter(doc["variants"]))
    header = ["variant", f"{head} (95% CI)", "per seed", f"minus {first} (paired)"]
    header += [f"learned (>= {learned:g})"] if learned is not None else []
    header += [f"{m} (95% CI)" for m in others]
    rows = [pretrained_row(doc, len(header))] if "pretrained" in doc else []
    for name, row in doc["summary"][budget].items():
        m = row["metrics"]
        cells = [name, interval(m[head]), " ".join(f"{v:g}" for v in m[head]["per_seed"])]
        cells.append(interval(row["difference"]) if "difference" in row else "-")
        if learned is not None:
            r = row["learned"]
            cells.append(f"{r['k']}/{r['n']} [{r['lo']:.2f}, {r['hi']:.2f}]")
        cells += [interval(m[o]) for o in others]
        rows.append(cells)
    return header, rows


def pretrained_row(doc: dict, width: int) -> list[str]:
    """A fine-tune study's starting point as a row of its budget table: one model, so no interval."""
    head, *others = doc["metrics"]
    acc = doc["pretrained"]["accuracy"]
    return [
        "pretrained",
        f"{acc[head]:.1f}",
        "",
        "-",
        *[""] * (width - 4 - len(others)),
        *[f"{acc[o]:.1f}" for o in others],
    ]


def change_rows(doc: dict, budget: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows): every variant's change from the pretrained model on every metric, points, paired
    by seed, with its 95 % interval: what the fine-tune gained and what it cost."""
    header = ["variant", *[f"{m} change" for m in doc["metrics"]]]
    rows = [
        [name, *[interval(row["change"][m]) for m in doc["metrics"]]] for name, row in doc["summary"][budget].items()
    ]
    return header, rows


def claim_rows(doc: dict, budget: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows): each paper's claim, the measured paired difference with its interval, the verdict."""
    header = ["claim", "measured", "difference, points (95% CI)", "verdict"]
    rows = [
        [c["claim"], f"{c['variant']} minus {c['reference']}, {c['metric']}", interval(c["difference"]), c["verdict"]]
        for c in doc["claims"][budget]
    ]
    return header, rows


def sweep_rows(doc: dict, sw: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows): a sweep's figures per variant and value, the default marked."""
    header = ["variant", sw["key"], *[f"{m} (95% CI)" for m in doc["metrics"]]]
    rows = []
    for name, by_value in sw["summary"].items():
        for value, m in by_value.items():
            mark = " (default)" if float(value) == sw["default"] else ""
            rows.append([name, value + mark, *[interval(m[k]) for k in doc["metrics"]]])
    return header, rows


def sweep_title(sw: dict) -> str:
    return f"sweep of {sw['key']} at budget {sw['budget']} ({sw['seeds']} seeds)"


def study_sections(doc: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table a study has: per budget its table, and for a fine-tune study
    the changes from the pretrained model and the claims; then the sweeps."""
    out = []
    for budget in doc["budgets"]:
        title = budget_title(doc, budget)
        out.append((title, *study_rows(doc, budget)))
        if "pretrained" in doc:
            out.append((f"{title}: change from the pretrained model", *change_rows(doc, budget)))
        if doc.get("claims"):
            out.append((f"{title}: the papers' claims", *claim_rows(doc, budget)))
    for sw in doc.get("sweeps", []):
        out.append((sweep_title(sw), *sweep_rows(doc, sw)))
    return out


def budget_title(doc: dict, budget: str) -> str:
    """What one budget of a study ran: steps, batch, seeds, items per test."""
    runs = [r for r in doc["runs"] if r["budget"] == budget]
    seeds = len({r["seed"] for r in runs})
    return (
        f"budget {budget} ({runs[0]['steps']} steps x batch {runs[0]['batch_size']}, {seeds} seeds, "
        f"{doc['world_n']} items per test)"
    )


def study_table(doc: dict, markdown: bool = False) -> str:
    """Every budget of a study: its settings, then its table."""
    parts = []
    for title, header, rows in study_sections(doc):
        title = f"{doc['study']}, {title}"
        parts.append((f"**{title}**" if markdown else title) + "\n\n" + text_table(header, rows, markdown=markdown))
    return "\n".join(parts)


def verdict_rows(models: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a `bindclip diagnose` document's models: a row per model, its verdict and each
    kind's held-out accuracy in % with its 95 % interval over items and its state."""
    kinds = list(dict.fromkeys(k for m in models.values() for k in m["verdict"]["kinds"]))
    tests = {k: v["test"] for m in models.values() for k, v in m["verdict"]["kinds"].items()}
    header = ["model", "verdict", *[f"{k}: {tests[k]}" for k in kinds]]
    rows = []
    for name, m in models.items():
        cells = []
        for k in kinds:
            v = m["verdict"]["kinds"].get(k)
            cells.append(
                f"{100 * v['accuracy']:.1f} [{100 * v['lo']:.1f}, {100 * v['hi']:.1f}] {v['state']}" if v else ""
            )
        rows.append([name, m["verdict"]["summary"], *cells])
    return header, rows
