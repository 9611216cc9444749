// Ingest module: Raw log schemas, validation, quarantine, splits, downsampling and column statistics.
// Scaffolding: the stage owner replaces this file.
