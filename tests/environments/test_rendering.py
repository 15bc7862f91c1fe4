"""Rendering config templates into a release: real Jinja2, real files, all or nothing."""

from __future__ import annotations

import hashlib
import shutil
import stat
import tomllib
from pathlib import Path

import pytest

from andon.environments import DatabaseInfo, TemplateError, layer_values, render_templates
from andon.spec import AndonSpec, DatabaseEngine, TemplateSpec

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


def release_with(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def template(source: str, destination: str) -> TemplateSpec:
    return TemplateSpec(source=source, destination=destination)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return release_with(tmp_path / "release", {"app.py": "print('app')\n"})


def test_the_shop_template_renders_into_toml_the_shop_reads(
    shop_spec: AndonSpec, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    shutil.copytree(SHOP / "config", release / "config")
    path = tmp_path / "data" / "shop.db"
    database = DatabaseInfo(engine=DatabaseEngine.SQLITE, url=f"sqlite:///{path}", path=path)
    values = layer_values(shop_spec, "staging", {"PAYMENT_API_KEY": "pk"}, database=database)

    checksums = render_templates(shop_spec.config.templates, release, values)

    rendered = (release / "config" / "shop.toml").read_bytes()
    config = tomllib.loads(rendered.decode())
    assert config["shop"]["name"] == "Andon Shop (staging)"
    assert config["database"]["path"] == str(path)
    assert config["faults"] == {
        "checkout_error_rate": 0,
        "added_latency_ms": 0,
        "drop_orders": False,
        "order_drop_rate": 0.0,
    }
    assert config["features"] == {"new_checkout": False}
    assert checksums == {"config/shop.toml": hashlib.sha256(rendered).hexdigest()}


def test_rendered_files_are_private_and_keep_their_trailing_newline(release: Path) -> None:
    release_with(release, {"t.j2": "<{{ a }}> & {{ b }}\n"})

    render_templates([template("t.j2", "out/t.conf")], release, {"a": "<b>", "b": "&"})

    out = release / "out" / "t.conf"
    # Not HTML: nothing is escaped.
    assert out.read_text() == "<<b>> & &\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_an_undefined_value_names_the_template_line_and_a_likely_value(release: Path) -> None:
    release_with(release, {"config/shop.toml.j2": "[shop]\n\nname = {{ shop_nam }}\n"})

    with pytest.raises(TemplateError) as caught:
        render_templates(
            [template("config/shop.toml.j2", "config/shop.toml")],
            release,
            {"shop_name": "x", "env": "dev"},
        )

    assert str(caught.value) == (
        "config/shop.toml.j2:3: 'shop_nam' is undefined; defined values: env, shop_name "
        "(did you mean 'shop_name'?)"
    )
    assert not (release / "config" / "shop.toml").exists()


def test_a_syntax_error_is_located(release: Path) -> None:
    release_with(release, {"t.j2": "a\nb = {{ value }\n"})

    with pytest.raises(TemplateError, match=r"^t\.j2:2: unexpected '}'"):
        render_templates([template("t.j2", "t")], release, {"value": 1})


def test_an_error_in_an_included_template_names_that_template(release: Path) -> None:
    release_with(
        release,
        {"main.j2": "top\n{% include 'parts/db.j2' %}\n", "parts/db.j2": "x\n{{ missing }}\n"},
    )

    with pytest.raises(TemplateError, match=r"^parts/db\.j2:2: 'missing' is undefined"):
        render_templates([template("main.j2", "main")], release, {})


def test_every_failing_template_is_reported_and_none_is_written(release: Path) -> None:
    release_with(
        release,
        {"good.j2": "ok {{ a }}\n", "bad.j2": "{{ nope }}\n", "worse.j2": "{% if %}\n"},
    )
    (release / "good").write_text("previous\n")

    with pytest.raises(TemplateError) as caught:
        render_templates(
            [template("good.j2", "good"), template("bad.j2", "bad"), template("worse.j2", "w")],
            release,
            {"a": 1},
        )

    assert [line.split(":")[0] for line in caught.value.lines()] == ["bad.j2", "worse.j2"]
    assert str(caught.value).startswith("2 config templates cannot be rendered: bad.j2:1: ")
    assert (release / "good").read_text() == "previous\n"
    assert sorted(path.name for path in release.iterdir()) == [
        "app.py",
        "bad.j2",
        "good",
        "good.j2",
        "worse.j2",
    ]


@pytest.mark.parametrize("destination", ["../outside.conf", "/etc/andon.conf", "a/../../x"])
def test_a_destination_outside_the_release_is_refused(release: Path, destination: str) -> None:
    release_with(release, {"t.j2": "x\n"})

    with pytest.raises(TemplateError, match="a template destination is a path inside the release"):
        render_templates([template("t.j2", destination)], release, {})

    assert not (release.parent / "outside.conf").exists()


def test_a_destination_leading_outside_by_a_link_is_refused(release: Path, tmp_path: Path) -> None:
    release_with(release, {"t.j2": "x\n"})
    (tmp_path / "elsewhere").mkdir()
    (release / "etc").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(TemplateError, match="leads outside the release by a link"):
        render_templates([template("t.j2", "etc/t.conf")], release, {})

    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_source_missing_from_the_release_says_to_package_it(release: Path) -> None:
    with pytest.raises(TemplateError, match=r"config/x\.j2: the template is not in the release"):
        render_templates([template("config/x.j2", "x")], release, {})


def test_two_templates_may_not_share_a_destination(release: Path) -> None:
    release_with(release, {"a.j2": "a\n", "b.j2": "b\n"})

    with pytest.raises(TemplateError, match=r"is also the destination of a\.j2"):
        render_templates([template("a.j2", "out"), template("b.j2", "./out")], release, {})


def test_the_sandbox_refuses_reaching_python_internals(release: Path) -> None:
    release_with(release, {"t.j2": "{{ ''.__class__.__mro__ }}\n"})

    with pytest.raises(TemplateError, match=r"^t\.j2:1: access to attribute '__class__'"):
        render_templates([template("t.j2", "t")], release, {})


def test_a_failing_operation_is_located(release: Path) -> None:
    release_with(release, {"t.j2": "\n\n{{ port + 1 }}\n"})

    with pytest.raises(TemplateError, match=r"^t\.j2:3: TypeError: "):
        render_templates([template("t.j2", "t")], release, {"port": "8080"})


def test_secret_values_quoted_by_an_error_are_masked(release: Path) -> None:
    release_with(release, {"t.j2": "{{ keys[API_KEY] }}\n"})

    with pytest.raises(TemplateError) as caught:
        render_templates(
            [template("t.j2", "t")],
            release,
            {"keys": {}, "API_KEY": "sk_live_hunter2"},
            secrets=["sk_live_hunter2"],
        )

    assert "sk_live_hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


def test_rendering_again_replaces_the_files_and_reports_new_checksums(release: Path) -> None:
    release_with(release, {"t.j2": "v={{ v }}\n"})
    first = render_templates([template("t.j2", "t")], release, {"v": 1})

    second = render_templates([template("t.j2", "t")], release, {"v": 2})

    assert (release / "t").read_text() == "v=2\n"
    assert first != second
    assert [p.name for p in release.iterdir() if p.name.startswith(".")] == []
