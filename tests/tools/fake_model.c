/* A FAKE cnnc model library for testing cnnrt: multinomial logistic regression
 * behind the full generated C API (inference and training), with real SGD
 * (momentum, weight decay) and Adam, and bit-exact checkpoints.
 * Compile-time knobs: FAKE_NAME (API prefix), FAKE_C/H/W (input dims),
 * FAKE_CLASSES, FAKE_LOGITS (infer returns logits, not probabilities),
 * FAKE_NO_TRAIN (no training symbols, like a library built without --train). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FAKE_NAME
#define FAKE_NAME fake
#endif
#ifndef FAKE_C
#define FAKE_C 1
#endif
#ifndef FAKE_H
#define FAKE_H 8
#endif
#ifndef FAKE_W
#define FAKE_W 8
#endif
#ifndef FAKE_CLASSES
#define FAKE_CLASSES 10
#endif

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define FN(x) CAT(FAKE_NAME, x)
#define EXPORT __attribute__((visibility("default")))

enum { D = FAKE_C * FAKE_H * FAKE_W, K = FAKE_CLASSES, P = K * D + K };

typedef struct FN(model) {
    float w[P];          /* weight [K][D] then bias [K] */
    float m1[P], m2[P];  /* SGD velocity / Adam first moment; Adam second moment */
    int32_t kind;        /* 0 sgd, 1 adam */
    float lr, momentum, wd, beta1, beta2, eps;
    int64_t step;
} model_t;

static __thread char err[256];
static int fail(const char *msg) {
    snprintf(err, sizeof err, "%s", msg);
    return 1;
}

EXPORT const char *FN(last_error)(void) { return err; }
EXPORT int FN(input_dims)(int dims[3]) {
    if (!dims) return fail("dims is NULL");
    dims[0] = FAKE_C, dims[1] = FAKE_H, dims[2] = FAKE_W;
    return 0;
}
EXPORT int FN(output_size)(void) { return K; }

EXPORT model_t *FN(create)(void) {
    model_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    uint32_t s = 12345;
    for (int i = 0; i < K * D; ++i) {
        s = s * 1664525u + 1013904223u;
        m->w[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 0.02f;
    }
    m->kind = 0, m->lr = 0.01f;
    return m;
}
EXPORT void FN(destroy)(model_t *m) { free(m); }

static void logits(const model_t *m, const float *x, float *out) {
    for (int k = 0; k < K; ++k) {
        float z = m->w[K * D + k];
        for (int j = 0; j < D; ++j) z += m->w[k * D + j] * x[j];
        out[k] = z;
    }
}
static void softmax(float *z) {
    float mx = z[0], s = 0;
    for (int k = 1; k < K; ++k) mx = z[k] > mx ? z[k] : mx;
    for (int k = 0; k < K; ++k) s += (z[k] = expf(z[k] - mx));
    for (int k = 0; k < K; ++k) z[k] /= s;
}

EXPORT int FN(infer)(model_t *m, const float *in, int batch, float *out) {
    if (!m || !in || !out || batch < 1) return fail("bad arguments to infer");
    for (int b = 0; b < batch; ++b) {
        logits(m, in + (size_t)b * D, out + (size_t)b * K);
#ifndef FAKE_LOGITS
        softmax(out + (size_t)b * K);
#endif
    }
    return 0;
}

/* Writes bytes to path atomically (temporary file + rename). */
static int writeAtomic(const char *path, const void *a, size_t na, const void *b, size_t nb) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return fail("cannot open file for writing");
    int ok = fwrite(a, 1, na, f) == na && (nb == 0 || fwrite(b, 1, nb, f) == nb);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return fail("cannot write file");
    }
    return 0;
}
static long readAll(const char *path, unsigned char *buf, long cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long n = (long)fread(buf, 1, (size_t)cap, f);
    fclose(f);
    return n;
}

