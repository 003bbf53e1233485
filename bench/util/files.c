/* Reading users' files, checking output paths, atomic writes, and safe text. */
#include "util/files.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jb_kernels.h"

static int fail(int rc, char *msg, size_t len, const char *path, const char *why)
{
    if (msg && len)
        snprintf(msg, len, "%s: %s", path, why);
    return rc;
}

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "not a file";
}

int jb_file_read(const char *path, size_t max_bytes, unsigned flags, char **text, size_t *len, char *msg,
                 size_t msg_len)
{
    char why[160];
    *text = NULL;
    if (len)
        *len = 0;
    if (!path || !*path)
        return fail(JB_EIO, msg, msg_len, "''", "empty file name");
    if (!max_bytes)
        max_bytes = JB_FILE_MAX_BYTES;
    /* O_NONBLOCK: opening a FIFO without a writer must not wait; the type is checked next. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fail(JB_EIO, msg, msg_len, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, sizeof why, "cannot stat: %s", strerror(errno));
        close(fd);
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "not a regular file (%s)", kind_of(st.st_mode));
        close(fd);
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        snprintf(why, sizeof why, "larger than the limit of %zu MiB", max_bytes >> 20);
        close(fd);
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    /* The size is a hint: read to the end, but never past the limit. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap < 4096 ? 4096 : cap);
    if (!buf) {
        close(fd);
        return fail(JB_ENOMEM, msg, msg_len, path, "out of memory");
    }
    cap = cap < 4096 ? 4096 : cap;
    for (;;) {
        if (n + 1 == cap) {
            if (cap > max_bytes) {
                snprintf(why, sizeof why, "larger than the limit of %zu MiB", max_bytes >> 20);
                free(buf);
                close(fd);
                return fail(JB_EIO, msg, msg_len, path, why);
            }
            char *b = realloc(buf, 2 * cap);
            if (!b) {
                free(buf);
                close(fd);
                return fail(JB_ENOMEM, msg, msg_len, path, "out of memory");
            }
            buf = b;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(why, sizeof why, "cannot read: %s", strerror(errno));
            free(buf);
            close(fd);
            return fail(JB_EIO, msg, msg_len, path, why);
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = 0;
    if (flags & JB_FILE_TEXT) {
        const char *nul = memchr(buf, 0, n);
        size_t bad = jb_utf8_invalid_at(buf, n);
        if (nul || bad < n) {
            size_t at = nul && (size_t)(nul - buf) < bad ? (size_t)(nul - buf) : bad;
            snprintf(why, sizeof why, "not UTF-8 text (byte %zu is 0x%02x)", at, (unsigned char)buf[at]);
            free(buf);
            return fail(JB_EPARSE, msg, msg_len, path, why);
        }
    }
    *text = buf;
    if (len)
        *len = n;
    return JB_OK;
}

/* The directory part of path ("." when it has none). */
static void dir_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* Can a new file be created in dir? Tried for real: permissions, read-only
 * mounts and ACLs all answer the same way. */
static int dir_takes_files(const char *dir, char *why, size_t len)
{
    char probe[4200];
    if ((size_t)snprintf(probe, sizeof probe, "%s/.joulebench.probe.XXXXXX", dir) >= sizeof probe) {
        snprintf(why, len, "path too long");
        return 0;
    }
    int fd = mkstemp(probe);
    if (fd < 0) {
        snprintf(why, len, "cannot create files there: %s", strerror(errno));
        return 0;
    }
    close(fd);
    unlink(probe);
    return 1;
}

int jb_file_check_output(const char *path, char *msg, size_t msg_len)
{
    char dir[4096], why[4400];
    if (!path || !*path)
        return fail(JB_EIO, msg, msg_len, "''", "empty file name");
    if (strlen(path) >= 4000)
        return fail(JB_EIO, msg, msg_len, "output path", "longer than 4000 bytes");
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "not a regular file (%s)", kind_of(st.st_mode));
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    if (path[strlen(path) - 1] == '/')
        return fail(JB_EIO, msg, msg_len, path, "names a directory, not a file");
    dir_of(path, dir, sizeof dir);
    if (stat(dir, &st) != 0) {
        snprintf(why, sizeof why, "directory %s does not exist (create it first)", dir);
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, sizeof why, "%s is not a directory", dir);
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    if (!dir_takes_files(dir, why, sizeof why)) {
        char w2[4400];
        snprintf(w2, sizeof w2, "directory %.4000s: %.200s", dir, why);
        return fail(JB_EIO, msg, msg_len, path, w2);
    }
    return JB_OK;
}

