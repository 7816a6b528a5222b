// The few newlib-nano system calls this firmware needs. stdout and stderr go
// to the debug channel; there is no file system.
#include <errno.h>
#include <sys/stat.h>

#include "board.h"
#include "link.h"

void *_sbrk(ptrdiff_t increment) {
  void *old = board_sbrk(increment);
  if (old == (void *)-1) errno = ENOMEM;
  return old;
}

int _write(int fd, const char *buf, int len) {
  if (fd != 1 && fd != 2) {
    errno = EBADF;
    return -1;
  }
  debug_write(buf, (size_t)len);
  return len;
}

int _read(int fd, char *buf, int len) {
  (void)fd, (void)buf, (void)len;
  return 0;
}

int _close(int fd) {
  (void)fd;
  errno = EBADF;
  return -1;
}

int _lseek(int fd, int offset, int whence) {
  (void)fd, (void)offset, (void)whence;
  return 0;
}

int _fstat(int fd, struct stat *st) {
  (void)fd;
  st->st_mode = S_IFCHR;
  return 0;
}

int _isatty(int fd) { return fd <= 2; }

int _getpid(void) { return 1; }

int _kill(int pid, int sig) {
  (void)pid, (void)sig;
  errno = EINVAL;
  return -1;
}

void _exit(int code) { board_exit(code); }
