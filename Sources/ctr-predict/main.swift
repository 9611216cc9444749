// Scaffolding: the stage owner replaces this file.
print("ctr-predict: not built yet")
