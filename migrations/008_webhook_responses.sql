-- The start of each receiver's answer (at most a few KiB; the rest is never read), kept with the attempt so an
-- owner can see why a receiver refused a webhook.
ALTER TABLE webhook_attempts ADD COLUMN response_excerpt text;
