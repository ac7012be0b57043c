"""Lessons as data: a small, documented schema for a guided tour through the app's views, and its checks.

A lesson is one JSON file (UTF-8, at most `MAX_FILE_BYTES`, 1 MB)::

    {"format": "acn-explorer-lesson", "version": 1,
     "title": "What an ACN learns",                  # at most MAX_TITLE characters
     "description": "optional, plain text",          # at most MAX_TEXT characters
     "steps": [                                      # 1 to MAX_STEPS steps
       {"title": "A code is a point",                # required, at most MAX_TITLE characters
        "text": "Two or three sentences ...",        # required, at most MAX_TEXT characters
        "todo": "Click any point on the map.",       # optional: what the student should do
        "page": "latent_map",                        # a page of the app: the file name in pages/ without .py
        "state": {"model": "default-mnist5k (bundled)", "sample": 12, "map_colour": "label"},
                                                     # the view: URL keys -> a string, whole number or true/false
        "expect": "click",                           # optional, one of ACTIONS: what the runner waits for
        "highlight": ["latent_map"],                 # optional: widget keys to light up
        "hide": ["map_labels"]}                      # optional: widget keys hidden in presenter mode
     ]}

A text may name numbers of the view its step opens, filled in when the step is shown (`fill_numbers`):
`{a.kl_nats}` (a held-out metric of the model named by the step's `compare_a`; `b.`, `model.` alike),
`{sample.code_cost}`, `{why.total_nats}`, `{walk.trend}`, ...: the app says which it knows.

Everything in a lesson is data: text is shown as text (never HTML or markdown: `as_plain_markdown`), names
are checked against patterns, and nothing in it is executed. What a file can only be judged against on a
running server (does the page exist, does the server hold the model) is judged by `usable_steps`, which
skips such a step with a note naming it rather than refusing the whole lesson.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from acn_core.storage import BundleError, regular_file, write_bytes_atomic

FORMAT = "acn-explorer-lesson"
VERSION = 1
MAX_FILE_BYTES = 1_000_000  # 1 MB, as Streamlit's uploader counts it in the browser (its limit is whole MB)
MAX_STEPS = 60
MAX_TITLE = 120
MAX_TEXT = 1500
MAX_STATE_KEYS = 24
MAX_STATE_VALUE = 16384  # characters: a region's compressed bitmask of 60,000 items fits
MAX_WIDGET_KEYS = 12
ACTIONS = {  # what a step can wait for, and what the student sees while it waits
    "click": "click a point (or type an index)",
    "region": "select a region (box or lasso)",
    "daydream": "step the daydream",
    "draw": "draw a digit (or upload one)",
    "edit": "move a code slider",
    "neighbour": "pick another neighbour",
    "walk": "choose the two ends of the walk",
    "colour": "change the colouring",
}
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")  # a lesson's file name (without .json)
PAGE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")  # state keys and widget keys: CSS- and URL-safe
MODEL_KEYS = ("model", "compare_a", "compare_b")  # state keys that name a model of the server
STEP_FIELDS = {"title", "text", "todo", "page", "state", "expect", "highlight", "hide"}
TOP_FIELDS = {"format", "version", "title", "description", "steps"}


class LessonError(ValueError):
    """A file that is not a usable lesson; the message names the field and the rule."""


@dataclass
class Step:
    """One step: what to read, which view to open, and what the student is asked to do."""

    title: str
    text: str
    page: str
    todo: str = ""
    state: dict[str, str | int | bool] = field(default_factory=dict)
    expect: str | None = None
    highlight: list[str] = field(default_factory=list)
    hide: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        obj = {"title": self.title, "text": self.text, "page": self.page}
        if self.todo:
            obj["todo"] = self.todo
        if self.state:
            obj["state"] = dict(self.state)
        if self.expect:
            obj["expect"] = self.expect
        if self.highlight:
            obj["highlight"] = list(self.highlight)
        if self.hide:
            obj["hide"] = list(self.hide)
        return obj


@dataclass
class Lesson:
    title: str
    steps: list[Step]
    description: str = ""

    def to_json(self) -> dict:
        obj = {"format": FORMAT, "version": VERSION, "title": self.title, "steps": [s.to_json() for s in self.steps]}
        if self.description:
            obj["description"] = self.description
        return obj

    def to_bytes(self) -> bytes:
        """The lesson as its file: the same bytes every time for the same lesson."""
        return (json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n").encode()


def clean_text(value, where: str, limit: int, required: bool = True) -> str:
    """A string field with control and format characters (bidi overrides, zero-width) removed, newlines
    kept, at most `limit` characters."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise LessonError(f"{where} must be text, not {type(value).__name__}")
    text = "".join(ch for ch in value if ch in "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    text = text.strip()
    if required and not text:
        raise LessonError(f"{where} is empty")
    if len(text) > limit:
        raise LessonError(f"{where} has {len(text):,} characters; at most {limit:,} are allowed")
    return text


def _keys(value, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_WIDGET_KEYS:
        raise LessonError(f"{where} must be a list of at most {MAX_WIDGET_KEYS} widget keys")
    for key in value:
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise LessonError(f"{where}: {str(key)[:40]!r} is not a widget key (lower-case letters, digits and _)")
    return list(value)


def _state(value, where: str) -> dict[str, str | int | bool]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LessonError(f"{where} must be an object of view keys, not {type(value).__name__}")
    if len(value) > MAX_STATE_KEYS:
        raise LessonError(f"{where} has {len(value)} keys; at most {MAX_STATE_KEYS} are allowed")
    state = {}
    for key, item in value.items():
        if not KEY_PATTERN.fullmatch(key):
            raise LessonError(f"{where}: {key[:40]!r} is not a view key (lower-case letters, digits and _)")
        if isinstance(item, bool) or (isinstance(item, int) and abs(item) < 2**53):
            state[key] = item
        elif isinstance(item, str):
            state[key] = clean_text(item, f"{where}.{key}", MAX_STATE_VALUE, required=False)
        else:
            raise LessonError(f"{where}.{key} must be text, a whole number or true/false, not {type(item).__name__}")
    return state


def _no_unknown(obj: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise LessonError(f"{where}unknown field(s) {', '.join(repr(u[:40]) for u in unknown[:5])}; "
                          f"allowed: {', '.join(sorted(allowed))}")


def parse_step(obj, number: int) -> Step:
    where = f"step {number}"
    if not isinstance(obj, dict):
        raise LessonError(f"{where} must be an object, not {type(obj).__name__}")
    _no_unknown(obj, STEP_FIELDS, f"{where} has ")
    page = obj.get("page")
    if not isinstance(page, str) or not PAGE_PATTERN.fullmatch(page):
        raise LessonError(f"{where}.page must name a page of the app (e.g. 'latent_map'), not {str(page)[:40]!r}")
    expect = obj.get("expect")
    if expect is not None and expect not in ACTIONS:
        raise LessonError(f"{where}.expect {str(expect)[:40]!r} is not one of {', '.join(ACTIONS)}")
    return Step(title=clean_text(obj.get("title"), f"{where}.title", MAX_TITLE),
                text=clean_text(obj.get("text"), f"{where}.text", MAX_TEXT),
                todo=clean_text(obj.get("todo"), f"{where}.todo", MAX_TEXT, required=False),
                page=page, state=_state(obj.get("state"), f"{where}.state"), expect=expect,
                highlight=_keys(obj.get("highlight"), f"{where}.highlight"),
                hide=_keys(obj.get("hide"), f"{where}.hide"))


def parse(raw: bytes | str | dict) -> Lesson:
    """A checked `Lesson` from a file's bytes (or its parsed JSON); a `LessonError` naming what is wrong."""
    if isinstance(raw, (bytes, str)):
        size = len(raw.encode() if isinstance(raw, str) else raw)
        if size > MAX_FILE_BYTES:
            raise LessonError(too_big("the file", size))
        try:
            raw = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise LessonError(f"not a lesson: the file is not valid JSON ({str(err)[:120]})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise LessonError(f"not a lesson: a lesson file is a JSON object with \"format\": \"{FORMAT}\"")
    if raw.get("version") != VERSION:
        raise LessonError(f"lesson version {str(raw.get('version'))[:20]} is not supported (this app reads {VERSION})")
    _no_unknown(raw, TOP_FIELDS, "")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise LessonError("steps must be a non-empty list of steps")
    if len(steps) > MAX_STEPS:
        raise LessonError(f"the lesson has {len(steps):,} steps; at most {MAX_STEPS} are allowed")
    return Lesson(title=clean_text(raw.get("title"), "title", MAX_TITLE),
                  description=clean_text(raw.get("description"), "description", MAX_TEXT, required=False),
                  steps=[parse_step(step, n + 1) for n, step in enumerate(steps)])


def usable_steps(lesson: Lesson, pages: set[str], models: set[str]) -> tuple[list[int], list[str]]:
    """The indices of the steps this server can show, and one note per skipped step naming why: its page is
    not one of `pages`, or a model it names (`MODEL_KEYS`) is not one of `models`."""
    usable, notes = [], []
    for n, step in enumerate(lesson.steps):
        missing = [str(step.state[key]) for key in MODEL_KEYS if key in step.state and step.state[key] not in models]
        if step.page not in pages:
            notes.append(f"Step {n + 1} ({step.title[:60]}) is skipped: this app has no page {step.page!r}.")
        elif missing:
            notes.append(f"Step {n + 1} ({step.title[:60]}) is skipped: this server has no model {missing[0][:80]!r}.")
        else:
            usable.append(n)
    return usable, notes


def too_big(what: str, size: int) -> str:
    """Why a file of `size` bytes is refused, its size as it is."""
    return (f"{what} has {size:,} bytes ({size / 1e6:.1f} MB); a lesson is at most {MAX_FILE_BYTES:,} bytes "
            f"({MAX_FILE_BYTES / 1e6:g} MB)")


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=])")
# where Streamlit's markdown would start a link of its own (an autolink: http:, https:, www., an e-mail's @); it
# finds them in the text after escapes are read, so a WORD JOINER (U+2060, invisible) is put in their way
_AUTOLINK = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?=@)")


