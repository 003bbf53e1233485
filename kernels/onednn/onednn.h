/*
 * What the harness may ask of the oneDNN baseline kernels without including
 * oneDNN's headers: the library version, for the settings a result records.
 * Compiles and answers in every build, with or without oneDNN.
 */
#ifndef JB_ONEDNN_H
#define JB_ONEDNN_H

#ifdef __cplusplus
extern "C" {
#endif

/* "2.6.3" (from dnnl_version() at run time, so it names the library actually
 * loaded), or "none" when joulebench was built without oneDNN. Static storage. */
const char *jb_onednn_version(void);

#ifdef __cplusplus
}
#endif
#endif
