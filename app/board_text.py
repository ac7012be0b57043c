"""What the class board reads and says, in plain Python: text from students and the teacher cleaned to one
line of plain text, the pseudonyms it gives, and the teacher's sentences (where the drawings landed, where the
class is in a lesson). The board's state and rules are in board_state.py."""
from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

PSEUDONYM_CHARS, PROMPT_CHARS, LESSON_CHARS = 24, 80, 60
DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn"}  # control, format (bidi overrides, isolates, zero-width), surrogate,
#                                         private-use and unassigned characters: invisible or shown unpredictably
RESERVED = ("teacher", "admin", "moderator")  # a pseudonym holding one of these could pass for the teacher
ADJECTIVES = ("Blue", "Green", "Amber", "Coral", "Silver", "Violet", "Golden", "Scarlet", "Teal", "Indigo", "Jade",
              "Copper")
ANIMALS = ("Otter", "Heron", "Lynx", "Badger", "Falcon", "Gecko", "Panda", "Walrus", "Koala", "Puffin", "Ibex",
           "Marten")


def clean_text(raw: object, limit: int) -> str:
    """`raw` as one line of plain text: compatibility forms folded (NFKC, so a full-width "Ｔeacher" reads as
    "Teacher"), control and format characters (bidi overrides among them) dropped, whitespace collapsed to
    single spaces, at most `limit` characters; anything but text reads as empty. HTML and markdown stay as
    literal characters: whoever shows the text shows it as text (plotly's hover escaped, markdown escaped)."""
    if not isinstance(raw, str):
        return ""
    text = " ".join(unicodedata.normalize("NFKC", raw[:limit * 16]).split())  # a 10 MB paste costs no more
    text = "".join(ch for ch in text if unicodedata.category(ch) not in DROPPED)
    return " ".join(text.split())[:limit].strip()


def reads_as_teacher(name: str) -> bool:
    return any(word in name.casefold() for word in RESERVED)


def free_pseudonym(taken: set[str], rng: random.Random) -> str:
    """A pseudonym like "Blue Otter" that no one in `taken` (case-folded) has."""
    names = [f"{a} {b}" for a in ADJECTIVES for b in ANIMALS]
    rng.shuffle(names)
    free = [name for name in names if name.casefold() not in taken]
    return free[0] if free else f"{names[0]} {len(taken) + 1}"


def landing_sentence(marks: Iterable, label_names: list[str]) -> str:
    """Where the shown (not hidden) marks landed: "24 landed among the 7s, 4 among the 1s, 2 among the 9s"."""
    counts: dict[int, int] = {}
    for mark in marks:
        if not mark.hidden:
            counts[mark.label] = counts.get(mark.label, 0) + 1
    if not counts:
        return "No drawings on the board yet."
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def among(label: int) -> str:
        name = label_names[label] if 0 <= label < len(label_names) else str(label)
        return f"the {name}" if name.endswith("s") else f"the {name}s"
    return ", ".join(f"{n}{' landed' if i == 0 else ''} among {among(label)}" for i, (label, n) in enumerate(ranked))


@dataclass(frozen=True)
class LessonProgress:
    lesson: str
    on_step: tuple[int, ...]  # students on step i + 1
    finished: tuple[int, ...]  # of them, those who finished its Your turn

    def sentence(self) -> str:
        parts = [f"{n} on step {i + 1} ({done} finished its Your turn)"
                 for i, (n, done) in enumerate(zip(self.on_step, self.finished)) if n]
        return f"{self.lesson}: " + (", ".join(parts) if parts else "nobody on a step") + "."


def lesson_progress(places: Iterable[tuple[str, int, int, bool]]) -> tuple[LessonProgress, ...]:
    """From each student's (lesson, step, steps, done), per lesson followed (most students first): how many are
    on each step, and how many of them finished its Your turn."""
    by_lesson: dict[str, list[tuple[int, int, bool]]] = {}
    for lesson, step, steps, done in places:
        if lesson:
            by_lesson.setdefault(lesson, []).append((step, steps, done))
    out = []
    for lesson, group in sorted(by_lesson.items(), key=lambda item: (-len(item[1]), item[0])):
        numbers = range(1, max(steps for _, steps, _ in group) + 1)
        out.append(LessonProgress(lesson, tuple(sum(step == n for step, _, _ in group) for n in numbers),
                                  tuple(sum(step == n and done for step, _, done in group) for n in numbers)))
    return tuple(out)