/* safetensors: "weight" [K, D] and "bias" [K], F32. */
static int header(char *h, size_t cap) {
    int n = snprintf(h, cap,
                     "{\"weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%d]},"
                     "\"bias\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%d,%d]}}",
                     K, D, 4 * K * D, K, 4 * K * D, 4 * P);
    while (n % 8) h[n++] = ' ';
    h[n] = 0;
    return n;
}
EXPORT int FN(save_weights)(const model_t *m, const char *path) {
    if (!m || !path) return fail("bad arguments to save_weights");
    char h[512];
    unsigned char buf[8 + 512];
    uint64_t n = (uint64_t)header(h, sizeof h);
    for (int i = 0; i < 8; ++i) buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, h, n);
    return writeAtomic(path, buf, 8 + n, m->w, sizeof m->w);
}
EXPORT int FN(load_weights)(model_t *m, const char *path) {
    if (!m || !path) return fail("bad arguments to load_weights");
    char h[512];
    long n = header(h, sizeof h);
    long want = 8 + n + (long)sizeof m->w;
    unsigned char *buf = malloc((size_t)want + 1);
    if (!buf) return fail("out of memory");
    long got = readAll(path, buf, want + 1);
    if (got < 0) return free(buf), fail("cannot open weights file");
    if (got != want || memcmp(buf + 8, h, (size_t)n) != 0)
        return free(buf), fail("not a safetensors file with this model's tensors");
    memcpy(m->w, buf + 8 + n, sizeof m->w);
    free(buf);
    return 0;
}

#ifndef FAKE_NO_TRAIN
EXPORT int FN(set_sgd)(model_t *m, float lr, float momentum, float wd) {
    if (!m || !(lr > 0)) return fail("bad SGD settings");
    m->kind = 0, m->lr = lr, m->momentum = momentum, m->wd = wd, m->step = 0;
    memset(m->m1, 0, sizeof m->m1), memset(m->m2, 0, sizeof m->m2);
    return 0;
}
EXPORT int FN(set_adam)(model_t *m, float lr, float b1, float b2, float eps, float wd) {
    if (!m || !(lr > 0)) return fail("bad Adam settings");
    m->kind = 1, m->lr = lr, m->beta1 = b1, m->beta2 = b2, m->eps = eps, m->wd = wd, m->step = 0;
    memset(m->m1, 0, sizeof m->m1), memset(m->m2, 0, sizeof m->m2);
    return 0;
}
EXPORT int FN(set_lr)(model_t *m, float lr) {
    if (!m || !(lr > 0)) return fail("bad learning rate");
    m->lr = lr;
    return 0;
}
EXPORT int FN(train_step)(model_t *m, const float *in, const int32_t *labels, int batch, float *loss) {
    if (!m || !in || !labels || !loss || batch < 1) return fail("bad arguments to train_step");
    for (int b = 0; b < batch; ++b)
        if (labels[b] < 0 || labels[b] >= K) return fail("label out of range");
    static __thread float g[P];
    memset(g, 0, sizeof g);
    double total = 0;
    for (int b = 0; b < batch; ++b) {
        const float *x = in + (size_t)b * D;
        float p[K];
        logits(m, x, p);
        softmax(p);
        total += -log(p[labels[b]] > 1e-30f ? p[labels[b]] : 1e-30f);
        for (int k = 0; k < K; ++k) {
            float d = (p[k] - (k == labels[b])) / (float)batch;
            for (int j = 0; j < D; ++j) g[k * D + j] += d * x[j];
            g[K * D + k] += d;
        }
    }
    float l = (float)(total / batch);
    if (!isfinite(l)) return fail("loss is not finite");
    m->step++;
    for (int i = 0; i < P; ++i) {
        float gi = g[i] + m->wd * m->w[i];
        if (m->kind == 0) {
            m->m1[i] = m->momentum * m->m1[i] + gi;
            m->w[i] -= m->lr * m->m1[i];
        } else {
            m->m1[i] = m->beta1 * m->m1[i] + (1 - m->beta1) * gi;
            m->m2[i] = m->beta2 * m->m2[i] + (1 - m->beta2) * gi * gi;
            float mh = m->m1[i] / (1 - powf(m->beta1, (float)m->step));
            float vh = m->m2[i] / (1 - powf(m->beta2, (float)m->step));
            m->w[i] -= m->lr * mh / (sqrtf(vh) + m->eps);
        }
    }
    *loss = l;
    return 0;
}
EXPORT int FN(save_checkpoint)(const model_t *m, const char *path) {
    if (!m || !path) return fail("bad arguments to save_checkpoint");
    return writeAtomic(path, "FAKECKPT", 8, m, sizeof *m);
}
EXPORT int FN(load_checkpoint)(model_t *m, const char *path) {
    if (!m || !path) return fail("bad arguments to load_checkpoint");
    unsigned char *buf = malloc(8 + sizeof *m + 1);
    if (!buf) return fail("out of memory");
    long got = readAll(path, buf, (long)(8 + sizeof *m + 1));
    if (got < 0) return free(buf), fail("cannot open checkpoint");
    if (got != (long)(8 + sizeof *m) || memcmp(buf, "FAKECKPT", 8) != 0)
        return free(buf), fail("not a checkpoint of this model");
    memcpy(m, buf + 8, sizeof *m);
    free(buf);
    return 0;
}
#endif
