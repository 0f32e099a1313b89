#include "codegen/TuningDb.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include "codegen/KernelCache.h"

namespace cnnc {

std::string TuningDb::defaultPath() {
    if (const char *p = std::getenv("CNNC_TUNING_DB"); p && *p) return p;
    return CNNC_SOURCE_DIR "/tuning/default.tdb";
}

// The target without features that do not change kernel code (no_runtime is
// how kernels are linked, not what they compute).
std::string TuningDb::key(const std::string &signature, const Halide::Target &target) {
    return hashHex(signature) + " " + target.without_feature(Halide::Target::NoRuntime).to_string();
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
        std::string sig, target, schedule, time, extra;
        if (!(fields >> sig)) continue; // blank or comment
        auto fail = [&](const std::string &what) {
            throw std::runtime_error(path_ + ":" + std::to_string(number) + ": error: " + what);
        };
        if (!(fields >> target >> schedule >> time) || (fields >> extra))
            fail("expected '<signature hash> <target> <schedule> <microseconds>'");
        if (sig.size() != 16 || sig.find_first_not_of("0123456789abcdef") != std::string::npos)
            fail("'" + sig + "' is not a 16-digit signature hash");
        if (!Halide::Target::validate_target_string(target)) fail("'" + target + "' is not a Halide target");
        std::optional<ScheduleChoice> choice = ScheduleChoice::parse(schedule);
        if (!choice) fail("malformed schedule '" + schedule + "' (expected knob=value,... or default)");
        char *end = nullptr;
        double micros = std::strtod(time.c_str(), &end);
        if (*end || !(micros >= 0) || micros > 1e12) fail("'" + time + "' is not a time in microseconds");
        entries_[sig + " " + target] = TuningEntry{*choice, micros, note};
    }
}

void TuningDb::save() const {
    std::ostringstream out;
    out << "# cnnc tuning database (see codegen/TuningDb.h); written by 'cnnc tune'.\n"
        << "# <signature hash> <Halide target> <schedule> <microseconds per sample> # kernel\n";
    for (auto &[k, e] : entries_) {
        char time[32];
        std::snprintf(time, sizeof time, "%.1f", e.microsPerSample);
        out << k << " " << e.choice.str() << " " << time;
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
    auto it = entries_.find(key(signature, target));
    if (it == entries_.end()) return std::nullopt;
    return it->second;
}

void TuningDb::record(const std::string &signature, const Halide::Target &target, TuningEntry entry) {
    for (char &ch : entry.note)
        if (ch == '\n' || ch == '\r') ch = ' ';
    entries_[key(signature, target)] = std::move(entry);
}

} // namespace cnnc
