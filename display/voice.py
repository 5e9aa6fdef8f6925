"""Voice announcements for the waiting-room display.

Three layers, each usable on its own:

* :func:`announcement_text` turns a ticket number and a counter into the sentence to speak
  ("Xin mời công dân có số thứ tự a, không, hai, ba đến quầy số năm").
* :class:`SpeechEngine` is the tiny interface a speaker implements; :class:`EspeakEngine`
  drives the ``espeak-ng`` command-line program, and :func:`detect_engine` finds it and
  explains in plain words when it cannot.
* :class:`Announcer` serialises announcements on one background thread so that calls made
  from the Textual event loop return at once and two announcements never overlap.

Nothing here imports Textual or needs asyncio: the display app just calls
``Announcer.announce`` from its handlers.
"""

from __future__ import annotations

import io
import logging
import math
import os
import queue
import re
import shutil
import struct
import subprocess
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Protocol, runtime_checkable

__all__ = [
    "LANGUAGES",
    "SpeechError",
    "SpeechEngine",
    "EspeakEngine",
    "Announcer",
    "announcement_text",
    "detect_engine",
    "number_to_vietnamese",
    "spell_ticket",
    "write_chime_wav",
]

log = logging.getLogger(__name__)

#: Languages the announcer accepts; "off" disables speech entirely.
LANGUAGES = ("vi", "en", "off")

# Traditional Vietnamese letter names (the ones taught in school and used on the radio).
# Northern speech makes D, G(I) and J sound alike (/z/); nothing we can do about that in
# the text, which is one reason centres usually avoid giving those letters to departments.
_VI_LETTERS = {
    "A": "a",
    "B": "bê",
    "C": "xê",
    "D": "dê",
    "Đ": "đê",
    "E": "e",
    "F": "ép",
    "G": "giê",
    "H": "hát",
    "I": "i",
    "J": "gi",
    "K": "ca",
    "L": "e-lờ",
    "M": "em-mờ",
    "N": "en-nờ",
    "O": "o",
    "P": "pê",
    "Q": "quy",
    "R": "e-rờ",
    "S": "ét-sì",
    "T": "tê",
    "U": "u",
    "V": "vê",
    "W": "vê kép",
    "X": "ích-xì",
    "Y": "i dài",
    "Z": "dét",
}

_VI_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


#: What can stop the voice, as reported to the server (``voice_status``).
PROBLEMS = ("no_engine", "no_audio", "timeout", "error")


class SpeechError(RuntimeError):
    """Raised by an engine when an announcement could not be spoken.

    ``problem`` is one of :data:`PROBLEMS`: ``no_engine`` (the speech program
    or its voice is missing), ``no_audio`` (no sound output), ``timeout``,
    ``error`` (anything else)."""

    def __init__(self, message: str, problem: str = "error") -> None:
        super().__init__(message)
        self.problem = problem if problem in PROBLEMS else "error"


def problem_of(exc: BaseException) -> str:
    """The :data:`PROBLEMS` code for an engine's failure."""
    return exc.problem if isinstance(exc, SpeechError) else "error"


# --------------------------------------------------------------------------- text


