"""docker/Dockerfile and .dockerignore: what the image copies exists and reaches the build context."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from storeml_assets_tests.deploy.checks import (
    PROJECT_ROOT,
    Instruction,
    copy_sources,
    dockerfile_instructions,
    dockerignore_excludes,
)


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return dockerfile_instructions()


def _stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _exec_form(instruction: Instruction) -> list[str]:
    args = instruction.args
    if args.startswith("CMD "):  # HEALTHCHECK ... CMD [...]
        args = args[4:]
    return json.loads(args)


def test_every_copy_source_exists_and_is_in_the_build_context(instructions: list[Instruction]) -> None:
    sources = [src for ins in instructions if ins.keyword in {"COPY", "ADD"} for src in copy_sources(ins)]
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert (PROJECT_ROOT / source).exists(), f"COPY source {source} does not exist in the repository"
        assert not dockerignore_excludes(source), f"COPY source {source} is excluded by .dockerignore"


def test_dockerignore_keeps_the_context_small() -> None:
    for path in (
        ".venv/bin/python",
        ".storeml/pg",
        ".git/HEAD",
        "storeml_assets_tests/conftest.py",
        "storeml_assets/__pycache__/settings.cpython-311.pyc",
        "docker/.env",
    ):
        assert dockerignore_excludes(path), f"{path} would be sent to the Docker daemon"
    for path in ("storeml_assets/settings.py", "sql/storeml/001_schemas.sql", "pyproject.toml"):
        assert not dockerignore_excludes(path), f"{path} would be missing from the build context"


def test_multi_stage_build_with_a_slim_runtime(instructions: list[Instruction]) -> None:
    stages = _stages(instructions)
    assert len(stages) >= 2, "builder and runtime stages expected"
    froms = [stage[0].args for stage in stages]
    assert froms[0].endswith("AS builder") and froms[-1].endswith("AS runtime")
    args = {
        ins.args.split("=", 1)[0]: ins.args.split("=", 1)[1]
        for ins in instructions
        if ins.keyword == "ARG" and "=" in ins.args
    }
    assert "slim" in args["PYTHON_IMAGE"]
    runtime_text = " ".join(ins.args for ins in stages[-1])
    assert "build-essential" not in runtime_text, "compilers belong in the builder stage"
    assert any(
        ins.keyword == "COPY" and ins.args.startswith("--from=builder /opt/venv") for ins in stages[-1]
    )


def test_dependencies_are_pinned_by_constraints(instructions: list[Instruction]) -> None:
    commands = [part.strip() for ins in instructions if ins.keyword == "RUN" for part in ins.args.split("&&")]
    installs = [c for c in commands if c.startswith("pip install") and "--upgrade pip" not in c]
    assert len(installs) >= 2, "dependencies, then the package itself"
    for command in installs:
        assert "-c constraints.txt" in command, f"unpinned install: {command}"


def test_runtime_runs_as_a_non_root_user(instructions: list[Instruction]) -> None:
    runtime = _stages(instructions)[-1]
    users = [ins.args for ins in runtime if ins.keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_working_directory_holds_sql_for_the_migration_runner(instructions: list[Instruction]) -> None:
    runtime = _stages(instructions)[-1]
    workdir = [ins.args for ins in runtime if ins.keyword == "WORKDIR"][-1]
    copies = [shlex.split(ins.args) for ins in runtime if ins.keyword == "COPY"]
    assert ["sql", "./sql"] in copies
    assert workdir == "/opt/storeml"


def test_default_command_serves_the_definitions_over_grpc(instructions: list[Instruction]) -> None:
    cmd = _exec_form([ins for ins in instructions if ins.keyword == "CMD"][-1])
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-m") + 1] == "storeml_assets.definitions"
    assert cmd[cmd.index("--location-name") + 1] == "storeml"
    assert cmd[cmd.index("-p") + 1] == "4000" and cmd[cmd.index("-h") + 1] == "0.0.0.0"
    expose = [ins.args for ins in instructions if ins.keyword == "EXPOSE"]
    assert "4000" in expose


def test_healthcheck_probes_the_grpc_server(instructions: list[Instruction]) -> None:
    healthchecks = [ins for ins in instructions if ins.keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    args = healthchecks[0].args
    probe = json.loads(args[args.index("CMD ") + 4 :])
    assert probe == ["dagster", "api", "grpc-health-check", "-p", "4000"]


def test_dagster_home_gets_the_docker_instance_files(instructions: list[Instruction]) -> None:
    env_text = " ".join(ins.args for ins in instructions if ins.keyword == "ENV")
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in env_text
    copies = [shlex.split(ins.args) for ins in instructions if ins.keyword == "COPY"]
    assert ["docker/dagster.yaml", "docker/workspace.yaml", "/opt/dagster/dagster_home/"] in copies


def test_instruction_parser_joins_continuations(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM x AS a\n# note\nRUN a \\\n    # inner comment\n    && b\nCOPY --from=a /x /y\nCOPY missing.txt /z\n"
    )
    parsed = dockerfile_instructions(dockerfile)
    assert [i.keyword for i in parsed] == ["FROM", "RUN", "COPY", "COPY"]
    assert parsed[1].args == "a && b"
    assert copy_sources(parsed[2]) == [] and copy_sources(parsed[3]) == ["missing.txt"]
    assert not (PROJECT_ROOT / "missing.txt").exists()
