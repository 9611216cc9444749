#include "CTemporaryFiles.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTR_SLOTS 1024

static char *volatile slots[CTR_SLOTS];
static struct sigaction previous[3];
static const int handled[3] = { SIGINT, SIGTERM, SIGHUP };
static volatile int installed = 0;

int ctr_temporary_files_unlink_all(void) {
    int removed = 0;
    for (int i = 0; i < CTR_SLOTS; i++) {
        // Claim the entry: whoever swaps it out owns it, so a writer unregistering on
        // another thread never frees a path the handler is using.
        char *path = __atomic_exchange_n(&slots[i], (char *)0, __ATOMIC_ACQ_REL);
        if (path) {
            if (unlink(path) == 0) removed++;
            // Not freed: free is not async-signal-safe, and the process is about to end.
        }
    }
    return removed;
}

static void handler(int sig) {
    int saved = 0;
    for (int i = 0; i < 3; i++) if (handled[i] == sig) saved = i;
    (void)ctr_temporary_files_unlink_all();
    // Restore what was there before (normally SIG_DFL) and re-raise: the signal is
    // blocked while this handler runs, so it is delivered with the old disposition as
    // soon as the handler returns, and the process ends as it would have without us.
    sigaction(sig, &previous[saved], (struct sigaction *)0);
    raise(sig);
}

void ctr_temporary_files_install(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&installed, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
    for (int i = 0; i < 3; i++) {
        struct sigaction old;
        if (sigaction(handled[i], (struct sigaction *)0, &old) != 0) continue;
        if (old.sa_handler == SIG_IGN) continue;
        previous[i] = old;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = handler;
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;
        sigaction(handled[i], &action, (struct sigaction *)0);
    }
}

int ctr_temporary_files_register(const char *path, char **token) {
    *token = (char *)0;
    char *copy = strdup(path);
    if (!copy) return -1;
    for (int i = 0; i < CTR_SLOTS; i++) {
        char *expected = (char *)0;
        if (__atomic_compare_exchange_n(&slots[i], &expected, copy, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *token = copy;
            return i;
        }
    }
    free(copy);
    return -1;
}

void ctr_temporary_files_unregister(int slot, char *token) {
    if (slot < 0 || slot >= CTR_SLOTS || !token) return;
    char *expected = token;
    // Only if the entry is still ours: a copy the handler claimed is never freed, so its
    // address cannot come back for another registration.
    if (__atomic_compare_exchange_n(&slots[slot], &expected, (char *)0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) free(token);
}
