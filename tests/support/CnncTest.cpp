#include "tests/support/CnncTest.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace cnnc_test {

namespace fs = std::filesystem;

// CNNC_TEST_CNNC / CNNC_TEST_CACHE override the binary under test and its
// kernel cache (e.g. to run these tests against another build of cnnc).
static std::string envOr(const char *var, const char *fallback) {
    const char *v = std::getenv(var);
    return v && *v ? v : fallback;
}
std::string cnncBinary() { return envOr("CNNC_TEST_CNNC", CNNC_BIN); }
std::string cacheDir() { return envOr("CNNC_TEST_CACHE", CNNC_TEST_CACHE_DIR); }
std::string sourceDir() { return CNNC_TEST_SOURCE_DIR; }

std::string readFile(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void writeFile(const std::string &path, const std::string &text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

// ---- TempDir -----------------------------------------------------------------

TempDir::TempDir() {
    const char *tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/cnnc-test-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    path_ = buf.data();
}

TempDir::~TempDir() {
    if (std::getenv("CNNC_TEST_KEEP")) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
}

// ---- processes -----------------------------------------------------------------

ProcResult runProcess(const std::vector<std::string> &argv, const std::string &stdinText) {
    ProcResult r;
    TempDir io;
    std::string inPath = io.file("stdin"), outPath = io.file("stdout"), errPath = io.file("stderr");
    writeFile(inPath, stdinText);
    std::vector<char *> args;
    for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int in = open(inPath.c_str(), O_RDONLY);
        int out = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0) _exit(126);
        dup2(in, 0), dup2(out, 1), dup2(err, 2);
        execv(args[0], args.data());
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    r.out = readFile(outPath);
    r.err = readFile(errPath);
    return r;
}

ProcResult runCnnc(const std::vector<std::string> &args, const std::string &stdinText) {
    std::vector<std::string> argv{cnncBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runProcess(argv, stdinText);
}

// ---- safetensors -----------------------------------------------------------------

int64_t Tensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

static std::string jsonString(const std::string &s) {
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    return out + "\"";
}

std::string safetensorsBytes(const TensorMap &tensors) {
    std::string header = "{", data;
    bool first = true;
    for (const auto &[name, t] : tensors) {
        std::string bytes;
        if (t.useRaw) {
            bytes = t.raw;
        } else {
            bytes.resize(t.data.size() * 4);
            for (size_t i = 0; i < t.data.size(); ++i) {
                uint32_t u;
                std::memcpy(&u, &t.data[i], 4);
                for (int b = 0; b < 4; ++b) bytes[i * 4 + size_t(b)] = char((u >> (8 * b)) & 0xff);  // little endian
            }
        }
        if (!first) header += ",";
        first = false;
        header += jsonString(name) + ":{\"dtype\":" + jsonString(t.dtype) + ",\"shape\":[";
        for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
        header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
                  std::to_string(data.size() + bytes.size()) + "]}";
        data += bytes;
    }
    header += "}";
    while (header.size() % 8 != 0) header += ' ';
    std::string out(8, '\0');
    uint64_t len = header.size();
    for (int b = 0; b < 8; ++b) out[size_t(b)] = char((len >> (8 * b)) & 0xff);
    return out + header + data;
}

void writeSafetensors(const std::string &path, const TensorMap &tensors) { writeFile(path, safetensorsBytes(tensors)); }

// ---- random data -----------------------------------------------------------------

std::vector<float> randomNormal(size_t n, uint32_t seed, float mean, float stddev) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(mean, stddev);
    std::vector<float> v(n);
    for (float &e : v) e = dist(gen);
    return v;
}

std::vector<float> randomUniform(size_t n, uint32_t seed, float lo, float hi) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float &e : v) e = dist(gen);
    return v;
}

// ---- CompiledModel -----------------------------------------------------------------

CompiledModel::CompiledModel(CompiledModel &&o) noexcept { *this = std::move(o); }

CompiledModel &CompiledModel::operator=(CompiledModel &&o) noexcept {
    if (this != &o) {
        reset();
        ok_ = o.ok_, error_ = std::move(o.error_), soPath_ = std::move(o.soPath_), name_ = std::move(o.name_);
        compile_ = std::move(o.compile_), dir_ = std::move(o.dir_), srcDir_ = std::move(o.srcDir_);
        handle_ = o.handle_, model_ = o.model_, api_ = o.api_;
        o.handle_ = nullptr, o.model_ = nullptr, o.ok_ = false;
    }
    return *this;
}

CompiledModel::~CompiledModel() { reset(); }

void CompiledModel::reset() {
    if (model_ && api_.destroy) api_.destroy(model_);
    model_ = nullptr;
    if (handle_) dlclose(handle_);
    handle_ = nullptr;
    dir_.reset();
    srcDir_.reset();
    ok_ = false;
}

