// FFM module: Field-aware factorization machine: model, AdaGrad trainer, predictor, model file.
// Scaffolding: the stage owner replaces this file.
