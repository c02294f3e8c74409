-- rx_seq comes from a sequence, so it is unique without an index; nothing looks an event
-- up by rx_seq in event_keys (resume reads events.rx_seq). One index less per insert.
ALTER TABLE event_keys DROP CONSTRAINT IF EXISTS event_keys_rx_seq_key;
