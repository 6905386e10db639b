"""Static checks for the deployment files in docker/: plain functions, no Docker engine needed."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = PROJECT_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
K8S_VALUES = DOCKER_DIR / "k8s" / "values.yaml"
CHART_KEYS = Path(__file__).resolve().parent / "fixtures" / "dagster_chart_keys.yaml"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, ${VAR:+x} and $VAR;
# `$$` is compose's escape for a literal dollar and is skipped.
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_ENV_LINE = re.compile(r"^\s*#?\s*([A-Z_][A-Z0-9_]*)=(.*)$")
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY", re.IGNORECASE)
_URL_USERINFO = re.compile(r"://([^/@\s:]*):([^@\s/]*)@")


def load_yaml(path: Path) -> Any:
    """Parse one YAML document; a clear error names the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None


def iter_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string (keys excluded) in a parsed YAML tree, with its dotted path."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from iter_strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from iter_strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


@dataclass(frozen=True)
class VariableReference:
    name: str
    operator: str | None  # ":-", "-", ":?", "?", ":+", "+" or None
    where: str

    @property
    def required(self) -> bool:
        return self.operator in {":?", "?"}

    @property
    def has_default(self) -> bool:
        return self.operator in {":-", "-"}


def variable_references(compose: Any) -> list[VariableReference]:
    """Every ${VAR} interpolation in a parsed compose file."""
    refs: list[VariableReference] = []
    for where, text in iter_strings(compose):
        for match in _VAR.finditer(text):
            if match.group(0) == "$$":
                continue
            name = match.group(1) or match.group(4)
            refs.append(VariableReference(name, match.group(2), where))
    return refs


def env_example_entries(path: Path = ENV_EXAMPLE) -> dict[str, tuple[str, bool]]:
    """Variables listed in .env.example: name -> (value, commented out)."""
    entries: dict[str, tuple[str, bool]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _ENV_LINE.match(line)
        if match:
            entries[match.group(1)] = (match.group(2).strip(), line.lstrip().startswith("#"))
    return entries


_REF = "\u00a7REF\u00a7"


def _without_references(text: str) -> str:
    """``text`` with every ${VAR} interpolation replaced by a marker (``$$`` kept)."""
    return _VAR.sub(lambda m: m.group(0) if m.group(0) == "$$" else _REF, text)


def _is_literal(value: str) -> bool:
    stripped = _without_references(value).replace(_REF, "").strip()
    return bool(stripped)


def literal_secrets(compose: Any) -> list[str]:
    """Places where a compose file holds a secret value itself rather than a ${VAR} reference."""
    found: list[str] = []
    for where, text in iter_strings(compose):
        leaf = where.rsplit(".", 1)[-1]
        if _SECRET_KEY.search(leaf) and _is_literal(text):
            found.append(f"{where}: secret-named setting holds a literal value")
        for match in _URL_USERINFO.finditer(_without_references(text)):
            if _is_literal(match.group(2)):
                found.append(f"{where}: URL with a literal password")
    for service, spec in (compose.get("services") or {}).items():
        env = spec.get("environment") or {}
        items = env.items() if isinstance(env, Mapping) else (e.split("=", 1) + [""] for e in env)
        for key, value in items:
            if _SECRET_KEY.search(str(key)) and _is_literal("" if value is None else str(value)):
                found.append(f"services.{service}.environment.{key}: literal secret")
    return sorted(set(found))


def named_volumes_used(compose: Any) -> dict[str, list[str]]:
    """Named volumes each service mounts (bind mounts and anonymous volumes excluded)."""
    used: dict[str, list[str]] = {}
    for service, spec in (compose.get("services") or {}).items():
        for entry in spec.get("volumes") or []:
            if isinstance(entry, Mapping):
                if entry.get("type", "volume") == "volume" and entry.get("source"):
                    used.setdefault(service, []).append(entry["source"])
                continue
            source = str(entry).split(":", 1)[0]
            if ":" in str(entry) and not source.startswith((".", "/", "~", "$")):
                used.setdefault(service, []).append(source)
    return used


def depends_on_names(spec: Mapping[str, Any]) -> list[str]:
    deps = spec.get("depends_on") or []
    return list(deps.keys()) if isinstance(deps, Mapping) else list(deps)


# ---------------------------------------------------------------- Dockerfile and .dockerignore


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Instructions of a Dockerfile with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = text.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    if pending:
        raise ValueError(f"{path}: line {start}: continuation never ends")
    return out


def copy_sources(instruction: Instruction) -> list[str]:
    """Build-context sources of a COPY/ADD (none for COPY --from=<stage>)."""
    tokens = shlex.split(instruction.args)
    if any(token.startswith("--from=") for token in tokens):
        return []
    words = [token for token in tokens if not token.startswith("--")]
    if len(words) < 2:
        raise ValueError(f"line {instruction.line}: {instruction.keyword} needs a source and a destination")
    return words[:-1]


def _ignore_pattern_matches(pattern: str, path: str) -> bool:
    """Docker's rule: a pattern excludes a path when it matches the path or one of its parents."""
    pattern = pattern.strip("/")
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern == "**":
        return True
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(fnmatchcase(part, tail) for part in parts) or any(fnmatchcase(c, tail) for c in candidates)
    return any(fnmatchcase(c, pattern) and c.count("/") == pattern.count("/") for c in candidates)


def dockerignore_excludes(path: str, ignore_file: Path = DOCKERIGNORE) -> bool:
    """True when the build context would leave ``path`` (relative to the repo root) out."""
    excluded = False
    for raw in ignore_file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        if _ignore_pattern_matches(pattern, path):
            excluded = not negate
    return excluded


# ---------------------------------------------------------------- Helm values against chart keys

ANY = "__any__"
_SCALAR_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,)}


def unknown_chart_keys(values: Any, schema: Any, path: str = "") -> list[str]:
    """Key paths in ``values`` that the chart's documented key tree does not have, or mistyped."""
    if schema == ANY:
        return []
    if isinstance(schema, str):
        allowed = _SCALAR_TYPES[schema]
        if values is None:
            return []
        ok = isinstance(values, allowed) and not (schema == "int" and isinstance(values, bool))
        return [] if ok else [f"{path}: expected {schema}, got {type(values).__name__}"]
    if isinstance(schema, Mapping):
        if not isinstance(values, Mapping):
            return [f"{path}: expected a mapping, got {type(values).__name__}"]
        problems: list[str] = []
        for key, value in values.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in schema:
                problems.append(f"{where}: not a key of the chart")
            else:
                problems.extend(unknown_chart_keys(value, schema[key], where))
        return problems
    if isinstance(schema, list):
        if not isinstance(values, list):
            return [f"{path}: expected a list, got {type(values).__name__}"]
        problems = []
        for index, item in enumerate(values):
            problems.extend(unknown_chart_keys(item, schema[0], f"{path}[{index}]"))
        return problems
    raise ValueError(f"{path}: unsupported schema node {schema!r}")
