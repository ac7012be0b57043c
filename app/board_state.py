"""The class board's state (issue 24) in plain Python, tested without Streamlit: the students who joined (known
by the session id the server gives, never by anything a browser sends), their pseudonyms, their drawings on the
map and their place in the running lesson; the teacher's prompt; the limits that keep a server's memory bounded
and keep one student from flooding the board. `app/board.py` holds the one Board a server shares and says who
is calling. Every public method prunes first, so nothing outlives its session for long."""
from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from app.board_text import (LESSON_CHARS, PROMPT_CHARS, PSEUDONYM_CHARS, LessonProgress, clean_text, free_pseudonym,
                            lesson_progress, reads_as_teacher)

BLANK_RANGE = 10  # a drawing whose pixels span less than this is blank, as acn_core.data.user_image decides
MAX_SIDE = 64  # pixels: every dataset the app knows is at most 32; a mark stays a few kilobytes
MAX_STEPS = 60  # acn_core.teaching.lesson.MAX_STEPS
NOT_CLASSROOM = ("There is no class board outside classroom mode; serve a class with ACN_TEACHER_PASSPHRASE set "
                 "(make serve-class).")
ENDED = "The teacher has ended the class; wait for the teacher to open a new one."


class BoardError(ValueError):
    """A refused board action: one sentence saying what is wrong and what to do instead."""


@dataclass(frozen=True)
class Limits:
    """Sized for a class of 30 on one two-core server (docs/classroom.md)."""

    per_minute: int = 3  # drawings a student may send in any 60 s: enough to try again, too few to flood
    per_student: int = 10  # 30 students x 10 = the class cap
    per_class: int = 300  # a map of 5,000 points stays readable under 300 marks; about 235 KB of 28x28 images
    students: int = 60  # twice a class: a reloaded tab is a new session until the old one is pruned
    gone_s: float = 30.0  # a closed tab leaves the board this long after its websocket closes; a shorter wifi drop
    #                       or a locked phone (Streamlit resumes the same session) keeps the student's marks
    unseen_s: float = 90 * 60.0  # longer than a double lesson: a backstop for sessions the server cannot report on


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the server knows it: its session id, and whether it entered the teacher's passphrase."""

    session: str
    teacher: bool


@dataclass(frozen=True)
class Mark:
    """One drawing on the board: the image the model saw, where it landed on the map of `model` (a bundle's
    content hash: positions mean nothing on another model's map) and the label of its nearest training code."""

    id: int
    name: str  # the student's pseudonym
    image: np.ndarray  # (C, H, W) uint8, read-only
    xy: tuple[float, float]
    label: int
    model: str
    at: float  # the board's clock when it was sent
    hidden: bool = False  # hidden from the board by the teacher


@dataclass
class Student:
    name: str
    seen: float
    marks: list[Mark] = field(default_factory=list)
    sends: deque = field(default_factory=deque)  # times of the latest sends, for the rate limit
    lesson: str = ""  # the running lesson's title, its step (1-based), its step count, and whether the step's
    step: int = 0  #    "Your turn" is done
    steps: int = 0
    done: bool = False
    gone_since: float | None = None  # when the server first said the session was no longer connected


@dataclass(frozen=True)
class BoardView:
    """What the teacher's screen shows, copied out under the lock."""

    open: bool
    prompt: str
    students: int
    marks: tuple[Mark, ...]
    progress: tuple[LessonProgress, ...]
    version: int


