// Module slots as files for the POSIX board: <dir>/slot-a.wasm, <dir>/slot-b.wasm and
// <dir>/state.bin. The record is written to state.bin.tmp, fsync'd, renamed over
// state.bin and the directory fsync'd: a power cut leaves the old record or the new one.
#include "outpost_slots_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void path_of(const outpost_slots_file *f, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", f->dir, name);
}
static void slot_path(const outpost_slots_file *f, int slot, char *out, size_t cap) {
  path_of(f, slot ? "slot-b.wasm" : "slot-a.wasm", out, cap);
}

static int read_all(int fd, uint8_t *out, size_t len, off_t at) {
  while (len) {
    ssize_t n = pread(fd, out, len, at);
    if (n <= 0) return -1;
    out += n;
    len -= (size_t)n;
    at += n;
  }
  return 0;
}

static int write_all(int fd, const uint8_t *data, size_t len, off_t at) {
  while (len) {
    ssize_t n = pwrite(fd, data, len, at);
    if (n <= 0) return -1;
    data += n;
    len -= (size_t)n;
    at += n;
  }
  return 0;
}

static int read_record(void *ctx, outpost_ota_record *r) {
  char path[600];
  path_of(ctx, "state.bin", path, sizeof path);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  int rc = read_all(fd, (uint8_t *)r, sizeof *r, 0);
  close(fd);
  return rc;
}

static int sync_dir(const outpost_slots_file *f) {
  int fd = open(f->dir, O_RDONLY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

static int write_record(void *ctx, const outpost_ota_record *r) {
  outpost_slots_file *f = ctx;
  char tmp[600], path[600];
  path_of(f, "state.bin.tmp", tmp, sizeof tmp);
  path_of(f, "state.bin", path, sizeof path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  int rc = write_all(fd, (const uint8_t *)r, sizeof *r, 0) || fsync(fd);
  close(fd);
  if (rc) return -1;
  if (f->crash_step && f->crash_step("record-written")) return -1; // a test's power cut
  if (rename(tmp, path)) return -1;
  return sync_dir(f);
}

static int erase(void *ctx, int slot) {
  char path[600];
  slot_path(ctx, slot, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

static int write_slot(void *ctx, int slot, uint32_t offset, const uint8_t *data, size_t len) {
  outpost_slots_file *f = ctx;
  char path[600];
  slot_path(f, slot, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT, 0600);
  if (fd < 0) return -1;
  int rc = write_all(fd, data, len, offset) || fsync(fd);
  close(fd);
  if (!rc && f->crash_step && f->crash_step("chunk-written")) return -1;
  return rc ? -1 : 0;
}

static int read_slot(void *ctx, int slot, uint32_t offset, uint8_t *out, size_t len) {
  char path[600];
  slot_path(ctx, slot, path, sizeof path);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  int rc = read_all(fd, out, len, offset);
  close(fd);
  return rc;
}

int outpost_slots_file_init(outpost_slots_file *f, const char *dir, uint32_t slot_cap) {
  f->dir = dir;
  mkdir(dir, 0700);
  struct stat st;
  if (stat(dir, &st) || !S_ISDIR(st.st_mode)) return -1;
  f->slots = (outpost_slots){slot_cap, read_record, write_record, erase, write_slot, read_slot, f, NULL};
  return 0;
}
