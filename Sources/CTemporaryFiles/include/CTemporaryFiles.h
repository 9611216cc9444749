#ifndef CTR_TEMPORARY_FILES_H
#define CTR_TEMPORARY_FILES_H

/// A fixed table of temporary file paths that the process removes when SIGINT, SIGTERM
/// or SIGHUP kills it. The signal handler only reads the table (atomically claiming each
/// entry), calls unlink(2), restores the previous disposition and re-raises the signal:
/// all async-signal-safe. Registration copies the path (malloc), outside any handler.

/// Installs the handlers once (signals whose disposition is SIG_IGN are left ignored).
void ctr_temporary_files_install(void);

/// Registers a copy of `path`; returns its slot and sets `*token` to the copy, or returns
/// -1 when the table is full (the file is then not removed on a signal, only by the next
/// run's stale-partial sweep).
int ctr_temporary_files_register(const char *path, char **token);

/// Forgets slot `slot` if it still holds `token` (from register; -1 is ignored) and frees
/// the copy. An entry the handler already claimed is left alone.
void ctr_temporary_files_unregister(int slot, char *token);

/// What the handler does, callable from a test: unlinks every registered path and empties
/// the table. Returns how many paths were unlinked.
int ctr_temporary_files_unlink_all(void);

#endif