std::array<int, 3> CompiledModel::inputDims() const {
    std::array<int, 3> d{-1, -1, -1};
    EXPECT_EQ(api_.input_dims(d.data()), 0) << lastError();
    return d;
}

int CompiledModel::inputSize() const {
    auto d = inputDims();
    return d[0] * d[1] * d[2];
}

int CompiledModel::outputSize() const { return api_.output_size(); }

std::string CompiledModel::lastError() const {
    const char *e = api_.last_error ? api_.last_error() : nullptr;
    return e ? e : "(null)";
}

std::vector<float> CompiledModel::infer(const std::vector<float> &input, int batch, void *instance) const {
    if (!ok_) {
        ADD_FAILURE() << "model not compiled: " << error_;
        return {};
    }
    if (input.size() != size_t(batch) * size_t(inputSize())) {
        ADD_FAILURE() << "infer: input has " << input.size() << " floats, expected " << batch << " x " << inputSize();
        return {};
    }
    std::vector<float> out(size_t(batch) * size_t(outputSize()), std::nanf(""));
    int rc = api_.infer(instance ? instance : model_, input.data(), batch, out.data());
    if (rc != 0) {
        ADD_FAILURE() << name_ << "_infer failed (" << rc << "): " << lastError();
        return {};
    }
    return out;
}

int CompiledModel::setWeights(const TensorMap &tensors, void *instance) const {
    TempDir tmp;
    std::string path = tmp.file("weights.safetensors");
    writeSafetensors(path, tensors);
    return loadWeights(path, instance);
}

int CompiledModel::loadWeights(const std::string &path, void *instance) const {
    return api_.load_weights(instance ? instance : model_, path.c_str());
}

int CompiledModel::saveWeights(const std::string &path, void *instance) const {
    return api_.save_weights(instance ? instance : model_, path.c_str());
}

template <class F>
static bool resolve(void *handle, const std::string &name, F &fn, std::string &error) {
    dlerror();
    void *sym = dlsym(handle, name.c_str());
    if (!sym) {
        const char *e = dlerror();
        error += "missing symbol " + name + (e ? std::string(": ") + e : "") + "\n";
        return false;
    }
    fn = reinterpret_cast<F>(sym);
    return true;
}

CompiledModel compileModel(const std::string &source, const std::string &networkName,
                           const std::vector<std::string> &extraFlags) {
    auto dir = std::make_unique<TempDir>();
    std::string src = dir->file(networkName + ".cnn");
    writeFile(src, source);
    CompiledModel m = compileFile(src, networkName, extraFlags);
    m.srcDir_ = std::move(dir);
    return m;
}

CompiledModel compileFile(const std::string &src, const std::string &networkName,
                          const std::vector<std::string> &extraFlags) {
    CompiledModel m;
    m.name_ = networkName;
    m.dir_ = std::make_unique<TempDir>();
    m.soPath_ = m.dir_->file(networkName + ".so");
    std::vector<std::string> args{src, "-o", m.soPath_, "-q", "--cache-dir=" + cacheDir()};
    args.insert(args.end(), extraFlags.begin(), extraFlags.end());
    m.compile_ = runCnnc(args);
    if (m.compile_.status != 0) {
        m.error_ = "cnnc exited with " + std::to_string(m.compile_.status) + ":\n" + m.compile_.err + m.compile_.out;
        return m;
    }
    m.handle_ = dlopen(m.soPath_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!m.handle_) {
        const char *e = dlerror();
        m.error_ = "dlopen failed: " + std::string(e ? e : "?");
        return m;
    }
    const std::string &p = networkName;
    bool all = resolve(m.handle_, p + "_create", m.api_.create, m.error_) &
               resolve(m.handle_, p + "_destroy", m.api_.destroy, m.error_) &
               resolve(m.handle_, p + "_last_error", m.api_.last_error, m.error_) &
               resolve(m.handle_, p + "_input_dims", m.api_.input_dims, m.error_) &
               resolve(m.handle_, p + "_output_size", m.api_.output_size, m.error_) &
               resolve(m.handle_, p + "_load_weights", m.api_.load_weights, m.error_) &
               resolve(m.handle_, p + "_save_weights", m.api_.save_weights, m.error_) &
               resolve(m.handle_, p + "_infer", m.api_.infer, m.error_);
    if (!all) return m;
    m.model_ = m.api_.create();
    if (!m.model_) {
        m.error_ = networkName + "_create returned NULL: " + m.lastError();
        return m;
    }
    m.ok_ = true;
    return m;
}

CompiledModel compileModelFile(const std::string &repoRelativePath, const std::string &networkName,
                               const std::vector<std::string> &extraFlags) {
    return compileFile(sourceDir() + "/" + repoRelativePath, networkName, extraFlags);
}

}  // namespace cnnc_test
