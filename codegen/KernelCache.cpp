#include "codegen/KernelCache.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cnnc {

std::string hashHex(const std::string &text) {
    uint64_t h = 1469598103934665603ull; // FNV-1a, then a final avalanche
    for (unsigned char ch : text) h = (h ^ ch) * 1099511628211ull;
    h ^= h >> 33, h *= 0xff51afd7ed558ccdull, h ^= h >> 33;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

static std::string defaultCacheDir() {
    if (const char *d = std::getenv("CNNC_CACHE_DIR"); d && *d) return d;
    if (const char *d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/cnnc";
    if (const char *h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/cnnc";
    return "";
}

KernelCache::KernelCache(std::string dir, bool disabled, std::string scratchDir)
    : dir_(dir.empty() ? defaultCacheDir() : std::move(dir)), disabled_(disabled || dir_.empty()),
      scratch_(std::move(scratchDir)) {
    if (!disabled_) {
        std::error_code ec;
        fs::create_directories(dir_, ec);
        if (ec) disabled_ = true; // an unwritable cache only costs time
    }
}

std::string KernelCache::objectPath(const std::string &key) const {
    return (disabled_ ? scratch_ : dir_) + "/" + key + ".o";
}

// Writes through a unique temporary name, then renames: concurrent compilers
// and crashes never leave a torn object in the cache.
template <typename WriteFn>
static void publish(const std::string &path, WriteFn write) {
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    write(tmp);
    fs::rename(tmp, path);
}

// A hash of the running compiler itself: a rebuilt cnnc (new lowering or
// schedules) never reuses objects an older one cached.
static const std::string &compilerFingerprint() {
    static const std::string fingerprint = [] {
        std::ifstream exe("/proc/self/exe", std::ios::binary);
        std::ostringstream bytes;
        bytes << exe.rdbuf();
        return hashHex(bytes.str());
    }();
    return fingerprint;
}

std::string KernelCache::key(const std::string &signature, const Halide::Target &target) {
    return hashHex(signature + "|" + target.to_string() + "|" + compilerFingerprint());
}

bool KernelCache::has(const std::string &key) const { return !disabled_ && fs::exists(objectPath(key)); }

void KernelCache::compile(const std::function<BuiltKernel()> &build, const Halide::Target &target,
                          const std::string &key) {
    BuiltKernel built = build();
    publish(objectPath(key), [&](const std::string &tmp) {
        std::map<Halide::OutputFileType, std::string> outs{{Halide::OutputFileType::object, tmp}};
        if (const char *d = std::getenv("CNNC_ASM_DIR"); d && *d) {
            std::error_code ec;
            fs::create_directories(d, ec);
            if (ec) throw std::runtime_error(std::string("CNNC_ASM_DIR: cannot create ") + d + ": " + ec.message());
            outs[Halide::OutputFileType::assembly] = std::string(d) + "/" + key + ".s";
            outs[Halide::OutputFileType::stmt] = std::string(d) + "/" + key + ".stmt";
        }
        built.pipeline.compile_to(outs, built.arguments, functionName(key), target);
    });
}

std::string KernelCache::runtimeObject(const Halide::Target &target) {
    Halide::Target rt = target.without_feature(Halide::Target::NoRuntime);
    std::string path = objectPath("halide_runtime_" + hashHex(rt.to_string()));
    if (!disabled_ && fs::exists(path)) return path;
    publish(path, [&](const std::string &tmp) { Halide::compile_standalone_runtime(tmp, rt); });
    return path;
}

} // namespace cnnc
