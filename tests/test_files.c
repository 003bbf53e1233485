/*
 * The file and text helpers every command reads and writes through
 * (bench/files.c) and the bounded name patterns (bench/pattern.c): what they
 * refuse, that they never block or overrun, and what they give back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/files.h"
#include "jb_kernels.h"
#include "util/pattern.h"

static char dir[64];

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void write_bytes(const char *name, const char *data, size_t n)
{
    char p[128];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_read_regular(void **state)
{
    (void)state;
    char p[128], msg[256], *text;
    size_t len;
    write_bytes("a.txt", "hello\nworld", 11);
    path_of(p, sizeof p, "a.txt");
    assert_int_equal(jb_file_read(p, 0, JB_FILE_TEXT, &text, &len, msg, sizeof msg), JB_OK);
    assert_int_equal(len, 11);
    assert_string_equal(text, "hello\nworld");
    free(text);
    /* Empty file: an empty string, not an error. */
    write_bytes("empty", "", 0);
    path_of(p, sizeof p, "empty");
    assert_int_equal(jb_file_read(p, 0, JB_FILE_TEXT, &text, &len, msg, sizeof msg), JB_OK);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
    /* A file larger than its size hint (the hint is st_size; /proc files say 0). */
    assert_int_equal(jb_file_read("/proc/self/status", 0, 0, &text, &len, msg, sizeof msg), JB_OK);
    assert_true(len > 100);
    assert_non_null(strstr(text, "Name:"));
    free(text);
}

