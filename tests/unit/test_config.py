"""Settings: read from the environment, directories made absolute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from app.config import Settings
from app.config.settings import DEFAULT_AI_PRICES


def test_relative_directories_in_settings_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(media_root=Path("media"), temp_dir=Path(".smartedit/tmp"))
    assert settings.media_root == tmp_path / "media"
    assert settings.temp_dir == tmp_path / ".smartedit" / "tmp"
    assert settings.output_root.is_absolute() and settings.data_dir.is_absolute()


def test_api_keys_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", " k1, k2 ,,")
    assert Settings().api_keys == ["k1", "k2"]


def test_dsn_and_redis_url_follow_the_settings() -> None:
    s = Settings(
        postgres_host="db",
        postgres_port=5433,
        postgres_user="u",
        postgres_password="p",
        postgres_db="d",
        redis_host="r",
        redis_port=6380,
        redis_db=3,
    )
    assert s.postgres_dsn == "postgresql://u:p@db:5433/d"
    assert s.redis_url == "redis://r:6380/3"


def test_a_password_with_url_characters_survives_the_dsn() -> None:
    s = Settings(postgres_host="db", postgres_password="p@ss:/w?rd#1")
    assert unquote(urlsplit(s.postgres_dsn).password or "") == "p@ss:/w?rd#1"
    assert urlsplit(s.postgres_dsn).hostname == "db"


@pytest.mark.parametrize(
    ("values", "refused"),
    [
        ({"host": "0.0.0.0"}, True),
        ({"host": "::"}, True),
        ({"host": "0.0.0.0", "api_keys": "k"}, False),
        ({"host": "0.0.0.0", "admin_api_keys": "a"}, False),
        ({"host": "0.0.0.0", "allow_open_api": True}, False),
        ({"host": "127.0.0.1"}, False),
        ({"host": "localhost"}, False),
        ({"host": "::1"}, False),
    ],
)
def test_an_open_api_on_a_non_loopback_address_is_refused(values: dict[str, object], refused: bool) -> None:
    reason = Settings.model_validate(values).open_api_refusal()
    assert (reason is not None) == refused
    if reason:
        assert "API_KEYS" in reason and "ALLOW_OPEN_API" in reason


def test_smartedit_api_exits_at_start_when_open_on_every_interface(tmp_path: Path) -> None:
    keep = ("PATH", "HOME", "LANG")
    env = {k: v for k, v in os.environ.items() if k in keep} | {"HOST": "0.0.0.0", "POSTGRES_HOST": "x"}
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "api"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "refusing to serve the API on 0.0.0.0 with no API_KEYS" in out.stderr


def test_ai_prices_add_models_to_the_defaults_and_refuse_what_is_not_a_price(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_PRICES", '{"gpt-4o": {"input_1k": 0.0025, "output_1k": 0.01}, "whisper-1": {}}')
    prices = Settings().ai_prices
    assert prices["gpt-4o"] == {"input_1k": 0.0025, "output_1k": 0.01}
    assert prices["gpt-4o-mini"] == {"input_1k": 0.00015, "output_1k": 0.0006}  # the defaults stay
    assert prices["whisper-1"] == {}  # re-priced: unpriced now
    monkeypatch.setenv("AI_PRICES", "")  # how compose passes an unset variable
    assert Settings().ai_prices == DEFAULT_AI_PRICES
    for wrong, says in [
        ('{"m": {"per_token": 1}}', "per_token; a price is one of audio_minute, input_1k, output_1k"),
        ('{"m": {"input_1k": -1}}', "m has a negative price"),
        ('{"m": 0.01}', "valid dictionary"),
        ("gpt-4o=0.01", "Expecting value"),
    ]:
        monkeypatch.setenv("AI_PRICES", wrong)
        with pytest.raises(ValueError, match=says):
            Settings()


def test_the_contracts_ai_price_names_price_the_models_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_RANK_MODEL", "qwen2.5:7b-instruct")
    monkeypatch.setenv("AI_TRANSCRIBE_MODEL", "whisper-1")
    monkeypatch.setenv("AI_PRICES", '{"qwen2.5:7b-instruct": {"input_1k": 1, "output_1k": 2}}')
    monkeypatch.setenv("AI_PRICE_INPUT_1K", "0")
    monkeypatch.setenv("AI_PRICE_OUTPUT_1K", "0.5")
    monkeypatch.setenv("AI_PRICE_AUDIO_MINUTE", "0.004")
    prices = Settings().ai_prices
    assert prices["qwen2.5:7b-instruct"] == {"input_1k": 0.0, "output_1k": 0.5}  # over its AI_PRICES entry
    assert prices["whisper-1"] == {"audio_minute": 0.004}
    assert prices["gpt-4o-mini"] == DEFAULT_AI_PRICES["gpt-4o-mini"]  # not in use: as it was
    monkeypatch.setenv("AI_PRICE_INPUT_1K", "-1")
    with pytest.raises(ValueError, match="ai_price_input_1k"):
        Settings()
