"""The classroom load test (`python -m bench classroom N [--board] [--hostile] [--bad-inputs] [--browser B]`): its
run (`load_test`) and its harder phases: hostile uploads while a teacher trains, bad clients (docs/bad-inputs.md,
row 41), a check against real Chromium sessions. The students themselves are in `classroom.py`, the board phase in
`class_board.py`, the memory probe in `class_memory.py`, the goals printed with the figures in `class_goals.py`."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import secrets
import shutil
import struct
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

from .class_board import board_class, board_headline, board_rounds, print_board
from .class_goals import write_goals
from .class_memory import MemoryProbe, diagnose_memory
from .classroom import (REPO, MapPoints, MemoryWatch, Tally, a_class, click, print_server_tracebacks,
                        print_tally, serve)
from .stream_client import StreamSession, string_value

DEFAULT_BUNDLE = REPO / "assets" / "default-mnist5k"
PHASE_SECONDS = 45.0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _resigned_zip(out: Path, change) -> bytes:
    """The bundled model, changed by `change(folder)`, its hashes and index sidecar re-signed so no checksum
    catches it, zipped as the Home page's download makes it."""
    folder = out / "default-mnist5k"
    shutil.copytree(DEFAULT_BUNDLE, folder)
    change(folder)
    if (folder / "index.json").is_file():  # small bundles build their index from their codes and ship none
        sidecar = json.loads((folder / "index.json").read_text())
        sidecar["sha256"] = _sha256(folder / "index.ann")
        (folder / "index.json").write_text(json.dumps(sidecar))
    meta = json.loads((folder / "config.json").read_text())
    meta["files"] = {name: _sha256(folder / name) for name in meta["files"]}
    (folder / "config.json").write_text(json.dumps(meta))
    zipped = out / "bundle.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{folder.name}/{path.name}")
    shutil.rmtree(folder)
    return zipped.read_bytes()


