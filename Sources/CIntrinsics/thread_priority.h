#ifndef TESSERA_THREAD_PRIORITY_H
#define TESSERA_THREAD_PRIORITY_H
/* Thread scheduling that Swift's Glibc module does not spell (gettid is a GNU extension). */
#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Sets the calling thread's nice value to `niceness` (Linux keeps one per thread): a background thread at 10 gets
   about a tenth of a core that a thread at 0 also wants. */
static inline void tessera_lower_thread_priority(int niceness) {
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), niceness);
}
#endif
#endif
