// Scaffolding: the stage owner replaces this file.
print("ctr-ingest: not built yet")