def _flip_bytes(folder: Path) -> None:
    """Bit-flips through the index, or through the tensors' data where the bundle ships no index."""
    target = folder / ("index.ann" if (folder / "index.ann").is_file() else "data.safetensors")
    data = bytearray(target.read_bytes())
    for at in range(len(data) // 2, len(data), 997):
        data[at] ^= 0xFF
    target.write_bytes(bytes(data))


def _huge_sizes(folder: Path) -> None:
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["model"]["prior_layers"] = 300
    (folder / "config.json").write_text(json.dumps(meta))


def hostile_bundles(work: Path) -> dict[str, bytes]:
    """A handful of hostile uploads, made as tests/test_hostile.py and tests/test_fuzz.py make them."""
    truncated = b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", 20, 0, 0, 0, 0, 12345, 2, 2, 13, 0) + b"b/config.json{}"
    bomb = work / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("b/data.safetensors", "w",
                                                                                   force_zip64=True) as entry:
        zeros = bytes(1 << 24)
        for _ in range(72):  # 1.2 GB of zeros, a little over 1 MB zipped
            entry.write(zeros)
    escape = work / "escape.zip"
    with zipfile.ZipFile(escape, "w") as archive:
        archive.writestr("../../outside.json", "{}")
        archive.writestr("/etc/absolute.json", "{}")
    return {"not-a-zip.zip": os.urandom(200_000), "truncated-lying-crc.zip": truncated, "bomb.zip": bomb.read_bytes(),
            "escape.zip": escape.read_bytes(), "resigned-bit-flips.zip": _resigned_zip(work, _flip_bytes),
            "huge-sizes.zip": _resigned_zip(work, _huge_sizes)}


async def uploader(url: str, bundles: dict[str, bytes], tally: Tally, answers: dict) -> None:
    """A student on Home uploading each hostile bundle in turn; records what the page answered."""
    session = StreamSession(url)
    try:
        await session.open("")
        for name, data in bundles.items():
            state = await asyncio.to_thread(session.upload, data, name)
            run = await session.rerun(values={"upload": state})
            run.error_alerts = 0  # a refusal is the right answer here; an answer naming nothing is not
            tally.add("hostile upload", run, expect=Path(name).stem)
            answers[name] = next((t for t in run.texts if Path(name).stem in t), "no answer shown")[:160]
            await asyncio.sleep(1.0)
    finally:
        await session.close()


def load_test(n: int, rounds: int = 2, settle: float = 60.0, soak_minutes: float = 0.0, soak_sessions: int = 10,
              hostile: bool = False, bad_inputs: bool = False, browser: int = 0, json_path: Path | None = None,
              board: bool = False, board_only: bool = False, board_shots: Path | None = None,
              memory_probe: Path | None = None) -> None:
    """A class of `n` students (1-100) on a server started for it in classroom mode (a passphrase of its own): one
    student alone (the quiet baseline), the class clicking at once, the class through the whole lesson `rounds`
    times, with `board` the board phase (`board_only`: the board phase alone; `board_shots`: its screenshots),
    memory `settle` seconds after they leave; then, as asked, the hostile and bad-input phases, a soak of
    `soak_sessions` students for `soak_minutes`, and `browser` real Chromium pages. Prints every phase and the
    goals; `json_path`: every figure. `memory_probe`: a folder for the server's tracemalloc snapshots and where
    the memory went (slow: a diagnosis, not a measurement)."""
    figures: dict = {"machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"}
    passphrase = secrets.token_urlsafe(12)
    env = {"ACN_TEACHER_PASSPHRASE": passphrase, **({"ACN_MEMORY_PROBE": str(memory_probe)} if memory_probe else {})}
    probe = MemoryProbe(memory_probe) if memory_probe else None
    with tempfile.TemporaryDirectory() as home, serve(Path(home), Path(home) / "server.log", env) as (url, server):
        memory = MemoryWatch(server.pid)
        asyncio.run(a_class(url, 1, 1, 120, think=(0, 0), only_clicks=True))  # warm the caches: the idle figure
        time.sleep(5)
        figures["idle MB"] = memory.now()
        if probe:
            probe.take("idle", "trace")  # allocations are traced from here on
        t0 = time.time()
        if not board_only:
            quiet = asyncio.run(a_class(url, 1, 4, 300, think=(0.2, 0.4), only_clicks=True))
            print_tally("one student alone (the quiet baseline)", quiet)
            clicking = asyncio.run(a_class(url, n, 4, 900, only_clicks=True, seed=1))
            print_tally(f"{n} students clicking at once (20 clicks each, 0.5-2 s apart)", clicking)
            lesson = asyncio.run(a_class(url, n, rounds, 900, seed=2))
            print_tally(f"{n} students through the whole lesson, {rounds} times each", lesson)
            figures["quiet"], figures["class"], figures["lesson"] = quiet, clicking, lesson
        if board or board_only or board_shots:
            figures["board"] = asyncio.run(board_class(url, n, passphrase, shots=board_shots))
            print_board(figures["board"], n)
        figures["class peak MB"] = memory.peak_since(t0)
        if probe:
            probe.take("class")
        time.sleep(settle)
        figures["after leaving MB"] = memory.now()
        if "board" in figures:
            figures["board after leaving"] = asyncio.run(board_headline(url, passphrase))
        if probe:
            diagnose_memory(probe, url, settle)
        if hostile:
            figures.update(hostile_phase(url, Path(home), n))
        if bad_inputs:
            figures.update(bad_inputs_phase(url, n, server))
        if soak_minutes > 0:
            t0 = time.time()
            start_mb = []
            threading.Timer(60, lambda: start_mb.append(memory.now())).start()
            soak_board = Tally()
            extra = [board_rounds(url, soak_sessions, passphrase, soak_minutes * 60, soak_board)] if board else []
            soak = asyncio.run(a_class(url, soak_sessions, 10_000, soak_minutes * 60, extra=extra))
            soak.merge(soak_board)
            figures["soak"] = soak
            figures["soak MB"] = (start_mb[0] if start_mb else float("nan"), memory.now(), memory.peak_since(t0))
            figures["soak minutes"] = (time.time() - t0) / 60
            print_tally(f"soak: {soak_sessions} students for {figures['soak minutes']:.1f} min"
                        + (f", and classes of {soak_sessions} on the board one after another" if board else ""), soak)
        if browser:
            figures.update(browser_check(url, browser))
        memory.stop()
        figures["memory timeline"] = memory.samples[::5]
        figures["server alive"] = server.poll() is None
        print_server_tracebacks(Path(home) / "server.log")
    write_goals(figures, n, json_path)


def hostile_phase(url: str, home: Path, n: int) -> dict:
    """The class (N - 1 students clicking) quiet, then while one student uploads hostile bundles and a
    teacher's training job runs: the others' click p95 in both."""
    from acn_core import jobs
    from acn_core.config import RunConfig

    quiet = asyncio.run(a_class(url, n - 1, 10_000, PHASE_SECONDS, only_clicks=True, seed=7))
    print_tally(f"{n - 1} students clicking, quiet", quiet)
    with tempfile.TemporaryDirectory() as work:
        bundles = hostile_bundles(Path(work))
    config = RunConfig()
    config.train.epochs = 50
    jobs.start(home, "teacher-run", config.validate())
    answers: dict[str, str] = {}
    uploads = Tally()
    loaded = asyncio.run(a_class(url, n - 1, 10_000, PHASE_SECONDS, only_clicks=True, seed=7,
                                 extra=[uploader(url, bundles, uploads, answers)]))
    jobs.cancel(home, "teacher-run")
    print_tally(f"{n - 1} students clicking, one uploading hostile bundles, a teacher training", loaded)
    print_tally("the hostile uploads", uploads)
    for name, answer in answers.items():
        print(f"  {name}: {answer}")
    return {"hostile quiet": quiet, "hostile loaded": loaded, "hostile uploads": uploads, "hostile answers": answers}


async def disconnect_mid_run(url: str, points: MapPoints, times: int, tally: Tally) -> None:
    for i in range(times):
        session = StreamSession(url)
        await session.open("latent_map")
        await session._ws.send(_click_msg(session, points, i))  # and leave before the answer
        await session.close()
        tally.errors.setdefault("(disconnects done)", 0)
    tally.seconds.setdefault("disconnect mid-run", []).append(0.0)


def _click_msg(session: StreamSession, points: MapPoints, i: int) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.rerun_script.page_name = "latent_map"
    msg.rerun_script.page_script_hash = session.pages.get("latent_map", "")
    msg.rerun_script.widget_states.widgets.add(id=session.widget_id("latent_map"),
                                               string_value=points.selection(np.array([i])))
    return msg.SerializeToString()


async def garbage(url: str, tally: Tally) -> None:
    """A client sending bytes that are not BackMsgs, and a text frame: the server must drop only it."""
    for payload in (os.urandom(4096), b"\xff" * 64, "text, not a protobuf"):
        session = StreamSession(url)
        await session.open("latent_map")
        try:
            await session.send_raw(payload)
            await asyncio.sleep(0.5)
        except Exception:  # the server closed this connection: the right answer
            pass
        await session.close()
    tally.seconds.setdefault("garbage client", []).append(0.0)


async def flood(url: str, points: MapPoints, reruns: int, tally: Tally) -> None:
    """One session sending `reruns` clicks as fast as the socket takes them, then waiting for the last."""
    session = StreamSession(url)
    await session.open("latent_map")
    start = time.perf_counter()
    for i in range(reruns - 1):
        await session._ws.send(_click_msg(session, points, i % len(points.x)))
        await asyncio.sleep(0.005)
    run = await session.rerun(values={"latent_map": string_value(points.selection(np.array([0])))})
    tally.seconds.setdefault("flood (all reruns)", []).append(time.perf_counter() - start)
    tally.add("flood: last rerun", run)
    await session.close()


async def select_everything(url: str, n: int, tally: Tally) -> None:
    """N sessions each box every point at once, then click (the selection is re-sent with every rerun)."""
    sessions = [StreamSession(url) for _ in range(n)]
    await asyncio.gather(*[s.open("latent_map") for s in sessions])
    points = MapPoints.from_figure(sessions[0].figure("latent_map"))
    everything = points.selection(np.arange(len(points.x)), box={"x": [-1e9, 1e9], "y": [-1e9, 1e9]})
    runs = await asyncio.gather(*[s.rerun(values={"latent_map": string_value(everything)}) for s in sessions])
    for run in runs:
        tally.add("select every point", run)
    rng = random.Random(3)
    for s in sessions:
        await click(s, points, rng, tally, action="click after select-all")
    await asyncio.gather(*[s.close() for s in sessions])


def bad_inputs_phase(url: str, n: int, server) -> dict:
    """BAD_INPUTS row 41 beside a clicking class: disconnects mid-run, garbage, a flood, everyone selecting
    everything. The others' click p95 against the same class without them."""
    async def points_of_map() -> MapPoints:
        session = StreamSession(url)
        await session.open("latent_map")
        await session.close()
        return MapPoints.from_figure(session.figure("latent_map"))

    points = asyncio.run(points_of_map())
    quiet = asyncio.run(a_class(url, n - 1, 10_000, PHASE_SECONDS, only_clicks=True, seed=11))
    print_tally(f"{n - 1} students clicking, quiet", quiet)
    faults = Tally()
    loaded = asyncio.run(a_class(url, n - 1, 10_000, PHASE_SECONDS, only_clicks=True, seed=11, extra=[
        disconnect_mid_run(url, points, 10, faults), garbage(url, faults), flood(url, points, 200, faults)]))
    print_tally(f"{n - 1} students clicking beside disconnects, garbage and a 200-rerun flood", loaded)
    print_tally("the faulty clients", faults)
    everyone = Tally()
    asyncio.run(select_everything(url, n, everyone))
    print_tally(f"{n} sessions selecting every point at once", everyone)
    return {"bad quiet": quiet, "bad loaded": loaded, "bad faults": faults, "select all": everyone,
            "alive after bad inputs": server.poll() is None}


def browser_check(url: str, pages: int, clicks: int = 8) -> dict:
    """B real Chromium pages clicking points, taking turns with one virtual session clicking on the same
    server under the same load (the pages stay open): the websocket round trip of a click in Chromium
    (BackMsg sent -> script_finished received), its click -> panel shown, and the virtual session's click.
    They must agree on what a click costs the server."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    virtual, rng = StreamSession(url), random.Random(5)
    virtual_tally = Tally()
    asyncio.run_coroutine_threadsafe(virtual.open("latent_map"), loop).result(120)
    points = MapPoints.from_figure(virtual.figure("latent_map"))
    from playwright.sync_api import expect, sync_playwright
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from .browser import CHROMIUM, CHROMIUM_ARGS, FIRST_MAP, MAP_READY

    round_trips, shown, browser_bytes, virtual_bytes = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        tabs = []
        for _ in range(pages):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            sent: list[float] = []

            counted = [0]

            def on_ws(ws, sent=sent, counted=counted):
                ws.on("framesent", lambda _: (sent.append(time.perf_counter()), counted.__setitem__(0, 0)))

                def received(payload, sent=sent, counted=counted):
                    if not isinstance(payload, bytes):
                        return
                    counted[0] += len(payload)
                    msg = ForwardMsg()
                    msg.ParseFromString(payload)
                    if msg.WhichOneof("type") == "script_finished" and sent and msg.script_finished == 0:
                        round_trips.append(time.perf_counter() - sent[-1])
                        browser_bytes.append(counted[0])
                ws.on("framereceived", received)
            page.on("websocket", on_ws)
            page.goto(f"{url}/latent_map")
            page.wait_for_function(MAP_READY, timeout=120000)
            tabs.append(page)
        round_trips.clear()
        browser_bytes.clear()
        for i in range(clicks):
            for page in tabs:
                point = page.evaluate(f"""() => {{ const gd = ({FIRST_MAP})(),
                  t = gd._fullData[{i % 10}], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis,
                  box = gd.getBoundingClientRect(), j = {7 * i + 3};
                  return {{x: box.left + xa._offset + xa.l2p(t.x[j]), y: box.top + ya._offset + ya.l2p(t.y[j])}}; }}""")
                heading = page.get_by_role("heading", level=3).filter(has_text="Sample #").first
                before = heading.inner_text()
                start = time.perf_counter()
                page.mouse.click(point["x"], point["y"])
                try:
                    expect(heading).not_to_have_text(before, timeout=30000)
                    shown.append(time.perf_counter() - start)
                except AssertionError:
                    pass  # another point drawn over it had the same panel
                page.wait_for_timeout(1000)  # the map redrawn, then the virtual session's turn
                before_bytes = virtual.bytes_received
                asyncio.run_coroutine_threadsafe(click(virtual, points, rng, virtual_tally), loop).result(120)
                virtual_bytes.append(virtual.bytes_received - before_bytes)
                page.wait_for_timeout(500)
        browser.close()
    asyncio.run_coroutine_threadsafe(virtual.close(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    virtual = virtual_tally
    rt, sh = np.array(round_trips), np.array(shown)
    print(f"\nreal Chromium, {pages} page(s): click round trip median {np.median(rt) * 1e3:.0f} ms "
          f"(n={len(rt)}), click -> panel shown median {np.median(sh) * 1e3:.0f} ms (n={len(sh)}); "
          f"virtual session click median {virtual.stats('click → panel')[0] * 1e3:.0f} ms; bytes the server sent "
          f"per click: Chromium {np.median(browser_bytes):,.0f}, virtual {np.median(virtual_bytes):,.0f}")
    return {"browser bytes": float(np.median(browser_bytes)), "virtual bytes": float(np.median(virtual_bytes)),
            "browser pages": pages, "browser round trip s": float(np.median(rt)) if len(rt) else float("nan"),
            "browser shown s": float(np.median(sh)) if len(sh) else float("nan"),
            "browser virtual s": virtual.stats("click → panel")[0]}
