"""The Open Inference Protocol v2 paths (KServe/Seldon): health, model readiness, infer.

``infer`` takes one input tensor per signature column (shape ``[n]``, same ``n`` for all) and
answers a ``predictions`` tensor (predicted class) and, for classifiers, a ``confidence`` tensor.
A family in its own terms (an ``mlflow.pyfunc`` champion) takes one tensor per input column of its
model and answers one tensor per column of its model's output rows.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response, status

from storeml_assets.serving.deps import State, require_token
from storeml_assets.serving.errors import ApiError
from storeml_assets.serving.routers.predict import ERRORS, predict_generic, predict_rows, served
from storeml_assets.serving.schemas import V2InferRequest, V2InferResponse, V2Ready, V2Tensor

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"])


@router.get("/health/live", response_model=V2Ready)
def live() -> V2Ready:
    return V2Ready(ready=True)


@router.get("/health/ready", response_model=V2Ready, responses={503: {"model": V2Ready}})
def server_ready(state: State, response: Response) -> V2Ready:
    ok, _ = state.champions.ready()
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return V2Ready(ready=ok)


@router.get("/models/{name}/ready", response_model=V2Ready, responses={404: {}, 503: {"model": V2Ready}})
def model_ready(name: str, state: State, response: Response) -> V2Ready:
    served(state, name)
    ok = state.champions.get(name) is not None
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return V2Ready(name=name, ready=ok)


@router.post("/models/{name}/infer", response_model=V2InferResponse, responses=ERRORS,
             dependencies=[Depends(require_token)])
async def infer(name: str, body: V2InferRequest, state: State) -> V2InferResponse:
    family = served(state, name)
    columns: dict[str, list[Any]] = {}
    for index, tensor in enumerate(body.inputs):
        if family.flavor == "sklearn" and tensor.name not in family.signature:
            raise ApiError(422, f"inputs[{index}].name: unknown input {tensor.name!r}", loc=["body", "inputs", index, "name"])
        if len(tensor.shape) != 1 or tensor.shape[0] != len(tensor.data):
            raise ApiError(422, f"inputs[{index}].shape: must be [len(data)] = [{len(tensor.data)}]",
                           loc=["body", "inputs", index, "shape"])
        columns[tensor.name] = tensor.data
    missing = [c for c in family.signature if c not in columns]
    if missing:
        raise ApiError(422, f"inputs: missing input {missing[0]!r}", loc=["body", "inputs"])
    sizes = {len(v) for v in columns.values()}
    if len(sizes) != 1:
        raise ApiError(422, "inputs: every input must have the same length", loc=["body", "inputs"])
    size = sizes.pop()
    if size > state.config.max_instances:
        raise ApiError(422, f"inputs: at most {state.config.max_instances} rows, got {size}", loc=["body", "inputs"])
    request_id = body.id or uuid.uuid4().hex
    if family.flavor == "pyfunc":
        answered = await predict_generic(state, family, [{c: v[i] for c, v in columns.items()} for i in range(size)],
                                         request_id=request_id)
        names = list(dict.fromkeys(key for row in answered.predictions for key in row))
        tensors = []
        for column in names:
            values = [row.get(column) for row in answered.predictions]
            tensors.append(V2Tensor(name=column, shape=[len(values)], datatype=_datatype(values), data=values))
        return V2InferResponse(model_name=name, model_version=answered.version, id=request_id, outputs=tensors)
    rows = [{c: columns[c][i] for c in family.signature} for i in range(size)]
    result = await predict_rows(state, family, rows, request_id=request_id)
    predictions = [p.prediction for p in result.predictions]
    outputs = [V2Tensor(name="predictions", shape=[size], datatype=_datatype(predictions), data=predictions)]
    if all(p.confidence is not None for p in result.predictions):
        outputs.append(V2Tensor(name="confidence", shape=[size], datatype="FP64",
                                data=[p.confidence for p in result.predictions]))
    return V2InferResponse(model_name=name, model_version=result.version, id=request_id, outputs=outputs)


def _datatype(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"
