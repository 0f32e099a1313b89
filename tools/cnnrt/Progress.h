// Progress on stderr: a line redrawn in place on a terminal (at most 10 times a
// second), otherwise a plain line at most every 10 seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace cnnrt_tool {

class Progress {
public:
    // totalWork: samples (trained plus evaluated) the whole run will process; enabled=false: silent.
    Progress(int64_t totalWork, bool enabled);
    // Starts a phase (an epoch's training or evaluation) of n batches.
    void beginPhase(const std::string &label, int n);
    // After batch k (1-based) of the phase; samples: processed so far in the phase; metrics: e.g. "loss 0.31".
    void update(int k, int64_t samples, const std::string &metrics);
    // Erases the in-place line (call before printing a result line).
    void clear();

private:
    using Clock = std::chrono::steady_clock;
    bool enabled_, tty_;
    int64_t totalWork_, workDone_ = 0, phaseSamples_ = 0;
    int batches_ = 0;
    std::string label_;
    Clock::time_point runStart_, phaseStart_, lastDraw_;
    bool drawn_ = false;
};

// "1:02:03" or "2:03".
std::string formatDuration(double seconds);

}  // namespace cnnrt_tool