int jb_dir_prepare_output(const char *path, char *msg, size_t msg_len)
{
    char why[200];
    if (!path || !*path)
        return fail(JB_EIO, msg, msg_len, "''", "empty directory name");
    if (strlen(path) >= 4000)
        return fail(JB_EIO, msg, msg_len, "output directory", "longer than 4000 bytes");
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(why, sizeof why, "not a directory (%s)", S_ISREG(st.st_mode) ? "a regular file" : kind_of(st.st_mode));
            return fail(JB_EIO, msg, msg_len, path, why);
        }
    } else if (mkdir(path, 0777) != 0) {
        snprintf(why, sizeof why, "cannot create the directory: %s", strerror(errno));
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    if (!dir_takes_files(path, why, sizeof why))
        return fail(JB_EIO, msg, msg_len, path, why);
    return JB_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int jb_file_write_atomic(const char *path, const char *data, size_t len, char *msg, size_t msg_len)
{
    char tmp[4200], dir[4096], why[4400];
    if (!path || !*path)
        return fail(JB_EIO, msg, msg_len, "''", "empty file name");
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp)
        return fail(JB_EIO, msg, msg_len, "output path", "too long");
    sigset_t hold, old;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigaddset(&hold, SIGHUP);
    sigaddset(&hold, SIGQUIT);
    sigprocmask(SIG_BLOCK, &hold, &old);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(why, sizeof why, "cannot create %s: %s", tmp, strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    int ok = write_all(fd, data, len) == 0 && fsync(fd) == 0;
    /* Readable like any file the user creates (mkstemp makes it 0600). */
    mode_t um = umask(0);
    umask(um);
    ok = ok && fchmod(fd, 0666 & ~um) == 0;
    int err = errno;
    ok = (close(fd) == 0) && ok;
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        unlink(tmp);
        sigprocmask(SIG_SETMASK, &old, NULL);
        snprintf(why, sizeof why, "cannot write: %s", strerror(err));
        return fail(JB_EIO, msg, msg_len, path, why);
    }
    /* The rename itself is durable only once the directory is synced. */
    dir_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return JB_OK;
}

/* ---- Text ------------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;      /* overlong */
        if (c == 0xed) hi = 0x9f;      /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;      /* overlong */
        if (c == 0xf4) hi = 0x8f;      /* over U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

size_t jb_utf8_invalid_at(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(u + i, len - i);
        if (!k)
            return i;
        i += k;
    }
    return len;
}

char *jb_utf8_sanitize(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1); /* each bad byte grows to three */
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    return out;
}

void jb_text_one_line(const char *s, char *out, size_t out_len)
{
    if (!out_len)
        return;
    size_t o = 0, n = s ? strlen(s) : 0;
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    for (size_t i = 0; i < n;) {
        char esc[8];
        size_t k = utf8_seq(u + i, n - i), elen;
        const char *piece;
        if (k == 1 && (u[i] < 0x20 || u[i] == 0x7f)) {
            switch (u[i]) {
            case '\n': piece = "\\n"; break;
            case '\r': piece = "\\r"; break;
            case '\t': piece = "\\t"; break;
            default: snprintf(esc, sizeof esc, "\\x%02x", u[i]); piece = esc;
            }
            elen = strlen(piece);
            k = 1;
        } else if (!k) {
            snprintf(esc, sizeof esc, "\\x%02x", u[i]);
            piece = esc;
            elen = 4;
            k = 1;
        } else {
            piece = (const char *)u + i;
            elen = k;
        }
        if (o + elen + 4 > out_len) { /* room for "..." and the NUL */
            if (o + 3 < out_len) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, piece, elen);
        o += elen;
        i += k;
    }
    out[o] = 0;
}

char *jb_json_text(const cJSON *doc, int formatted)
{
    char *raw = formatted ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
    if (!raw)
        return NULL;
    /* Only string contents can hold bytes over 0x7f, so replacing the bad
     * ones in the text keeps it valid JSON. */
    char *text = jb_utf8_sanitize(raw);
    cJSON_free(raw);
    return text;
}

int jb_json_print(FILE *f, const cJSON *doc)
{
    char *s = jb_json_text(doc, 1);
    if (!s)
        return JB_ENOMEM;
    int ok = fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    free(s);
    return ok ? JB_OK : JB_EIO;
}
