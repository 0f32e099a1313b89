#include "codegen/Toolchain.h"

#include <filesystem>

namespace cnnc {

namespace fs = std::filesystem;

const ToolchainPaths &toolchainPaths() {
    static const ToolchainPaths paths = [] {
        std::error_code ec;
        const fs::path prefix = fs::canonical("/proc/self/exe", ec).parent_path().parent_path();
        const fs::path installedRuntime = prefix / CNNC_INSTALL_LIBDIR / "cnnc" / "libcnnrt.a";
        if (!ec && fs::is_regular_file(installedRuntime, ec))
            return ToolchainPaths{(prefix / CNNC_INSTALL_INCLUDEDIR / "cnnc").string(), installedRuntime.string(),
                                  (prefix / CNNC_INSTALL_DATADIR / "cnnc" / "tuning" / "default.tdb").string()};
        return ToolchainPaths{CNNC_SOURCE_DIR, CNNC_RUNTIME_LIB, CNNC_SOURCE_DIR "/tuning/default.tdb"};
    }();
    return paths;
}

} // namespace cnnc
