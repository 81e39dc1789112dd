/* test_common_log.c - logfmt lines: format, quoting, hostile values on one line,
 * levels, truncation, and whole lines from many threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "corio/error.h"
#include "corio_conf.h"
#include "corio_log.h"
#include "harness.h"

static int g_fd = -1;
static char g_path[512];

static int setup(void **state)
{
    (void)state;
    char *dir = h_tmpdir("log");
    snprintf(g_path, sizeof g_path, "%s/log", dir);
    free(dir);
    g_fd = open(g_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
    corio_log_set_fd(g_fd);
    corio_log_set_comp("test");
    corio_log_set_level(CORIO_LOG_DEBUG);
    return g_fd < 0;
}

static int teardown(void **state)
{
    (void)state;
    corio_log_set_fd(2);
    close(g_fd);
    remove(g_path);
    *strrchr(g_path, '/') = '\0';
    return rmdir(g_path);
}

/* Everything logged since the last call (caller frees). */
static char *take_output(size_t *len)
{
    off_t end = lseek(g_fd, 0, SEEK_END);
    char *buf = malloc((size_t)end + 1);
    ssize_t n = pread(g_fd, buf, (size_t)end, 0);
    assert_int_equal(n, end);
    buf[end] = '\0';
    if (len)
        *len = (size_t)end;
    assert_int_equal(ftruncate(g_fd, 0), 0);
    return buf;
}

/* The line without its "ts=... " prefix, after checking the prefix's shape. */
static const char *after_ts(const char *line)
{
    /* ts=2026-11-30T13:00:00.123Z */
    const char *shape = "ts=dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd')
            assert_true(line[i] >= '0' && line[i] <= '9');
        else
            assert_int_equal(line[i], shape[i]);
    }
    return line + strlen(shape);
}

static void one_line(const char *want_after_ts)
{
    size_t len;
    char *out = take_output(&len);
    assert_true(len > 0);
    assert_int_equal(out[len - 1], '\n');
    assert_ptr_equal(strchr(out, '\n'), out + len - 1); /* exactly one line */
    out[len - 1] = '\0';
    assert_string_equal(after_ts(out), want_after_ts);
    free(out);
}

static void printf_message(void **state)
{
    (void)state;
    corio_log(CORIO_LOG_INFO, "hello %d from %s", 42, "gateway");
    one_line("level=info comp=test msg=\"hello 42 from gateway\"");
    corio_log(CORIO_LOG_ERROR, "plain");
    one_line("level=error comp=test msg=\"plain\"");
}

static void key_values(void **state)
{
    (void)state;
    corio_logkv(CORIO_LOG_WARN, "client connected",
                "id=%s port=%d addr=%s:%u empty=%s ratio=%.2f big=%llu neg=%ld sz=%zu hex=%#x",
                "dev1", 80, "10.0.0.1", 1883u, "", 0.5, 18446744073709551615ULL, -7L, (size_t)12,
                255u);
    one_line("level=warn comp=test msg=\"client connected\" id=dev1 port=80 addr=10.0.0.1:1883 "
             "empty=\"\" ratio=0.50 big=18446744073709551615 neg=-7 sz=12 hex=0xff");
}

static void more_conversions(void **state)
{
    (void)state;
    errno = ENOENT;
    corio_logkv(CORIO_LOG_DEBUG, "conversions",
                "w=%*d p=%-*.*s| c=%c pct=100%% err=%m null=%s j=%jd hh=%hhu lit=a%sb t=%td", 5, 42,
                6, 3, "abcdef", 'Z', (char *)NULL, (intmax_t)-9, (unsigned char)200, "-",
                (ptrdiff_t)3);
    assert_int_equal(errno, ENOENT); /* logging leaves errno alone */
    one_line("level=debug comp=test msg=\"conversions\" w=\"   42\" p=\"abc   |\" c=Z pct=100% "
             "err=\"No such file or directory\" null=(null) j=-9 hh=200 lit=a-b t=3");
}

static void hostile_values_stay_on_one_line(void **state)
{
    (void)state;
    corio_logkv(CORIO_LOG_INFO, "evil\nmsg level=error",
                "nl=%s forge=%s esc=%s bad=%s c1=%s ls=%s ok=%s tab=%s bs=%s del=%s", "a\nb",
                "x\" level=error msg=\"owned", "\r\n\x1b[31mred", "\xff\xfe\xc0\xaf", "a\xc2\x85z",
                "x\xe2\x80\xa8y", "h\xc3\xa9llo", "a\tb", "c:\\dir", "\x7f");
    one_line("level=info comp=test msg=\"evil\\nmsg level=error\" nl=\"a\\nb\" "
             "forge=\"x\\\" level=error msg=\\\"owned\" esc=\"\\r\\n\\u001b[31mred\" "
             "bad=\"\\ufffd\\ufffd\\ufffd\\ufffd\" c1=\"a\\u0085z\" ls=\"x\\u2028y\" "
             "ok=\"h\xc3\xa9llo\" tab=\"a\\tb\" bs=\"c:\\\\dir\" del=\"\\u007f\"");

    /* truncated and overlong UTF-8, surrogates, beyond U+10FFFF */
    corio_logkv(CORIO_LOG_INFO, "utf8", "cut=%s overlong=%s surrogate=%s big=%s", "ab\xe2\x82",
                "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80");
    one_line("level=info comp=test msg=\"utf8\" cut=\"ab\\ufffd\\ufffd\" "
             "overlong=\"\\ufffd\\ufffd\\ufffd\" surrogate=\"\\ufffd\\ufffd\\ufffd\" "
             "big=\"\\ufffd\\ufffd\\ufffd\\ufffd\"");

    /* a printf message carrying a newline is escaped too */
    corio_log(CORIO_LOG_INFO, "%s", "first\nts=forged level=error");
    one_line("level=info comp=test msg=\"first\\nts=forged level=error\"");
}

