/* Writing NumPy .npy files (format 1.0), so dumped tensors load with numpy.load. */
#ifndef JB_NPY_H
#define JB_NPY_H

#include <stddef.h>
#include <stdint.h>

/* descr is "<f4" or "<f8"; data holds the product of shape[0..ndim) elements of
 * that type. Returns 0, or JB_EIO with errno set. */
int jb_npy_write(const char *path, const char *descr, const void *data, const int64_t *shape, int ndim);

#endif
