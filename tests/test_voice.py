"""Tests for display.voice: announcement wording, the speech queue and espeak-ng."""

from __future__ import annotations

import logging
import shutil
import stat
import sys
import threading
import time
import wave
from pathlib import Path

import pytest

from motcua.display.voice import (  # noqa: E402
    Announcer,
    EspeakEngine,
    SpeechEngine,
    SpeechError,
    announcement_text,
    detect_engine,
    number_to_vietnamese,
    spell_ticket,
    write_chime_wav,
)

# --------------------------------------------------------------------------- wording


def test_vietnamese_announcement_samples():
    assert announcement_text("A023", 5) == (
        "Xin mời công dân có số thứ tự a, không, hai, ba đến quầy số năm"
    )
    assert announcement_text("B100", 12) == (
        "Xin mời công dân có số thứ tự bê, một, không, không đến quầy số mười hai"
    )
    assert announcement_text("C007", 21) == (
        "Xin mời công dân có số thứ tự xê, không, không, bảy đến quầy số hai mươi mốt"
    )


def test_vietnamese_recall_reads_like_an_announcer():
    """Found: "Mời lần nữa, xin mời…" read awkwardly; a hall announcer says
    "xin nhắc lại" and repeats the call."""
    assert announcement_text("A023", 5, recall=True) == (
        "Xin nhắc lại: mời công dân có số thứ tự a, không, hai, ba đến quầy số năm"
    )


def test_english_announcement_and_recall():
    assert announcement_text("A023", 5, "en") == (
        "Ticket number A, zero, two, three, please go to counter 5"
    )
    assert announcement_text("B100", "12", "en", recall=True) == (
        "Calling again: ticket number B, one, zero, zero, please go to counter 12"
    )


def test_counter_given_as_string_and_lowercase_ticket():
    assert announcement_text(" a023 ", "05") == announcement_text("A023", 5)


def test_letter_names_in_vietnamese():
    assert spell_ticket("Đ1") == "đê, một"
    assert spell_ticket("G9") == "giê, chín"
    assert spell_ticket("Y4") == "i dài, bốn"
    assert spell_ticket("X6") == "ích-xì, sáu"


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "không"),
        (1, "một"),
        (5, "năm"),
        (10, "mười"),
        (11, "mười một"),
        (14, "mười bốn"),
        (15, "mười lăm"),
        (20, "hai mươi"),
        (21, "hai mươi mốt"),
        (24, "hai mươi tư"),
        (25, "hai mươi lăm"),
        (31, "ba mươi mốt"),
        (99, "chín mươi chín"),
        (100, "một trăm"),
        (101, "một trăm linh một"),
        (104, "một trăm linh bốn"),
        (105, "một trăm linh năm"),
        (110, "một trăm mười"),
        (115, "một trăm mười lăm"),
        (121, "một trăm hai mươi mốt"),
        (999, "chín trăm chín mươi chín"),
    ],
)
def test_vietnamese_number_reading(n, words):
    assert number_to_vietnamese(n) == words


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        number_to_vietnamese(1000)
    with pytest.raises(ValueError):
        announcement_text("A023", 5, "fr")
    with pytest.raises(ValueError):
        announcement_text("---", 5)


# --------------------------------------------------------------------------- queue


class RecordingEngine:
    """Stands in for the sound card: records when each sentence starts and ends."""

    def __init__(self, seconds: float = 0.01):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.spoken: list[tuple[str, str, float, float]] = []

    def speak(self, text: str, language: str) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        start = time.monotonic()
        time.sleep(self.seconds)
        end = time.monotonic()
        with self.lock:
            self.active -= 1
            self.spoken.append((text, language, start, end))


def test_fake_engine_satisfies_protocol():
    assert isinstance(RecordingEngine(), SpeechEngine)
    assert isinstance(EspeakEngine(), SpeechEngine)


