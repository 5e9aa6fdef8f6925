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
    assert "departments[0]: không quầy nào phục vụ lĩnh vực 'TP' / no counter serves" \
        in proc.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[center\n", "utf-8")
    proc = run("config", "check", str(broken))
    assert proc.returncode == 1 and "không phải TOML hợp lệ" in proc.stdout \
        and "not valid TOML" in proc.stdout
    good = tmp_path / "good.toml"
    from importlib import resources
    good.write_text(resources.files("motcua.server").joinpath("sample_center.toml").read_text("utf-8"),
                    "utf-8")
    proc = run("config", "check", str(good))
    assert proc.returncode == 0 and "14" in proc.stdout
    assert load_config(good).name == load_config(None).name


def test_printer_section():
    """[printer] says what the kiosks' printers are; errors name their field."""
    from motcua.printer import options

    base = load_config(None)
    assert base.public()["printer"] == base.printer
    data = {"printer": {"paper": 80, "dots": 512, "qr": "raster", "image_align": "padded",
                        "check_status": False}}
    cfg = parse_config({**_minimal(), **data})
    assert cfg.public()["printer"] == {"paper": 80, "dots": 512, "qr": "raster",
                                       "image_align": "padded", "check_status": False}
    assert options.PrinterOptions.from_settings(cfg.public()["printer"]).width == 512
    assert parse_config(_minimal()).public()["printer"] == {}  # nothing said: defaults
    with pytest.raises(ConfigError) as e:
        parse_config({**_minimal(), "printer": {"paper": 76, "dots": 500, "qr": "image",
                                                "image_align": "middle", "check_status": "yes",
                                                "cutter": True}})
    paths = {p for p, _ in e.value.errors}
    assert paths == {"printer.paper", "printer.dots", "printer.qr", "printer.image_align",
                     "printer.check_status", "printer.cutter"}
    with pytest.raises(ConfigError, match="between 256 and 464"):
        parse_config({**_minimal(), "printer": {"paper": 58, "dots": 512}})


def test_printer_values_agree_with_the_printer_package():
    """The server checks [printer] without importing the printer code: same lists."""
    from motcua.printer import options
    from motcua.server import config

    assert config.PRINTER_PAPER == options.PAPER_MM
    assert config.PRINTER_QR == options.QR_MODES
    assert config.PRINTER_IMAGE_ALIGN == options.IMAGE_ALIGNS
    assert set(options.SETTINGS) == {"paper", "dots", "qr", "image_align", "check_status"}


def _minimal() -> dict:
    return {"center": {"name": "Trung tâm xã"},
            "departments": [{"code": "HT", "letter": "H", "vi": "Hộ tịch"}],
            "counters": [{"number": 1, "departments": ["HT"]}],
            "devices": {role: f"{role}-secret" for role in
                        ("kiosk", "counter", "display", "rating", "admin")}}


def test_config_errors_speak_vietnamese_first(tmp_path):
    """Every problem is told in Vietnamese, then in English after " / "."""
    data = {
        "center": {"name": 5, "opens": "25:00", "closes": "07:00", "timezone": "Mars/Base",
                   "open_days": ["funday"]},
        "queue": {"call_policy": "random", "recent_calls": 99},
        "rating": {"window_seconds": 0, "levels": [{"value": 1, "vi": "A"},
                                                    {"value": 1, "vi": "B"}, "x"]},
        "priority_groups": [{"code": "g", "vi": "G"}, {"code": "g", "vi": "H"}],
        "departments": [{"code": "TP", "letter": "ab", "vi": "", "target_wait": -1,
                         "open": "yes"}],
        "counters": [{"number": 0, "departments": []}],
        "officers": [{"id": "a", "name": "A", "pin_hash": "1"},
                     {"id": "a", "name": "B", "pin_hash": "pbkdf2_sha256$1$s$0"}],
        "devices": {"kiosk": "k"},
        "colour": "red",
    }
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    details = e.value.details
    assert len(details) >= 20
    english_words = {"must", "is", "unknown", "duplicates", "needs", "not", "no", "got"}
    for path, vi, en in details:
        assert vi and en and vi != en, (path, vi, en)
        assert not english_words & set(vi.replace(",", " ").split()), (path, vi)
        assert (path, f"{vi} / {en}") in e.value.errors
    by_path = {p: (vi, en) for p, vi, en in details}
    assert by_path["center.name"] == ("phải là chữ, không phải số nguyên",
                                      "must be text, got a whole number")
    assert by_path["departments[0].open"][0] == "phải là true hoặc false, không phải chữ"
    assert by_path["colour"] == ("không phải mục cấu hình nào đã biết", "is not a known setting")
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as e:
        load_config(missing)
    assert e.value.details[0][1].startswith("không đọc được tệp")


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
