"""AI ranking's pure rules: worst-case costs, the reply read back, and captions timed to the reel."""

from __future__ import annotations

import pytest

from app.ai import prompt
from app.ai.budget import Prices, Unpriced, audio_seconds_billed, prices_for, prompt_tokens_at_most
from app.ai.ports import Cue, Transcript, Window
from app.config.settings import DEFAULT_AI_PRICES
from app.stages.analyze import Plan, Segment
from app.stages.captions import webvtt


def test_prompt_tokens_are_bounded_by_utf8_bytes_so_any_script_is_reserved_in_full() -> None:
    latin = [{"role": "user", "content": "a" * 1000}]
    cjk = [{"role": "user", "content": "字" * 1000}]  # 3 bytes each in UTF-8; a tokenizer never gives more tokens
    assert prompt_tokens_at_most(latin) >= 1000
    assert prompt_tokens_at_most(cjk) >= 3000


def test_costs_of_audio_and_tokens() -> None:
    prices = Prices(audio_minute=0.006, input_1k=0.00015, output_1k=0.0006)
    assert audio_seconds_billed(14.2) == 15.0
    assert prices.audio(60) == 0.006
    assert prices.tokens(2000, 1000) == pytest.approx(0.0009)


def test_each_model_is_billed_at_its_own_prices_and_an_unpriced_one_is_named() -> None:
    table = DEFAULT_AI_PRICES | {"gpt-4o": {"input_1k": 0.0025, "output_1k": 0.01}, "half": {"input_1k": 0.1}}
    small = prices_for(table, transcribe="whisper-1", rank="gpt-4o-mini")
    large = prices_for(table, transcribe="whisper-1", rank="gpt-4o")
    assert small == Prices(audio_minute=0.006, input_1k=0.00015, output_1k=0.0006)
    assert large.tokens(2000, 1000) / small.tokens(2000, 1000) == pytest.approx(16.67, rel=0.01)
    with pytest.raises(Unpriced, match="^whisper-2 and gpt-5$"):
        prices_for(table, transcribe="whisper-2", rank="gpt-5")
    with pytest.raises(Unpriced, match="^half$"):  # a chat model needs both token prices
        prices_for(table, transcribe="whisper-1", rank="half")
    with pytest.raises(Unpriced, match="^gpt-4o$"):  # a chat model's prices do not price hearing
        prices_for(table, transcribe="gpt-4o", rank="gpt-4o")


def test_planned_prompt_is_no_smaller_than_one_of_ordinary_speech() -> None:
    windows = [Window(0, 30, 0.5), Window(40, 70, 0.4)]
    speech = Transcript(text="twenty bytes a sec. " * 30)  # 600 bytes over 30 s: fast speech
    real = prompt.messages(windows, [speech, speech], keep=1)
    assert prompt_tokens_at_most(prompt.planned_messages(windows, keep=1)) >= prompt_tokens_at_most(real)


def test_reply_keeps_known_ids_once_in_order_and_cleans_titles() -> None:
    content = '{"clips": [{"id": 3, "title": "The\\nsecret"}, {"id": 9, "title": "x"}, {"id": 3, "title": "again"},'
    content += ' {"id": 0, "title": "' + "long " * 40 + '"}]}'
    chosen = prompt.read_reply(content, candidates=4, keep=2)
    assert [i for i, _ in chosen] == [3, 0]
    assert chosen[0][1] == "The secret" and len(chosen[1][1]) <= prompt.MAX_TITLE


@pytest.mark.parametrize("content", ["Sure! Clips 2 and 0", '{"clips": "2, 0"}', '{"clips": [{"id": 7}]}', ""])
def test_a_reply_that_is_not_the_schema_or_names_no_candidate_is_invalid(content: str) -> None:
    with pytest.raises(prompt.InvalidReply):
        prompt.read_reply(content, candidates=4, keep=1)


def _segment(index: int, start: float, duration: float, cues: list[Cue]) -> Segment:
    frames = int(duration * 25)
    return Segment(index=index, start=start, frames=frames, duration=duration, score=0.5, transition="fade",
                   loudness=-16.0, true_peak=-3.0, cues=cues)  # fmt: skip


def test_captions_are_timed_to_the_reel_with_each_clip_at_its_offset() -> None:
    first = [Cue(start=99.0, end=101.5, text="cut <in> half & kept"), Cue(start=110, end=112, text="B")]
    plan = Plan(
        segments=[
            _segment(0, 100.0, 20.0, first),
            _segment(1, 300.0, 15.0, []),
            _segment(2, 500.0, 16.0, [Cue(start=503.25, end=530.0, text="runs past the clip's end")]),
        ],
        framing=None,
        frame_rate="25",
        auto_selected=True,
    )  # fmt: skip
    text = webvtt(plan)
    assert text is not None
    assert text.splitlines() == [
        "WEBVTT", "",
        "1", "00:00:00.000 --> 00:00:01.500", "cut &lt;in&gt; half &amp; kept", "",
        "2", "00:00:10.000 --> 00:00:12.000", "B", "",
        "3", "00:00:38.250 --> 00:00:51.000", "runs past the clip's end",
    ]  # fmt: skip
    assert webvtt(plan.model_copy(update={"segments": [_segment(0, 0.0, 20.0, [])]})) is None


def test_a_transcript_cached_before_word_timings_reads_back_with_none() -> None:
    from app.ai.ports import Transcript, Word

    old = Transcript.model_validate_json(
        '{"text": "Hello there.", "cues": [{"start": 0, "end": 1, "text": "Hello there."}]}'
    )
    assert old.words == [] and old.cues[0].text == "Hello there."
    assert (
        Word(start=0.0, end=0.5, word='there."').ends_sentence and not Word(start=0, end=1, word="Hello,").ends_sentence
    )
