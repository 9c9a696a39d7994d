-- Word timings of a transcript (where clip edges may go); transcripts stored before this have none.
ALTER TABLE transcripts ADD COLUMN words jsonb NOT NULL DEFAULT '[]'::jsonb;
