"""The serving API serves a family in its own terms: a review-sentiment ``mlflow.pyfunc`` champion, trained
here on a few hundred reviews, answers texts with classes and probabilities over HTTP; its absence holds no
readiness back; bad payloads get a 422 naming the field; its predictions reach the prediction log; a
champion that cannot be loaded is reported without holding readiness back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from storeml_assets.ml.mlflow_resource import model_requirements
from storeml_assets.segmentation.family import NAME as SEGMENTATION
from storeml_assets.sentiment.family import NAME as SENTIMENT
from storeml_assets.sentiment.model import CLASSES, SentimentModel, rating_to_class
from storeml_assets.sentiment.text import review_texts
from storeml_assets_tests.serving.conftest import FAMILY, Stack, wait_for

pytestmark = pytest.mark.slow  # trains three models, runs MLflow's migrations, starts a server (~1 min)

WORDS = {
    1: ["terrible", "broke", "awful", "refund", "disappointed", "useless"],
    3: ["okay", "average", "fine", "decent", "mediocre", "acceptable"],
    5: ["excellent", "love", "perfect", "great", "wonderful", "recommend"],
}
FILLER = ["the", "product", "arrived", "box", "color", "size", "it", "was", "really", "this"]


def reviews(count: int, seed: int) -> pd.DataFrame:
    """Reviews whose words tell their star rating (1, 3 or 5), among filler words."""
    rng = np.random.default_rng(seed)
    ratings = rng.choice([1, 3, 5], size=count)
    titles, bodies = [], []
    for rating in ratings:
        words = rng.choice(WORDS[int(rating)], size=3).tolist() + rng.choice(FILLER, size=5).tolist()
        rng.shuffle(words)
        titles.append(str(rng.choice(WORDS[int(rating)])))
        bodies.append(" ".join(words))
    return pd.DataFrame({"title": titles, "body": bodies, "rating": ratings})


def register_sentiment_champion(stack: Stack) -> str:
    """A fitted sentiment model logged as ``mlflow.pyfunc`` with its input example, registered and promoted."""
    frame = reviews(300, seed=7)
    model = SentimentModel().fit(review_texts(frame), rating_to_class(frame["rating"].to_numpy()), seed=7)
    with stack.tracking.start_run(None, run_name="serving-sentiment"):
        info = mlflow.pyfunc.log_model(name="model", python_model=model, input_example=frame[["title", "body"]].head(3),
                                       pip_requirements=model_requirements())
        version = stack.tracking.register(info.model_uri, SENTIMENT)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    stack.tracking.promote(SENTIMENT, version)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # back to the default (the stubs omit None)
    return version


def predict(stack: Stack, payload: object) -> httpx.Response:
    return httpx.post(f"{stack.base}/v1/models/{SENTIMENT}/predict", json=payload, timeout=30)


def loaded_version(stack: Stack, family: str) -> str | None:
    version: str | None = httpx.get(stack.base + "/health").json()["models"][family]["loaded_version"]
    return version


@pytest.fixture(scope="module")
def served(stack: Stack) -> Iterator[Stack]:
    """The server up with a purchase-propensity champion and no champion of the other families."""
    stack.promote(stack.versions[0])
    stack.start()
    wait_for(stack.ready, 60, "readiness with no sentiment champion")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def sentiment_version(served: Stack) -> str:
    """The sentiment champion registered while the server runs, once it is loaded (hot reload)."""
    version = register_sentiment_champion(served)
    wait_for(lambda: loaded_version(served, SENTIMENT) == version, 60, "the sentiment champion to load")
    return version


def test_a_family_without_champion_is_reported_and_holds_no_readiness_back(served: Stack) -> None:
    stack = served
    ready = httpx.get(stack.base + "/ready").json()
    assert f"{SENTIMENT}: no champion yet" in ready["not_served"], ready
    health = httpx.get(stack.base + "/health").json()
    assert health["models"][SENTIMENT]["error"] == "no champion yet"
    assert health["models"][FAMILY]["loaded_version"] == stack.versions[0]
    before = predict(stack, {"instances": [{"title": "great", "body": "love it"}]})
    assert before.status_code == 503 and "no champion yet" in before.json()["error"]


def test_sentiment_champion_is_served_in_its_own_terms(served: Stack, sentiment_version: str) -> None:
    stack, version = served, sentiment_version
    assert httpx.get(stack.base + "/ready").json() == {"ready": True, "reasons": [], "not_served": [
        f"{name}: no champion yet" for name in ("recommendations", "demand_forecast", "customer_segmentation")]}

    texts = [{"title": "excellent", "body": "i love it, perfect and great, would recommend"},
             {"title": "terrible", "body": "it broke, awful and useless, i want a refund"},
             {"title": "okay", "body": "average product, fine and decent"}]
    answer = predict(stack, {"instances": texts})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model"], body["version"]) == (SENTIMENT, version)
    rows = body["predictions"]
    assert [row["sentiment"] for row in rows] == ["positive", "negative", "neutral"]
    for row in rows:
        probabilities = [row[f"p_{c}"] for c in CLASSES]
        assert sum(probabilities) == pytest.approx(1.0)
        assert row[f"p_{row['sentiment']}"] == max(probabilities)

    infer = httpx.post(f"{stack.base}/v2/models/{SENTIMENT}/infer", timeout=30, json={"inputs": [
        {"name": "title", "shape": [1], "datatype": "BYTES", "data": [texts[1]["title"]]},
        {"name": "body", "shape": [1], "datatype": "BYTES", "data": [texts[1]["body"]]}]})
    assert infer.status_code == 200, infer.text
    outputs = {tensor["name"]: tensor["data"] for tensor in infer.json()["outputs"]}
    assert outputs["sentiment"] == ["negative"]
    assert set(outputs) == {"sentiment", *(f"p_{c}" for c in CLASSES)}

    wait_for(lambda: stack.storeml_query(
        "select count(*) from mlops.v_predictions where request_id = %s", (body["request_id"],))[0][0] == 3, 30,
        "the sentiment predictions in the prediction log")
    logged = stack.storeml_query("select family, model_version, input ->> 'title', output ->> 'sentiment' "
                                 "from mlops.v_predictions where request_id = %s order by 3", (body["request_id"],))
    assert logged == [(SENTIMENT, version, "excellent", "positive"), (SENTIMENT, version, "okay", "neutral"),
                      (SENTIMENT, version, "terrible", "negative")]


@pytest.mark.parametrize(("instance", "message"), [
    ({"title": "great"}, "instances[0].body: field required: 'body'"),
    ({"title": 3, "body": "fine"}, "instances[0].title: must be a string"),
    ({"title": "great", "body": "fine", "stars": 5}, "instances[0].stars: unknown field 'stars' (expected: body, title)"),
    ({"title": "great", "body": "f\u0000ne"}, "instances[0].body: must not contain a NUL character"),
])
def test_a_bad_sentiment_payload_gets_a_422_naming_the_field(served: Stack, sentiment_version: str,
                                                             instance: dict[str, object], message: str) -> None:
    answer = predict(served, {"instances": [{"title": "fine", "body": "okay"}, instance]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == message.replace("[0]", "[1]")


def test_customer_ids_are_refused_for_an_inline_only_family(served: Stack, sentiment_version: str) -> None:
    answer = predict(served, {"customer_ids": [1]})
    assert answer.status_code == 422
    assert answer.json()["error"] == f"customer_ids: family {SENTIMENT!r} predicts from inline instances only"


def test_a_champion_that_cannot_load_is_reported_without_holding_readiness_back(served: Stack,
                                                                                 tmp_path: Path) -> None:
    """A segmentation champion whose MLmodel has no python_function flavor: listed in /ready's reasons and
    /health, the service stays ready."""
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    client = served.tracking.client()
    client.create_registered_model(SEGMENTATION)
    version = str(client.create_model_version(SEGMENTATION, source=str(broken)).version)
    served.tracking.promote(SEGMENTATION, version)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    wait_for(lambda: (httpx.get(served.base + "/health").json()["models"][SEGMENTATION]["error"] or "").startswith(
        f"loading version {version} failed"), 60, "the failed load to be reported")
    ready = httpx.get(served.base + "/ready")
    assert ready.status_code == 200
    reasons = ready.json()["reasons"]
    assert len(reasons) == 1 and reasons[0].startswith(f"{SEGMENTATION}: loading version {version} failed"), reasons
    assert f"{SEGMENTATION}: no champion yet" not in ready.json()["not_served"]
    answer = httpx.post(f"{served.base}/v1/models/{SEGMENTATION}/predict", json={"instances": [{"customer_id": 1}]})
    assert answer.status_code == 503 and f"loading version {version} failed" in answer.json()["error"]
