// Synth module: Synthetic Criteo- and Avazu-format click logs drawn from a planted field-aware model.
// Scaffolding: the stage owner replaces this file.
