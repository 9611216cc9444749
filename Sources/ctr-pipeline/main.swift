// Scaffolding: the stage owner replaces this file.
print("ctr-pipeline: not built yet")
