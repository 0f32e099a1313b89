#include "codegen/Parallel.h"

#include <cstdio>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace cnnc {

void runInParallel(const std::vector<std::function<void()>> &jobs, int workers,
                   const std::function<void(int, int)> &progress) {
    int total = int(jobs.size());
    if (total == 0) return;
    workers = std::max(1, std::min(workers, total));
    if (workers == 1) {
        for (int i = 0; i < total; ++i) {
            jobs[size_t(i)]();
            if (progress) progress(i + 1, total);
        }
        return;
    }
    int done[2];
    if (pipe(done) != 0) throw std::runtime_error("pipe() failed");
    std::fflush(nullptr); // children must not flush the parent's buffered output again
    std::vector<pid_t> children;
    for (int w = 0; w < workers; ++w) {
        pid_t pid = fork();
        if (pid < 0) break; // fewer workers; the ones started cover their share below
        if (pid == 0) {
            close(done[0]);
            int status = 0;
            for (int i = w; i < total; i += workers) {
                try {
                    jobs[size_t(i)]();
                } catch (const std::exception &e) {
                    std::fprintf(stderr, "cnnc: error: %s\n", e.what());
                    status = 1;
                }
                char byte = 1;
                (void)!write(done[1], &byte, 1);
            }
            _exit(status);
        }
        children.push_back(pid);
    }
    close(done[1]);
    int workersStarted = int(children.size());
    int finished = 0;
    char byte;
    while (read(done[0], &byte, 1) == 1)
        if (progress) progress(++finished, total);
    close(done[0]);
    bool failed = workersStarted == 0;
    for (pid_t pid : children) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0) {}
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    // Jobs of workers that could not be started run here.
    for (int w = workersStarted; w < workers && workersStarted > 0; ++w)
        for (int i = w; i < total; i += workers) jobs[size_t(i)]();
    if (failed) throw std::runtime_error("kernel compilation failed");
}

} // namespace cnnc
