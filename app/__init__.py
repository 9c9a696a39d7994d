"""SmartVideoEditor: long videos in, clean highlight reels out."""

__version__ = "0.1.0"
