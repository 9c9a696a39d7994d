"""How long a reel's clips may be and how many one reel holds: the client's clips and the picker's alike."""

MIN_CLIP_SECONDS = 15.0  # no clip is shorter, unless the whole source is
MAX_CLIP_SECONDS = 60.0  # nor longer
MAX_CLIPS = 5  # clips in one reel at most
