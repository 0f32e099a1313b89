/* Readers for IDX files (the MNIST format), for example programs and training tools.
 * Same conventions as Runtime.h: 0 on success, nonzero on failure with
 * cnnrt_last_error() set; nothing aborts; outputs are untouched on failure. */
#ifndef CNNRT_DATA_H
#define CNNRT_DATA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads an IDX image file (magic 0x00000803: u8 [count, rows, cols], big-endian header)
 * into a malloc'd array of count*rows*cols floats in [0, 1] (byte / 255), laid out
 * [count, rows, cols], i.e. [N, 1, H, W] for a 1-channel model. Free it with cnnrt_free.
 * `rows` and `cols` may be NULL. */
int cnnrt_read_idx_images(const char *path, float **images, int *count, int *rows, int *cols);

/* Reads an IDX label file (magic 0x00000801: u8 [count]) into a malloc'd array of
 * count ints. Free it with cnnrt_free. */
int cnnrt_read_idx_labels(const char *path, int **labels, int *count);

/* Frees memory returned by the readers above (NULL is a no-op). */
void cnnrt_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
