#include "tools/cnnrt/Progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace cnnrt_tool {

std::string formatDuration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    long t = std::lround(s);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

Progress::Progress(int64_t totalWork, bool enabled)
    : enabled_(enabled), tty_(isatty(STDERR_FILENO)), totalWork_(totalWork), runStart_(Clock::now()),
      lastDraw_(Clock::now()) {}

void Progress::beginPhase(const std::string &label, int n) {
    workDone_ += phaseSamples_;
    phaseSamples_ = 0;
    label_ = label;
    batches_ = n;
    phaseStart_ = Clock::now();
}

void Progress::update(int k, int64_t samples, const std::string &metrics) {
    phaseSamples_ = samples;
    if (!enabled_) return;
    auto now = Clock::now();
    double sinceDraw = std::chrono::duration<double>(now - lastDraw_).count();
    if (tty_ ? (sinceDraw < 0.1 && k != batches_) : sinceDraw < 10.0) return;
    lastDraw_ = now;
    double phase = std::chrono::duration<double>(now - phaseStart_).count();
    double run = std::chrono::duration<double>(now - runStart_).count();
    double rate = phase > 0 ? double(samples) / phase : 0;
    int64_t done = workDone_ + samples;
    double eta = done > 0 ? run * double(totalWork_ - done) / double(done) : NAN;
    char line[512];
    if (tty_) {
        const int width = 20;
        int fill = batches_ > 0 ? int(int64_t(width) * k / batches_) : width;
        std::string bar(size_t(fill), '=');
        if (fill < width) bar += '>' + std::string(size_t(width - fill - 1), ' ');
        std::snprintf(line, sizeof line, "\r%s [%s] %d/%d  %s  %.0f samples/s  ETA %s\x1b[K", label_.c_str(),
                      bar.c_str(), k, batches_, metrics.c_str(), rate, formatDuration(eta).c_str());
        drawn_ = true;
    } else {
        std::snprintf(line, sizeof line, "%s batch %d/%d  %s  %.0f samples/s  ETA %s\n", label_.c_str(), k, batches_,
                      metrics.c_str(), rate, formatDuration(eta).c_str());
    }
    std::fputs(line, stderr);
    std::fflush(stderr);
}

void Progress::clear() {
    if (tty_ && drawn_) {
        std::fputs("\r\x1b[K", stderr);
        std::fflush(stderr);
    }
    drawn_ = false;
}

}  // namespace cnnrt_tool
