"""The `file` field of a multipart/form-data body, streamed: python-multipart's push parser, no spooling."""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.multipart import MultipartParser, parse_options_header


class MultipartError(Exception):
    """The body is not multipart/form-data with a complete `file` field."""


class _FilePart:
    """Parser callbacks that keep the data of the first part named `file` and drop every other part."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.in_file = False
        self.done = False
        self._field: list[bytes] = []
        self._value: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda d, s, e: self._field.append(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.append(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def _header_end(self) -> None:
        self._headers[b"".join(self._field).lower()] = b"".join(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, disposition = parse_options_header(self._headers.get(b"content-disposition", b""))
        self.in_file = disposition.get(b"name") == b"file" and not self.done

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.out.append(data[start:end])

    def _part_end(self) -> None:
        if self.in_file:
            self.in_file, self.done = False, True


async def file_field(body: AsyncIterator[bytes], content_type: str) -> AsyncIterator[bytes]:
    """Yield the bytes of the first part named `file` as they arrive; MultipartError if it never completes."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise MultipartError("multipart/form-data without a boundary")
    part = _FilePart()
    parser = MultipartParser(boundary, part.callbacks())  # type: ignore[arg-type]
    async for chunk in body:
        try:
            parser.write(chunk)
        except Exception as exc:  # python-multipart raises its own error types for malformed bodies
            raise MultipartError(str(exc)) from exc
        for piece in part.out:
            yield piece
        part.out.clear()
    if not part.done:
        raise MultipartError("the body has no complete part named 'file'")
