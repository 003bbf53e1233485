/* .npy writer: a 10-byte preamble, a Python-literal header padded to 64 bytes, raw little-endian data. */
#include "util/npy.h"

#include <stdio.h>
#include <string.h>

#include "jb_kernels.h"

int jb_npy_write(const char *path, const char *descr, const void *data, const int64_t *shape, int ndim)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    size_t elems = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
        elems *= (size_t)shape[i];
    }
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
    if ((size_t)n + pad + 1 >= sizeof hdr)
        return JB_EINVAL;
    memset(hdr + n, ' ', pad);
    hdr[(size_t)n + pad] = '\n';
    uint16_t hlen = (uint16_t)((size_t)n + pad + 1);
    size_t esize = strcmp(descr, "<f8") == 0 ? 8 : 4;
    FILE *f = fopen(path, "wb");
    if (!f)
        return JB_EIO;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, hlen, f) == hlen &&
             fwrite(data, esize, elems, f) == elems;
    ok = (fclose(f) == 0) && ok;
    return ok ? JB_OK : JB_EIO;
}
