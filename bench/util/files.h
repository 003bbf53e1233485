/*
 * The program's files and the text that goes in and out of them: the one way
 * a user's file is read (a regular file only, never blocking on a FIFO,
 * bounded in size, checked as UTF-8 text), the check of an output path before
 * any work is done, atomic replacement of a file, and text made safe to show
 * (one line, valid UTF-8) or to write as JSON.
 *
 * Every function returns a jb_status and, on failure, one line in msg that
 * starts with the path it is about.
 */
#ifndef JB_FILES_H
#define JB_FILES_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

/* The largest file jb_file_read accepts unless told otherwise. */
#define JB_FILE_MAX_BYTES ((size_t)256 << 20)

/* jb_file_read flags. */
enum {
    JB_FILE_TEXT = 1 /* refuse NUL bytes and bytes that are not UTF-8 */
};

/*
 * Reads the whole of the regular file at path into *text (NUL-terminated,
 * free() it), its length into *len when len is not NULL. Refuses, without
 * blocking, anything that is not a regular file (directory, FIFO, device),
 * and files over max_bytes (0: JB_FILE_MAX_BYTES). Returns JB_OK, JB_EIO
 * (missing, unreadable, not a regular file, too large), JB_EPARSE (JB_FILE_TEXT
 * and not UTF-8 text) or JB_ENOMEM.
 */
int jb_file_read(const char *path, size_t max_bytes, unsigned flags, char **text, size_t *len, char *msg,
                 size_t msg_len);

/*
 * Checks, before any work, that a file can be written at path the way
 * jb_file_write_atomic writes it: path is a regular file or absent, and its
 * directory exists and takes new files. A missing directory is an error:
 * no command creates the directories of a path it was given.
 * JB_OK or JB_EIO with the reason.
 */
int jb_file_check_output(const char *path, char *msg, size_t msg_len);

/* The same for a directory that files will be written into (verify --dump):
 * it exists, or its parent does and it can be created; it is a directory.
 * Creates it when missing. JB_OK or JB_EIO. */
int jb_dir_prepare_output(const char *path, char *msg, size_t msg_len);

/*
 * Replaces path with data: a temporary file in the same directory, written
 * and fsynced, renamed over path, and the directory fsynced, so readers see
 * the old file or the whole new one, also after a crash. SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT are held back from the first write to the rename, so a
 * signal cannot leave the temporary file behind. JB_OK or JB_EIO.
 */
int jb_file_write_atomic(const char *path, const char *data, size_t len, char *msg, size_t msg_len);

/* ---- Text ------------------------------------------------------------------ */

/* Offset of the first byte of s[0..len) that is not part of well-formed
 * UTF-8 (overlong forms, surrogates and code points over U+10FFFF are not),
 * or len when all of it is. */
size_t jb_utf8_invalid_at(const char *s, size_t len);

/* A malloc'd copy of s in which each byte that is not well-formed UTF-8 is
 * replaced by U+FFFD; NULL when out of memory. */
char *jb_utf8_sanitize(const char *s);

/* Writes s into out (always NUL-terminated) as one line: control characters
 * become \n, \r, \t or \xNN, bytes that are not UTF-8 become \xNN, and text
 * that does not fit ends in "...". For every quoted snippet of user input. */
void jb_text_one_line(const char *s, char *out, size_t out_len);

/* doc as JSON text that is valid UTF-8 whatever its strings hold (cJSON
 * copies bytes over 0x7f as they are): malloc'd, free() it; NULL when out
 * of memory. formatted: indented, as Google Benchmark writes. */
char *jb_json_text(const cJSON *doc, int formatted);

/* Prints jb_json_text(doc, 1) and a newline to f. JB_OK, JB_ENOMEM or JB_EIO. */
int jb_json_print(FILE *f, const cJSON *doc);

#endif
