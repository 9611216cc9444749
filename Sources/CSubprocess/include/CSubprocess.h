#ifndef CTR_SUBPROCESS_H
#define CTR_SUBPROCESS_H

#include <sys/types.h>

/// Starts `path` with `argv` (NULL-terminated, argv[0] included) in the folder `directory`
/// (NULL: the current one), its stdin from /dev/null and its stdout and stderr into the
/// open descriptors `out_fd` and `err_fd`. The environment is the parent's. On Linux the
/// child gets SIGTERM when the thread that started it dies (prctl PR_SET_PDEATHSIG), so
/// a killed ctr-pipeline does not leave a stage running on (mpirun passes SIGTERM on to
/// its ranks). fork then only async-signal-safe calls until execv, so it is safe from a
/// multithreaded process.
/// Returns 0 and sets `*pid`, or the errno of what failed: fork, chdir or execv (the
/// child reports a failed exec through a close-on-exec pipe).
int ctr_spawn(const char *path, char *const argv[], const char *directory, int out_fd, int err_fd, pid_t *pid);

/// Waits for `pid`; returns its exit status (0-255), or 128 + the signal that ended it,
/// or -1 with errno set.
int ctr_wait(pid_t pid);

#endif