def test_queue_keeps_call_order_and_never_overlaps():
    engine = RecordingEngine(seconds=0.01)
    announcer = Announcer(engine, "vi")
    submitted: list[str] = []
    order_lock = threading.Lock()
    start_gate = threading.Barrier(4)

    def fire(worker: int) -> None:
        start_gate.wait()
        for i in range(5):
            number, counter = f"A{worker * 5 + i:03d}", worker + 1
            # The lock makes "order of calls" well defined across threads.
            with order_lock:
                assert announcer.announce(number, counter)
                submitted.append(announcement_text(number, counter))

    threads = [threading.Thread(target=fire, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    announcer.close(drain=True, timeout=10)

    assert len(submitted) == 20
    assert [text for text, *_ in engine.spoken] == submitted
    assert engine.max_active == 1
    for (_, _, _, prev_end), (_, _, next_start, _) in zip(engine.spoken, engine.spoken[1:]):
        assert next_start >= prev_end
    assert {lang for _, lang, _, _ in engine.spoken} == {"vi"}


def test_recall_is_announced_again():
    engine = RecordingEngine(seconds=0.001)
    announcer = Announcer(engine, "vi")
    announcer.announce("A023", 5)
    announcer.announce("A023", 5, recall=True)
    announcer.close(timeout=5)
    texts = [text for text, *_ in engine.spoken]
    assert texts == [announcement_text("A023", 5), announcement_text("A023", 5, recall=True)]
    assert texts[1].startswith("Xin nhắc lại: mời công dân")


def test_each_call_can_be_read_out_twice_with_one_chime():
    engine = RecordingEngine(seconds=0.001)
    announcer = Announcer(engine, "vi", times=2)
    announcer.announce("A023", 5)
    announcer.close(timeout=5)
    once = announcement_text("A023", 5)
    assert [text for text, *_ in engine.spoken] == [f"{once}. {once}"]  # one engine call
    with pytest.raises(ValueError):
        Announcer(None, "vi", times=0)


def test_the_announcer_reports_failure_and_recovery_once_each():
    engine = FlakyEngine(failures=2)
    changes = []
    announcer = Announcer(engine, "vi", on_status=lambda *a: changes.append(a))
    for i in range(1, 5):
        announcer.announce(f"A{i:03d}", 1)
    announcer.close(timeout=5)
    assert [(ok, problem) for ok, problem, _ in changes] == [(False, "no_audio"), (True, None)]
    assert "no audio device" in changes[0][2]


def test_english_announcer_passes_language_to_engine():
    engine = RecordingEngine(seconds=0.001)
    announcer = Announcer(engine, "en")
    announcer.announce("B100", 12)
    announcer.close(timeout=5)
    assert engine.spoken[0][:2] == (
        "Ticket number B, one, zero, zero, please go to counter 12",
        "en",
    )


class BlockingEngine:
    """An engine that holds the first sentence until released."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()
        self.spoken: list[str] = []

    def speak(self, text: str, language: str) -> None:
        self.started.set()
        assert self.release.wait(5), "test never released the engine"
        self.spoken.append(text)


def test_announce_returns_while_engine_is_still_speaking():
    engine = BlockingEngine()
    announcer = Announcer(engine, "vi")
    try:
        assert announcer.announce("A001", 1)
        assert engine.started.wait(2)
        # The engine is blocked mid-sentence, yet further calls return at once.
        t0 = time.monotonic()
        assert announcer.announce("A002", 2)
        assert time.monotonic() - t0 < 0.5
        assert engine.spoken == []
        assert announcer.pending == 1
    finally:
        engine.release.set()
        announcer.close(timeout=5)
    assert len(engine.spoken) == 2


def test_close_without_drain_drops_waiting_announcements():
    engine = BlockingEngine()
    announcer = Announcer(engine, "vi")
    announcer.announce("A001", 1)
    assert engine.started.wait(2)
    for i in range(2, 6):
        announcer.announce(f"A{i:03d}", 1)
    threading.Timer(0.05, engine.release.set).start()
    announcer.close(drain=False, timeout=5)
    # The sentence in progress finishes; the four waiting ones are dropped.
    assert engine.spoken == [announcement_text("A001", 1)]
    assert announcer.announce("A009", 1) is False


class FlakyEngine(RecordingEngine):
    def __init__(self, failures: int):
        super().__init__(seconds=0.0)
        self.failures_left = failures

    def speak(self, text: str, language: str) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise SpeechError("no audio device", "no_audio")
        super().speak(text, language)


def test_engine_errors_are_logged_once_and_queue_keeps_going(caplog):
    engine = FlakyEngine(failures=3)
    with caplog.at_level(logging.DEBUG, logger="motcua.display.voice"):
        announcer = Announcer(engine, "vi")
        for i in range(1, 6):
            announcer.announce(f"A{i:03d}", 1)
        announcer.close(timeout=5)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "no audio device" in warnings[0].getMessage()
    assert announcer.failures == 3
    assert [text for text, *_ in engine.spoken] == [
        announcement_text("A004", 1),
        announcement_text("A005", 1),
    ]


def test_unreadable_ticket_is_logged_not_raised(caplog):
    engine = RecordingEngine(seconds=0.0)
    with caplog.at_level(logging.WARNING, logger="motcua.display.voice"):
        announcer = Announcer(engine, "vi")
        assert announcer.announce("---", 1) is False
        assert announcer.announce("A001", 1000) is False
        assert announcer.announce("A001", 1) is True
        announcer.close(timeout=5)
    assert len(engine.spoken) == 1
    assert len(caplog.records) == 2


@pytest.mark.parametrize(("engine", "language"), [(RecordingEngine(), "off"), (None, "vi")])
def test_disabled_announcer_is_a_no_op(engine, language):
    announcer = Announcer(engine, language)
    assert not announcer.enabled
    assert announcer.announce("A001", 1) is False
    announcer.close(timeout=5)
    if engine is not None:
        assert engine.spoken == []


def test_context_manager_closes_and_drains():
    engine = RecordingEngine(seconds=0.001)
    with Announcer(engine, "vi") as announcer:
        announcer.announce("A001", 1)
    assert len(engine.spoken) == 1
    assert announcer.announce("A002", 1) is False


def test_unknown_announcer_language_rejected():
    with pytest.raises(ValueError):
        Announcer(RecordingEngine(), "fr")


# --------------------------------------------------------------------------- detection


def test_detect_engine_without_espeak_on_path(tmp_path):
    engine, reason = detect_engine("vi", path=str(tmp_path))
    assert engine is None
    assert "espeak-ng" in reason
    assert "apt-get install espeak-ng" in reason
    assert "Chưa cài" in reason and "not installed" in reason


def test_detect_engine_with_unknown_executable_name():
    engine, reason = detect_engine("en", executable="no-such-tts-program-xyz")
    assert engine is None
    assert "no-such-tts-program-xyz" in reason


def test_detect_engine_off():
    engine, reason = detect_engine("off")
    assert engine is None
    assert "off" in reason


# A stand-in espeak-ng used to pin down how the engine talks to the program and how it
# reads its failure modes; the stderr text is what espeak-ng 1.51 prints with no sound card.
_FAKE_ESPEAK = r"""#!{python}
import sys, pathlib
log = pathlib.Path(__file__).with_name("calls.log")
if sys.argv[1:] == ["--voices"]:
    print("Pty Language       Age/Gender VoiceName          File                 Other Languages")
    print(" 5  vi              --/M      Vietnamese_(Northern) aav/vi")
    print(" 5  vi-vn-x-south   --/M      Vietnamese_(Southern) aav/vi-VN-x-south")
    sys.exit(0)
text = sys.stdin.read()
with log.open("a", encoding="utf-8") as f:
    f.write(repr((sys.argv[1:], text)) + "\n")
mode = pathlib.Path(__file__).with_name("mode").read_text().strip()
if mode == "headless":
    sys.stderr.write("ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default\n")
    sys.stderr.write("error: No such file or directory\n")
elif mode == "crash":
    sys.stderr.write("boom\n")
    sys.exit(3)
"""


@pytest.fixture
def fake_espeak(tmp_path):
    exe = tmp_path / "espeak-ng"
    exe.write_text(_FAKE_ESPEAK.format(python=sys.executable), encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "mode").write_text("ok")
    return tmp_path


def _calls(directory: Path) -> list[tuple[list[str], str]]:
    log = directory / "calls.log"
    if not log.exists():
        return []
    return [eval(line) for line in log.read_text(encoding="utf-8").splitlines()]  # noqa: S307


def test_detect_engine_finds_program_and_voice(fake_espeak):
    engine, reason = detect_engine("vi", path=str(fake_espeak))
    assert isinstance(engine, EspeakEngine)
    assert engine.executable == str(fake_espeak / "espeak-ng")
    assert "vi" in reason

    engine, _ = detect_engine("vi", path=str(fake_espeak), voices={"vi": "vi-vn-x-south"})
    assert engine is not None
    # The fake lists no English voice, so English must be refused with a reason.
    engine, reason = detect_engine("en", path=str(fake_espeak))
    assert engine is None
    assert "'en'" in reason


def test_espeak_engine_command_and_text_via_stdin(fake_espeak):
    engine = EspeakEngine(executable=str(fake_espeak / "espeak-ng"), speed=140)
    text = announcement_text("A023", 5)
    engine.speak(text, "vi")
    engine.speak("Ticket", "en")
    assert _calls(fake_espeak) == [
        (["-v", "vi", "-s", "140", "--stdin"], text),
        (["-v", "en", "-s", "140", "--stdin"], "Ticket"),
    ]


@pytest.mark.parametrize("mode", ["headless", "crash"])
def test_espeak_engine_reports_playback_failure(fake_espeak, mode):
    (fake_espeak / "mode").write_text(mode)
    engine = EspeakEngine(executable=str(fake_espeak / "espeak-ng"))
    with pytest.raises(SpeechError):
        engine.speak("xin chào", "vi")


def test_missing_chime_player_does_not_stop_speech(fake_espeak, caplog):
    engine = EspeakEngine(
        executable=str(fake_espeak / "espeak-ng"),
        chime=True,
        player=str(fake_espeak / "no-player"),
    )
    with caplog.at_level(logging.WARNING, logger="motcua.display.voice"):
        engine.speak("một", "vi")
        engine.speak("hai", "vi")
    assert [text for _, text in _calls(fake_espeak)] == ["một", "hai"]
    assert len([r for r in caplog.records if "Chime" in r.getMessage()]) == 1


def test_the_chime_plays_from_memory_and_leaves_no_file_behind(tmp_path, monkeypatch):
    """Found: every display left a /tmp/motcua-chime-*.wav behind."""
    import glob
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where a temporary file would land
    tempfile.tempdir = None
    before = set(glob.glob(str(tmp_path / "motcua-chime-*")))
    got = tmp_path / "played.wav"
    player = tmp_path / "aplay"
    player.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"open({str(got)!r}, 'wb').write(sys.stdin.buffer.read())\n"
                      f"open({str(tmp_path / 'args')!r}, 'w').write(repr(sys.argv[1:]))\n",
                      encoding="utf-8")
    player.chmod(player.stat().st_mode | stat.S_IXUSR)
    engine = EspeakEngine(executable=str(tmp_path / "no-espeak"), chime=True, player=str(player))
    try:
        engine.speak("một", "vi")
    except SpeechError:
        pass  # no espeak-ng here: only the chime matters
    finally:
        tempfile.tempdir = None
    assert eval((tmp_path / "args").read_text()) == ["-q"]  # noqa: S307 - stdin, no file
    with wave.open(str(got)) as w:
        assert w.getnframes() > 1000
    assert set(glob.glob(str(tmp_path / "motcua-chime-*"))) == before


def test_chime_wav_is_valid(tmp_path):
    path = write_chime_wav(tmp_path / "chime.wav", tones=(880.0, 660.0), tone_seconds=0.2)
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1
        assert w.getsampwidth() == 2
        assert w.getnframes() == 2 * int(w.getframerate() * 0.2)
        frames = w.readframes(w.getnframes())
    assert any(frames)


# --------------------------------------------------------------------------- real espeak-ng

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


@needs_espeak
@pytest.mark.parametrize(
    ("language", "text"),
    [("vi", announcement_text("A023", 5)), ("en", announcement_text("A023", 5, "en"))],
)
def test_real_espeak_synthesizes_wav(tmp_path, language, text):
    engine, reason = detect_engine(language)
    assert engine is not None, reason
    path = engine.synthesize(text, language, tmp_path / f"{language}.wav")
    with wave.open(str(path)) as w:
        seconds = w.getnframes() / w.getframerate()
        frames = w.readframes(w.getnframes())
    # A full sentence takes seconds to say; a broken voice yields silence or nothing.
    assert seconds > 1.5
    assert any(frames)
