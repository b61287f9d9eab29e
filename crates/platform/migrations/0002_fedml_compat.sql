-- FedML SDK uploads complete their bytes before they name the dataset: the size and checksum
-- of the finished blob wait here until the dataset record commits the object.
ALTER TABLE uploads ADD COLUMN blob_size BIGINT;
ALTER TABLE uploads ADD COLUMN blob_checksum TEXT;
