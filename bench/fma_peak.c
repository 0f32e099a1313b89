/* The machine's FP32 FMA peak: every core runs independent AVX2 FMA chains
 * (enough accumulators to hide the FMA latency), so efficiency figures in the
 * bench table are fractions of what this machine can actually do.
 *
 *   cc -O2 -mavx2 -mfma -pthread bench/fma_peak.c -o fma_peak && ./fma_peak [threads]
 * Prints GFLOP/s (2 flops per FMA lane) for 1 thread and for all threads. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ITERS 200000000L
#define CHAINS 12

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *spin(void *out) {
    /* Twelve named accumulators: the compiler keeps them in registers. */
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    __m256 c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2), c3 = _mm256_set1_ps(3);
    __m256 c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5), c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7);
    __m256 c8 = _mm256_set1_ps(8), c9 = _mm256_set1_ps(9), c10 = _mm256_set1_ps(10), c11 = _mm256_set1_ps(11);
    for (long it = 0; it < ITERS / CHAINS; ++it) {
        c0 = _mm256_fmadd_ps(c0, a, b), c1 = _mm256_fmadd_ps(c1, a, b), c2 = _mm256_fmadd_ps(c2, a, b);
        c3 = _mm256_fmadd_ps(c3, a, b), c4 = _mm256_fmadd_ps(c4, a, b), c5 = _mm256_fmadd_ps(c5, a, b);
        c6 = _mm256_fmadd_ps(c6, a, b), c7 = _mm256_fmadd_ps(c7, a, b), c8 = _mm256_fmadd_ps(c8, a, b);
        c9 = _mm256_fmadd_ps(c9, a, b), c10 = _mm256_fmadd_ps(c10, a, b), c11 = _mm256_fmadd_ps(c11, a, b);
    }
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                               _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    sum = _mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    *(float *)out = lanes[0]; /* keeps the loop alive */
    return NULL;
}

static double run(int threads) {
    pthread_t tid[256];
    float sink[256];
    double start = now();
    for (int t = 0; t < threads; ++t) pthread_create(&tid[t], NULL, spin, &sink[t]);
    for (int t = 0; t < threads; ++t) pthread_join(tid[t], NULL);
    double secs = now() - start;
    return (double)threads * (ITERS / CHAINS) * CHAINS * 8 * 2 / secs / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "usage: fma_peak [threads 1..256]\n");
        return 1;
    }
    double one = run(1), all = run(threads);
    printf("{\"gflops_1_thread\": %.1f, \"gflops_all\": %.1f, \"threads\": %d}\n", one, all, threads);
    return 0;
}
