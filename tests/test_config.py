"""Center configuration: the built-in sample, validation by field path, CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from motcua.server.config import ConfigError, hash_pin, load_config, parse_config, verify_pin


def test_sample_center_is_realistic(sample_config):
    c = sample_config
    assert len(c.departments) >= 8
    assert sum(len(d.procedures) for d in c.departments) >= 30
    assert len(c.counters) >= 12
    assert c.timezone == "Asia/Ho_Chi_Minh"
    assert {d.letter for d in c.departments}.__len__() == len(c.departments)
    assert all(verify_pin("1234", o.pin_hash) for o in c.officers)
    assert set(c.tokens) == {"kiosk", "counter", "display", "rating", "admin"}
    assert any("Tư pháp" in d.vi for d in c.departments)
    public = c.public()
    assert "tokens" not in str(public) and "pbkdf2" not in str(public)


def test_errors_name_their_field_paths():
    data = {
        "center": {"name": "X", "opens": "25:00", "timezone": "Mars/Base"},
        "queue": {"transfer_placement": "sideways", "max_priority_in_row": 0},
        "departments": [
            {"code": "TP", "letter": "A", "vi": "Tư pháp",
             "procedures": [{"code": "P1", "vi": "Một", "minutes": -5}]},
            {"code": "TP", "letter": "A", "vi": "Trùng", "daily_cap": 5000},
        ],
        "counters": [{"number": 1, "departments": ["TP", "NOPE"]}],
        "officers": [{"id": "cb01", "name": "An", "pin_hash": "1234"}],
        "devices": {"kiosk": "k", "robot": "xxxxx"},
        "colour": "red",
    }
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    paths = {p for p, _ in e.value.errors}
    for expected in ("center.opens", "center.timezone", "queue.transfer_placement",
                     "queue.max_priority_in_row", "departments[0].procedures[0].minutes",
                     "departments[1].code", "departments[1].letter", "departments[1].daily_cap",
                     "counters[0].departments[1]", "officers[0].pin_hash", "devices.kiosk",
                     "devices.robot", "devices.display", "colour"):
        assert expected in paths, (expected, sorted(paths))


def test_pin_hashing_roundtrip():
    h = hash_pin("2468")
    assert h.startswith("pbkdf2_sha256$") and "2468" not in h
    assert verify_pin("2468", h) and not verify_pin("2469", h)
    assert not verify_pin("2468", "garbage")


def test_config_check_command(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[center]\nname = "X"\n[[departments]]\ncode = "TP"\nletter = "ab"\nvi = "T"\n',
                   "utf-8")
    run = lambda *a: subprocess.run([sys.executable, "-m", "motcua.cli", *a],
                                    capture_output=True, text=True)
    proc = run("config", "check", str(bad))
    assert proc.returncode == 1
    assert "departments[0].letter" in proc.stdout
    assert "departments[0]: no counter serves" in proc.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[center\n", "utf-8")
    proc = run("config", "check", str(broken))
    assert proc.returncode == 1 and "not valid TOML" in proc.stdout
    good = tmp_path / "good.toml"
    from importlib import resources
    good.write_text(resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8"),
                    "utf-8")
    proc = run("config", "check", str(good))
    assert proc.returncode == 0 and "14" in proc.stdout
    assert load_config(good).name == load_config(None).name


def test_procedure_keywords_are_checked_and_carried_to_clients(sample_config):
    """The kiosk searches by them: "CCCD", "hộ khẩu" and other everyday names."""
    ca04 = sample_config.procedure("CA04")
    assert "hộ khẩu" in ca04.keywords
    public = {p["code"]: p for d in sample_config.public()["departments"]
              for p in d["procedures"]}
    assert public["CA02"]["keywords"][0] == "CCCD"
    assert all(isinstance(p["keywords"], list) for p in public.values())

    def dept(**proc):
        return {"center": {"name": "X"}, "departments": [
            {"code": "TP", "letter": "A", "vi": "Tư pháp",
             "procedures": [{"code": "P1", "vi": "Một", **proc}]}],
            "counters": [{"number": 1, "departments": ["TP"]}], "officers": [],
            "devices": {r: r * 3 for r in ("kiosk", "counter", "display", "rating", "admin")}}

    assert parse_config(dept()).procedure("P1").keywords == ()
    assert parse_config(dept(keywords=[" ho khau ", "CCCD"])).procedure("P1").keywords == (
        "ho khau", "CCCD")
    for bad, path in (("CCCD", "departments[0].procedures[0].keywords"),
                      ([""], "departments[0].procedures[0].keywords[0]"),
                      ([7], "departments[0].procedures[0].keywords[0]"),
                      (["x" * 61], "departments[0].procedures[0].keywords[0]"),
                      ([f"k{i}" for i in range(31)], "departments[0].procedures[0].keywords")):
        with pytest.raises(ConfigError) as e:
            parse_config(dept(keywords=bad))
        assert path in {p for p, _ in e.value.errors}, (bad, e.value.errors)
