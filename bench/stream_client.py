"""A light Streamlit client: one browser session spoken as Streamlit's own websocket protocol
(`/_stcore/stream`, BackMsg out, ForwardMsg in), for the classroom load test (`bench/classroom.py`).

It sends what the browser sends (a rerun with the page and the widgets' values; a plotly selection as a
JSON string under the chart's widget id; a canvas stroke as the component's JSON value; a button as a
trigger; a fragment's timed rerun, `st.fragment(run_every=...)`, as the fragment's id) and times each rerun
from the BackMsg sent to the `script_finished` ForwardMsg. It keeps the widget values it has set and sends
them on every rerun, as the browser does. Only loopback URLs.
"""
from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

ACTION_TIMEOUT_S = 120.0  # one rerun never waits longer than this
LOOPBACK = ("127.0.0.1", "localhost")


@dataclass
class Run:
    """What one rerun cost and showed: seconds from sending to script_finished, exception boxes, error
    alerts (st.error), the texts of headings, markdown, text, alerts, toasts, expanders' labels and pictures' captions,
    and whether it finished at all."""
    seconds: float
    exceptions: int = 0
    error_alerts: int = 0
    texts: list[str] = field(default_factory=list)
    finished: bool = True


class StreamSession:
    """One virtual browser tab. `await open(page)`, then `rerun(...)`/`click(...)` etc., then `close()`."""

    def __init__(self, base_url: str) -> None:
        host = urllib.parse.urlsplit(base_url).hostname
        if host not in LOOPBACK:
            raise ValueError(f"the load tool only talks to this machine (127.0.0.1), not {host!r}")
        self.base_url = base_url.rstrip("/")
        self.widgets: dict[str, WidgetState] = {}  # id -> last value sent (kept, as the browser keeps them)
        self.widget_ids: dict[str, str] = {}  # user key -> widget id, from the deltas
        self.specs: dict[str, str] = {}  # plotly chart widget id -> figure JSON
        self.spec_at: dict[str, float] = {}  # plotly chart widget id -> when its latest figure arrived (perf_counter)
        self.auto_reruns: dict[str, float] = {}  # fragment id -> seconds between its timed reruns
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page = ""
        self.url_query = ""  # the query string the app last wrote (its URL state)
        self.session_id = ""
        self.bytes_received = 0
        self.cached: dict[str, ForwardMsg] = {}  # cacheable messages held, reported by hash as the browser does
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._current: Run | None = None
        self._finished = asyncio.Event()
        self._query = ""

    async def open(self, page: str, query: str = "") -> Run:
        """Connect and run `page` (a url path such as "latent_map"), as a browser opening that URL."""
        ws_url = self.base_url.replace("http://", "ws://") + "/_stcore/stream"
        self._ws = await asyncio.wait_for(connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                                  open_timeout=30, ping_interval=None), ACTION_TIMEOUT_S)
        self._reader = asyncio.create_task(self._read())
        self._query = query
        return await self.rerun(page=page)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass

    def widget_id(self, key: str) -> str:
        """The widget id the server gave the widget with user key `key` (seen in this session's deltas)."""
        return self.widget_ids[key]

    def figure(self, key: str) -> dict:
        """The plotly figure (as JSON) of the chart with widget key `key`."""
        return json.loads(self.specs[self.widget_id(key)])

    async def rerun(self, page: str | None = None, values: dict[str, WidgetState] | None = None,
                    triggers: list[str] = (), fragment: str = "") -> Run:
        """Send one rerun (changed widget values by key, one-shot button triggers by key) and wait for it;
        `fragment`: the timed rerun of that fragment (an id in `auto_reruns`), as the browser's timer sends it."""
        if page is not None:
            self.page = page
        for key, state in (values or {}).items():
            state.id = self.widget_id(key)
            self.widgets[state.id] = state
        msg = BackMsg()
        client = msg.rerun_script
        client.query_string = self._query
        client.page_name = self.page
        client.page_script_hash = self.pages.get(self.page, "")
        client.fragment_id = fragment
        client.is_auto_rerun = bool(fragment)
        client.widget_states.widgets.extend(self.widgets.values())
        client.cached_message_hashes.extend(sorted(self.cached))
        for key in triggers:
            client.widget_states.widgets.add(id=self.widget_id(key), trigger_value=True)
        client.context_info.timezone = "UTC"
        client.context_info.locale = "en-US"
        client.context_info.url = f"{self.base_url}/{self.page}"
        return await self._send_and_wait(msg.SerializeToString())

    async def send_raw(self, data: bytes) -> None:
        """Send bytes that need not be a BackMsg (the garbage-client bad input)."""
        await self._ws.send(data)

    async def _send_and_wait(self, data: bytes) -> Run:
        self._current = Run(0.0, finished=False)
        self._finished.clear()
        start = time.perf_counter()
        await self._ws.send(data)
        try:
            await asyncio.wait_for(self._finished.wait(), ACTION_TIMEOUT_S)
        except asyncio.TimeoutError:
            pass
        run = self._current
        run.seconds = time.perf_counter() - start
        return run

    async def _read(self) -> None:
        async for data in self._ws:
            self.bytes_received += len(data)
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if msg.metadata.cacheable and msg.hash:
                self.cached[msg.hash] = msg
            if kind == "ref_hash" and msg.ref_hash in self.cached:  # a message this client already holds
                msg = self.cached[msg.ref_hash]
                kind = msg.WhichOneof("type")
            if kind == "new_session":
                self.session_id = msg.new_session.initialize.session_id or self.session_id
            elif kind == "page_info_changed":
                self.url_query = msg.page_info_changed.query_string
            elif kind == "navigation":
                for app_page in msg.navigation.app_pages:
                    self.pages[app_page.url_pathname] = app_page.page_script_hash
            elif kind == "auto_rerun":
                self.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                for fragment in msg.stop_auto_rerun.fragment_ids:
                    self.auto_reruns.pop(fragment, None)
            elif kind == "delta" and self._current is not None:
                self._delta(msg.delta)
            elif kind == "script_finished" and self._current is not None:
                status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
                if status != "FINISHED_EARLY_FOR_RERUN":
                    self._current.finished = True
                    self._finished.set()

    def _delta(self, delta) -> None:
        if delta.WhichOneof("type") == "add_block" and delta.add_block.WhichOneof("type") == "expandable":
            self._current.texts.append(delta.add_block.expandable.label)
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        body = getattr(element, kind)
        if kind == "exception":
            self._current.exceptions += 1
            self._current.texts.append(f"exception: {body.type}: {body.message}"[:300])
        elif kind == "alert":
            self._current.error_alerts += body.format == body.ERROR
            self._current.texts.append(body.body)
        elif kind in ("heading", "markdown", "text", "toast"):
            self._current.texts.append(body.body)
        elif kind == "imgs":
            self._current.texts.extend(image.caption for image in body.imgs if image.caption)
        widget_id = getattr(body, "id", "") if hasattr(body, "id") else ""
        if widget_id.startswith("$$ID-"):
            self.widget_ids[widget_id.rsplit("-", 1)[-1]] = widget_id
            if kind == "plotly_chart":
                self.specs[widget_id] = body.spec
                self.spec_at[widget_id] = time.perf_counter()

    def upload(self, data: bytes, name: str) -> WidgetState:
        """Put a file where a `st.file_uploader` reads it (HTTP PUT, with the XSRF cookie as the browser
        sends it); returns the widget value to send under the uploader's key."""
        cookie = ""
        with urllib.request.urlopen(f"{self.base_url}/_stcore/health", timeout=30) as answer:
            for header in answer.headers.get_all("Set-Cookie") or []:
                if header.startswith("_streamlit_xsrf="):
                    cookie = header.split(";", 1)[0].split("=", 1)[1]
        file_id = uuid.uuid4().hex
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{file_id}\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/zip\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        url = f"{self.base_url}/_stcore/upload_file/{self.session_id}/{file_id}"
        request = urllib.request.Request(url, data=body, method="PUT", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": cookie,
            "Cookie": f"_streamlit_xsrf={cookie}"})
        urllib.request.urlopen(request, timeout=120).close()
        state = WidgetState()
        info = state.file_uploader_state_value.uploaded_file_info.add(name=name, size=len(data), file_id=file_id)
        info.file_urls.file_id = file_id
        info.file_urls.upload_url = f"/_stcore/upload_file/{self.session_id}/{file_id}"
        info.file_urls.delete_url = info.file_urls.upload_url
        return state


def string_value(text: str) -> WidgetState:
    return WidgetState(string_value=text)


def json_value(doc: dict) -> WidgetState:
    return WidgetState(json_value=json.dumps(doc, separators=(",", ":")))
