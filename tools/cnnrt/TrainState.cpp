#include "tools/cnnrt/TrainState.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <stdexcept>

#include "tools/cnnrt/Dataset.h"

namespace cnnrt_tool {

using std::runtime_error;
using std::string;

float TrainConfig::lrForEpoch(int64_t epoch) const {
    float r = lr;
    if (lrStep > 0)
        for (int64_t k = 0; k < epoch / lrStep; ++k) r *= lrGamma;
    return r;
}

uint64_t nextRandom(uint64_t &s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t initialRandomState(uint64_t seed) {
    uint64_t s = seed;
    return nextRandom(s);
}

std::vector<int64_t> shuffledOrder(int64_t n, uint64_t &state) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
    for (int64_t i = n - 1; i > 0; --i) {
        uint64_t bound = uint64_t(i) + 1, limit = ~uint64_t(0) - (~uint64_t(0) % bound), r;
        do r = nextRandom(state);
        while (r >= limit);
        std::swap(order[size_t(i)], order[size_t(r % bound)]);
    }
    return order;
}

uint64_t fileHash(const string &path, uint64_t *bytes) {
    std::vector<uint8_t> d = readFile(path, uint64_t(1) << 36);
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint8_t b : d) h = (h ^ b) * 0x100000001b3ull;
    if (bytes) *bytes = d.size();
    return h;
}

void writeTextAtomically(const string &path, const string &text) {
    string tmp = path + ".tmp." + std::to_string(getpid());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
    size_t off = 0;
    while (off < text.size()) {
        ssize_t w = write(fd, text.data() + off, text.size() - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            string e = std::strerror(errno);
            close(fd);
            unlink(tmp.c_str());
            throw runtime_error("cannot write " + tmp + ": " + e);
        }
        off += size_t(w);
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
        string e = std::strerror(errno);
        unlink(tmp.c_str());
        throw runtime_error("cannot write " + path + ": " + e);
    }
}

namespace {
uint64_t textHash(const string &text) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char b : text) h = (h ^ b) * 0x100000001b3ull;
    return h;
}
// Floats as C99 hex literals: exact round trip.
string hexFloat(float v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", double(v));
    return buf;
}
string hex64(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}
}  // namespace

void saveTrainState(const string &path, const TrainState &s) {
    const TrainConfig &c = s.config;
    std::ostringstream o;
    o << "cnnrt-train-state 1\n"
      << "epochs_done " << s.epochsDone << "\n"
      << "train_samples " << s.trainSamples << "\n"
      << "seed " << c.seed << "\n"
      << "rng " << hex64(s.rng) << "\n"
      << "batch " << c.batch << "\n"
      << "optimizer " << c.optimizer << "\n"
      << "lr " << hexFloat(c.lr) << "\n"
      << "momentum " << hexFloat(c.momentum) << "\n"
      << "weight_decay " << hexFloat(c.weightDecay) << "\n"
      << "beta1 " << hexFloat(c.beta1) << "\n"
      << "beta2 " << hexFloat(c.beta2) << "\n"
      << "eps " << hexFloat(c.eps) << "\n"
      << "lr_step " << c.lrStep << "\n"
      << "lr_gamma " << hexFloat(c.lrGamma) << "\n"
      << "checkpoint_bytes " << s.checkpointBytes << "\n"
      << "checkpoint_fnv1a64 " << hex64(s.checkpointHash) << "\n";
    // The lines above, checked on load as the weights' checkpoint is: an
    // edited value (lr, momentum, the RNG state...) is refused, not resumed.
    const string sum = hex64(textHash(o.str()));
    o << "state_fnv1a64 " << sum << "\n";
    writeTextAtomically(path, o.str());
}

TrainState loadTrainState(const string &path) {
    if (!fileExists(path))
        throw runtime_error(path + " not found: the checkpoint's training state is needed to resume");
    std::vector<uint8_t> d = readFile(path, 1 << 16);
    const string text(d.begin(), d.end());
    if (text.compare(0, 20, "cnnrt-train-state 1\n") != 0) throw runtime_error(path + ": not a cnnrt training state file");
    if (text.find('\0') != string::npos) throw runtime_error(path + ": contains a NUL byte");
    // The last line checks every byte before it.
    const string sumKey = "state_fnv1a64 ";
    size_t sumAt = text.rfind("\n" + sumKey);
    if (sumAt == string::npos || text.back() != '\n')
        throw runtime_error(path + ": no state_fnv1a64 line (written by an older cnnrt, or cut short)");
    const string body = text.substr(0, sumAt + 1), sum = text.substr(sumAt + 1 + sumKey.size());
    if (sum != hex64(textHash(body)) + "\n")
        throw runtime_error(path + ": checksum mismatch: the training state was edited or damaged");
    static const char *const known[] = {"epochs_done", "train_samples", "seed", "rng", "batch", "optimizer",
                                        "lr", "momentum", "weight_decay", "beta1", "beta2", "eps",
                                        "lr_step", "lr_gamma", "checkpoint_bytes", "checkpoint_fnv1a64"};
    std::istringstream in(body.substr(20));
    string line;
    std::map<string, string> kv;
    while (std::getline(in, line)) {
        size_t sp = line.find(' ');
        if (sp == string::npos) throw runtime_error(path + ": malformed line '" + line + "'");
        string key = line.substr(0, sp);
        if (std::find(std::begin(known), std::end(known), key) == std::end(known))
            throw runtime_error(path + ": unknown field '" + key + "'");
        if (!kv.emplace(key, line.substr(sp + 1)).second) throw runtime_error(path + ": field '" + key + "' appears twice");
    }
    auto get = [&](const char *k) -> const string & {
        auto it = kv.find(k);
        if (it == kv.end()) throw runtime_error(path + ": missing field '" + string(k) + "'");
        return it->second;
    };
    auto u64 = [&](const char *k, int base) {
        const string &v = get(k);
        char *end = nullptr;
        errno = 0;
        unsigned long long r = std::strtoull(v.c_str(), &end, base);
        if (v.empty() || v[0] == '-' || *end || errno) throw runtime_error(path + ": bad value for '" + k + "'");
        return uint64_t(r);
    };
    auto f32 = [&](const char *k) {
        const string &v = get(k);
        char *end = nullptr;
        float r = std::strtof(v.c_str(), &end);
        if (v.empty() || *end) throw runtime_error(path + ": bad value for '" + k + "'");
        return r;
    };
    TrainState s;
    s.epochsDone = int64_t(u64("epochs_done", 10));
    s.trainSamples = int64_t(u64("train_samples", 10));
    s.config.seed = u64("seed", 10);
    s.rng = u64("rng", 16);
    s.config.batch = int64_t(u64("batch", 10));
    s.config.optimizer = get("optimizer");
    s.config.lr = f32("lr");
    s.config.momentum = f32("momentum");
    s.config.weightDecay = f32("weight_decay");
    s.config.beta1 = f32("beta1");
    s.config.beta2 = f32("beta2");
    s.config.eps = f32("eps");
    s.config.lrStep = int64_t(u64("lr_step", 10));
    s.config.lrGamma = f32("lr_gamma");
    s.checkpointBytes = u64("checkpoint_bytes", 10);
    s.checkpointHash = u64("checkpoint_fnv1a64", 16);
    if (s.config.batch < 1 || s.config.batch > (1 << 20) || s.epochsDone > (int64_t(1) << 40))
        throw runtime_error(path + ": implausible values");
    return s;
}

}  // namespace cnnrt_tool
