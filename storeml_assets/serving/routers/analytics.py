"""The warehouse and bundle-rule tables: ``/v1/products``, ``/v1/analytics/top-products``, ``/v1/rules``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.engine import Connection

from storeml_assets.serving import database
from storeml_assets.serving.deps import Pool
from storeml_assets.serving.errors import ApiError
from storeml_assets.serving.schemas import ErrorResponse, Product, Rule, TopProduct

router = APIRouter(prefix="/v1", tags=["analytics"], responses={503: {"model": ErrorResponse}})


def _read(pool: Any, work: Callable[[Connection], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    try:
        return database.with_connection(pool, work)
    except database.DatabaseUnavailableError as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": str(database.RETRY_AFTER_SECONDS)}) from None
    except database.TableMissingError as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": str(database.RETRY_AFTER_SECONDS)}) from None


@router.get("/products", response_model=list[Product])
def products(
    pool: Pool,
    category: Annotated[str | None, Query(max_length=200, description="Only this category.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Products of the warehouse, by SKU."""
    return _read(pool, lambda conn: database.products(conn, category=category, limit=limit, offset=offset))


@router.get("/analytics/top-products", response_model=list[TopProduct])
def top_products(pool: Pool, limit: Annotated[int, Query(ge=1, le=1000)] = 10) -> list[dict[str, Any]]:
    """Best-selling products by revenue (units and transactions beside)."""
    return _read(pool, lambda conn: database.top_products(conn, limit=limit))


@router.get("/rules", response_model=list[Rule])
def rules(
    pool: Pool,
    antecedent: Annotated[str | None, Query(max_length=200, description="Rules whose antecedents hold this SKU.")] = None,
    min_lift: Annotated[float, Query(ge=0, le=1e9, allow_inf_nan=False)] = 0.0,
    min_confidence: Annotated[float, Query(ge=0, le=1, allow_inf_nan=False)] = 0.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    """Bundle rules, strongest lift first."""
    return _read(pool, lambda conn: database.bundle_rules(
        conn, antecedent=antecedent, min_lift=min_lift, min_confidence=min_confidence, limit=limit))
