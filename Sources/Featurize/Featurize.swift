// Featurize module: Column transforms, stable hashing, rare values, featurizer spec: rows to libffm features.
// Scaffolding: the stage owner replaces this file.
