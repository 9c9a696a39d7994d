"""A local HTTP server that speaks the OpenAI protocol, for AI ranking tests: the only fake the project allows.

`POST /v1/audio/transcriptions` (multipart, verbose_json with segments and `usage.seconds`) and
`POST /v1/chat/completions` (with `usage`). What it hears is decided from the audio itself (its level, or
the words a `listening` function finds in it), what it ranks from the prompt's transcripts; knobs script
failures: down (503), slow, 429 then 200, invalid JSON, and long-winded transcripts.
"""

from __future__ import annotations

import io
import json
import math
import threading
import time
import wave
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

TRANSCRIBE = "/v1/audio/transcriptions"
CHAT = "/v1/chat/completions"

Hearing = Callable[[float], str]  # the audio's RMS level in dBFS → what was "said"
Choosing = Callable[[list[dict[str, Any]], int], list[int]]  # candidates, keep → ids, best first
HeardWord = tuple[str, float, float]  # a word as written (a full stop ends a sentence), its start and end
Listening = Callable[[np.ndarray], list[HeardWord]]  # 16 kHz samples (full scale 1.0) → the words, timed in them


@dataclass(frozen=True)
class Fault:
    """One scripted answer instead of the normal one: a status (with Retry-After), a delay, or garbage."""

    status: int = 200
    delay: float = 0.0
    garbage: bool = False  # 200 with content that is not the JSON asked for
    retry_after: str | None = None


def keyword_ranker(keyword: str) -> Choosing:
    """A ranker that reads: candidates whose transcript says `keyword` first, then the rest in order."""

    def choose(candidates: list[dict[str, Any]], keep: int) -> list[int]:
        ranked = sorted(candidates, key=lambda c: (keyword not in c["transcript"], c["id"]))
        return [c["id"] for c in ranked[:keep]]

    return choose


@dataclass
class FakeOpenAI:
    """The server's behaviour and what it saw; change knobs between jobs, read `calls` after them."""

    hearing: Hearing
    choosing: Choosing
    listening: Listening | None = None  # when set, the words it finds are the transcript (`hearing` is not asked)
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # per path, consumed in order
    down: bool = False  # every request answered 503
    calls: Counter[str] = field(default_factory=Counter)  # requests per path, faults included
    answered: Counter[str] = field(default_factory=Counter)  # requests answered normally (the billable ones)
    heard_seconds: list[float] = field(default_factory=list)  # the length of every audio file received
    word_timings: int = 0  # transcriptions that asked for word timestamps (and got `words`)
    chat_started: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        """The base URL a client is given (AI_BASE_URL)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, path: str, *faults: Fault) -> None:
        """Answer the next requests to `path` with these faults, then normally again."""
        with self.lock:
            self.faults[path] = list(faults)

    def next_fault(self, path: str) -> Fault | None:
        with self.lock:
            self.calls[path] += 1
            if path == CHAT:
                self.chat_started.set()
            queue = self.faults.get(path) or []
            return queue.pop(0) if queue else None


def serve(fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Run `fake` on a free port of 127.0.0.1 until the generator is closed (use as a fixture body)."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    fake.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, name="fake-openai", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not access logs
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        path = self.path.split("?")[0]
        fault = self.fake.next_fault(path)
        if self.fake.down:
            fault = Fault(status=503)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status != 200:
            headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
            self._send(fault.status, {"error": {"message": "scripted", "type": "server_error"}}, headers)
            return
        try:
            if path == TRANSCRIBE:
                answer = self._transcription(body, garbage=bool(fault and fault.garbage))
            elif path == CHAT:
                answer = self._completion(json.loads(body), garbage=bool(fault and fault.garbage))
            else:
                self._send(404, {"error": {"message": "no such route"}})
                return
        except Exception as exc:  # a malformed request from the client under test is the test's failure
            self._send(400, {"error": {"message": f"bad request: {exc}"}})
            return
        with self.fake.lock:
            self.fake.answered[path] += 1
        self._send(200, answer)

    def _transcription(self, body: bytes, *, garbage: bool) -> Any:
        fields = _multipart(self.headers.get("content-type", ""), body)
        assert fields["model"] and fields["response_format"] == b"verbose_json", fields.keys()
        with wave.open(io.BytesIO(fields["file"])) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2), "not 16 kHz mono s16"
            pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
        seconds = len(pcm) / 16000
        with self.fake.lock:
            self.fake.heard_seconds.append(seconds)
        if garbage:
            return "not a transcription"
        if self.fake.listening is not None:
            words = [{"word": w, "start": a, "end": b} for w, a, b in self.fake.listening(pcm / 32768)]
            text, segments = _sentences(words)
        else:
            level = 20 * math.log10(max(float(np.sqrt(np.mean(pcm**2))) / 32768, 1e-9)) if len(pcm) else -120.0
            text = self.fake.hearing(level)
            sentences = [s.strip() + "." for s in text.split(".") if s.strip()]
            step = seconds / max(1, len(sentences))
            segments = [_segment(i, i * step, (i + 1) * step, s) for i, s in enumerate(sentences)]
            words = _words(segments)
        usage = {"type": "duration", "seconds": math.ceil(seconds)}
        answer = {"task": "transcribe", "language": "english", "duration": seconds, "text": text,
                  "segments": segments, "usage": usage}  # fmt: skip
        if b'name="timestamp_granularities[]"\r\n\r\nword' in body:
            with self.fake.lock:
                self.fake.word_timings += 1
            answer["words"] = words
        return answer

    def _completion(self, request: dict[str, Any], *, garbage: bool) -> Any:
        assert request["response_format"]["type"] == "json_schema", request.get("response_format")
        prompt = json.loads(request["messages"][-1]["content"])
        ids = self.fake.choosing(prompt["candidates"], prompt["keep"])
        content = (
            "Sure! Here are the best clips: 2, 0"
            if garbage
            else json.dumps({"clips": [{"id": i, "title": f"Clip {i}"} for i in ids]})
        )
        prompt_tokens = sum(len(m["content"].encode()) for m in request["messages"]) // 4
        completion_tokens = len(content) // 4
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": request["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }  # fmt: skip

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout, or its process was killed): nothing to answer


def _segment(i: int, start: float, end: float, text: str) -> dict[str, Any]:
    return {"id": i, "seek": 0, "start": round(start, 2), "end": round(end, 2), "text": " " + text, "tokens": [],
            "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.0}  # fmt: skip


def _sentences(words: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The text and one segment per sentence of words heard (a sentence ends at a word with a full stop)."""
    segments: list[dict[str, Any]] = []
    first = 0
    for k, w in enumerate(words):
        if w["word"].endswith(".") or k == len(words) - 1:
            said = " ".join(x["word"] for x in words[first : k + 1])
            segments.append(_segment(len(segments), words[first]["start"], w["end"], said))
            first = k + 1
    return " ".join(w["word"] for w in words), segments


def _words(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each segment's words spread evenly over it, 40 ms apart: timings a test can predict."""
    words = []
    for s in segments:
        said = s["text"].split()
        step = (s["end"] - s["start"]) / max(1, len(said))
        for k, w in enumerate(said):
            start = s["start"] + k * step
            words.append({"word": w, "start": round(start, 3), "end": round(start + step - 0.04, 3)})
    return words


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    message: Message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, bytes] = {}
    for part in message.get_payload():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields
