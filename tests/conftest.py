"""Fixtures shared by every tier: a private ANDON_HOME, real git repositories, free ports,
and a tiny registered service with a built artifact for the environments' tests."""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from andon.artifacts import LocalArtifactStore, build_artifact
from andon.settings import Settings
from andon.spec import load_spec
from andon.store import PipelineStatus, Store, open_store
from andon.testing import git, make_repo
from andon.testing.stacks import Stack, start_stack

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop"


@pytest.fixture(autouse=True)
def andon_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ANDON_HOME; none touches the user's."""
    home = tmp_path / "andon-home"
    monkeypatch.setenv("ANDON_HOME", str(home))
    monkeypatch.delenv("ANDON_URL", raising=False)
    monkeypatch.delenv("ANDON_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def shop_monorepo(tmp_path: Path) -> Path:
    """A git repository holding the example shop under ``examples/shop``, as this one does."""
    repo = tmp_path / "monorepo"
    shutil.copytree(
        SHOP,
        repo / "examples" / "shop",
        ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.db-*", ".pytest_cache"),
    )
    (repo / "README.md").write_text("a monorepo\n")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add the shop")
    return repo


@pytest.fixture
def repo_factory() -> object:
    """``make_repo(path, files, branch="main")``: a real git repository with files committed."""
    return make_repo


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> Iterator[int]:
    """A free TCP port on 127.0.0.1."""
    yield free_port()


TINY_SPEC = """\
service: {name: tiny}
processes:
  web: {command: python app.py, health: /healthz}
config:
  templates: [{source: app.conf.j2, destination: app.conf}]
  values: {greeting: hello}
secrets: [TOKEN, BREAK]
database:
  migrations: {command: bash migrate.sh, path: migrations}
  seed: {command: echo seeded}
smoke:
  commands: [{name: it answers, command: bash smoke.sh}]
package:
  paths: [app.py, app.conf.j2, migrate.sh, smoke.sh, migrations]
environments:
  test: {}
  staging: {from: test, values: {greeting: hi}, instances: 2}
  prod: {protected: true}
"""

TINY_FILES = {
    "andon.yaml": TINY_SPEC,
    "app.py": "print('a tiny service')\n",
    "app.conf.j2": "greeting = {{ greeting }}\ntoken = {{ TOKEN | default('unset') }}\n",
    # Refuses to run without its TOKEN, and says the token out loud: logs must mask it.
    "migrate.sh": (
        'test -n "$TOKEN" || { echo "TOKEN is not set; refusing to migrate" >&2; exit 3; }\n'
        'echo "migrating with token $TOKEN"\n'
        "python3 - \"${DATABASE_URL#sqlite:///}\" <<'SQL'\n"
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1])\n"
        "db.execute('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER, name TEXT)')\n"
        "db.execute(\"INSERT INTO schema_migrations VALUES (1, 'first')\")\n"
        "db.commit()\n"
        "SQL\n"
    ),
    "smoke.sh": 'test -z "$BREAK" || { echo "broken on purpose"; exit 1; }\ntest -n "$ANDON_URL"\n',
    "migrations/0001_first.sql": "CREATE TABLE things (id INTEGER);\n",
}


@dataclass
class TinyService:
    """A registered project ``tiny`` with one artifact built from its repository."""

    store: Store
    settings: Settings
    repo: Path
    commit: str
    artifact: str
    pipeline_id: int

    def release(
        self, changes: dict[str, str], message: str, out_dir: Path, *, green: bool = True
    ) -> tuple[str, str]:
        """Commit ``changes`` (file name → text) to trunk and build their artifact as a
        trunk pipeline would (green, or failed after it packaged); (commit, digest)."""
        for name, text in changes.items():
            (self.repo / name).write_text(text)
        git(self.repo, "commit", "-qam", message)
        commit, digest, _ = build_trunk_release(
            self.store, self.settings, self.repo, out_dir, green=green
        )
        return commit, digest


def build_trunk_release(
    store: Store, settings: Settings, repo: Path, out_dir: Path, *, green: bool = True
) -> tuple[str, str, int]:
    """The artifact of the tip of ``repo``, stored, with the trunk pipeline that built it;
    (commit, digest, pipeline id)."""
    commit, tree = git(repo, "rev-parse", "HEAD"), git(repo, "rev-parse", "HEAD^{tree}")
    built = build_artifact(
        repo,
        load_spec(repo / "andon.yaml").package,
        service="tiny",
        commit=commit,
        tree=tree,
        created_at=datetime.now(UTC),
        out_dir=out_dir,
    )
    stored = LocalArtifactStore(settings.home / "artifacts").put(built)
    pipeline = store.pipelines.create(
        project="tiny", commit=commit, branch="main", trigger="poll", on_trunk=True
    )
    store.pipelines.update(
        pipeline.id,
        status=PipelineStatus.SUCCESS if green else PipelineStatus.FAILED,
        artifact=built.digest,
        finished_at=datetime.now(UTC),
    )
    store.artifacts.add(
        digest=built.digest,
        project="tiny",
        commit=commit,
        tree=tree,
        pipeline_id=pipeline.id,
        size=built.size,
        path=str(stored.path),
        manifest=built.manifest.to_dict(),
    )
    return commit, built.digest, pipeline.id


@pytest.fixture
def tiny_service(tmp_path: Path, andon_home: Path) -> Iterator[TinyService]:
    """The tiny service registered in a fresh store, its artifact built as a pipeline
    would (``package``), and a green trunk pipeline that names it."""
    from andon.server.registry import register_project  # noqa: PLC0415 - the server stack

    settings = Settings.from_env({"ANDON_HOME": str(andon_home)})
    repo = make_repo(tmp_path / "tiny", TINY_FILES)
    with open_store(settings.database_url) as store:
        register_project(store, settings, source=str(repo), subdir="", name=None, trunk="main")
        commit, digest, pipeline_id = build_trunk_release(
            store, settings, repo, tmp_path / "staging"
        )
        yield TinyService(store, settings, repo, commit, digest, pipeline_id)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first — the end-to-end stories, then the other tests of real
    processes, then the CLI's — so that on two cores none of them is the tail of the run."""

    def weight(item: pytest.Item) -> int:
        if item.nodeid.startswith("tests/e2e/"):
            return 0
        if item.get_closest_marker("e2e") is not None:
            return 1
        return 2 if item.nodeid.startswith("tests/cli/") else 3

    items.sort(key=weight)


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """``make_stack(edit)`` starts a whole Andon — agent, server, the example shop at
    ``examples/shop`` of its own repository, registered with its first pipeline green —
    with the shop's andon.yaml changed by ``edit``; stopped after the test (the
    end-to-end stories and the dashboard's browser test use it)."""
    with contextlib.ExitStack() as stacks:

        def make(edit: Callable[[str], str] = lambda text: text, **options: Any) -> Stack:
            return stacks.enter_context(
                start_stack(tmp_path, SHOP, directory="examples/shop", edit=edit, **options)
            )

        yield make
