"""Helpers the tests share: generated media and independent meters."""
