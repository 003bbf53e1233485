/*
 * Bad input to the joulebench program, one table row per case: directories
 * and FIFOs where a file is read, unusable output paths, broken suites, model
 * specs and results files, hostile regular expressions, bad options and
 * environment. Every case must end in exit 2 (within 20 s) with exactly one
 * line on stderr, "joulebench: ..." naming the problem, no sanitizer report
 * (the test also runs in an ASan+UBSan build), and any existing file it names
 * as an output (its sentinel) left byte for byte as it was. The cases run in
 * one temporary directory that the group setup fills with the fixtures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

typedef struct {
    const char *env;      /* "NAME=value" set for this case only, or NULL */
    const char *argv[12]; /* the arguments after the program name, NULL-terminated */
    const char *expect;   /* a substring of the one stderr line, naming the problem */
    const char *sentinel; /* an existing file the case must leave unchanged, or NULL */
    const char *forbid;   /* a word printed neither on stdout nor stderr, or NULL */
} bad_case;

#define A8 "aaaaaaaa"
#define A64 A8 A8 A8 A8 A8 A8 A8 A8
#define A257 A64 A64 A64 A64 "a"
#define REDOS "a++++++++++++++++++++++++++++++*"

/* Options that keep a run short should a case unexpectedly get as far as running. */
#define FAST "--meter", "model", "--repetitions", "1", "--min-time", "0.001"