class Board:
    """One class's board, shared by every session of a server process; every method holds the lock.
    `enabled()` says whether classroom mode is on (asked at every call: outside it the board empties and refuses
    or ignores everything); `alive(session)` whether the server still has that session connected."""

    def __init__(self, enabled: Callable[[], bool], alive: Callable[[str], bool], limits: Limits = Limits(),
                 clock: Callable[[], float] = time.monotonic, seed: int | None = None):
        self._enabled, self._alive, self.limits, self._clock = enabled, alive, limits, clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._reset()
        self._version = 0

    def _reset(self) -> None:
        self._open, self._prompt, self._next_id = True, "", 0
        self._students: dict[str, Student] = {}

    # ---- held under the lock by every public method ---------------------------------------------------------

    def _prune(self, now: float) -> bool:
        """Drop students whose session ended (gone for `gone_s`) or who were unseen for `unseen_s`; empty the
        board outside classroom mode. False outside classroom mode."""
        if not self._enabled():
            if self._students or self._prompt:
                self._reset()
                self._version += 1
            return False
        for session, student in list(self._students.items()):
            if self._alive(session):
                student.gone_since = None
            elif student.gone_since is None:
                student.gone_since = now
            if (student.gone_since is not None and now - student.gone_since >= self.limits.gone_s
                    or now - student.seen >= self.limits.unseen_s):
                del self._students[session]
                self._version += 1
        return True

    def _open_class(self, now: float) -> None:
        if not self._prune(now):
            raise BoardError(NOT_CLASSROOM)
        if not self._open:
            raise BoardError(ENDED)

    def _student(self, caller: Caller, now: float) -> Student:
        self._open_class(now)
        student = self._students.get(caller.session)
        if student is None:
            raise BoardError("You have not joined the class board; join it first.")
        student.seen = now
        return student

    def _teacher(self, caller: Caller, now: float, doing: str) -> None:
        if not self._prune(now):
            raise BoardError(NOT_CLASSROOM)
        if not caller.teacher:
            raise BoardError(f"Only the teacher can {doing}; enter the teacher's passphrase in the sidebar.")

    # ---- students ----------------------------------------------------------------------------------------------

    def join(self, caller: Caller, pseudonym: str = "") -> str:
        """Join (or change one's pseudonym); an empty pseudonym is given one. Returns the pseudonym."""
        with self._lock:
            now = self._clock()
            self._open_class(now)
            if caller.teacher:
                raise BoardError("You are the teacher: the board gathers the students' drawings, not yours.")
            name = clean_text(pseudonym, PSEUDONYM_CHARS)
            folded = name.casefold()
            if reads_as_teacher(name):
                raise BoardError("That pseudonym could pass for the teacher; pick another, or leave it empty to be "
                                 "given one.")
            if any(s.name.casefold() == folded for k, s in self._students.items() if k != caller.session):
                raise BoardError("Another student has that pseudonym; pick another, or leave it empty to be given one.")
            student = self._students.get(caller.session)
            if student is None and len(self._students) >= self.limits.students:
                raise BoardError(f"The class board is full ({self.limits.students} students); ask the teacher.")
            name = name or (student.name if student else
                            free_pseudonym({s.name.casefold() for s in self._students.values()}, self._random))
            if student is None:
                self._students[caller.session] = Student(name, now)
            elif student.name != name:
                student.name, student.seen = name, now
                student.marks = [replace(mark, name=name) for mark in student.marks]
            self._version += 1
            return name

    def send(self, caller: Caller, image: np.ndarray, xy, label: int, model: str) -> Mark:
        """Put a drawing on the board: the image the model saw (uint8, (C, H, W)), where it landed on `model`'s
        map and its nearest training label. BoardError if it is blank or a limit is reached."""
        with self._lock:
            now = self._clock()
            student = self._student(caller, now)
            image = np.asarray(image)
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] not in (1, 3) \
                    or not 0 < max(image.shape[1:]) <= MAX_SIDE:
                raise BoardError(f"The drawing is not a picture of at most {MAX_SIDE}x{MAX_SIDE} pixels; draw it "
                                 f"again.")
            if int(image.max()) - int(image.min()) < BLANK_RANGE:
                raise BoardError("The drawing is blank: draw a digit (light strokes on a dark background) first.")
            try:
                x, y = (float(v) for v in np.asarray(xy, dtype=np.float64).reshape(2))
            except (TypeError, ValueError):
                x = y = math.nan
            if not (math.isfinite(x) and math.isfinite(y)) or not isinstance(model, str) or not 0 < len(model) <= 128:
                raise BoardError("The drawing has no place on the map; draw it again.")
            if len(student.marks) >= self.limits.per_student:
                raise BoardError(f"You have {len(student.marks)} drawings on the board, the most one student may; "
                                 f"remove your marks to send new ones.")
            if sum(len(s.marks) for s in self._students.values()) >= self.limits.per_class:
                raise BoardError(f"The board is full ({self.limits.per_class} drawings); the teacher can end the "
                                 f"class to start a new one.")
            while student.sends and now - student.sends[0] >= 60:
                student.sends.popleft()
            if len(student.sends) >= self.limits.per_minute:
                wait = math.ceil(60 - (now - student.sends[0]))
                raise BoardError(f"You can send {self.limits.per_minute} drawings a minute: the next in {wait} s.")
            image = image.copy()
            image.flags.writeable = False  # shared with the teacher's session: never changed in place
            mark = Mark(self._next_id, student.name, image, (x, y), int(label), model, now)
            self._next_id += 1
            student.marks.append(mark)
            student.sends.append(now)
            self._version += 1
            return mark

    def remove_marks(self, caller: Caller) -> int:
        """The caller's own drawings off the board; how many there were."""
        with self._lock:
            self._prune(self._clock())
            student = self._students.get(caller.session)
            removed = len(student.marks) if student else 0
            if removed:
                student.marks = []
                self._version += 1
            return removed

    def leave(self, caller: Caller) -> None:
        """The caller off the board: pseudonym, drawings and lesson place."""
        with self._lock:
            self._prune(self._clock())
            if self._students.pop(caller.session, None) is not None:
                self._version += 1

    def report_step(self, caller: Caller, lesson: str, step: int, steps: int, done: bool) -> None:
        """Where a joined student is in a lesson (`lesson` empty: in none). Ignored for anyone else."""
        with self._lock:
            now = self._clock()
            student = self._students.get(caller.session) if self._prune(now) and self._open else None
            if student is None:
                return
            student.seen = now
            title = clean_text(lesson, LESSON_CHARS)
            steps = min(max(int(steps), 0), MAX_STEPS)
            place = (title, min(max(int(step), 1), steps), steps, bool(done)) if title and steps else ("", 0, 0, False)
            if place != (student.lesson, student.step, student.steps, student.done):
                student.lesson, student.step, student.steps, student.done = place
                self._version += 1

    def mine(self, caller: Caller) -> tuple[str, tuple[Mark, ...]] | None:
        """The caller's pseudonym and own drawings (never anyone else's), or None if not on the board."""
        with self._lock:
            now = self._clock()
            student = self._students.get(caller.session) if self._prune(now) else None
            if student is None:
                return None
            student.seen = now
            return student.name, tuple(student.marks)

    def prompt(self) -> str:
        """The teacher's prompt, for every session of an open class ("" if none)."""
        with self._lock:
            return self._prompt if self._prune(self._clock()) and self._open else ""

    # ---- the teacher -------------------------------------------------------------------------------------------

    def view(self, caller: Caller) -> BoardView:
        with self._lock:
            self._teacher(caller, self._clock(), "see the class board")
            students = list(self._students.values())
            return BoardView(self._open, self._prompt, len(students), tuple(m for s in students for m in s.marks),
                             lesson_progress((s.lesson, s.step, s.steps, s.done) for s in students), self._version)

    def version(self, caller: Caller) -> int:
        """A number that changes whenever the board does (the teacher's screen redraws only then)."""
        with self._lock:
            self._teacher(caller, self._clock(), "see the class board")
            return self._version

    def set_prompt(self, caller: Caller, text: str) -> str:
        with self._lock:
            self._teacher(caller, self._clock(), "set the prompt")
            self._prompt = clean_text(text, PROMPT_CHARS)
            self._version += 1
            return self._prompt

    def hide(self, caller: Caller, mark_id: int, hidden: bool = True) -> None:
        with self._lock:
            self._teacher(caller, self._clock(), "hide a drawing")
            for student in self._students.values():
                for i, mark in enumerate(student.marks):
                    if mark.id == mark_id:
                        student.marks[i] = replace(mark, hidden=hidden)
                        self._version += 1
                        return
            raise BoardError("That drawing is no longer on the board: its student removed it or left.")

    def end_class(self, caller: Caller) -> None:
        """Clear everything (students, pseudonyms, drawings, lesson places, the prompt) and close the class."""
        with self._lock:
            self._teacher(caller, self._clock(), "end the class")
            self._reset()
            self._open = False
            self._version += 1

    def open_class(self, caller: Caller) -> None:
        with self._lock:
            self._teacher(caller, self._clock(), "open a class")
            self._open = True
            self._version += 1
