// Scaffolding: the stage owner replaces this file.
print("ctr-synth: not built yet")