def as_plain_markdown(text: str) -> str:
    """Text that Streamlit's markdown shows exactly as written: every markdown, HTML, LaTeX ($) and
    shortcode (:) character backslash-escaped, bare URLs and e-mail addresses kept from becoming links, line
    breaks kept."""
    text = _AUTOLINK.sub("\u2060", text)
    return "  \n".join(_MARKDOWN_SPECIAL.sub(r"\\\1", line) for line in text.split("\n"))


_NUMBER = re.compile(r"\{([a-z]+\.[a-z_]+)\}")


def fill_numbers(text: str, numbers: dict[str, float | int | str | None]) -> str:
    """Replace `{a.kl_nats}`-style tokens by the named number or word (so a sentence about a view is computed
    from that view's numbers); tokens not in `numbers` stay as written, a missing number reads "n/a"."""
    def number(match: re.Match) -> str:
        if match.group(1) not in numbers:
            return match.group(0)
        value = numbers[match.group(1)]
        if value is None:
            return "n/a"
        if isinstance(value, (str, int)):
            return str(value)
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return _NUMBER.sub(number, text)


def number_tokens(text: str) -> set[str]:
    """The `{x.name}` tokens a text asks for."""
    return set(_NUMBER.findall(text))


TRENDS = {"rises": "rises above both ends", "dips": "dips below both ends", "between": "stays between the two ends"}


