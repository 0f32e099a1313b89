/*
 * classify.c - run a cnnc-compiled LeNet-5 on MNIST digits stored as IDX files.
 *
 *   classify <weights.safetensors | -> <idx-images> <idx-labels> [count]
 *
 * Creates the model, loads weights from a safetensors file ("-" keeps the
 * deterministic initial weights the model is created with), reads the first
 * `count` digits (default 8), runs them through lenet5_infer as one batch and
 * prints, per digit, its index, true label, predicted class and that class's
 * probability, then the accuracy.
 *
 * Pixels are scaled from 0..255 to 0..1 (x / 255); no mean/std normalisation.
 *
 * Build against the header and library cnnc generates:
 *   cnnc lenet5.cnn -o lenet5.so
 *   cnnc lenet5.cnn --emit=header > lenet5.h
 *   cc -std=c99 -Wall -Wextra -I<dir of lenet5.h> classify.c <dir>/lenet5.so \
 *      -Wl,-rpath,<dir> -o classify
 *
 * Self-contained C99: it has its own IDX reader and checks every return code.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lenet5.h"

#define DEFAULT_COUNT 8

/* An IDX file (http://yann.lecun.com/exdb/mnist/): big-endian header
 * 0x00 0x00 <type> <ndims>, ndims u32 sizes, then the data. Only unsigned
 * bytes (type 0x08) are supported, which is what MNIST uses. */
typedef struct {
    int ndims;
    uint32_t dims[4];
    size_t count; /* product of dims */
    unsigned char *data;
} idx_file;

static const char *model_error(void) {
    const char *msg = lenet5_last_error();
    return (msg && *msg) ? msg : "(no error message)";
}

static int read_u32_be(FILE *f, uint32_t *out) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) return -1;
    *out = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | (uint32_t)b[3];
    return 0;
}

/* Reads an IDX file of unsigned bytes with `want_ndims` dimensions.
 * Returns 0 on success; on failure prints why and returns -1. */
static int idx_read(const char *path, int want_ndims, idx_file *idx) {
    FILE *f;
    uint32_t magic;
    int i, c;

    memset(idx, 0, sizeof *idx);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "classify: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (read_u32_be(f, &magic) != 0) {
        fprintf(stderr, "classify: %s: file too short for an IDX header\n", path);
        goto fail;
    }
    if ((magic >> 16) != 0 || ((magic >> 8) & 0xff) != 0x08) {
        fprintf(stderr, "classify: %s: not an unsigned-byte IDX file (magic 0x%08lx)\n",
                path, (unsigned long)magic);
        goto fail;
    }
    idx->ndims = (int)(magic & 0xff);
    if (idx->ndims != want_ndims) {
        fprintf(stderr, "classify: %s: has %d dimensions, expected %d\n", path, idx->ndims,
                want_ndims);
        goto fail;
    }
    idx->count = 1;
    for (i = 0; i < idx->ndims; ++i) {
        if (read_u32_be(f, &idx->dims[i]) != 0) {
            fprintf(stderr, "classify: %s: truncated IDX header\n", path);
            goto fail;
        }
        if (idx->dims[i] == 0 || idx->dims[i] > (1u << 24)) {
            fprintf(stderr, "classify: %s: implausible dimension %lu\n", path,
                    (unsigned long)idx->dims[i]);
            goto fail;
        }
        if (idx->count > ((size_t)1 << 31) / idx->dims[i]) {
            fprintf(stderr, "classify: %s: too large\n", path);
            goto fail;
        }
        idx->count *= idx->dims[i];
    }
    idx->data = (unsigned char *)malloc(idx->count);
    if (!idx->data) {
        fprintf(stderr, "classify: %s: out of memory (%lu bytes)\n", path,
                (unsigned long)idx->count);
        goto fail;
    }
    if (fread(idx->data, 1, idx->count, f) != idx->count) {
        fprintf(stderr, "classify: %s: truncated: header promises %lu bytes of data\n", path,
                (unsigned long)idx->count);
        goto fail;
    }
    c = fgetc(f);
    if (c != EOF) {
        fprintf(stderr, "classify: %s: trailing bytes after the data\n", path);
        goto fail;
    }
    if (ferror(f)) {
        fprintf(stderr, "classify: %s: read error\n", path);
        goto fail;
    }
    fclose(f);
    return 0;

fail:
    fclose(f);
    free(idx->data);
    idx->data = NULL;
    return -1;
}