static void test_read_refuses(void **state)
{
    (void)state;
    char p[128], msg[256], *text = (char *)1;
    /* A directory, a FIFO (without blocking: no writer ever comes), a device, a missing file. */
    assert_int_equal(jb_file_read(dir, 0, 0, &text, NULL, msg, sizeof msg), JB_EIO);
    assert_non_null(strstr(msg, "not a regular file (a directory)"));
    assert_null(text);
    path_of(p, sizeof p, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    time_t t0 = time(NULL);
    assert_int_equal(jb_file_read(p, 0, 0, &text, NULL, msg, sizeof msg), JB_EIO);
    assert_true(time(NULL) - t0 < 5);
    assert_non_null(strstr(msg, "not a regular file (a FIFO)"));
    assert_int_equal(jb_file_read("/dev/zero", 0, 0, &text, NULL, msg, sizeof msg), JB_EIO);
    assert_non_null(strstr(msg, "character device"));
    path_of(p, sizeof p, "missing");
    assert_int_equal(jb_file_read(p, 0, 0, &text, NULL, msg, sizeof msg), JB_EIO);
    assert_non_null(strstr(msg, "No such file"));
    assert_int_equal(jb_file_read("", 0, 0, &text, NULL, msg, sizeof msg), JB_EIO);
    /* Over the size limit. */
    write_bytes("big", "0123456789", 10);
    path_of(p, sizeof p, "big");
    assert_int_equal(jb_file_read(p, 9, 0, &text, NULL, msg, sizeof msg), JB_EIO);
    assert_non_null(strstr(msg, "larger than the limit"));
    assert_int_equal(jb_file_read(p, 10, 0, &text, NULL, msg, sizeof msg), JB_OK);
    free(text);
    /* Text: a NUL byte or a byte that is not UTF-8 is refused, with its offset. */
    write_bytes("bad", "{\"a\": \"\xff\"}", 11);
    path_of(p, sizeof p, "bad");
    assert_int_equal(jb_file_read(p, 0, JB_FILE_TEXT, &text, NULL, msg, sizeof msg), JB_EPARSE);
    assert_non_null(strstr(msg, "not UTF-8 text (byte 7 is 0xff)"));
    assert_int_equal(jb_file_read(p, 0, 0, &text, NULL, msg, sizeof msg), JB_OK); /* binary: fine */
    free(text);
    write_bytes("nul", "ab\0cd", 5);
    path_of(p, sizeof p, "nul");
    assert_int_equal(jb_file_read(p, 0, JB_FILE_TEXT, &text, NULL, msg, sizeof msg), JB_EPARSE);
    assert_non_null(strstr(msg, "byte 2 is 0x00"));
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t bad; /* offset of the first bad byte, or SIZE_MAX when valid */
    } cases[] = {
        {"plain ascii", SIZE_MAX},
        {"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5", SIZE_MAX}, /* é, €, an emoji */
        {"a\xff", 1},
        {"\xc0\xaf", 0},              /* overlong '/' */
        {"\xe0\x80\xaf", 0},          /* overlong, three bytes */
        {"\xed\xa0\x80", 0},          /* a UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 0},      /* past U+10FFFF */
        {"ok\xe2\x82", 2},            /* cut short */
        {"\x80", 0},                  /* a lone continuation byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        size_t want = cases[i].bad == SIZE_MAX ? n : cases[i].bad;
        if (jb_utf8_invalid_at(cases[i].s, n) != want)
            fail_msg("case %zu: invalid_at %zu, want %zu", i, jb_utf8_invalid_at(cases[i].s, n), want);
        char *clean = jb_utf8_sanitize(cases[i].s);
        assert_non_null(clean);
        assert_int_equal(jb_utf8_invalid_at(clean, strlen(clean)), strlen(clean));
        if (want == n)
            assert_string_equal(clean, cases[i].s);
        else
            assert_non_null(strstr(clean, "\xef\xbf\xbd"));
        free(clean);
    }
}

static void test_one_line(void **state)
{
    (void)state;
    char out[64];
    jb_text_one_line("a\nb\tc\r\x01\x7f\xff \xc3\xa9", out, sizeof out);
    assert_string_equal(out, "a\\nb\\tc\\r\\x01\\x7f\\xff \xc3\xa9");
    char small[12];
    jb_text_one_line("0123456789abcdef", small, sizeof small);
    assert_string_equal(small, "01234567...");
    jb_text_one_line(NULL, small, sizeof small);
    assert_string_equal(small, "");
}

static void test_json_text_is_utf8(void **state)
{
    (void)state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "suite_file", "dir/\xff\xfe.json");
    cJSON_AddStringToObject(o, "ok", "\xc3\xa9");
    char *t = jb_json_text(o, 1);
    assert_non_null(t);
    assert_int_equal(jb_utf8_invalid_at(t, strlen(t)), strlen(t));
    cJSON *back = cJSON_Parse(t);
    assert_non_null(back);
    assert_string_equal(cJSON_GetObjectItem(back, "suite_file")->valuestring, "dir/\xef\xbf\xbd\xef\xbf\xbd.json");
    assert_string_equal(cJSON_GetObjectItem(back, "ok")->valuestring, "\xc3\xa9");
    cJSON_Delete(back);
    cJSON_Delete(o);
    free(t);
}

static void test_output_paths(void **state)
{
    (void)state;
    char p[128], msg[4600];
    path_of(p, sizeof p, "out.json");
    assert_int_equal(jb_file_check_output(p, msg, sizeof msg), JB_OK);
    assert_int_equal(access(p, F_OK), -1); /* the check leaves nothing behind */
    assert_int_equal(jb_file_check_output(dir, msg, sizeof msg), JB_EIO);
    assert_non_null(strstr(msg, "not a regular file (a directory)"));
    path_of(p, sizeof p, "fifo");
    assert_int_equal(jb_file_check_output(p, msg, sizeof msg), JB_EIO);
    path_of(p, sizeof p, "no/such/dir/x.json");
    assert_int_equal(jb_file_check_output(p, msg, sizeof msg), JB_EIO);
    assert_non_null(strstr(msg, "does not exist"));
    path_of(p, sizeof p, "a.txt/x.json"); /* a file where the directory should be */
    assert_int_equal(jb_file_check_output(p, msg, sizeof msg), JB_EIO);
    /* --dump: a directory is made when missing; a file in its place is refused. */
    path_of(p, sizeof p, "dumps");
    assert_int_equal(jb_dir_prepare_output(p, msg, sizeof msg), JB_OK);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(jb_dir_prepare_output(p, msg, sizeof msg), JB_OK);
    path_of(p, sizeof p, "a.txt");
    assert_int_equal(jb_dir_prepare_output(p, msg, sizeof msg), JB_EIO);
    assert_non_null(strstr(msg, "not a directory"));
    path_of(p, sizeof p, "no/such/dumps");
    assert_int_equal(jb_dir_prepare_output(p, msg, sizeof msg), JB_EIO);
}

static void test_atomic_write(void **state)
{
    (void)state;
    char p[128], msg[4600], *text;
    path_of(p, sizeof p, "atomic.txt");
    write_bytes("atomic.txt", "old", 3);
    assert_int_equal(jb_file_write_atomic(p, "new contents", 12, msg, sizeof msg), JB_OK);
    assert_int_equal(jb_file_read(p, 0, 0, &text, NULL, msg, sizeof msg), JB_OK);
    assert_string_equal(text, "new contents");
    free(text);
    /* A failed write leaves the old file and no temporary beside it. */
    char bad[160];
    path_of(bad, sizeof bad, "no/such/dir/atomic.txt");
    assert_int_equal(jb_file_write_atomic(bad, "x", 1, msg, sizeof msg), JB_EIO);
    assert_int_equal(jb_file_write_atomic(dir, "x", 1, msg, sizeof msg), JB_EIO); /* rename over a directory */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -a %s /tmp | grep -q 'jb_files_.*\\.tmp\\.\\|atomic.txt.tmp'", dir);
    assert_int_not_equal(system(cmd), 0);
}

static void test_patterns(void **state)
{
    (void)state;
    static const struct {
        const char *pat;
        const char *refusal; /* NULL: compiles */
    } cases[] = {
        {"matmul/cpu/.*", NULL},
        {"attention/.*/n:(1024|2048)", NULL},
        {"a{1,255}", NULL},
        {"(a{2}){1,100}", NULL},
        {"[+*]+x", NULL},                 /* quantifier characters inside brackets are literal */
        {"[[:digit:]]+/f32", NULL},
        {"a++++++++++++++++++++++++++++++*", "a repetition of a repetition"},
        {"a*?", "a repetition of a repetition"},
        {"a{1,32767}", "bound over"},
        {"a{300}", "bound over"},
        {"(a{1,255}){1,255}", "expand to more than"},
        {"((((((((((((((((((a)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+", "expand to more than"},
        {"(a)\\1", "back-references"},
        {"(", "not a valid regular expression"},
        {"a[", "not a valid regular expression"},
        {"a)|(b", "an unmatched ')'"},               /* would undo the anchoring group */
        {"x()y", "an empty group"},
        {"a||b", "an empty alternative"},
        {"(|a)", "an empty alternative"},
        {"a|", "an empty alternative"},
        {"((a*){100}){100}", "expand to more than"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        regex_t re;
        char msg[512];
        int rc = jb_pattern_compile(&re, cases[i].pat, 0, msg, sizeof msg);
        if (!cases[i].refusal) {
            if (rc)
                fail_msg("'%s' refused: %s", cases[i].pat, msg);
            regfree(&re);
        } else if (rc != JB_EINVAL || !strstr(msg, cases[i].refusal)) {
            fail_msg("'%s': rc %d, '%s' (want '%s')", cases[i].pat, rc, rc ? msg : "", cases[i].refusal);
        }
    }
    char longpat[300];
    memset(longpat, 'a', sizeof longpat - 1);
    longpat[sizeof longpat - 1] = 0;
    regex_t re;
    char msg[512];
    assert_int_equal(jb_pattern_compile(&re, longpat, 0, msg, sizeof msg), JB_EINVAL);
    assert_non_null(strstr(msg, "longer than 256 bytes"));
    /* Found by fuzz_pattern: fine unanchored, 1.5 GB once the anchoring group
     * around it closes its stray parenthesis. */
    assert_int_equal(jb_pattern_compile(&re, "(){182,}){88}", 1, msg, sizeof msg), JB_EINVAL);
    /* And a run of empty alternatives repeated (0.7 s unsanitized, over 15 s under ASan). */
    assert_int_equal(jb_pattern_compile(&re, "x|||||||||||||||||||||||||||||||||||||||||||||)+(yy", 1, msg, sizeof msg),
                     JB_EINVAL);
    /* Anchoring: the whole name must match. */
    assert_int_equal(jb_pattern_compile(&re, "matmul/cpu/naive/f32", 1, msg, sizeof msg), JB_OK);
    assert_int_equal(regexec(&re, "matmul/cpu/naive/f32", 0, NULL, 0), 0);
    assert_int_not_equal(regexec(&re, "matmul/cpu/naive/f32x", 0, NULL, 0), 0);
    regfree(&re);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/jb_files_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_regular),  cmocka_unit_test(test_read_refuses),
        cmocka_unit_test(test_utf8),          cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_json_text_is_utf8), cmocka_unit_test(test_output_paths),
        cmocka_unit_test(test_atomic_write),  cmocka_unit_test(test_patterns),
    };
    return cmocka_run_group_tests_name("files and patterns", tests, setup, teardown);
}
