"""An OpenAI-compatible provider through the official async client: speech to text, and one structured chat call.

The client owns timeouts and retries (429, 5xx, dropped connections, with backoff and Retry-After); what is
still wrong after them becomes a ProviderError whose `reason` is what `result.ai.reason` says.
"""

from __future__ import annotations

import ssl
from typing import Any, cast

import openai
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from app.ai.ports import Answer, Cue, Heard, ProviderError, Transcript, Word

# Local servers (vLLM, Ollama, a Whisper server) take any key; the client insists on one.
_NO_KEY = "no-key"
# Named here rather than left to the client, which would otherwise read OPENAI_BASE_URL from the environment.
OPENAI_URL = "https://api.openai.com/v1"


class OpenAIProvider:
    """One AsyncOpenAI client for the process, pointed at AI_BASE_URL (OpenAI itself when None)."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        # `tls`: the process's one verifying context (the client's own default builds another, loading the CAs).
        http_client = DefaultAsyncHttpxClient(verify=tls) if tls is not None else None
        self.client = AsyncOpenAI(
            api_key=api_key or _NO_KEY,
            base_url=base_url or OPENAI_URL,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )

    async def transcribe(self, wav: bytes, *, model: str) -> Heard:
        """Speech to text of one WAV file, with segment and word timings."""
        try:
            heard = await self.client.audio.transcriptions.create(
                model=model,
                file=("range.wav", wav, "audio/wav"),
                response_format="verbose_json",
                timestamp_granularities=["segment", "word"],
            )
            cues = [Cue(start=s.start, end=s.end, text=s.text.strip()) for s in heard.segments or [] if s.text.strip()]
            words = [Word(start=w.start, end=w.end, word=w.word.strip()) for w in heard.words or [] if w.word.strip()]
            transcript = Transcript(text=heard.text.strip(), cues=cues, words=words)
        except openai.OpenAIError as exc:
            raise _failure(exc) from exc
        except (ValueError, TypeError, AttributeError) as exc:  # a 200 whose body is not a transcription
            raise ProviderError(
                "invalid_response", f"the transcription is not verbose JSON: {exc}", billed=True
            ) from exc
        seconds = heard.usage.seconds if heard.usage is not None else None
        return Heard(transcript, seconds)

    async def chat_json(
        self, messages: list[dict[str, str]], *, model: str, max_tokens: int, schema: dict[str, Any]
    ) -> Answer:
        """One chat completion constrained to `schema` (structured output); its raw content and token usage."""
        response_format = ResponseFormatJSONSchema(
            type="json_schema", json_schema={"name": "ranking", "strict": True, "schema": schema}
        )
        try:
            reply = await self.client.chat.completions.create(
                model=model,
                messages=cast(list[ChatCompletionMessageParam], messages),
                max_tokens=max_tokens,
                temperature=0,
                response_format=response_format,
            )
        except openai.OpenAIError as exc:
            raise _failure(exc) from exc
        if not isinstance(reply, ChatCompletion):  # a 200 whose body is not JSON: the client hands back its text
            raise ProviderError("invalid_response", "the completion is not JSON", billed=True)
        usage = reply.usage
        # Servers that only look compatible may leave usage out: the call is then counted at its reservation.
        if usage is None or not isinstance(usage.prompt_tokens, int) or not isinstance(usage.completion_tokens, int):
            raise ProviderError("invalid_response", "the completion reports no token usage", billed=True)
        choices = reply.choices if isinstance(reply.choices, list) else []
        content = choices[0].message.content if choices else None
        return Answer(content or "", usage.prompt_tokens, usage.completion_tokens)

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.close()


def _failure(exc: openai.OpenAIError) -> ProviderError:
    """The reason for a call that failed after the client's own retries."""
    if isinstance(exc, openai.APITimeoutError):
        # The provider may have done the work (and billed it) after we stopped waiting.
        return ProviderError("timeout", "the provider did not answer in time", billed=True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("unavailable", "the provider could not be reached")
    if isinstance(exc, openai.RateLimitError):
        return ProviderError("rate_limited", "the provider kept answering 429 Too Many Requests")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderError("unauthorized", f"the provider refused the key ({exc.status_code})")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return ProviderError("unavailable", f"the provider answered {exc.status_code}")
        return ProviderError("rejected", f"the provider refused the request ({exc.status_code})")
    return ProviderError("invalid_response", f"the provider's answer could not be read: {type(exc).__name__}")
