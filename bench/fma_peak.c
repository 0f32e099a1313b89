/* The machine's FP32 FMA peak: every core runs independent FMA chains
 * (enough accumulators to hide the FMA latency), so efficiency figures in the
 * bench table are fractions of what this machine can actually do.
 *
 *   cc -O2 -mavx2 -mfma -pthread bench/fma_peak.c -o fma_peak && ./fma_peak [threads]
 *   cc -O2 -mavx512f -mfma -pthread bench/fma_peak.c -o fma_peak512   (512-bit FMAs)
 * Built with AVX-512 enabled (__AVX512F__), the chains are 512-bit vectors,
 * else 256-bit (AVX2). Prints GFLOP/s (2 flops per FMA lane) for 1 thread and
 * for all threads, and the vector width in bits. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ITERS 200000000L
#define CHAINS 12

#ifdef __AVX512F__
typedef __m512 vec;
#define BITS 512
#define set1 _mm512_set1_ps
#define fmadd _mm512_fmadd_ps
#define add _mm512_add_ps
#define storeu _mm512_storeu_ps
#else
typedef __m256 vec;
#define BITS 256
#define set1 _mm256_set1_ps
#define fmadd _mm256_fmadd_ps
#define add _mm256_add_ps
#define storeu _mm256_storeu_ps
#endif
#define LANES (BITS / 32)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *spin(void *out) {
    /* Twelve named accumulators: the compiler keeps them in registers. */
    vec a = set1(0.999999f), b = set1(1e-7f);
    vec c0 = set1(0), c1 = set1(1), c2 = set1(2), c3 = set1(3), c4 = set1(4), c5 = set1(5);
    vec c6 = set1(6), c7 = set1(7), c8 = set1(8), c9 = set1(9), c10 = set1(10), c11 = set1(11);
    for (long it = 0; it < ITERS / CHAINS; ++it) {
        c0 = fmadd(c0, a, b), c1 = fmadd(c1, a, b), c2 = fmadd(c2, a, b), c3 = fmadd(c3, a, b);
        c4 = fmadd(c4, a, b), c5 = fmadd(c5, a, b), c6 = fmadd(c6, a, b), c7 = fmadd(c7, a, b);
        c8 = fmadd(c8, a, b), c9 = fmadd(c9, a, b), c10 = fmadd(c10, a, b), c11 = fmadd(c11, a, b);
    }
    vec sum = add(add(add(c0, c1), add(c2, c3)), add(add(c4, c5), add(c6, c7)));
    sum = add(sum, add(add(c8, c9), add(c10, c11)));
    float lanes[LANES];
    storeu(lanes, sum);
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
    return (double)threads * (ITERS / CHAINS) * CHAINS * LANES * 2 / secs / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "usage: fma_peak [threads 1..256]\n");
        return 1;
    }
    double one = run(1), all = run(threads);
    printf("{\"gflops_1_thread\": %.1f, \"gflops_all\": %.1f, \"threads\": %d, \"bits\": %d}\n", one, all, threads,
           BITS);
    return 0;
}
