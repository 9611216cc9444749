// Scaffolding: the stage owner replaces this file.
print("ctr-train: not built yet")
