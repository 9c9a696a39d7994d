"""The pipeline's stages: each takes data and returns data, never touching the job store."""
