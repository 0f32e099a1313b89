#include "codegen/Link.h"

#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/Toolchain.h"

namespace fs = std::filesystem;

namespace cnnc {

namespace {

// Runs a program with arguments (no shell); throws with its name on failure.
void run(const std::vector<std::string> &argv) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("cannot start " + argv[0]);
    if (pid == 0) {
        std::vector<char *> args;
        for (auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string cmd;
        for (auto &a : argv) cmd += (cmd.empty() ? "" : " ") + a;
        throw std::runtime_error("command failed (status " + std::to_string(WEXITSTATUS(status)) + "): " + cmd);
    }
}

std::string envOr(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return v && *v ? v : fallback;
}

// Creates a model from the library just linked, so that embedded weights the
// runtime would refuse (names, shapes, a damaged file) fail the compile
// rather than every <name>_create() of the user's program.
void checkEmbeddedWeights(const std::string &library, const std::string &network, const std::string &source) {
    void *handle = dlopen(fs::absolute(library).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error(std::string("cannot load the library to check its weights: ") + dlerror());
    auto create = reinterpret_cast<void *(*)()>(dlsym(handle, (network + "_create").c_str()));
    auto destroy = reinterpret_cast<void (*)(void *)>(dlsym(handle, (network + "_destroy").c_str()));
    auto lastError = reinterpret_cast<const char *(*)()>(dlsym(handle, (network + "_last_error").c_str()));
    std::string error = create && destroy && lastError ? "" : "the library lacks " + network + "_create";
    if (error.empty()) {
        if (void *model = create()) destroy(model);
        else error = lastError();
    }
    dlclose(handle);
    if (!error.empty()) throw std::runtime_error("weights '" + source + "': " + error);
}

std::string makeScratchDir() {
    std::string tmpl = envOr("TMPDIR", "/tmp") + "/cnnc-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("cannot create a scratch directory in " + envOr("TMPDIR", "/tmp"));
    return buf.data();
}

void writeFile(const std::string &path, const std::string &text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f.good()) throw std::runtime_error("cannot write " + path);
}

} // namespace

ScratchDir::ScratchDir(bool keep) : path_(makeScratchDir()), keep_(keep) {}

ScratchDir::~ScratchDir() {
    std::error_code ec;
    if (!keep_) fs::remove_all(path_, ec);
}

// The file `source` as an EmbeddedFile linked from `scratch`; none for "".
EmbeddedFile embedFile(const std::string &source, const std::string &scratch) {
    if (source.empty()) return {};
    std::error_code ec;
    if (!fs::is_regular_file(source, ec)) throw std::runtime_error("cannot read weights '" + source + "'");
    EmbeddedFile file{scratch + "/weights.safetensors", uint64_t(fs::file_size(source))};
    fs::create_symlink(fs::absolute(source), file.path);
    return file;
}

void linkLibrary(const LinkInputs &inputs, const std::string &output) {
    const std::string glue = inputs.scratch + "/" + inputs.network + "_model.c";
    writeFile(glue, inputs.glueSource);
    const std::string versionScript = inputs.scratch + "/exports.map";
    writeFile(versionScript, "{\n  global: " + inputs.network + "_*;\n  local: *;\n};\n");

    std::string cc = envOr("CC", "cc"), cxx = envOr("CXX", "c++");
    const ToolchainPaths &toolchain = toolchainPaths();
    run({cc, "-O2", "-fPIC", "-fvisibility=hidden", "-I" + toolchain.includeDir, "-c", glue, "-o", glue + ".o"});

    std::string tmpOut = output + ".tmp." + std::to_string(getpid());
    std::vector<std::string> link = {cxx, "-shared", "-o", tmpOut, glue + ".o"};
    link.insert(link.end(), inputs.objects.begin(), inputs.objects.end());
    // -Xlinker passes a path whole, where -Wl would split it at its commas.
    link.insert(link.end(), {toolchain.runtimeLibrary, "-Xlinker", "--version-script=" + versionScript, "-Xlinker",
                             "-soname", "-Xlinker", fs::path(output).filename().string()});
#ifdef CNNC_SANITIZER_LINK
    // A sanitized build's runtime: the sanitizers' own symbols come from the
    // (sanitized) process that loads the library.
    link.push_back(CNNC_SANITIZER_LINK);
#else
    link.push_back("-Wl,--no-undefined");
#endif
    link.insert(link.end(), {"-lpthread", "-ldl", "-lm"});
    try {
        run(link);
        if (!inputs.embeddedWeightsSource.empty())
            checkEmbeddedWeights(tmpOut, inputs.network, inputs.embeddedWeightsSource);
    } catch (...) {
        std::error_code ec;
        fs::remove(tmpOut, ec);
        throw;
    }
    fs::rename(tmpOut, output);
}

} // namespace cnnc