static int parse_count(const char *s, int *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: classify <weights.safetensors | -> <idx-images> <idx-labels> [count]\n"
            "  '-' keeps the model's deterministic initial weights; count defaults to %d\n",
            DEFAULT_COUNT);
}

int main(int argc, char **argv) {
    const char *weights, *images_path, *labels_path;
    int count = DEFAULT_COUNT;
    int dims[3], out_size, per_image, i, j, correct = 0, status = 1;
    idx_file images, labels;
    float *input = NULL, *output = NULL;
    lenet5_model *model = NULL;

    memset(&images, 0, sizeof images);
    memset(&labels, 0, sizeof labels);
    if (argc < 4 || argc > 5) {
        usage();
        return 2;
    }
    weights = argv[1];
    images_path = argv[2];
    labels_path = argv[3];
    if (argc == 5 && parse_count(argv[4], &count) != 0) {
        fprintf(stderr, "classify: count must be a positive integer, got '%s'\n", argv[4]);
        usage();
        return 2;
    }

    /* The model's shapes come from the generated library, not from constants. */
    if (lenet5_input_dims(dims) != 0) {
        fprintf(stderr, "classify: lenet5_input_dims failed: %s\n", model_error());
        return 1;
    }
    out_size = lenet5_output_size();
    if (out_size <= 0) {
        fprintf(stderr, "classify: lenet5_output_size returned %d: %s\n", out_size,
                model_error());
        return 1;
    }
    if (dims[0] != 1 || dims[1] <= 0 || dims[2] <= 0) {
        fprintf(stderr, "classify: model wants input [%d, %d, %d]; expected one greyscale channel\n",
                dims[0], dims[1], dims[2]);
        return 1;
    }
    per_image = dims[1] * dims[2];

    if (idx_read(images_path, 3, &images) != 0 || idx_read(labels_path, 1, &labels) != 0)
        goto done;
    if (images.dims[1] != (uint32_t)dims[1] || images.dims[2] != (uint32_t)dims[2]) {
        fprintf(stderr, "classify: %s holds %lux%lu images, the model wants %dx%d\n", images_path,
                (unsigned long)images.dims[1], (unsigned long)images.dims[2], dims[1], dims[2]);
        goto done;
    }
    if (images.dims[0] != labels.dims[0]) {
        fprintf(stderr, "classify: %lu images but %lu labels\n", (unsigned long)images.dims[0],
                (unsigned long)labels.dims[0]);
        goto done;
    }
    if ((uint32_t)count > images.dims[0]) {
        fprintf(stderr, "classify: asked for %d digits, %s has only %lu\n", count, images_path,
                (unsigned long)images.dims[0]);
        goto done;
    }

    model = lenet5_create();
    if (!model) {
        fprintf(stderr, "classify: lenet5_create failed: %s\n", model_error());
        goto done;
    }
    if (strcmp(weights, "-") != 0) {
        if (lenet5_load_weights(model, weights) != 0) {
            fprintf(stderr, "classify: cannot load weights from %s: %s\n", weights, model_error());
            goto done;
        }
        printf("weights: %s\n", weights);
    } else {
        printf("weights: initial (untrained, deterministic)\n");
    }

    input = (float *)malloc((size_t)count * (size_t)per_image * sizeof *input);
    output = (float *)malloc((size_t)count * (size_t)out_size * sizeof *output);
    if (!input || !output) {
        fprintf(stderr, "classify: out of memory for a batch of %d\n", count);
        goto done;
    }
    for (i = 0; i < count * per_image; ++i) input[i] = (float)images.data[i] / 255.0f;

    if (lenet5_infer(model, input, count, output) != 0) {
        fprintf(stderr, "classify: lenet5_infer failed: %s\n", model_error());
        goto done;
    }

    printf("%5s  %5s  %9s  %11s\n", "index", "label", "predicted", "probability");
    for (i = 0; i < count; ++i) {
        const float *p = output + (size_t)i * (size_t)out_size;
        int best = 0, label = labels.data[i];
        for (j = 1; j < out_size; ++j)
            if (p[j] > p[best]) best = j;
        if (best == label) ++correct;
        printf("%5d  %5d  %9d  %11.4f%s\n", i, label, best, (double)p[best],
               best == label ? "" : "  x");
    }
    printf("accuracy: %d/%d = %.1f%%\n", correct, count, 100.0 * correct / count);
    status = 0;

done:
    if (model) lenet5_destroy(model);
    free(input);
    free(output);
    free(images.data);
    free(labels.data);
    return status;
}
