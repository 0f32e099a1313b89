// CNNRT_PROFILE=1: wall time per kernel, accumulated over the process and
// printed to stderr at exit, slowest first. Off by default (one branch per call).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/Internal.h"

namespace cnnrt {
namespace {

struct Entry {
    double seconds = 0;
    long calls = 0;
};

std::mutex g_mutex;
std::map<std::string, Entry> *g_table = nullptr;

void report() {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_table) return;
    std::vector<std::pair<std::string, Entry>> rows(g_table->begin(), g_table->end());
    std::sort(rows.begin(), rows.end(), [](auto &a, auto &b) { return a.second.seconds > b.second.seconds; });
    double total = 0;
    for (auto &r : rows) total += r.second.seconds;
    std::fprintf(stderr, "cnnrt profile: %.3f s in kernels\n%10s %6s %8s  %s\n", total, "ms", "%", "calls", "kernel");
    for (auto &r : rows)
        std::fprintf(stderr, "%10.2f %5.1f%% %8ld  %s\n", r.second.seconds * 1e3, 100 * r.second.seconds / total,
                     r.second.calls, r.first.c_str());
}

} // namespace

bool profile_enabled() {
    static const bool enabled = [] {
        const char *v = std::getenv("CNNRT_PROFILE");
        if (!v || !*v || std::string(v) == "0") return false;
        g_table = new std::map<std::string, Entry>();
        std::atexit(report);
        return true;
    }();
    return enabled;
}

double profile_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void profile_record(const char *kernel, double seconds) {
    std::lock_guard<std::mutex> lock(g_mutex);
    Entry &e = (*g_table)[kernel ? kernel : "?"];
    e.seconds += seconds;
    e.calls++;
}

} // namespace cnnrt
