// Where the files a compile needs besides the kernels live.
#pragma once
#include <string>

namespace cnnc {

struct ToolchainPaths {
    std::string includeDir;     // holds runtime/Runtime.h and runtime/ModelDesc.h, for the glue code
    std::string runtimeLibrary; // libcnnrt.a, linked into every library
    std::string tuningDb;       // the tuning database compiles read by default
};

// An installed cnnc (the executable in <prefix>/bin, the runtime in
// <prefix>/<libdir>/cnnc) uses the files installed around it, wherever the
// prefix has moved; anything else, such as cnnc or a test in the build tree,
// uses the source and build trees it was built from.
const ToolchainPaths &toolchainPaths();

} // namespace cnnc
