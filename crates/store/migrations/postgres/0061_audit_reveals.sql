-- Every reveal of personal data says which fields it showed and to which client (address and
-- user agent); administrators read the log by account and by time.
ALTER TABLE audit_log ADD COLUMN fields TEXT;
ALTER TABLE audit_log ADD COLUMN client TEXT;
CREATE INDEX audit_log_account ON audit_log(account, id);
