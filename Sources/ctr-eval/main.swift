// Scaffolding: the stage owner replaces this file.
print("ctr-eval: not built yet")