def number_to_vietnamese(n: int) -> str:
    """Read an integer 0..999 the way a Vietnamese speaker says it.

    Examples: 5 → "năm", 10 → "mười", 15 → "mười lăm", 21 → "hai mươi mốt",
    24 → "hai mươi tư", 105 → "một trăm linh năm", 110 → "một trăm mười".

    Raises ValueError outside 0..999 (counters never get that high; silently reading
    something wrong aloud would be worse than failing).
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"expected int, got {type(n).__name__}")
    if not 0 <= n <= 999:
        raise ValueError(f"can only read 0..999, got {n}")
    if n < 10:
        return _VI_DIGITS[n]

    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    if hundreds:
        words += [_VI_DIGITS[hundreds], "trăm"]
        if rest == 0:
            return " ".join(words)
        if tens == 0:
            # "linh" bridges an empty tens place (northern usage; the south says "lẻ").
            # After "linh" the unit keeps its plain form: 105 is "linh năm", not "linh lăm".
            words += ["linh", _VI_DIGITS[units]]
            return " ".join(words)

    if tens == 1:
        words.append("mười")
    else:
        words += [_VI_DIGITS[tens], "mươi"]

    if units == 0:
        pass
    elif units == 5:
        # 5 after a tens word becomes "lăm" (15 "mười lăm", 25 "hai mươi lăm").
        words.append("lăm")
    elif units == 1 and tens >= 2:
        # "mốt" only after "mươi": 21 "hai mươi mốt", but 11 stays "mười một".
        words.append("mốt")
    elif units == 4 and tens >= 2:
        # "tư" is the usual spoken form after "mươi" (24 "hai mươi tư"); 14 stays "mười bốn".
        words.append("tư")
    else:
        words.append(_VI_DIGITS[units])
    return " ".join(words)


def _check_language(language: str, allowed: tuple[str, ...]) -> None:
    if language not in allowed:
        raise ValueError(f"unsupported language {language!r}; expected one of {allowed}")


def spell_ticket(number: str, language: str = "vi") -> str:
    """Spell a ticket number character by character, separated by commas.

    "A023" → "a, không, hai, ba" in Vietnamese, "A, zero, two, three" in English.
    The commas make espeak-ng pause between items, which is what lets people recognise
    their number. Characters that are neither letters nor digits (spaces, dashes) are
    skipped.
    """
    _check_language(language, ("vi", "en"))
    parts: list[str] = []
    for ch in str(number).strip().upper():
        if ch.isdigit() and ch.isascii():
            parts.append((_VI_DIGITS if language == "vi" else _EN_DIGITS)[int(ch)])
        elif ch.isalpha():
            parts.append(_VI_LETTERS.get(ch, ch.lower()) if language == "vi" else ch)
    if not parts:
        raise ValueError(f"ticket number {number!r} has nothing to read")
    return ", ".join(parts)


def _counter_vi(counter: int | str) -> str:
    # Plain numbers are read as numbers ("mười hai"); labels such as "3B" are read as
    # their number followed by the letter name, so an odd label never crashes the display.
    if isinstance(counter, int) and not isinstance(counter, bool):
        return number_to_vietnamese(counter)
    label = str(counter).strip()
    if label.isdigit():
        return number_to_vietnamese(int(label))
    words = []
    for token in re.findall(r"\d+|[^\W\d_]", label.upper()):
        words.append(
            number_to_vietnamese(int(token)) if token.isdigit() else _VI_LETTERS.get(token, token.lower())
        )
    if not words:
        raise ValueError(f"counter {counter!r} has nothing to read")
    return " ".join(words)


def announcement_text(
    number: str, counter: int | str, language: str = "vi", recall: bool = False
) -> str:
    """Build the sentence announcing that ticket ``number`` should go to ``counter``.

    Vietnamese (default)::

        announcement_text("A023", 5)
        'Xin mời công dân có số thứ tự a, không, hai, ba đến quầy số năm'

    English::

        announcement_text("A023", 5, "en")
        'Ticket number A, zero, two, three, please go to counter 5'

    A recall (``recall=True``) is announced the way a hall announcer repeats a call,
    "Xin nhắc lại: mời công dân có số thứ tự … đến quầy số năm" / "Calling again:
    ticket number …". Raises ValueError for an unsupported language or a
    number/counter that cannot be read.
    """
    _check_language(language, ("vi", "en"))
    spelled = spell_ticket(number, language)
    if language == "vi":
        place = f"có số thứ tự {spelled} đến quầy số {_counter_vi(counter)}"
        return (f"Xin nhắc lại: mời công dân {place}" if recall
                else f"Xin mời công dân {place}")
    text = f"ticket number {spelled}, please go to counter {str(counter).strip()}"
    return ("Calling again: " + text) if recall else text[0].upper() + text[1:]


# --------------------------------------------------------------------------- engines


@runtime_checkable
class SpeechEngine(Protocol):
    """Anything that can say a sentence out loud."""

    def speak(self, text: str, language: str) -> None:
        """Speak ``text`` in ``language`` ("vi" or "en"), returning only when done.

        Implementations raise (preferably :class:`SpeechError`) when speaking failed.
        """
        ...


def write_chime_wav(
    path: str | os.PathLike[str] | BinaryIO,
    tones: tuple[float, ...] = (880.0, 659.25),
    tone_seconds: float = 0.35,
    sample_rate: int = 22050,
    volume: float = 0.5,
) -> Path | None:
    """Write a short "ding-dong" chime (a sequence of decaying sine tones) as a WAV file.

    Uses only the standard library so that no sound asset has to be shipped.
    ``path`` may be an open binary file. Returns the path written (None for a file).
    """
    target = path if hasattr(path, "write") else Path(path)  # type: ignore[arg-type]
    frames = bytearray()
    per_tone = int(sample_rate * tone_seconds)
    fade_in = max(1, int(sample_rate * 0.005))
    for freq in tones:
        for i in range(per_tone):
            t = i / sample_rate
            # Exponential decay sounds like a bell; the short fade-in avoids a click.
            envelope = math.exp(-4.0 * t / tone_seconds) * min(1.0, i / fade_in)
            sample = volume * envelope * math.sin(2 * math.pi * freq * t)
            frames += struct.pack("<h", int(sample * 32767))
    with wave.open(target if hasattr(target, "write") else str(target), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(bytes(frames))
    return None if hasattr(target, "write") else target  # type: ignore[return-value]


def chime_wav_bytes() -> bytes:
    """The built-in chime as the bytes of a WAV file (played from memory)."""
    buf = io.BytesIO()
    write_chime_wav(buf)
    return buf.getvalue()


# espeak-ng exits 0 even when it cannot open the sound device; the only sign is an
# "error: ..." line on stderr after ALSA's own complaints.
_AUDIO_ERROR = re.compile(r"^\s*error\b", re.IGNORECASE | re.MULTILINE)


@dataclass
class EspeakEngine:
    """Speak through the ``espeak-ng`` program, one blocking subprocess per announcement.

    ``voices`` maps our language codes to espeak-ng voice names (e.g. use
    "vi-vn-x-south" for a southern accent). ``speed`` is words per minute; a little
    slower than espeak's default 175 is easier to follow in a noisy hall. With
    ``chime=True`` a short chime is played first through ``paplay``/``aplay`` when one
    is installed (``chime_wav`` overrides the built-in chime); chime problems never
    stop the announcement itself.
    """

    executable: str = "espeak-ng"
    voices: dict[str, str] | None = None
    speed: int | None = 150
    chime: bool = False
    chime_wav: str | None = None
    player: str | None = None
    timeout: float = 60.0

    def __post_init__(self) -> None:
        self.voices = {"vi": "vi", "en": "en", **(self.voices or {})}
        self._chime_warned = False
        self._chime_lock = threading.Lock()
        self._chime_bytes: bytes | None = None

    def _command(self, language: str, extra: list[str] | None = None) -> list[str]:
        _check_language(language, ("vi", "en"))
        cmd = [self.executable, "-v", self.voices[language]]
        if self.speed:
            cmd += ["-s", str(self.speed)]
        # Text goes in on stdin so nothing in it can be mistaken for an option.
        return cmd + (extra or []) + ["--stdin"]

    def _run(self, cmd: list[str], text: str) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                cmd,
                input=text.encode("utf-8"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SpeechError(f"{self.executable} not found", "no_engine") from exc
        except subprocess.TimeoutExpired as exc:
            # A hung synthesiser must not block the queue forever; run() kills it.
            raise SpeechError(f"{self.executable} did not finish within {self.timeout}s",
                              "timeout") from exc

    @staticmethod
    def _stderr_tail(proc: subprocess.CompletedProcess[bytes]) -> str:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""

    def speak(self, text: str, language: str) -> None:
        """Say ``text`` on the default audio device, blocking until espeak-ng exits.

        Raises SpeechError if espeak-ng fails or reports that it could not open the
        audio device (normal on a headless machine).
        """
        cmd = self._command(language)
        if self.chime:
            self._play_chime()
        proc = self._run(cmd, text)
        stderr = proc.stderr.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise SpeechError(
                f"{self.executable} exited with {proc.returncode}: {self._stderr_tail(proc)}"
            )
        if _AUDIO_ERROR.search(stderr):
            raise SpeechError(f"no audio output: {self._stderr_tail(proc)}", "no_audio")

    def synthesize(self, text: str, language: str, path: str | os.PathLike[str]) -> Path:
        """Render ``text`` to a WAV file instead of the speakers (``espeak-ng -w``).

        Useful to check the voice on a machine without a sound card. Returns the path.
        """
        path = Path(path)
        proc = self._run(self._command(language, ["-w", str(path)]), text)
        if proc.returncode != 0 or not path.exists():
            raise SpeechError(
                f"{self.executable} could not write {path}: {self._stderr_tail(proc)}"
            )
        return path

    def _play_chime(self) -> None:
        # Any failure here is logged once and otherwise ignored: a missing chime is
        # cosmetic, a missing announcement is not.
        try:
            player = self.player or shutil.which("paplay") or shutil.which("aplay")
            if player is None:
                raise SpeechError("neither paplay nor aplay is installed")
            # The built-in chime goes to the player on stdin (both read it
            # when given no file), so no temporary file is left in /tmp.
            sound: bytes | None = None
            cmd = [player]
            if Path(player).name == "aplay":
                cmd.append("-q")
            if self.chime_wav is not None:
                cmd.append(self.chime_wav)
            else:
                with self._chime_lock:
                    if self._chime_bytes is None:
                        self._chime_bytes = chime_wav_bytes()
                sound = self._chime_bytes
            proc = subprocess.run(
                cmd, input=sound, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10,
                check=False
            )
            if proc.returncode != 0:
                raise SpeechError(f"{player} exited with {proc.returncode}: {self._stderr_tail(proc)}")
        except Exception as exc:  # noqa: BLE001 - see comment above
            if not self._chime_warned:
                self._chime_warned = True
                log.warning("Chime skipped: %s", exc)


def _voice_available(executable: str, voice: str) -> bool:
    """True if ``espeak-ng --voices`` lists ``voice`` (by language, name or file)."""
    proc = subprocess.run(
        [executable, "--voices"], capture_output=True, timeout=10, check=True
    )
    # A "+variant" suffix (e.g. "vi+f3") selects a variant of the base voice.
    wanted = voice.split("+", 1)[0].lower()
    for line in proc.stdout.decode("utf-8", "replace").lower().splitlines()[1:]:
        cols = line.split()
        # Columns: Pty, Language, Age/Gender, VoiceName, File, [Other languages]
        if len(cols) >= 5 and wanted in {cols[1], cols[3], cols[4], cols[4].rsplit("/", 1)[-1]}:
            return True
    return False


def detect_engine(
    language: str,
    executable: str = "espeak-ng",
    path: str | None = None,
    **engine_options: object,
) -> tuple[SpeechEngine | None, str]:
    """Find a speech engine for ``language`` and say why in Vietnamese and English.

    Returns ``(engine, reason)`` where engine is None when announcements cannot (or
    should not) be made; ``reason`` is meant to be shown to the operator as is.
    ``path`` overrides $PATH for the search (tests use it to simulate a machine
    without espeak-ng); ``engine_options`` are passed to :class:`EspeakEngine`.
    """
    if language == "off":
        return None, "Đã tắt thông báo bằng giọng nói. / Voice announcements are turned off."
    if language not in ("vi", "en"):
        return None, (
            f"Ngôn ngữ không hỗ trợ: {language!r} — đã tắt thông báo. / "
            f"Unsupported language {language!r} — announcements are off."
        )
    found = shutil.which(executable, path=path)
    if found is None:
        return None, (
            f"Chưa cài {executable} — đã tắt thông báo bằng giọng nói. "
            f"Cài đặt bằng lệnh: apt-get install espeak-ng / "
            f"{executable} is not installed — announcements are off. "
            f"Install it with: apt-get install espeak-ng"
        )
    engine = EspeakEngine(executable=found, **engine_options)  # type: ignore[arg-type]
    voice = engine.voices[language]  # type: ignore[index]
    # Ask espeak-ng whether the voice exists: some minimal builds ship without Vietnamese,
    # and espeak-ng would then silently fall back to another voice.
    try:
        available = _voice_available(found, voice)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, (
            f"Không chạy được {executable}: {exc} — đã tắt thông báo. / "
            f"Could not run {executable}: {exc} — announcements are off."
        )
    if not available:
        return None, (
            f"{executable} không có giọng '{voice}' — đã tắt thông báo. / "
            f"{executable} has no '{voice}' voice — announcements are off."
        )
    return engine, (
        f"Đọc số bằng {executable} (giọng {voice}). / "
        f"Announcing with {executable} (voice {voice})."
    )


# --------------------------------------------------------------------------- announcer


_STOP = object()


class Announcer:
    """Speak announcements one at a time, in the order they were requested.

    ``announce`` only builds the text and puts it on a queue, so it is safe (and cheap)
    to call from the Textual event loop or from any thread. A single daemon worker
    thread takes items off the queue and calls ``engine.speak``, which blocks; since
    there is only one worker, two announcements can never overlap.

    With ``language="off"`` or ``engine=None`` everything is a no-op and no thread is
    started. If the engine raises, the first failure is logged as a warning (later ones
    only at debug level, so a headless machine does not flood the log) and the worker
    carries on with the next announcement.

    ``times`` says how often each call is read out (twice is common in large halls);
    the repeats go into one sentence for the engine, so the chime plays once.
    ``on_status(ok, problem, detail)`` is called from the worker thread whenever the
    voice starts failing (``ok=False``, a :data:`PROBLEMS` code and the engine's
    words) or works again (``ok=True``): the display reports it to the server, never
    on the screen.
    """

    def __init__(
        self,
        engine: SpeechEngine | None,
        language: str = "vi",
        logger: logging.Logger | None = None,
        times: int = 1,
        on_status: Callable[[bool, str | None, str], None] | None = None,
    ) -> None:
        """Create the announcer and, unless it is disabled, start its worker thread."""
        _check_language(language, LANGUAGES)
        if not 1 <= times <= 3:
            raise ValueError(f"times must be 1, 2 or 3, got {times}")
        self.engine = engine
        self.language = language
        self.times = times
        self.on_status = on_status
        self._log = logger or log
        self._queue: queue.Queue[object] = queue.Queue()
        # Guards the closed flag together with queue puts, so nothing can be queued
        # behind the stop marker.
        self._lock = threading.Lock()
        self._closed = False
        self._failed_once = False
        self._failing = False
        self.failures = 0
        self._thread: threading.Thread | None = None
        if self.enabled:
            self._thread = threading.Thread(
                target=self._run, name="motcua-announcer", daemon=True
            )
            self._thread.start()

    @property
    def enabled(self) -> bool:
        """True when announcements are actually spoken."""
        return self.engine is not None and self.language != "off"

    @property
    def pending(self) -> int:
        """Announcements waiting to be spoken (not counting the one being spoken)."""
        return self._queue.qsize()

    def announce(self, number: str, counter: int | str, recall: bool = False) -> bool:
        """Queue "ticket ``number`` to ``counter``" and return immediately.

        Returns True if the announcement was queued; False when the announcer is
        disabled or closed, or the number/counter cannot be read (that is logged rather
        than raised, because a voice problem must never break the display).
        """
        if not self.enabled:
            return False
        try:
            text = ". ".join([announcement_text(number, counter, self.language, recall)]
                             * self.times)
        except (ValueError, TypeError) as exc:
            self._log.warning("Cannot announce %r at counter %r: %s", number, counter, exc)
            return False
        with self._lock:
            if self._closed:
                return False
            self._queue.put(text)
        return True

    def close(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stop the worker thread.

        ``drain=True`` (default) speaks everything already queued before stopping;
        ``drain=False`` drops what is still waiting. Either way the announcement being
        spoken right now finishes — cutting a sentence off mid-word helps nobody. Waits
        up to ``timeout`` seconds (None = until done) for the worker. Further
        ``announce`` calls are ignored. Safe to call more than once.
        """
        with self._lock:
            if self._closed:
                already = True
            else:
                already = False
                self._closed = True
                if not drain:
                    self._drop_pending()
                self._queue.put(_STOP)
        if self._thread is not None and (not already or self._thread.is_alive()):
            self._thread.join(timeout)

    def _drop_pending(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        assert self.engine is not None
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self.engine.speak(item, self.language)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - the worker must survive any engine bug
                self.failures += 1
                if not self._failing:
                    self._failing = True
                    self._status(False, problem_of(exc), str(exc))
                if not self._failed_once:
                    self._failed_once = True
                    self._log.warning(
                        "Voice announcement failed (%s); further failures are logged at "
                        "debug level only.",
                        exc,
                    )
                else:
                    self._log.debug("Voice announcement failed again: %s", exc)
            else:
                if self._failing:
                    self._failing = False
                    self._log.info("Voice announcements work again")
                    self._status(True, None, "")

    def _status(self, ok: bool, problem: str | None, detail: str) -> None:
        if self.on_status is None:
            return
        try:
            self.on_status(ok, problem, detail)
        except Exception:  # noqa: BLE001 - a broken listener must not stop the voice
            self._log.exception("voice status listener failed")
