"""`storeml run` on a real-looking storefront that has only users, products, orders and order items.

Text ids, guest orders, cancellations, returns, odd names and a history that ended a year ago, in
external databases: the run completes with bundle rules and a purchase-propensity model, every
optional table is extracted empty (nothing fails for lack of carts, reviews or payments), and each
purpose the data cannot support is a clear "skipped" line.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest

from storeml_assets.db.admin import create_database
from storeml_assets.settings import DATABASE_URL_ENV
from storeml_assets_tests.cli.invoke import run_subprocess
from storeml_assets_tests.run.storefront import load_storefront


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def external(isolated_env: dict[str, str], pg_server_url: str, tmp_path: Path) -> dict[str, str]:
    """The storefront's own databases (auth, product, storefront); the cart and promotion services are
    absent, so their URLs point at the storefront's database, which has none of their tables."""
    for database in ("auth_db", "product_db", "storefront_db"):
        create_database(pg_server_url, isolated_env[database].rsplit("/", 1)[1])
    urls = dict(isolated_env)
    urls["cart_db"] = urls["promotion_db"] = urls["storefront_db"]
    return urls


@pytest.mark.slow
def test_run_on_a_storefront_with_only_users_products_and_orders(external: dict[str, str], tmp_path: Path) -> None:
    store = load_storefront(external)
    env = {DATABASE_URL_ENV[db]: url for db, url in external.items()}
    env |= {"STOREML_HOME": str(tmp_path / "home"), "STOREML_SOURCE_MODE": "external", "STOREML_AUTOMATION": "false"}

    doctor = run_subprocess(["doctor"], env, timeout=300)
    assert doctor.code == 0, doctor.stdout + doctor.stderr
    assert "skipped: reviews is missing" in doctor.stdout.replace("\n", " ")

    result = run_subprocess(["run", "--json"], env, timeout=1800)
    report = json.loads(result.stdout)
    assert result.code == 0, (report["error"], report["failed_checks"], result.stderr[-3000:])
    assert report["success"] and not report["failed_checks"]
    families = {f["family"]: f for f in report["families"]}
    assert families["purchase_propensity"]["status"] == "trained", families
    # every purpose whose table the storefront lacks is skipped, with the table and the reason
    skipped: list[str] = report["skipped"]
    assert any(line.startswith("reviews has 0 rows < ") for line in skipped), skipped
    assert any(line.startswith("user_interactions has 0 rows < ") for line in skipped), skipped
    for family in families.values():
        assert family["status"] in {"trained", "skipped"}, family
        if family["status"] == "skipped":
            assert " < " in family["reason"] or "missing" in family["reason"], family

    storeml = external["storeml"]
    # every order is inside the partitions (their start comes from the data): nothing dropped, guests kept
    assert _rows(storeml, "select count(*), count(*) filter (where user_id is null) from raw.orders")[0] == (
        store.orders, store.guest_orders)
    # text ids became stable integers, the text of each key kept beside it
    assert _rows(storeml, "select count(distinct user_id), min(user_id_text) from raw.users")[0] == (400, "cust-00001")
    joined = "select count(*) from raw.orders o join raw.users u using (user_id)"
    assert _rows(storeml, joined)[0][0] == store.orders - store.guest_orders
    # optional tables are there, empty: nothing downstream failed for lack of them
    assert _rows(storeml, "select count(*) from raw.reviews")[0][0] == 0
    assert _rows(storeml, "select count(*) from raw.carts")[0][0] == 0
    # without a payments table, an order not cancelled is a transaction; a cancelled one is not
    lines = _rows(storeml, "select count(*) from warehouse.transactions")[0][0]
    assert lines == store.orders - store.cancelled_orders
    # the planted bundles are found
    rules = _rows(storeml, "select antecedents[1], consequents[1] from warehouse.bundle_rules "
                           "where lift >= 2 and cardinality(antecedents) = 1 and cardinality(consequents) = 1")
    found = set(rules)
    for left, right in store.bundles:
        assert (left, right) in found or (right, left) in found, (left, right, sorted(found)[:10])
    versions = _rows(storeml, "select count(*) from mlops.model_versions where model_name = 'purchase_propensity'")
    assert versions == [(1,)]

    # a selection, as a person reads it: only the marts stage runs, and the summary shows the rules
    marts = run_subprocess(["run", "--select", "bundles"], env, timeout=900)
    assert marts.code == 0, marts.output[-3000:]
    assert "marts: top products, bundle rules" in marts.stdout
    assert "sources: event partitions" not in marts.stdout and "every model family" not in marts.stdout
    assert "top bundle rules by lift" in marts.stdout and "wall time per stage" in marts.stdout
    assert marts.stderr == ""
