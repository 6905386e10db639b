"""Request and response models of the serving API (pydantic v2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = float | int | str | bool | None


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where the error is, e.g. ['body', 'instances', 0, 'frequency'].")
    msg: str


class ErrorResponse(BaseModel):
    """The one error shape of the API."""

    error: str = Field(description="One line naming the bad input or the reason.")
    details: list[ErrorDetail] = Field(default_factory=list)


class PredictRequest(BaseModel):
    """Either ``instances`` (features inline) or ``customer_ids`` (features read from the latest rows)."""

    model_config = ConfigDict(extra="forbid")

    instances: list[dict[str, Scalar]] | None = Field(default=None, description="Feature rows, one per prediction.")
    customer_ids: list[int] | None = Field(default=None, description="Customer ids whose latest features are used.")

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.instances is None) == (self.customer_ids is None):
            raise ValueError("give exactly one of 'instances' or 'customer_ids'")
        if not (self.instances or self.customer_ids):
            raise ValueError("the batch is empty")
        return self


class Prediction(BaseModel):
    prediction: Any
    score: float | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    customer_id: int | None = None


class PredictResponse(BaseModel):
    model: str
    version: str
    request_id: str
    predictions: list[Prediction]


class GenericPredictResponse(BaseModel):
    """A family in its own terms (sentiment, segmentation, recommendations, forecasts): its model's output rows."""

    model: str
    version: str
    request_id: str
    predictions: list[dict[str, Any]] = Field(description="The rows the model answered, as it names their columns "
                                                          "(e.g. sentiment, p_negative, p_neutral, p_positive).")


class ModelHealth(BaseModel):
    loaded_version: str | None
    source: str | None = Field(description="'registry', or 'cache' when served from the on-disk cache.")
    registry_version: str | None
    error: str | None


class PoolHealth(BaseModel):
    size: int
    checked_out: int


class LogHealth(BaseModel):
    queue_depth: int
    dropped: int
    written: int
    last_error: str | None


class HealthResponse(BaseModel):
    status: str
    worker_pid: int = Field(description="The process that answered (with several workers, each has its own "
                                        "models, pool and prediction-log state).")
    models: dict[str, ModelHealth]
    registry_error: str | None
    pool: PoolHealth
    prediction_log: LogHealth


class ReadyResponse(BaseModel):
    ready: bool
    reasons: list[str] = Field(default_factory=list)
    not_served: list[str] = Field(default_factory=list,
                                  description="Optional families not served, e.g. 'review_sentiment: no champion "
                                              "yet' (they do not hold readiness back).")


class Product(BaseModel):
    product_sku: str
    product_name: str | None
    category: str | None
    brand: str | None
    price: float | None


class TopProduct(BaseModel):
    product_sku: str
    product_name: str | None
    category: str | None
    units: int | None
    revenue: float | None
    transactions: int


class Rule(BaseModel):
    antecedents: list[str]
    consequents: list[str]
    antecedent_names: list[str | None] | None
    consequent_names: list[str | None] | None
    support: float | None
    confidence: float | None
    lift: float | None


# --- Open Inference Protocol v2 --------------------------------------------------------------------


class V2Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class V2InferRequest(BaseModel):
    id: str | None = None
    inputs: list[V2Tensor] = Field(min_length=1)


class V2InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: list[V2Tensor]


class V2Ready(BaseModel):
    name: str | None = None
    ready: bool
