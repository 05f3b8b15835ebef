-- A malformed input is set aside once: the same source (file or SQS
-- message) and line, quarantined again after a redelivery or a crash
-- before the input was acknowledged, is not a second problem.
DELETE FROM quarantine WHERE id NOT IN (SELECT min(id) FROM quarantine GROUP BY source, line, reason);
CREATE UNIQUE INDEX quarantine_once ON quarantine (source, line, reason);
