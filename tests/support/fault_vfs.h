// A fault-injecting SQLite VFS for store failure tests (issue 9 §2).
//
// Install() registers a VFS that delegates every call to the default one
// (unix) and makes itself the default, so every database the process opens
// afterwards goes through it, the Manager's included, with no change to the
// code under test. While armed, writes (and, for I/O errors, syncs and
// truncations) of files whose path starts with the armed prefix fail the
// way a full or broken disk makes them fail: xWrite returns SQLITE_FULL or
// SQLITE_IOERR_WRITE, xSync SQLITE_IOERR_FSYNC. Reads keep working, as
// they do on a full disk.
//
// Header-only and process-wide (SQLite's VFS list is). Thread-safe: arming
// is atomic; calls in flight see either state.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>

namespace duende::testing {

class FaultVfs {
 public:
  enum class Fault { kNone, kDiskFull, kIoError };

  // Registers the VFS as the process default (once) and returns it.
  static FaultVfs& Install() {
    static FaultVfs vfs;
    return vfs;
  }

  // Fails writes to files whose path starts with `path_prefix` until
  // Disarm().
  void Arm(Fault fault, const std::string& path_prefix) {
    {
      std::lock_guard lock(mu_);
      prefix_ = path_prefix;
    }
    fault_.store(fault);
  }
  void Disarm() { fault_.store(Fault::kNone); }
  // Calls failed so far.
  int injected() const { return injected_.load(); }

 private:
  struct File {
    sqlite3_file base;  // must come first: SQLite sees this
    sqlite3_file* real;
    const char* name;  // valid until xClose (SQLite's promise)
  };

  // Whether `name` is under the armed prefix (checked at each call: files
  // opened before Arm() count too).
  bool Watched(const char* name) {
    std::lock_guard lock(mu_);
    return name && !prefix_.empty() && std::strncmp(name, prefix_.c_str(), prefix_.size()) == 0;
  }

  FaultVfs() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.zName = "duende-faults";
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.pAppData = this;
    vfs_.xOpen = &FaultVfs::Open;
    sqlite3_vfs_register(&vfs_, 1);
  }

  static FaultVfs& Of(sqlite3_vfs* vfs) { return *static_cast<FaultVfs*>(vfs->pAppData); }
  static File& Of(sqlite3_file* f) { return *reinterpret_cast<File*>(f); }
  static FaultVfs& Self() { return Install(); }

  // The error `call` returns now for a watched file, or SQLITE_OK.
  static int Injected(const File& f, bool is_write) {
    const Fault fault = Self().fault_.load();
    if (fault == Fault::kNone || !Self().Watched(f.name)) return SQLITE_OK;
    if (fault == Fault::kDiskFull && !is_write) return SQLITE_OK;
    Self().injected_.fetch_add(1);
    if (fault == Fault::kDiskFull) return SQLITE_FULL;
    return is_write ? SQLITE_IOERR_WRITE : SQLITE_IOERR_FSYNC;
  }

  static int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    FaultVfs& self = Of(vfs);
    File& f = Of(file);
    f.real = reinterpret_cast<sqlite3_file*>(&f + 1);
    f.name = name;
    const int rc = self.real_->xOpen(self.real_, name, f.real, flags, out_flags);
    // SQLite calls xClose only when pMethods is set.
    f.base.pMethods = rc == SQLITE_OK && f.real->pMethods ? &kMethods : nullptr;
    return rc;
  }

  static int Close(sqlite3_file* f) { return Of(f).real->pMethods->xClose(Of(f).real); }
  static int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    return Of(f).real->pMethods->xRead(Of(f).real, buf, n, off);
  }
  static int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    if (int rc = Injected(Of(f), true)) return rc;
    return Of(f).real->pMethods->xWrite(Of(f).real, buf, n, off);
  }
  static int Truncate(sqlite3_file* f, sqlite3_int64 size) {
    if (int rc = Injected(Of(f), false)) return rc;
    return Of(f).real->pMethods->xTruncate(Of(f).real, size);
  }
  static int Sync(sqlite3_file* f, int flags) {
    if (int rc = Injected(Of(f), false)) return rc;
    return Of(f).real->pMethods->xSync(Of(f).real, flags);
  }
  static int FileSize(sqlite3_file* f, sqlite3_int64* size) {
    return Of(f).real->pMethods->xFileSize(Of(f).real, size);
  }
  static int Lock(sqlite3_file* f, int level) { return Of(f).real->pMethods->xLock(Of(f).real, level); }
  static int Unlock(sqlite3_file* f, int level) { return Of(f).real->pMethods->xUnlock(Of(f).real, level); }
  static int CheckReservedLock(sqlite3_file* f, int* out) {
    return Of(f).real->pMethods->xCheckReservedLock(Of(f).real, out);
  }
  static int FileControl(sqlite3_file* f, int op, void* arg) {
    return Of(f).real->pMethods->xFileControl(Of(f).real, op, arg);
  }
  static int SectorSize(sqlite3_file* f) { return Of(f).real->pMethods->xSectorSize(Of(f).real); }
  static int DeviceCharacteristics(sqlite3_file* f) { return Of(f).real->pMethods->xDeviceCharacteristics(Of(f).real); }
  static int ShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
    return Of(f).real->pMethods->xShmMap(Of(f).real, page, size, extend, out);
  }
  static int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
    return Of(f).real->pMethods->xShmLock(Of(f).real, offset, n, flags);
  }
  static void ShmBarrier(sqlite3_file* f) { Of(f).real->pMethods->xShmBarrier(Of(f).real); }
  static int ShmUnmap(sqlite3_file* f, int del) { return Of(f).real->pMethods->xShmUnmap(Of(f).real, del); }
  // No memory-mapped I/O through the shim: xFetch answers "not mapped", so
  // SQLite reads with xRead.
  static int Fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
    *out = nullptr;
    return SQLITE_OK;
  }
  static int Unfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

  static constexpr sqlite3_io_methods kMethods = {3,
                                                  &Close,
                                                  &Read,
                                                  &Write,
                                                  &Truncate,
                                                  &Sync,
                                                  &FileSize,
                                                  &Lock,
                                                  &Unlock,
                                                  &CheckReservedLock,
                                                  &FileControl,
                                                  &SectorSize,
                                                  &DeviceCharacteristics,
                                                  &ShmMap,
                                                  &ShmLock,
                                                  &ShmBarrier,
                                                  &ShmUnmap,
                                                  &Fetch,
                                                  &Unfetch};

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_;
  std::mutex mu_;
  std::string prefix_;
  std::atomic<Fault> fault_{Fault::kNone};
  std::atomic<int> injected_{0};
};

}  // namespace duende::testing
