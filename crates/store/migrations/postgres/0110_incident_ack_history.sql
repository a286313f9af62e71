-- Acknowledgements of earlier rounds of an incident's instructions. A change of response level
-- sends every instruction again and clears its acknowledgement (the new level's orders must be
-- acknowledged anew); the acknowledgements of the round it ends are kept here, in the same
-- transaction, so the after-action report can show, level by level, who acknowledged and how
-- fast.
CREATE TABLE incident_ack_history (
    incident        BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    level           BIGINT NOT NULL,
    sent_at         TIMESTAMPTZ NOT NULL,
    acknowledged_at TIMESTAMPTZ NOT NULL,
    acknowledged_by BIGINT,
    PRIMARY KEY (incident, sent_at, seq)
);
