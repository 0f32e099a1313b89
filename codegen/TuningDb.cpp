#include "codegen/TuningDb.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include "codegen/KernelCache.h"
#include "codegen/Toolchain.h"

namespace cnnc {

std::string TuningDb::defaultPath() {
    if (const char *p = std::getenv("CNNC_TUNING_DB"); p && *p) return p;
    return toolchainPaths().tuningDb;
}

std::string TuningDb::hostCpuKey() {
    auto size = [](long bytes) {
        return bytes % (1 << 20) == 0 ? std::to_string(bytes >> 20) + "M" : std::to_string(bytes >> 10) + "K";
    };
    long l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l1d <= 0 || l2 <= 0) return "unknown";
    return "l1d=" + size(l1d) + ",l2=" + size(l2);
}

// The target without features that do not change kernel code (no_runtime is
// how kernels are linked, not what they compute), and the CPU.
std::string TuningDb::key(const std::string &signature, const Halide::Target &target) const {
    return hashHex(signature) + " " + target.without_feature(Halide::Target::NoRuntime).to_string() + "@" + cpu_;
}

void TuningDb::load() {
    std::ifstream in(path_);
    if (!in) {
        if (std::filesystem::exists(path_)) throw std::runtime_error(path_ + ": cannot read the tuning database");
        return;
    }
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        std::string note;
        if (size_t hash = line.find('#'); hash != std::string::npos) {
            note = line.substr(hash + 1);
            line.resize(hash);
            while (!note.empty() && note.front() == ' ') note.erase(note.begin());
        }
        std::istringstream fields(line);
        std::string sig, target, schedule, time, batches, extra;
        if (!(fields >> sig)) continue; // blank or comment
        auto fail = [&](const std::string &what) {
            throw std::runtime_error(path_ + ":" + std::to_string(number) + ": error: " + what);
        };
        if (!(fields >> target >> schedule >> time) || ((fields >> batches) && (fields >> extra)))
            fail("expected '<signature hash> <target>@<cpu> <schedule> <microseconds> [batch>=N]'");
        if (sig.size() != 16 || sig.find_first_not_of("0123456789abcdef") != std::string::npos)
            fail("'" + sig + "' is not a 16-digit signature hash");
        const size_t at = target.find('@');
        const std::string isa = target.substr(0, at);
        if (!Halide::Target::validate_target_string(isa)) fail("'" + isa + "' is not a Halide target");
        if (at != std::string::npos && (at + 1 == target.size() || target.find('@', at + 1) != std::string::npos))
            fail("'" + target + "' names no CPU after '@'");
        std::optional<ScheduleChoice> choice = ScheduleChoice::parse(schedule);
        if (!choice) fail("malformed schedule '" + schedule + "' (expected knob=value,... or default)");
        char *end = nullptr;
        double micros = std::strtod(time.c_str(), &end);
        if (*end || !(micros >= 0) || micros > 1e12) fail("'" + time + "' is not a time in microseconds");
        int minBatch = 1;
        if (!batches.empty()) {
            const std::string prefix = "batch>=";
            long value = 0;
            if (batches.rfind(prefix, 0) == 0 && batches.size() > prefix.size() && batches.size() <= prefix.size() + 6 &&
                batches.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
                value = std::stol(batches.substr(prefix.size()));
            if (value < 2) fail("'" + batches + "' is not a batch bound (expected batch>=N, N >= 2)");
            minBatch = int(value);
        }
        entries_[{sig + " " + target, minBatch}] = TuningEntry{*choice, micros, note, minBatch};
    }
}

void TuningDb::save() const {
    std::ostringstream out;
    out << "# cnnc tuning database (see codegen/TuningDb.h); written by 'cnnc tune'.\n"
        << "# <signature hash> <Halide target> <schedule> <microseconds per sample> # kernel\n";
    for (auto &[k, e] : entries_) {
        char time[32];
        std::snprintf(time, sizeof time, "%.1f", e.microsPerSample);
        out << k.first << " " << e.choice.str() << " " << time;
        if (e.minBatch > 1) out << " batch>=" << e.minBatch;
        if (!e.note.empty()) out << " # " << e.note;
        out << "\n";
    }
    std::filesystem::path path(path_);
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    std::string tmp = path_ + ".tmp." + std::to_string(getpid());
    {
        std::ofstream f(tmp, std::ios::binary);
        f << out.str();
        if (!f.flush()) {
            std::error_code ec;
            std::filesystem::remove(tmp, ec);
            throw std::runtime_error("cannot write " + tmp);
        }
    }
    std::filesystem::rename(tmp, path_);
}

std::optional<TuningEntry> TuningDb::lookup(const std::string &signature, const Halide::Target &target) const {
    auto it = entries_.find({key(signature, target), 1});
    if (it == entries_.end()) return std::nullopt;
    return it->second;
}

std::vector<TuningEntry> TuningDb::variants(const std::string &signature, const Halide::Target &target) const {
    std::vector<TuningEntry> found;
    const std::string k = key(signature, target);
    for (auto it = entries_.lower_bound({k, 0}); it != entries_.end() && it->first.first == k; ++it)
        found.push_back(it->second);
    return found;
}

void TuningDb::record(const std::string &signature, const Halide::Target &target, TuningEntry entry) {
    for (char &ch : entry.note)
        if (ch == '\n' || ch == '\r') ch = ' ';
    entry.minBatch = std::max(1, entry.minBatch);
    entries_[{key(signature, target), entry.minBatch}] = std::move(entry);
}

void TuningDb::forget(const std::string &signature, const Halide::Target &target) {
    const std::string k = key(signature, target);
    entries_.erase(entries_.lower_bound({k, 0}), entries_.upper_bound({k, std::numeric_limits<int>::max()}));
}

} // namespace cnnc
