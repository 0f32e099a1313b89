// The last phase of a compile: the library's C glue compiled and linked with
// the kernels' objects, Halide's runtime and cnnrt into one shared library.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "codegen/ModuleWriter.h"

namespace cnnc {

// A scratch directory for one compile, removed with its contents unless kept (--keep-temps).
class ScratchDir {
public:
    explicit ScratchDir(bool keep);
    ~ScratchDir();
    ScratchDir(const ScratchDir &) = delete;
    ScratchDir &operator=(const ScratchDir &) = delete;
    const std::string &path() const { return path_; }

private:
    std::string path_;
    bool keep_;
};

// The weights file `source` as an EmbeddedFile linked from `scratch`; none for "".
// Throws where it cannot be read.
EmbeddedFile embedFile(const std::string &source, const std::string &scratch);

struct LinkInputs {
    std::string network;                  // prefixes the exported functions
    std::string glueSource;               // moduleSource()
    std::vector<std::string> objects;     // the kernels' and Halide's runtime's
    std::string embeddedWeightsSource;    // "" or the file compiled in: checked by creating a model
    std::string scratch;
};

// Compiles the glue, links `output` atomically (written under a temporary
// name, renamed when complete and checked), exporting <network>_* only.
// Throws std::runtime_error with the failing command.
void linkLibrary(const LinkInputs &inputs, const std::string &output);

} // namespace cnnc
