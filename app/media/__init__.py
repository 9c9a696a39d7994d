"""ffmpeg and ffprobe plumbing; knows nothing of jobs."""
