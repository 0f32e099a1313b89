// CNNRT_PROFILE=1: wall time per kernel, accumulated over the process and
// printed to stderr at exit, slowest first, with the fastest and the median
// call (on a shared machine other work only ever adds time, so the fastest
// call is the steadiest figure to compare kernels by). Off by default (one
// branch per call).
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
    std::vector<double> calls; // seconds per call
};

double median(std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
    return v[v.size() / 2];
}

std::mutex g_mutex;
std::map<std::string, Entry> *g_table = nullptr;

void report() {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_table) return;
    std::vector<std::pair<std::string, Entry>> rows(g_table->begin(), g_table->end());
    std::sort(rows.begin(), rows.end(), [](auto &a, auto &b) { return a.second.seconds > b.second.seconds; });
    double total = 0;
    for (auto &r : rows) total += r.second.seconds;
    std::fprintf(stderr, "cnnrt profile: %.3f s in kernels\n%10s %6s %8s %9s %9s  %s\n", total, "ms", "%", "calls",
                 "min ms", "median ms", "kernel");
    for (auto &r : rows) {
        const std::vector<double> &calls = r.second.calls;
        std::fprintf(stderr, "%10.2f %5.1f%% %8zu %9.3f %9.3f  %s\n", r.second.seconds * 1e3,
                     100 * r.second.seconds / total, calls.size(),
                     *std::min_element(calls.begin(), calls.end()) * 1e3, median(calls) * 1e3, r.first.c_str());
    }
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
    e.calls.push_back(seconds);
}

} // namespace cnnrt
