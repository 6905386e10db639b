"""`storeml rules` through typer's CliRunner on a fresh app that the bundles CLI registers on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from mlxtend.frequent_patterns import apriori, association_rules
from typer.testing import CliRunner

from storeml_assets.bundles.rules import METRIC_COLUMNS
from storeml_assets.cli.rules import register

BASKETS = [
    "bread, butter, jam",
    "bread,butter",
    " milk , bread ,, ",
    "butter, jam, bread",
    "",
    "milk",
    "jam,bread,butter,butter",
]
EXPECTED_COLUMNS = ["antecedents", "consequents", *METRIC_COLUMNS]


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A fresh app, as the storeml CLI is."""

    register(app)
    return app


def run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["rules", *args])


def mlxtend_rules(baskets: list[list[str]], min_support: float, min_confidence: float) -> pd.DataFrame:
    items = sorted({i for b in baskets for i in b})
    onehot = pd.DataFrame([[i in b for i in items] for b in baskets], columns=items)
    found = association_rules(
        apriori(onehot, min_support=min_support, use_colnames=True),
        metric="confidence",
        min_threshold=min_confidence,
    )
    found["antecedents"] = [" | ".join(sorted(a)) for a in found["antecedents"]]
    found["consequents"] = [" | ".join(sorted(c)) for c in found["consequents"]]
    return found


def assert_same_rules(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.set_index(["antecedents", "consequents"]).sort_index()
    want = want.set_index(["antecedents", "consequents"]).sort_index()[list(METRIC_COLUMNS)]
    assert list(got.index) == list(want.index)
    np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=0, atol=1e-9)


def test_basket_format(app: typer.Typer, tmp_path: Path) -> None:
    source = tmp_path / "baskets.txt"
    source.write_text("\n".join(BASKETS) + "\n")
    output = tmp_path / "rules.csv"
    result = run(app, "--input", str(source), "--format", "basket", "--min-support", "0.3",
                 "--min-confidence", "0.6", "--output", str(output))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "6 baskets" in result.output and "4 items" in result.output
    rules = pd.read_csv(output)
    assert list(rules.columns) == EXPECTED_COLUMNS
    assert "bread | butter" in set(rules["antecedents"]) and "bread | jam" in set(rules["consequents"])
    parsed = [[n.strip() for n in line.split(",") if n.strip()] for line in BASKETS]
    assert_same_rules(rules, mlxtend_rules([b for b in parsed if b], 0.3, 0.6))
    jam = rules[(rules["antecedents"] == "jam") & (rules["consequents"] == "bread | butter")]
    assert jam["confidence"].item() == 1.0 and jam["conviction"].item() == np.inf
    assert jam["support"].item() == pytest.approx(3 / 6)


def test_long_format_and_options(app: typer.Typer, tmp_path: Path) -> None:
    rows = [
        (order, item.strip())
        for order, line in enumerate(BASKETS)
        for item in line.split(",")
        if item.strip()
    ]
    source = tmp_path / "lines.csv"
    pd.DataFrame(rows, columns=["order_id", "item"]).to_csv(source, index=False)
    output = tmp_path / "rules.csv"
    common = ["--input", str(source), "--format", "long", "--min-support", "0.3", "--min-confidence", "0.6",
              "--output", str(output)]  # fmt: skip
    assert run(app, *common).exit_code == 0
    full = pd.read_csv(output)
    assert (full["consequents"].str.contains(" | ", regex=False)).any()

    result = run(app, *common, "--single-consequent", "--max-len", "2")
    assert result.exit_code == 0, result.output
    limited = pd.read_csv(output)
    assert list(limited.columns) == EXPECTED_COLUMNS
    assert not limited["consequents"].str.contains("|", regex=False).any()
    assert not limited["antecedents"].str.contains("|", regex=False).any()
    expected = full[
        ~full["consequents"].str.contains("|", regex=False)
        & ~full["antecedents"].str.contains("|", regex=False)
    ]
    assert_same_rules(limited, expected.reset_index(drop=True).rename(columns={}))


def test_no_rules_writes_header_only(app: typer.Typer, tmp_path: Path) -> None:
    source = tmp_path / "baskets.txt"
    source.write_text("a,b\nc,d\n")
    output = tmp_path / "rules.csv"
    result = run(app, "--input", str(source), "--min-support", "0.9", "--min-confidence", "0.5",
                 "--output", str(output))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert output.read_text().strip().split(",") == EXPECTED_COLUMNS


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "input file not found"),
        ("", [], "input file is empty"),
        ("\n , ,\n\n", [], "no baskets"),
        ("order_id,item\n", ["--format", "long"], "no baskets"),
        ("order,product\n1,a\n", ["--format", "long"], "order_id,item"),
        ("a,b\n", ["--min-support", "0"], "--min-support must be in (0, 1]"),
        ("a,b\n", ["--min-support", "1.5"], "--min-support must be in (0, 1]"),
        ("a,b\n", ["--min-confidence", "0"], "--min-confidence must be in (0, 1]"),
        ("a,b\n", ["--min-confidence", "1.5"], "--min-confidence must be in (0, 1]"),
        ("a,b\n", ["--format", "xml"], "--format must be one of basket, long"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    app: typer.Typer, tmp_path: Path, content: str | None, args: list[str], message: str
) -> None:
    source = tmp_path / "input.txt"
    if content is not None:
        source.write_text(content)
    output = tmp_path / "rules.csv"
    defaults = {"--min-support": "0.1", "--min-confidence": "0.5", "--format": "basket"}
    options = dict(defaults, **dict(zip(args[::2], args[1::2], strict=True)))
    flat = [part for pair in options.items() for part in pair]
    result = run(app, "--input", str(source), *flat, "--output", str(output))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and message in lines[0]
    assert not output.exists()