def walk_numbers(nats) -> dict[str, str | int | float | None]:
    """What a sentence may say about a walk's cost per frame (`nats`, A first): how the cost goes between the
    ends (`trend`, one of TRENDS' phrases: above both ends, below both, or between them, whichever frame strays
    furthest), that frame and its cost, and the ends' costs."""
    nats = [float(n) for n in nats]
    ends, inner = (nats[0], nats[-1]), nats[1:-1]
    numbers = {"a_nats": ends[0], "b_nats": ends[1], "trend": None, "frame": None, "frame_nats": None}
    if not inner:
        return numbers
    rise, dip = max(inner) - max(ends), min(ends) - min(inner)
    kind = "rises" if rise > 0 and rise >= dip else "dips" if dip > 0 else "between"
    frame = 1 + (inner.index(min(inner)) if kind == "dips" else inner.index(max(inner)))
    return {**numbers, "trend": TRENDS[kind], "frame": frame, "frame_nats": nats[frame]}


def read(path: Path) -> Lesson:
    """The lesson in the file at `path` (a regular file of at most MAX_FILE_BYTES, checked before reading)."""
    try:
        regular_file(path, "lesson file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LessonError(too_big(path.name, size))
        return parse(path.read_bytes())
    except (BundleError, OSError) as err:
        raise LessonError(f"{path.name}: {err}") from None
    except LessonError as err:
        raise LessonError(f"{path.name}: {err}") from None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise LessonError(f"{str(name)[:60]!r} is not a lesson name: 1 to 48 lower-case letters, digits, - and _, "
                          "starting with a letter or digit")
    return name


def save(folder: Path, name: str, lesson: Lesson) -> Path:
    """Write `lesson` as `folder/name.json`, atomically (a crash leaves the previous file whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{check_name(name)}.json"
    write_bytes_atomic(path, lesson.to_bytes())
    return path


def delete(folder: Path, name: str) -> None:
    path = folder / f"{check_name(name)}.json"
    try:
        regular_file(path, "lesson file")
    except BundleError as err:
        raise LessonError(str(err)) from None
    path.unlink()


def names(folder: Path) -> list[str]:
    """The lesson names in `folder` (files `<name>.json` whose name is a valid lesson name), sorted."""
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if NAME_PATTERN.fullmatch(p.stem))