static const bad_case cases[] = {
    /* A directory where a file is read. */
    {NULL, {"compare", "d", "good.json"}, "not a regular file (a directory)", NULL, NULL},
    {NULL, {"compare", "good.json", "d"}, "not a regular file (a directory)", NULL, NULL},
    {NULL, {"project", "--model", "d"}, "not a regular file (a directory)", NULL, NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--results", "d"}, "not a regular file (a directory)", NULL, NULL},
    {NULL, {"history", "--db", "h.db", "add", "d"}, "not a regular file (a directory)", "h.db", NULL},
    {NULL, {"report", "d", "--out", "x.html"}, "not a regular file (a directory)", NULL, NULL},
    {NULL, {"run", "--suite", "d"}, "not a regular file (a directory)", NULL, NULL},
    /* A FIFO where a file is read: an error, never a blocked open. */
    {NULL, {"compare", "f", "good.json"}, "not a regular file (a FIFO)", NULL, NULL},
    {NULL, {"project", "--model", "f"}, "not a regular file (a FIFO)", NULL, NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--results", "f"}, "not a regular file (a FIFO)", NULL, NULL},
    {NULL, {"history", "--db", "h.db", "add", "f"}, "not a regular file (a FIFO)", "h.db", NULL},
    {NULL, {"report", "f", "--out", "x.html"}, "not a regular file (a FIFO)", NULL, NULL},
    {NULL, {"run", "--suite", "f"}, "not a regular file (a FIFO)", NULL, NULL},
    /* Output paths. */
    {NULL, {"run", "--suite", "quick", "--out", "d", FAST}, "not a regular file (a directory)", NULL, NULL},
    {NULL, {"run", "--suite", "quick", "--out", "/nonexistent-dir/x.json", FAST}, "does not exist", NULL, NULL},
    {NULL, {"report", "good.json", "--out", "d"}, "not a regular file (a directory)", NULL, NULL},
    {NULL, {"report", "good.json", "--out", "/nonexistent-dir/x.html"}, "does not exist", NULL, NULL},
    {NULL, {"verify", "matmul/cpu/naive/f32", "--shape", "m=2,n=2,k=2", "--dump", "plain.txt"}, "not a directory",
     "plain.txt", NULL},
    {NULL, {"history", "--db", "/nonexistent/dir/h.db", "add", "good.json"}, "does not exist", NULL, NULL},
    {NULL, {"history", "--db", "d", "add", "good.json"}, "not a regular file", NULL, NULL},
    {NULL, {"history", "--db", "notdb.db", "add", "good.json"}, "not an SQLite database", "notdb.db", NULL},
    {NULL, {"run", "--suite", "s_big.json", "--out", "sent.json", FAST}, "larger than the limit", "sent.json", NULL},
    {NULL, {"report", "r_flopstr.json", "--out", "sent.json"}, "flop_per_s", "sent.json", NULL},
    /* Suites. */
    {NULL, {"run", "--suite", "s_big.json", FAST}, "larger than the limit", NULL, NULL},
    {NULL, {"run", "--suite", "s_e19.json", FAST}, "larger than the limit", NULL, NULL},
    {NULL, {"run", "--suite", "s_neg.json", FAST}, "out of range", NULL, NULL},
    {NULL, {"run", "--suite", "s_11.json", FAST}, "larger than the limit", NULL, NULL},
    {NULL, {"run", "--suite", "s_frac.json", FAST}, "not an integer", NULL, NULL},
    {NULL, {"run", "--suite", "s_key2.json", FAST}, "given twice", NULL, NULL},
    {NULL, {"run", "--suite", "s_field2.json", FAST}, "given twice", NULL, NULL},
    {NULL, {"run", "--suite", "s_causal.json", FAST}, "causal is 0 or 1", NULL, NULL},
    {NULL, {"run", "--suite", "s_utf8.json", FAST}, "not UTF-8", NULL, NULL},
    {NULL, {"run", "--suite", "s_longname.json", FAST}, "1 to 63 bytes", NULL, NULL},
    {NULL, {"run", "--suite", "s_malformed.json", FAST}, "malformed JSON", NULL, NULL},
    {NULL, {"run", "--suite", "s_unkfield.json", FAST}, "unknown field 'bogus'", NULL, NULL},
    {NULL, {"run", "--suite", "s_unkop.json", FAST}, "\"op\" must be", NULL, NULL},
    {NULL, {"run", "--suite", "s_redos.json", FAST}, "not a usable pattern", NULL, NULL},
    {NULL, {"run", "--suite", "s_badre.json", FAST}, "not a usable pattern", NULL, NULL},
    {NULL, {"run", "--suite", "s_skipkern.json", FAST}, "\"kernel\" must be", NULL, NULL},
    {NULL, {"run", "--suite", "empty.json", FAST}, "malformed JSON", NULL, NULL},
    {NULL, {"run", "--suite", "s_array.json", FAST}, "JSON object", NULL, NULL},
    {NULL, {"run", "--suite", "s_nogroups.json", FAST}, "non-empty \"groups\"", NULL, NULL},
    {NULL, {"run", "--suite", "s_refother.json", FAST}, "\"reference\" must name one matmul kernel", NULL, NULL},
    {NULL, {"run", "--suite", "s_refnone.json", FAST}, "\"reference\" must name one matmul kernel", NULL, NULL},
    {NULL, {"run", "--suite", "s_target.json", FAST}, "\"target_ci\" must be a percentage", NULL, NULL},
    {NULL, {"run", "--suite", "s_maxtime.json", FAST}, "\"max_time\" must be seconds", NULL, NULL},
    {NULL, {"run", "--suite", "nosuchsuite", FAST}, "No such file", NULL, NULL},
    /* Filters. */
    {NULL, {"run", "--suite", "quick", "--filter", REDOS, FAST}, "not a usable pattern", NULL, NULL},
    {NULL, {"run", "--suite", "quick", "--filter", "(a{1,255}){1,255}", FAST}, "not a usable pattern", NULL, NULL},
    {NULL, {"run", "--suite", "quick", "--filter", "a{1,32767}", FAST}, "not a usable pattern", NULL, NULL},
    {NULL, {"run", "--suite", "quick", "--filter", "(", FAST}, "not a usable pattern", NULL, NULL},
    {NULL, {"run", "--suite", "quick", "--filter", "(a)\\1", FAST}, "back-references", NULL, NULL},
    {NULL, {"run", "--suite", "quick", "--filter", A257, FAST}, "longer than 256 bytes", NULL, NULL},
    {NULL, {"run", "--suite", "quick", "--filter", "a\n(", FAST}, "not a usable pattern", NULL, NULL},
    {NULL, {"compare", "good.json", "good.json", "--filter", "("}, "not a usable pattern", NULL, NULL},
    {NULL, {"history", "--db", "h.db", "show", "--filter", "a++++++++++++++++"}, "not a usable pattern", NULL, NULL},
    /* Model specs. */
    {NULL, {"project", "--model", "m_params.json"}, "\"params\"", NULL, NULL},
    {NULL, {"project", "--model", "m_layers.json"}, "\"layers\" must be a whole number", NULL, NULL},
    {NULL, {"project", "--model", "m_heads.json"}, "\"heads\" must be a whole number", NULL, NULL},
    {NULL, {"project", "--model", "m_missing.json"}, "\"vocab\" is missing", NULL, NULL},
    {NULL, {"project", "--model", "m_unknown.json"}, "\"bogus\" is unknown", NULL, NULL},
    {NULL, {"project", "--model", "m_twice.json"}, "given twice", NULL, NULL},
    {NULL, {"project", "--model", "m_utf8.json"}, "not UTF-8", NULL, NULL},
    {NULL, {"project", "--model", "m_notjson.json"}, "not a JSON object", NULL, NULL},
    {NULL, {"project", "--model", "m_causal.json"}, "\"causal\" must be true or false", NULL, NULL},
    /* Projection options. */
    {NULL, {"project", "--model", "gpt2-124m", "--gpu-hours", "5", "--watts", "300"}, "two methods", NULL, NULL},
    {NULL, {"project", "--chips", "1", "--watts", "300"}, "--days", NULL, NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--region", "XYZ"}, "unknown region 'XYZ'", NULL, NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--region", "USA", "--intensity", "0.4"}, "not both", NULL, NULL},
    {NULL, {"project", "--model", "nosuchmodel"}, "unknown model 'nosuchmodel'", NULL, NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--pue", "0.5"}, "--pue", NULL, NULL},
    {NULL, {"project", "--model", "a\nb"}, "unknown model", NULL, NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--devices", "0"}, "--devices", NULL, NULL},
    {NULL, {"project", "--chips", "1", "--days", "2", "--watts", "-300"}, "--watts", NULL, NULL},
    {NULL, {"project"}, "--model", NULL, NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--results", "good.json", "--attention", "nosuchvariant"},
     "nosuchvariant", NULL, NULL},
    /* Every matmul and attention row at 1e-300 FLOP/J: an infinite projection is an error, never "inf". */
    {NULL, {"project", "--model", "gpt2-124m", "--results", "tiny.json"}, "out of range", NULL, "inf"},
    /* Environment. */
    {"JB_ISA=bogus", {"list"}, "JB_ISA", NULL, NULL},
    /* Command line. */
    {NULL, {"frobnicate"}, "unknown command", NULL, NULL},
    {NULL, {"--bogus"}, "unknown command", NULL, NULL},
    {NULL, {"foo\nbar"}, "unknown command", NULL, NULL},
    {NULL, {"run", "--bogus"}, "unknown option", NULL, NULL},
    {NULL, {"compare", "--bogus"}, "unknown option", NULL, NULL},
    {NULL, {"project", "--bogus"}, "unknown option", NULL, NULL},
    {NULL, {"history", "--bogus"}, "unknown option", NULL, NULL},
    {NULL, {"report", "--bogus"}, "unknown option", NULL, NULL},
    {NULL, {"verify", "--bogus"}, "unknown option", NULL, NULL},
    {NULL, {"list", "--bogus"}, "unknown option", NULL, NULL},
    {NULL, {"env", "--bogus"}, "unknown option", NULL, NULL},
    {NULL, {"run", "--threads"}, "needs a value", NULL, NULL},
    {NULL, {"history", "--db"}, "needs a path", NULL, NULL},
    {NULL, {"run", "--threads", "0"}, "--threads", NULL, NULL},
    {NULL, {"run", "--repetitions", "-1"}, "--repetitions", NULL, NULL},
    {NULL, {"run", "--min-time", "abc"}, "--min-time", NULL, NULL},
    {NULL, {"run", "--target-ci", "0"}, "--target-ci", NULL, NULL},
    {NULL, {"run", "--target-ci", "nan"}, "--target-ci", NULL, NULL},
    {NULL, {"run", "--max-time", "-1"}, "--max-time", NULL, NULL},
    {NULL, {"run", "--max-time", "1e9"}, "--max-time", NULL, NULL},
    {NULL, {"run", "--seed", "abc"}, "--seed", NULL, NULL},
    {NULL, {"run", "--tdp", "-5"}, "--tdp", NULL, NULL},
    {NULL, {"run", "--meter", "bogus"}, "unknown meter", NULL, NULL},
    {NULL, {"run", "--format", "bogus"}, "--format", NULL, NULL},
    {NULL, {"verify", "matmul/cpu/nope/f32", "--shape", "m=1,n=1,k=1"}, "unknown kernel", NULL, NULL},
    {NULL, {"verify", "matmul\nx", "--shape", "m=1,n=1,k=1"}, "unknown kernel", NULL, NULL},
    {NULL, {"verify", "matmul/cpu/naive/f32", "--shape", "m=1,n=x,k=1"}, "bad --shape", NULL, NULL},
    {NULL, {"verify", "matmul/cpu/naive/f32", "--shape", "m=99999999999,n=1,k=1"}, "larger than the limit", NULL,
     NULL},
    {NULL, {"verify", "matmul/cpu/naive/f32", "--shape", "m=1,n=1,k=1", "extra"}, "unexpected argument", NULL, NULL},
    {NULL, {"compare", "good.json"}, "two results files", NULL, NULL},
    {NULL, {"compare", "good.json", "good.json", "extra"}, "third", NULL, NULL},
    {NULL, {"compare", "good.json", "good.json", "--metric", "bogus"}, "--metric", NULL, NULL},
    {NULL, {"compare", "good.json", "good.json", "--threshold", "-5"}, "--threshold", NULL, NULL},
    {NULL, {"compare", "good.json", "good.json", "--alpha", "2"}, "--alpha", NULL, NULL},
    {NULL, {"history", "--db", "h.db", "frob"}, "unknown subcommand", "h.db", NULL},
    {NULL, {"history", "--db", "nope.db", "show"}, "no history database", NULL, NULL},
    {NULL, {"history", "--db", "h.db", "check", "--window", "0"}, "--window", "h.db", NULL},
    {NULL, {"report", "good.json"}, "--out", NULL, NULL},
    {NULL, {"report", "good.json", "--out", "x.html", "--model", "nosuch"}, "unknown model", NULL, NULL},
    /* Results files. */
    {NULL, {"compare", "empty.json", "good.json"}, "not a JSON file", NULL, NULL},
    {NULL, {"compare", "notjson.json", "good.json"}, "not a JSON file", NULL, NULL},
    {NULL, {"compare", "array.json", "good.json"}, "not a Google Benchmark results file", NULL, NULL},
    {NULL, {"compare", "noctx.json", "good.json"}, "not a Google Benchmark results file", NULL, NULL},
    {NULL, {"compare", "benchobj.json", "good.json"}, "not a Google Benchmark results file", NULL, NULL},
    {NULL, {"compare", "trailing.json", "good.json"}, "not a JSON file", NULL, NULL},
    {NULL, {"compare", "r_utf8.json", "good.json"}, "not UTF-8", NULL, NULL},
    {NULL, {"compare", "good.json", "notthere.json"}, "No such file", NULL, NULL},
    {NULL, {"report", "empty.json", "--out", "x.html"}, "not a JSON file", NULL, NULL},
    {NULL, {"report", "r_utf8.json", "--out", "x.html"}, "not UTF-8", NULL, NULL},
    {NULL, {"report", "r_flopstr.json", "--out", "x.html"}, "flop_per_s", NULL, NULL},
    {NULL, {"report", "r_warnnum.json", "--out", "x.html"}, "context.warnings", NULL, NULL},
    {NULL, {"report", "r_benchnotobj.json", "--out", "x.html"}, "benchmarks[0] has no name", NULL, NULL},
    {NULL, {"report", "r_noname.json", "--out", "x.html"}, "no name", NULL, NULL},
    {NULL, {"history", "--db", "h.db", "add", "notjson.json"}, "not a JSON file", "h.db", NULL},
    {NULL, {"history", "--db", "h.db", "add", "empty.json"}, "not a JSON file", "h.db", NULL},
    {NULL, {"history", "--db", "h.db", "add", "r_benchnotobj.json"}, "benchmarks[0] has no name", "h.db", NULL},
    /* Wrong types are refused by every reader of results, not only report. */
    {NULL, {"compare", "r_flopstr.json", "good.json"}, "flop_per_s is not a non-negative number", NULL, NULL},
    {NULL, {"history", "--db", "h.db", "add", "r_flopstr.json"}, "flop_per_s is not a non-negative number", "h.db",
     NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--results", "r_flopstr.json"}, "flop_per_s is not a non-negative",
     NULL, NULL},
    {NULL, {"compare", "good.json", "r_noname.json"}, "has no name", NULL, NULL},
    {NULL, {"project", "--model", "gpt2-124m", "--results", "notjson.json"}, "not a JSON file", NULL, NULL},
};

#define NCASES (sizeof cases / sizeof cases[0])

static char dir[] = "/tmp/jb_badinput_XXXXXX";

/* ---- Small helpers ---------------------------------------------------------- */

static char *path_in(const char *name)
{
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static int write_bytes(const char *name, const char *data, size_t n)
{
    FILE *f = fopen(path_in(name), "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static int write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

/* The whole file, NUL-terminated (it may hold NULs of its own: *len says how long), or NULL. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - 1 - n, f)) > 0) {
        n += r;
        if (n == cap - 1) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* Appends s to the shell command, single-quoted. */
static void append_quoted(char *cmd, size_t cap, const char *s)
{
    size_t n = strlen(cmd);
    if (n + 1 < cap)
        cmd[n++] = '\'';
    for (; *s && n + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(cmd + n, "'\\''", 4);
            n += 4;
        } else
            cmd[n++] = *s;
    }
    if (n + 1 < cap)
        cmd[n++] = '\'';
    cmd[n] = 0;
}

/* Runs joulebench in dir with the given arguments under `timeout 20`; stdout
 * and stderr go to files there. Returns the exit status (124: timed out, -1:
 * the shell could not run it). */
static int run_jb(const char *env, const char *const *argv)
{
    char cmd[8192] = "cd ";
    append_quoted(cmd, sizeof cmd, dir);
    strcat(cmd, " && env ");
    if (env) {
        append_quoted(cmd, sizeof cmd, env);
        strcat(cmd, " ");
    }
    strcat(cmd, "timeout 20 ");
    append_quoted(cmd, sizeof cmd, JB_EXE);
    for (size_t i = 0; argv[i]; i++) {
        strcat(cmd, " ");
        append_quoted(cmd, sizeof cmd, argv[i]);
    }
    strcat(cmd, " </dev/null >_stdout 2>_stderr");
    int st = system(cmd);
    return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

/* joulebench's arguments as a shell would take them, newlines written \n, for messages and test names. */
static void describe(const bad_case *c, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    if (c->env)
        n += (size_t)snprintf(buf + n, cap - n, "%s ", c->env);
    n += (size_t)snprintf(buf + n, cap - n, "joulebench");
    for (size_t i = 0; c->argv[i] && n + 8 < cap; i++) {
        buf[n++] = ' ';
        for (const char *s = c->argv[i]; *s && n + 4 < cap; s++) {
            if (*s == '\n') {
                buf[n++] = '\\';
                buf[n++] = 'n';
            } else
                buf[n++] = *s;
        }
        buf[n] = 0;
    }
}

/* Printable copy of captured output for a failure message. */
static void escape(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else if (ch < 0x20 || ch >= 0x7f) {
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
        } else
            buf[n++] = (char)ch;
    }
    buf[n] = 0;
}

/* Does `word` occur in s with no letter right before or after it? */
static int has_word(const char *s, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = s; (p = strstr(p, word)) != NULL; p++) {
        int before = p > s && ((p[-1] | 0x20) >= 'a' && (p[-1] | 0x20) <= 'z');
        int after = (p[wl] | 0x20) >= 'a' && (p[wl] | 0x20) <= 'z';
        if (!before && !after)
            return 1;
    }
    return 0;
}

/* ---- Fixtures --------------------------------------------------------------- */

#define MODEL_REST                                                                                                     \
    "\"d_model\": 768, \"head_dim\": 64, \"d_ff\": 3072, \"seq_len\": 1024, \"tokens\": 1.0e10, \"source\": \"test\""

static const struct {
    const char *name, *text;
} text_fixtures[] = {
    {"plain.txt", "SENTINEL\n"},
    {"sent.json", "SENTINEL\n"},
    {"notdb.db", "SENTINEL\n"},
    {"empty.json", ""},
    {"notjson.json", "this is not JSON\n"},
    {"array.json", "[1, 2, 3]\n"},
    {"noctx.json", "{\"foo\": 1}\n"},
    {"benchobj.json", "{\"context\": {}, \"benchmarks\": {}}\n"},
    /* Suites. */
    {"s_big.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [1e39]}}]}\n"},
    {"s_e19.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [1e19]}}]}\n"},
    {"s_neg.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [-1e39]}}]}\n"},
    {"s_11.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [99999999999]}}]}\n"},
    {"s_frac.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16.5]}}]}\n"},
    {"s_key2.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16], \"m\": [4]}}]}\n"},
    {"s_field2.json",
     "{\"name\": \"x\", \"name\": \"y\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16]}}]}\n"},
    {"s_causal.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"attention\", \"axes\": {\"b\": [1], \"h\": [1], "
                      "\"n\": [16], \"d\": [16], \"causal\": [5]}}]}\n"},
    {"s_utf8.json", "{\"name\": \"x\xff\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16]}}]}\n"},
    /* The error is at the ',': newlines follow within 20 characters. */
    {"s_malformed.json", "{\"name\": \"x\",\n \"groups\": [ ,\n\n\n {\"op\": \"matmul\"}]}\n"},
    {"s_unkfield.json",
     "{\"name\": \"x\", \"bogus\": 1, \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16]}}]}\n"},
    {"s_unkop.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"convolve\", \"axes\": {\"m=n=k\": [16]}}]}\n"},
    {"s_redos.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"kernels\": [\"" REDOS "\"], "
                     "\"axes\": {\"m=n=k\": [16]}}]}\n"},
    {"s_badre.json",
     "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"kernels\": [\"(\"], \"axes\": {\"m=n=k\": [16]}}]}\n"},
    {"s_skipkern.json", "{\"name\": \"x\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16]}, "
                        "\"skip\": [{\"kernel\": 5, \"m\": [16]}]}]}\n"},
    {"s_array.json", "[1]\n"},
    {"s_nogroups.json", "{\"name\": \"x\", \"groups\": []}\n"},
    {"s_refother.json", "{\"groups\": [{\"op\": \"matmul\", \"reference\": \"softmax/cpu/naive/f32\", "
                        "\"axes\": {\"m=n=k\": [16]}}]}\n"},
    {"s_refnone.json", "{\"groups\": [{\"op\": \"matmul\", \"reference\": \"matmul/cpu/.*\", "
                       "\"axes\": {\"m=n=k\": [16]}}]}\n"},
    {"s_target.json", "{\"target_ci\": 0, \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16]}}]}\n"},
    {"s_maxtime.json", "{\"max_time\": \"1\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16]}}]}\n"},
    /* Model specs. */
    {"m_params.json", "{\"name\": \"x\", \"params\": 1e308, \"layers\": 12, \"heads\": 12, \"vocab\": 50257, "
                      "\"causal\": true, " MODEL_REST "}\n"},
    {"m_layers.json", "{\"name\": \"x\", \"params\": 124439808, \"layers\": -12, \"heads\": 12, \"vocab\": 50257, "
                      "\"causal\": true, " MODEL_REST "}\n"},
    {"m_heads.json", "{\"name\": \"x\", \"params\": 124439808, \"layers\": 12, \"heads\": 12.5, \"vocab\": 50257, "
                     "\"causal\": true, " MODEL_REST "}\n"},
    {"m_missing.json",
     "{\"name\": \"x\", \"params\": 124439808, \"layers\": 12, \"heads\": 12, \"causal\": true, " MODEL_REST "}\n"},
    {"m_unknown.json", "{\"name\": \"x\", \"bogus\": 3, \"params\": 124439808, \"layers\": 12, \"heads\": 12, "
                       "\"vocab\": 50257, \"causal\": true, " MODEL_REST "}\n"},
    {"m_twice.json", "{\"name\": \"x\", \"layers\": 5, \"params\": 124439808, \"layers\": 12, \"heads\": 12, "
                     "\"vocab\": 50257, \"causal\": true, " MODEL_REST "}\n"},
    {"m_utf8.json", "{\"name\": \"x\xff\", \"params\": 124439808, \"layers\": 12, \"heads\": 12, \"vocab\": 50257, "
                    "\"causal\": true, " MODEL_REST "}\n"},
    {"m_notjson.json", "this is not JSON\n"},
    {"m_causal.json", "{\"name\": \"x\", \"params\": 124439808, \"layers\": 12, \"heads\": 12, \"vocab\": 50257, "
                      "\"causal\": \"yes\", " MODEL_REST "}\n"},
};

/* Writes good.json, edited by `edit`, as `name`. */
static int write_edited(const char *name, const cJSON *good, void (*edit)(cJSON *))
{
    cJSON *copy = cJSON_Duplicate(good, 1);
    if (!copy)
        return -1;
    edit(copy);
    char *text = cJSON_Print(copy);
    cJSON_Delete(copy);
    if (!text)
        return -1;
    int rc = write_text(name, text);
    free(text);
    return rc;
}

static cJSON *bench0(cJSON *root)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "benchmarks"), 0);
}

static void edit_flopstr(cJSON *root)
{
    cJSON_ReplaceItemInObjectCaseSensitive(bench0(root), "flop_per_s", cJSON_CreateString("fast"));
}

static void edit_warnnum(cJSON *root)
{
    cJSON *ctx = cJSON_GetObjectItemCaseSensitive(root, "context");
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "warnings");
    cJSON_AddNumberToObject(ctx, "warnings", 3);
}

