// Dataset module: libffm text reading and writing, and the binary training cache.
// Scaffolding: the stage owner replaces this file.
