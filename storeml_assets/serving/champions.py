"""Champion following: resolve ``models:/<name>@champion``, load it in the background, swap atomically.

A poller thread asks the registry which version ``champion`` points at; a new version is
downloaded into ``<cache_dir>/<family>/<version>`` and loaded there, then published with one
reference assignment (requests in flight keep the model object they already hold). A failed load
keeps the old model and is reported. The newest loaded version is recorded in
``<cache_dir>/<family>/current.json``, so a restart with the registry down serves it.

After a load (and after the first poll, which imports the registry client) the heap is settled: the
garbage is collected and what survives — the libraries and the models, a few million objects — is frozen
out of the collector's reach (:func:`settle_heap`). Otherwise the cyclic collector's next full pass walks
all of it while holding the GIL: 150 to 400 ms of a request's latency, the first request's after start.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storeml_assets.db.urls import first_line, normalize_scheme, redact
from storeml_assets.serving.families import ServedFamily

log = logging.getLogger("storeml.serving")

CHAMPION = "champion"


@dataclass(frozen=True)
class LoadedModel:
    """A loaded champion: the model object and where it came from (``registry`` or ``cache``)."""

    family: str
    version: str
    model: Any
    source: str
    loaded_at: datetime


@dataclass
class FamilyState:
    loaded: LoadedModel | None = None
    error: str | None = None
    registry_version: str | None = None
    #: Whether the registry has answered for this family at least once (its champion, or that it has none).
    polled: bool = False


class Registry:
    """The MLflow registry, reached only after a fast reachability check of a Postgres store."""

    def __init__(self, tracking_uri: str) -> None:
        self._uri = tracking_uri

    def _client(self) -> Any:
        from mlflow import MlflowClient

        scheme = self._uri.split("://", 1)[0].split("+", 1)[0]
        if scheme in {"postgres", "postgresql"}:
            from storeml_assets.db.locator import connect

            connect(normalize_scheme(self._uri), application_name="storeml-serve", connect_timeout=3).close()
        return MlflowClient(tracking_uri=self._uri, registry_uri=self._uri)

    def champion_version(self, model_name: str) -> str | None:
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
        except MlflowException as exc:
            if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}:
                return None
            raise

    def download(self, model_name: str, version: str, target: Path) -> Path:
        """Download ``models:/<name>/<version>`` into ``target`` (a fresh folder)."""
        import mlflow.artifacts

        source = self._client().get_model_version_download_uri(model_name, version)
        target.mkdir(parents=True, exist_ok=True)
        path = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(target))
        return Path(path)


def load_model_dir(path: Path) -> Any:
    """The native sklearn model of a downloaded MLflow model folder."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(path))


NO_CHAMPION_YET = "no champion yet"


def settle_heap(*, reclaim: bool = False) -> None:
    """Collect the garbage of a start or a load, then freeze the surviving objects, so the cyclic collector's
    full passes walk only what requests allocate afterwards. ``reclaim`` (a model was swapped out) unfreezes
    everything first, so the old model's cycles are collected too: the whole heap is walked once, in the
    poller thread, per promotion."""
    if reclaim:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


