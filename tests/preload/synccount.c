/* synccount.c - LD_PRELOAD shim for the benchmarks: counts the fsync and
 * fdatasync calls of a process (all threads) into a shared file, so a
 * benchmark can report syncs per payment for any build of the daemon.
 *
 * KVITT_SYNCCOUNT=<path>: the file; it holds two native uint64 counters
 * (fdatasync, fsync), updated atomically at every call.  Without the
 * variable the shim only forwards the calls.  Benchmarks only: never
 * loaded by kvitt itself. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t *counters;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);

static void setup(void)
{
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    const char *path = getenv("KVITT_SYNCCOUNT");
    if (!path || !*path)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (ftruncate(fd, 4096) == 0) {
        void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED)
            counters = m;
    }
    close(fd);
}

int fdatasync(int fd)
{
    pthread_once(&once, setup);
    if (counters)
        __atomic_fetch_add(&counters[0], 1, __ATOMIC_RELAXED);
    return real_fdatasync ? real_fdatasync(fd) : -1;
}

int fsync(int fd)
{
    pthread_once(&once, setup);
    if (counters)
        __atomic_fetch_add(&counters[1], 1, __ATOMIC_RELAXED);
    return real_fsync ? real_fsync(fd) : -1;
}