static void edit_benchnotobj(cJSON *root)
{
    cJSON_ReplaceItemInArray(cJSON_GetObjectItemCaseSensitive(root, "benchmarks"), 0, cJSON_CreateNumber(5));
}

static void edit_noname(cJSON *root)
{
    cJSON_DeleteItemFromObjectCaseSensitive(bench0(root), "name");
}

static void edit_utf8(cJSON *root)
{
    cJSON *ctx = cJSON_GetObjectItemCaseSensitive(root, "context");
    cJSON_ReplaceItemInObjectCaseSensitive(ctx, "host_name", cJSON_CreateString("host\xff"));
}

static int tiny_rows;

/* Every matmul and attention row (iterations and aggregates alike) at 1e-300 FLOP/J. */
static void edit_tiny(cJSON *root)
{
    cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(root, "benchmarks"))
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name"));
        if (!name || !cJSON_GetObjectItemCaseSensitive(b, "flop_per_j"))
            continue;
        if (strncmp(name, "matmul/", 7) != 0 && strncmp(name, "attention/", 10) != 0)
            continue;
        cJSON_ReplaceItemInObjectCaseSensitive(b, "flop_per_j", cJSON_CreateNumber(1e-300));
        tiny_rows += strncmp(name, "attention/", 10) == 0 ? 1000 : 1;
    }
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    if (mkdir(path_in("d"), 0755) != 0 || mkfifo(path_in("f"), 0644) != 0)
        return -1;
    for (size_t i = 0; i < sizeof text_fixtures / sizeof text_fixtures[0]; i++)
        if (write_text(text_fixtures[i].name, text_fixtures[i].text) != 0)
            return -1;
    char longname[200];
    snprintf(longname, sizeof longname,
             "{\"name\": \"%s\", \"groups\": [{\"op\": \"matmul\", \"axes\": {\"m=n=k\": [16]}}]}\n", A64);
    if (write_text("s_longname.json", longname) != 0)
        return -1;

    /* A valid results file with a matmul and an attention row, and a history database holding it. */
    const char *make_good[] = {"run", "--suite", "quick", "--filter", "naive/f32/(m:128|b:1/h:4/n:256/d:64/causal:0)",
                               "--repetitions", "2", "--min-time", "0.01", "--meter", "model", "--out", "good.json",
                               NULL};
    int rc = run_jb(NULL, make_good);
    if (rc != 0) {
        print_error("setup: joulebench run for good.json exited %d\n", rc);
        return -1;
    }
    const char *make_db[] = {"history", "--db", "h.db", "add", "good.json", NULL};
    if ((rc = run_jb(NULL, make_db)) != 0) {
        print_error("setup: joulebench history add exited %d\n", rc);
        return -1;
    }
    size_t n;
    char *text = read_all(path_in("good.json"), &n);
    if (!text)
        return -1;
    cJSON *good = cJSON_Parse(text);
    int bad = !good;
    if (!bad) {
        char *trailing = malloc(n + 8);
        bad |= !trailing;
        if (trailing) {
            memcpy(trailing, text, n);
            memcpy(trailing + n, " xyz\n", 6);
            bad |= write_text("trailing.json", trailing) != 0;
            free(trailing);
        }
        bad |= write_edited("r_flopstr.json", good, edit_flopstr) != 0;
        bad |= write_edited("r_warnnum.json", good, edit_warnnum) != 0;
        bad |= write_edited("r_benchnotobj.json", good, edit_benchnotobj) != 0;
        bad |= write_edited("r_noname.json", good, edit_noname) != 0;
        bad |= write_edited("r_utf8.json", good, edit_utf8) != 0;
        bad |= write_edited("tiny.json", good, edit_tiny) != 0;
        /* Both kernel classes must be there, or the projection fails for want of a row instead. */
        if (tiny_rows < 1000 || tiny_rows % 1000 == 0) {
            print_error("setup: good.json lacks a matmul or an attention row with flop_per_j\n");
            bad = 1;
        }
    }
    cJSON_Delete(good);
    free(text);
    return bad ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600] = "rm -rf ";
    append_quoted(cmd, sizeof cmd, dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- The cases -------------------------------------------------------------- */

static void test_case(void **state)
{
    const bad_case *c = *state;
    char what[1024];
    describe(c, what, sizeof what);

    size_t before_len = 0;
    char *before = NULL;
    if (c->sentinel) {
        before = read_all(path_in(c->sentinel), &before_len);
        if (!before)
            fail_msg("%s: the sentinel %s is missing before the case", what, c->sentinel);
    }

    int rc = run_jb(c->env, c->argv);
    char *out = read_all(path_in("_stdout"), NULL), *err = read_all(path_in("_stderr"), NULL);
    assert_non_null(out);
    assert_non_null(err);

    char problems[1024] = "";
    size_t lines = 0;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    size_t elen = strlen(err);
    if (rc != 2)
        strcat(problems, rc == 124 ? "; timed out (20 s)" : "; exit status not 2");
    if (lines != 1 || elen == 0 || err[elen - 1] != '\n')
        strcat(problems, "; stderr is not exactly one line");
    if (strncmp(err, "joulebench: ", 12) != 0)
        strcat(problems, "; stderr does not start with 'joulebench: '");
    if (!strstr(err, c->expect))
        strcat(problems, "; stderr lacks the expected words");
    if (strstr(err, "Sanitizer") || strstr(err, "runtime error"))
        strcat(problems, "; sanitizer report");
    if (c->forbid && (has_word(out, c->forbid) || has_word(err, c->forbid)))
        strcat(problems, "; printed a forbidden word");
    if (c->sentinel) {
        size_t after_len = 0;
        char *after = read_all(path_in(c->sentinel), &after_len);
        if (!after || after_len != before_len || memcmp(before, after, before_len) != 0)
            strcat(problems, "; the sentinel file changed");
        free(after);
    }
    free(before);

    if (problems[0]) {
        static char err_esc[8192], out_esc[2048];
        escape(err, err_esc, sizeof err_esc);
        escape(out, out_esc, sizeof out_esc);
        free(out);
        free(err);
        fail_msg("%s\n  problems: %s\n  exit %d, stderr '%s', stdout '%s'\n"
                 "  want exit 2 and one stderr line 'joulebench: ...' containing '%s'%s%s%s%s",
                 what, problems + 2, rc, err_esc, out_esc, c->expect, c->sentinel ? ", leaving " : "",
                 c->sentinel ? c->sentinel : "", c->forbid ? ", never printing " : "", c->forbid ? c->forbid : "");
    }
    free(out);
    free(err);
}

int main(void)
{
    static struct CMUnitTest tests[NCASES];
    static char names[NCASES][160];
    for (size_t i = 0; i < NCASES; i++) {
        char what[1024];
        describe(&cases[i], what, sizeof what);
        /* "joulebench " is the same for all: leave it out of the name. */
        const char *shown = strstr(what, "joulebench ") ? strstr(what, "joulebench ") + 11 : what;
        if (cases[i].env)
            snprintf(names[i], sizeof names[i], "%s %.140s", cases[i].env, shown);
        else
            snprintf(names[i], sizeof names[i], "%.150s", shown);
        tests[i] = (struct CMUnitTest){names[i], test_case, NULL, NULL, (void *)&cases[i]};
    }
    return _cmocka_run_group_tests("joulebench bad input", tests, NCASES, setup, teardown);
}