class ChampionStore:
    """The champions of the served families, kept current by a background poller."""

    def __init__(
        self,
        families: Sequence[ServedFamily],
        registry: Registry,
        cache_dir: Path,
        *,
        poll_seconds: float = 10.0,
        on_reload: Callable[[str, str], None] | None = None,
        loader: Callable[[Path], Any] = load_model_dir,
    ) -> None:
        self.families = {f.name: f for f in families}
        self._registry = registry
        self._cache_dir = cache_dir
        self._poll_seconds = poll_seconds
        self._on_reload = on_reload or (lambda _family, _outcome: None)
        self._loader = loader
        self._states = {name: FamilyState() for name in self.families}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry_error: str | None = None
        self.last_poll: datetime | None = None

    # --- reads (request path) -------------------------------------------------------------------

    def get(self, family: str) -> LoadedModel | None:
        return self._states[family].loaded

    def state(self, family: str) -> FamilyState:
        return self._states[family]

    def ready(self) -> tuple[bool, list[str]]:
        """True when every required family has a loaded champion and every optional family whose champion
        the registry names has been loaded or failed to; the reasons otherwise (an optional family's failed
        load is among the reasons but does not hold readiness back)."""
        reasons = []
        ok = True
        for name, state in self._states.items():
            if state.loaded is not None:
                continue
            if self.families[name].required:
                reasons.append(f"{name}: {state.error or 'champion not loaded yet'}")
                ok = False
            elif state.error is not None and state.registry_version is not None:
                reasons.append(f"{name}: {state.error}")
            elif not state.polled or (state.registry_version is not None and state.error is None):
                reasons.append(f"{name}: champion not loaded yet")
                ok = False
        return ok, reasons

    def status(self, family: str) -> str | None:
        """What to report about a family without a loaded champion: its error, or that it has none yet."""
        state = self._states[family]
        if state.loaded is None and state.polled and state.registry_version is None and state.error is None:
            return NO_CHAMPION_YET
        return state.error

    # --- cache ----------------------------------------------------------------------------------

    def _family_dir(self, family: str) -> Path:
        return self._cache_dir / family

    def load_cached(self) -> None:
        """Load each family's last cached champion (at start, before the registry answers)."""
        for name in self.families:
            marker = self._family_dir(name) / "current.json"
            if not marker.exists():
                continue
            try:
                record = json.loads(marker.read_text())
                version, path = str(record["version"]), self._family_dir(name) / record["path"]
                model = self._load_dir(self.families[name], path)
            except Exception as exc:  # a damaged cache: the registry can still serve
                self._states[name].error = f"cached champion unusable: {redact(first_line(exc))}"
                log.warning("%s: cached champion unusable: %s", name, redact(first_line(exc)))
                continue
            self._states[name].loaded = LoadedModel(name, version, model, "cache", datetime.now(UTC))
            log.info("%s: serving cached champion version %s", name, version)
        settle_heap()  # before the server takes requests (the lifespan's start)

    def _write_marker(self, family: str, version: str, relative: str) -> None:
        marker = self._family_dir(family) / "current.json"
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": version, "path": relative,
                                   "cached_at": datetime.now(UTC).isoformat()}))
        os.replace(tmp, marker)

    def _prune(self, family: str, keep: set[str]) -> None:
        for child in self._family_dir(family).iterdir():
            if child.is_dir() and child.name not in keep and not child.name.startswith("."):
                shutil.rmtree(child, ignore_errors=True)

    # --- polling --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Poll every family's champion alias once; load and swap in a new version."""
        self.last_poll = datetime.now(UTC)
        for name, family in self.families.items():
            state = self._states[name]
            try:
                version = self._registry.champion_version(family.registered_model)
            except Exception as exc:
                self.registry_error = redact(first_line(exc))
                if state.loaded is None:
                    state.error = f"registry unreachable: {self.registry_error}"
                state.polled = state.polled or not family.required  # asked: an optional family waits no more
                continue
            self.registry_error = None
            state.registry_version = version
            state.polled = True
            if version is None:
                if state.loaded is None:
                    state.error = (None if not family.required else
                                   f"registered model {family.registered_model!r} has no {CHAMPION!r} alias")
                continue
            current = state.loaded
            if current is not None and current.version == version:
                if current.source == "cache":  # the registry agrees with the cache
                    state.loaded = LoadedModel(name, version, current.model, "registry", current.loaded_at)
                continue
            self._load(family, version)

    def _load(self, family: ServedFamily, version: str) -> None:
        state = self._states[family.name]
        folder = f"v{version}"
        target = self._family_dir(family.name) / folder
        # each process downloads into its own folder, then renames it into place (workers share the cache)
        staging = self._family_dir(family.name) / f".{folder}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            downloaded = self._registry.download(family.registered_model, version, staging)
            try:
                os.rename(staging, target)
            except OSError:  # another worker put the same version in place first
                shutil.rmtree(staging, ignore_errors=True)
            path = target / downloaded.relative_to(staging)
            model = self._load_dir(family, path)
        except Exception as exc:
            shutil.rmtree(staging, ignore_errors=True)
            state.error = f"loading version {version} failed: {redact(first_line(exc))}"
            log.warning("%s: %s (keeping %s)", family.name, state.error,
                        state.loaded.version if state.loaded else "nothing")
            self._on_reload(family.name, "failure")
            return
        # before the swap: the first request to reach the new model pays no full collection
        settle_heap(reclaim=state.loaded is not None)
        state.loaded = LoadedModel(family.name, version, model, "registry", datetime.now(UTC))  # the atomic swap
        state.error = None
        self._write_marker(family.name, version, str(path.relative_to(self._family_dir(family.name))))
        self._prune(family.name, {folder})
        self._on_reload(family.name, "success")
        log.info("%s: now serving champion version %s", family.name, version)

    def _load_dir(self, family: ServedFamily, path: Path) -> Any:
        """The model in ``path`` as the family serves it: native sklearn, or ``mlflow.pyfunc``."""
        if family.flavor == "pyfunc":
            from storeml_assets.serving.generic import load_pyfunc_dir

            return load_pyfunc_dir(path)
        return self._loader(path)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # the poller must outlive any one failure
                log.warning("champion poll failed: %s", redact(first_line(exc)))
            if first:  # the registry client's imports (a cached champion is served meanwhile)
                settle_heap()
                first = False
            self._stop.wait(self._poll_seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="storeml-champion-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (used at start-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
