"""Settings only: every environment variable the service reads, in one pydantic-settings model."""

from app.config.settings import Settings

__all__ = ["Settings"]
