// Pipeline module: Pipeline files: decoding, validation, DAG, fingerprints, lock file and runner.
// Scaffolding: the stage owner replaces this file.