static void keys_are_sanitised(void **state)
{
    (void)state;
    corio_logkv(CORIO_LOG_INFO, "keys", "a.b-c_d=%d we!rd=%d %s", 1, 2, "bare");
    one_line("level=info comp=test msg=\"keys\" a.b-c_d=1 we_rd=2 arg=bare");
    corio_log_set_comp("my comp");
    corio_log(CORIO_LOG_INFO, "x");
    one_line("level=info comp=\"my comp\" msg=\"x\"");
    corio_log_set_comp("test");
}

static void levels_filter(void **state)
{
    (void)state;
    assert_int_equal(corio_log_level_parse("debug"), CORIO_LOG_DEBUG);
    assert_int_equal(corio_log_level_parse("warn"), CORIO_LOG_WARN);
    assert_int_equal(corio_log_level_parse("error"), CORIO_LOG_ERROR);
    assert_int_equal(corio_log_level_parse("verbose"), CORIO_ERR_INVAL);
    corio_log_set_level(CORIO_LOG_WARN);
    assert_int_equal(corio_log_get_level(), CORIO_LOG_WARN);
    assert_false(corio_log_enabled(CORIO_LOG_INFO));
    corio_log(CORIO_LOG_INFO, "dropped");
    corio_logkv(CORIO_LOG_DEBUG, "dropped", "k=%d", 1);
    size_t len;
    char *out = take_output(&len);
    assert_int_equal(len, 0);
    free(out);
    corio_log(CORIO_LOG_ERROR, "kept");
    one_line("level=error comp=test msg=\"kept\"");
    corio_log_set_level(CORIO_LOG_DEBUG);
}

static void long_lines_are_cut_and_marked(void **state)
{
    (void)state;
    size_t n = 3 * CORIO_LOG_LINE_MAX;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (i % 7 == 0) ? '\n' : (char)('a' + i % 26); /* every escape costs 2 bytes */
    big[n] = '\0';
    corio_logkv(CORIO_LOG_INFO, "big", "v=%s after=%d", big, 1);
    size_t len;
    char *out = take_output(&len);
    assert_true(len <= CORIO_LOG_LINE_MAX);
    assert_ptr_equal(strchr(out, '\n'), out + len - 1);
    const char *tail = "\" truncated=true\n";
    assert_int_equal(memcmp(out + len - strlen(tail), tail, strlen(tail)), 0);
    /* the value was cut between escapes, never inside one */
    assert_int_not_equal(out[len - strlen(tail) - 1], '\\');
    free(out);

    /* an unquoted value is cut too */
    memset(big, 'x', n);
    corio_logkv(CORIO_LOG_INFO, "big", "v=%s", big);
    out = take_output(&len);
    assert_true(len <= CORIO_LOG_LINE_MAX);
    assert_non_null(strstr(out, "x truncated=true\n"));
    free(out);
    free(big);
}

static void level_from_config(void **state)
{
    (void)state;
    static const struct corio_conf_key keys[] = {CORIO_LOG_CONF_KEY, {0}};
    struct corio_conf *c;
    char err[256];
    assert_int_equal(corio_conf_new(&c, keys, err, sizeof err), CORIO_OK);
    const char *text = "log_level warn\n";
    assert_int_equal(corio_conf_load_buf(c, "d.conf", text, strlen(text), err, sizeof err),
                     CORIO_OK);
    corio_log_set_level(corio_log_level_parse(corio_conf_str(c, "log_level")));
    assert_int_equal(corio_log_get_level(), CORIO_LOG_WARN);
    corio_conf_free(c);
    corio_log_set_level(CORIO_LOG_DEBUG);

    assert_int_equal(corio_conf_new(&c, keys, err, sizeof err), CORIO_OK);
    text = "log_level trace\n";
    assert_int_equal(corio_conf_load_buf(c, "d.conf", text, strlen(text), err, sizeof err),
                     CORIO_ERR_MALFORMED);
    assert_string_equal(err, "d.conf:1: 'log_level' must be one of debug, info, warn, error; "
                             "got 'trace'");
    corio_conf_free(c);
}

#define THREADS 8
#define LINES   300

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char value[900];
    memset(value, 'a' + id, sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < LINES; i++)
        corio_logkv(CORIO_LOG_INFO, "t", "thread=%d i=%d v=%s end=1", id, i, value);
    return NULL;
}

static void threads_never_interleave(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    size_t len;
    char *out = take_output(&len);
    int count[THREADS] = {0};
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int id, i;
        const char *rest = after_ts(line);
        assert_int_equal(sscanf(rest, "level=info comp=test msg=\"t\" thread=%d i=%d", &id, &i), 2);
        assert_true(id >= 0 && id < THREADS);
        const char *v = strstr(rest, " v=");
        assert_non_null(v);
        for (int k = 0; k < 899; k++)
            assert_int_equal(v[3 + k], 'a' + id);
        assert_string_equal(v + 3 + 899, " end=1");
        count[id]++;
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(count[i], LINES);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(printf_message),
        cmocka_unit_test(key_values),
        cmocka_unit_test(more_conversions),
        cmocka_unit_test(hostile_values_stay_on_one_line),
        cmocka_unit_test(keys_are_sanitised),
        cmocka_unit_test(levels_filter),
        cmocka_unit_test(long_lines_are_cut_and_marked),
        cmocka_unit_test(level_from_config),
        cmocka_unit_test(threads_never_interleave),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
