-- Personal data sealed at rest (crates/store/src/vault.rs): households.address, phone and
-- id_number, members.phone, cases.reporter_phone and mediation_records.body now hold
-- `gs1.<key id>.<ciphertext>` (the server seals what is still plaintext the first time it
-- opens the database with a data key). Duplicate ID numbers are found through a blind index, a
-- keyed HMAC of the normalised number; the plaintext index goes.
ALTER TABLE households ADD COLUMN id_number_bidx TEXT;
DROP INDEX households_id_number;
CREATE INDEX households_id_number_bidx ON households(id_number_bidx);
