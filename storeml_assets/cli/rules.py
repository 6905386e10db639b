"""`storeml rules`: the bundle-rule engine on a basket file, writing the rules as CSV."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from storeml_assets.bundles.rules import METRIC_COLUMNS, basket_matrix, mine_itemsets, rules_from_itemsets

FORMATS = ("basket", "long")
LONG_COLUMNS = ("order_id", "item")
NAME_SEPARATOR = " | "

err_console = Console(stderr=True)


class InputError(ValueError):
    """A bad input file or parameter, reported as one line with exit code 2."""


def read_basket_file(path: Path) -> list[list[str]]:
    """One basket per line, comma-separated item names; names trimmed, empty names and blank lines skipped."""
    baskets: list[list[str]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle, skipinitialspace=True):
            items = [name.strip() for name in row if name.strip()]
            if items:
                baskets.append(items)
    return baskets


def read_long_file(path: Path) -> pd.DataFrame:
    """CSV with header columns order_id,item as a long basket frame (basket_id, item); names trimmed."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        return pd.DataFrame({"basket_id": [], "item": []}, dtype=str)
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in LONG_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: long format needs columns order_id,item; missing {','.join(missing)}")
    frame = pd.DataFrame({"basket_id": frame["order_id"].str.strip(), "item": frame["item"].str.strip()})
    return frame[(frame["item"] != "") & (frame["basket_id"] != "")]


def _fraction(name: str, value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise InputError(f"{name} must be in (0, 1], got {value:g}")
    return value


def mine_file(
    input_path: Path,
    *,
    input_format: str,
    min_support: float,
    min_confidence: float,
    max_len: int | None,
    single_consequent: bool,
) -> tuple[pd.DataFrame, int, int]:
    """Rules from a basket file as a CSV-ready frame, with the basket and distinct item counts."""
    _fraction("--min-support", min_support)
    _fraction("--min-confidence", min_confidence)
    if max_len is not None and max_len < 1:
        raise InputError(f"--max-len must be at least 1, got {max_len}")
    if input_format not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {input_format!r}")
    if not input_path.is_file():
        raise InputError(f"input file not found: {input_path}")
    if input_path.stat().st_size == 0:
        raise InputError(f"input file is empty: {input_path}")
    try:
        baskets = read_basket_file(input_path) if input_format == "basket" else read_long_file(input_path)
    except UnicodeDecodeError as exc:
        raise InputError(f"{input_path}: not a UTF-8 text file ({exc.reason})") from exc
    except (csv.Error, pd.errors.ParserError) as exc:
        raise InputError(f"{input_path}: cannot parse as {input_format} format: {exc}") from exc
    data = basket_matrix(baskets)
    if data.n_baskets == 0:
        raise InputError(f"no baskets in {input_path} ({input_format} format)")
    itemsets = mine_itemsets(data, min_support=min_support, max_len=max_len)
    rules = rules_from_itemsets(itemsets, min_confidence=min_confidence, single_consequent=single_consequent)
    out = pd.DataFrame(
        {
            "antecedents": [NAME_SEPARATOR.join(map(str, a)) for a in rules["antecedents"]],
            "consequents": [NAME_SEPARATOR.join(map(str, c)) for c in rules["consequents"]],
        }
    )
    for metric in METRIC_COLUMNS:
        out[metric] = rules[metric].to_numpy(dtype=float)
    return out, data.n_baskets, len(data.items)


def rules_command(
    input_path: Annotated[Path, typer.Option("--input", help="Basket file to mine.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", help="CSV file the rules are written to.")],
    min_support: Annotated[
        float, typer.Option("--min-support", help="Minimum itemset support, in (0, 1].", show_default=False)
    ],
    min_confidence: Annotated[
        float,
        typer.Option("--min-confidence", help="Minimum rule confidence, in (0, 1].", show_default=False),
    ],
    input_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="basket: one basket per line, comma-separated item names; long: CSV with columns order_id,item.",
        ),
    ] = "basket",
    max_len: Annotated[
        int | None, typer.Option("--max-len", help="Longest itemset considered (default: no limit).")
    ] = None,
    single_consequent: Annotated[
        bool, typer.Option("--single-consequent", help="Keep only rules with a one-item consequent.")
    ] = False,
) -> None:
    """Mine association rules (mlxtend semantics) from a basket file into a CSV."""
    start = time.perf_counter()
    try:
        rules, n_baskets, n_items = mine_file(
            input_path,
            input_format=input_format,
            min_support=min_support,
            min_confidence=min_confidence,
            max_len=max_len,
            single_consequent=single_consequent,
        )
        rules.to_csv(output, index=False)
    except (InputError, OSError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    seconds = time.perf_counter() - start
    err_console.print(
        f"[bold]rules[/]: {n_baskets:,} baskets, {n_items:,} items, "
        f"{len(rules):,} rules written to {output} in {seconds:.2f} s",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add the `rules` command to ``app``."""
    app.command("rules")(rules_command)
