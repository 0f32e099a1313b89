// Shared pieces of the libFuzzer targets: the input as text, or as a file
// for readers that take a path.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace cnnc_fuzz {

inline std::string text(const uint8_t *data, size_t size) { return std::string(reinterpret_cast<const char *>(data), size); }

inline void writeFile(const std::string &path, const uint8_t *data, size_t size) {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
}

// The input written to this process's scratch file (one per process, so
// parallel fuzzing jobs do not share it); its path.
inline const std::string &asFile(const uint8_t *data, size_t size) {
    static const std::string path = "/tmp/cnnc-fuzz-" + std::to_string(getpid());
    writeFile(path, data, size);
    return path;
}

} // namespace cnnc_fuzz
