/* test_common_conf.c - config files: values of every type, and an error naming file and
 * line for each kind of mistake; the daemon command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/error.h"
#include "corio_cli.h"
#include "corio_conf.h"
#include "harness.h"

static const char *const levels[] = {"debug", "info", "warn", "error", NULL};

static const struct corio_conf_key keys[] = {
    {.name = "listen",
     .type = CORIO_CONF_STRING,
     .flags = CORIO_CONF_REQUIRED,
     .help = "Address and port to listen on."},
    {.name = "port",
     .type = CORIO_CONF_INT,
     .def = "8080",
     .min = 1,
     .max = 65535,
     .help = "TCP port."},
    {.name = "offset", .type = CORIO_CONF_INT, .def = "-5", .help = "Any integer."},
    {.name = "tls", .type = CORIO_CONF_BOOL, .def = "false", .help = "Use TLS."},
    {.name = "flush_interval",
     .type = CORIO_CONF_DURATION,
     .def = "1s",
     .min = 10,
     .max = 86400000,
     .help = "How often to flush."},
    {.name = "max_body", .type = CORIO_CONF_SIZE, .def = "1MiB", .help = "Body cap."},
    {.name = "db", .type = CORIO_CONF_PATH, .def = "corio.db", .help = "Database file."},
    {.name = "peer",
     .type = CORIO_CONF_STRING,
     .flags = CORIO_CONF_LIST,
     .help = "A peer; may repeat."},
    {.name = "log_level",
     .type = CORIO_CONF_STRING,
     .def = "info",
     .choices = levels,
     .help = "Least level logged."},
    {0},
};

static struct corio_conf *conf_new(void)
{
    struct corio_conf *c;
    char err[256];
    assert_int_equal(corio_conf_new(&c, keys, err, sizeof err), CORIO_OK);
    return c;
}

/* Loads text as "corio-gateway.conf"; returns the code and leaves the message in err. */
static int load(const char *text, char *err, size_t errlen)
{
    struct corio_conf *c = conf_new();
    err[0] = '\0';
    int rc = corio_conf_load_buf(c, "corio-gateway.conf", text, strlen(text), err, errlen);
    corio_conf_free(c);
    return rc;
}

static void parses_every_type(void **state)
{
    (void)state;
    const char *text = "# a comment\n"
                       "\n"
                       "   listen   0.0.0.0:1883  \n"
                       "port 1883\r\n"
                       "offset -12\n"
                       "\ttls yes\n"
                       "flush_interval 1h30m\n"
                       "max_body 64 KiB\n"
                       "db data/outbox.db\n"
                       "peer a.example # not a comment\n"
                       "peer b.example\n"
                       "log_level debug\n";
    struct corio_conf *c = conf_new();
    char err[256] = "";
    assert_int_equal(
        corio_conf_load_buf(c, "/etc/corio/gw.conf", text, strlen(text), err, sizeof err),
        CORIO_OK);
    assert_string_equal(corio_conf_str(c, "listen"), "0.0.0.0:1883");
    assert_int_equal(corio_conf_int(c, "port"), 1883);
    assert_int_equal(corio_conf_int(c, "offset"), -12);
    assert_true(corio_conf_bool(c, "tls"));
    assert_int_equal(corio_conf_int(c, "flush_interval"), 5400000);
    assert_int_equal(corio_conf_int(c, "max_body"), 65536);
    assert_string_equal(corio_conf_str(c, "db"), "/etc/corio/data/outbox.db");
    assert_int_equal(corio_conf_count(c, "peer"), 2);
    assert_string_equal(corio_conf_str_at(c, "peer", 0), "a.example # not a comment");
    assert_string_equal(corio_conf_str_at(c, "peer", 1), "b.example");
    assert_null(corio_conf_str_at(c, "peer", 2));
    assert_string_equal(corio_conf_str(c, "log_level"), "debug");
    assert_int_equal(corio_conf_line(c, "port"), 4);
    assert_true(corio_conf_isset(c, "port"));
    assert_string_equal(corio_conf_name(c), "/etc/corio/gw.conf");
    corio_conf_free(c);
}

static void defaults_apply(void **state)
{
    (void)state;
    struct corio_conf *c = conf_new();
    char err[256];
    const char *text = "listen x\n";
    assert_int_equal(corio_conf_load_buf(c, "gw.conf", text, strlen(text), err, sizeof err),
                     CORIO_OK);
    assert_int_equal(corio_conf_int(c, "port"), 8080);
    assert_int_equal(corio_conf_int(c, "offset"), -5);
    assert_false(corio_conf_bool(c, "tls"));
    assert_int_equal(corio_conf_int(c, "flush_interval"), 1000);
    assert_int_equal(corio_conf_int(c, "max_body"), 1 << 20);
    assert_string_equal(corio_conf_str(c, "db"), "corio.db"); /* defaults are not resolved */
    assert_int_equal(corio_conf_count(c, "peer"), 0);
    assert_null(corio_conf_str(c, "peer"));
    assert_false(corio_conf_isset(c, "port"));
    assert_int_equal(corio_conf_line(c, "port"), 0);
    /* a file without a directory leaves relative paths alone; a second load is refused */
    assert_int_equal(corio_conf_load_buf(c, "gw.conf", text, strlen(text), err, sizeof err),
                     CORIO_ERR_STATE);
    corio_conf_free(c);
}

static void units(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *key;
        long long want;
    } cases[] = {
        {"flush_interval 250ms", "flush_interval", 250},
        {"flush_interval 30s", "flush_interval", 30000},
        {"flush_interval 5m", "flush_interval", 300000},
        {"flush_interval 1h", "flush_interval", 3600000},
        {"max_body 512", "max_body", 512},
        {"max_body 512B", "max_body", 512},
        {"max_body 4k", "max_body", 4096},
        {"max_body 4KB", "max_body", 4096},
        {"max_body 16M", "max_body", 16 << 20},
        {"max_body 2GiB", "max_body", 2LL << 30},
        {"port 65535", "port", 65535},
        {"port +1", "port", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128], err[256] = "";
        snprintf(text, sizeof text, "listen x\n%s\n", cases[i].line);
        struct corio_conf *c = conf_new();
        int rc = corio_conf_load_buf(c, "u.conf", text, strlen(text), err, sizeof err);
        if (rc != CORIO_OK)
            fail_msg("%s: %s", cases[i].line, err);
        assert_int_equal(corio_conf_int(c, cases[i].key), cases[i].want);
        corio_conf_free(c);
    }
}

/* Each kind of mistake: the message names the file and the line, and says what. */
static void errors_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"listen x\n\nlisen y\n",
         "corio-gateway.conf:3: unknown key 'lisen' (did you mean 'listen'?)"},
        {"listen x\nfrobnicate 1\n", "corio-gateway.conf:2: unknown key 'frobnicate'"},
        {"listen=x\n",
         "corio-gateway.conf:1: unknown key 'listen=x' (write 'key value', without '=')"},
        {"listen x\nport abc\n", "corio-gateway.conf:2: 'port' wants an integer, got 'abc'"},
        {"listen x\nport 70000\n",
         "corio-gateway.conf:2: 'port' must be between 1 and 65535, got '70000'"},
        {"listen x\nport 0\n", "corio-gateway.conf:2: 'port' must be between 1 and 65535, got '0'"},
        {"listen x\nport 99999999999999999999\n", "corio-gateway.conf:2: 'port' wants an integer"},
        {"listen x\ntls maybe\n", "corio-gateway.conf:2: 'tls' wants true or false, got 'maybe'"},
        {"listen x\nflush_interval 30\n",
         "corio-gateway.conf:2: 'flush_interval' wants a duration"},
        {"listen x\nflush_interval 1.5s\n",
         "corio-gateway.conf:2: 'flush_interval' wants a duration"},
        {"listen x\nflush_interval 1d1ms\n",
         "corio-gateway.conf:2: 'flush_interval' must be between 10ms and 1d, got '1d1ms'"},
        {"listen x\nmax_body 12 parsecs\n", "corio-gateway.conf:2: 'max_body' wants a size"},
        {"listen x\nmax_body 99999999999T\n", "corio-gateway.conf:2: 'max_body' wants a size"},
        {"listen x\nlog_level loud\n",
         "corio-gateway.conf:2: 'log_level' must be one of debug, info, warn, error; got 'loud'"},
        {"listen x\nport 1\nport 2\n",
         "corio-gateway.conf:3: 'port' given twice (first at line 2)"},
        {"listen x\nport\n", "corio-gateway.conf:2: 'port' needs a value"},
        {"listen x\nport   \t \n", "corio-gateway.conf:2: 'port' needs a value"},
        {"listen x\npeer a\x1b[2Jb\n",
         "corio-gateway.conf:2: control character 0x1b in the value of 'peer'"},
        {"listen x\npeer a\rb\n",
         "corio-gateway.conf:2: control character 0x0d in the value of 'peer'"},
        {"# only comments\n", "corio-gateway.conf: missing required key 'listen'"},
        {"", "corio-gateway.conf: missing required key 'listen'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        assert_int_equal(load(cases[i].text, err, sizeof err), CORIO_ERR_MALFORMED);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
        assert_null(strchr(err, '\n'));
    }
}

static void hostile_bytes_are_refused_with_line(void **state)
{
    (void)state;
    char err[512];
    /* a NUL byte inside a line */
    static const char nul[] = "listen x\nport 1\0 2\n";
    struct corio_conf *c = conf_new();
    assert_int_equal(corio_conf_load_buf(c, "n.conf", nul, sizeof nul - 1, err, sizeof err),
                     CORIO_ERR_MALFORMED);
    assert_string_equal(err, "n.conf:2: NUL byte in line");
    corio_conf_free(c);

    /* an over-long line */
    size_t n = CORIO_CONF_LINE_MAX + 20;
    char *text = malloc(n + 16);
    strcpy(text, "listen x\npeer ");
    memset(text + 14, 'a', n);
    text[14 + n] = '\0';
    c = conf_new();
    assert_int_equal(corio_conf_load_buf(c, "l.conf", text, strlen(text), err, sizeof err),
                     CORIO_ERR_MALFORMED);
    assert_string_equal(err, "l.conf:2: line longer than 4096 bytes");
    corio_conf_free(c);
    free(text);

    /* an unknown key full of escape sequences is shown tamed, and cut */
    assert_int_equal(load("\x1b]0;pwned\x07zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz 1\n",
                          err, sizeof err),
                     CORIO_ERR_MALFORMED);
    assert_string_equal(err, "corio-gateway.conf:1: unknown key '?]0;pwned?zzzzzzzzzzzzzzzzzzzz"
                             "zzzzzzzzzz...'");

    /* a byte order mark is skipped; CRLF line ends are fine */
    assert_int_equal(load("\xef\xbb\xbflisten x\r\nport 2\r\n", err, sizeof err), CORIO_OK);
}

static void failed_load_keeps_defaults_only(void **state)
{
    (void)state;
    struct corio_conf *c = conf_new();
    char err[256];
    const char *text = "listen x\nport 9\npeer a\nbogus 1\n";
    assert_int_equal(corio_conf_load_buf(c, "f.conf", text, strlen(text), err, sizeof err),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_conf_int(c, "port"), 8080);
    assert_null(corio_conf_str(c, "listen"));
    assert_int_equal(corio_conf_count(c, "peer"), 0);
    corio_conf_free(c);
}

static void bad_schemas_are_refused(void **state)
{
    (void)state;
    static const struct corio_conf_key bad_default[] = {
        {.name = "port", .type = CORIO_CONF_INT, .def = "eighty", .help = ""}, {0}};
    static const struct corio_conf_key out_of_range[] = {
        {.name = "port", .type = CORIO_CONF_INT, .def = "0", .min = 1, .max = 9}, {0}};
    static const struct corio_conf_key bad_name[] = {{.name = "Port", .type = CORIO_CONF_INT}, {0}};
    static const struct corio_conf_key twice[] = {
        {.name = "a", .type = CORIO_CONF_INT}, {.name = "a", .type = CORIO_CONF_BOOL}, {0}};
    static const struct corio_conf_key required_default[] = {
        {.name = "a", .type = CORIO_CONF_INT, .def = "1", .flags = CORIO_CONF_REQUIRED}, {0}};
    static const struct corio_conf_key choices_int[] = {
        {.name = "a", .type = CORIO_CONF_INT, .choices = levels}, {0}};
    const struct corio_conf_key *schemas[] = {bad_default, out_of_range,     bad_name,
                                              twice,       required_default, choices_int};
    const char *want[] = {"schema: default of 'port': 'port' wants an integer",
                          "schema: default of 'port': 'port' must be between 1 and 9",
                          "schema: bad key name 'Port'",
                          "schema: 'a' declared twice",
                          "schema: 'a' is required and has a default",
                          "schema: 'a' has choices but is not a string"};
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        struct corio_conf *c = (struct corio_conf *)1;
        char err[256] = "";
        assert_int_equal(corio_conf_new(&c, schemas[i], err, sizeof err), CORIO_ERR_INVAL);
        assert_null(c);
        if (strncmp(err, want[i], strlen(want[i])) != 0)
            fail_msg("schema %zu: got \"%s\"", i, err);
    }
}

static void load_file_names_the_path(void **state)
{
    (void)state;
    char *dir = h_tmpdir("conf");
    assert_non_null(dir);
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/gw.conf", dir);
    struct corio_conf *c = conf_new();
    assert_int_equal(corio_conf_load_file(c, path, err, sizeof err), CORIO_ERR_IO);
    assert_non_null(strstr(err, "gw.conf: No such file or directory"));
    corio_conf_free(c);

    FILE *f = fopen(path, "w");
    fputs("listen :1\ndb ../state.db\nport nope\n", f);
    fclose(f);
    c = conf_new();
    assert_int_equal(corio_conf_load_file(c, path, err, sizeof err), CORIO_ERR_MALFORMED);
    char want[600];
    snprintf(want, sizeof want, "%s:3: 'port' wants an integer, got 'nope'", path);
    assert_string_equal(err, want);
    corio_conf_free(c);

    f = fopen(path, "w");
    fputs("listen :1\ndb ../state.db\n", f);
    fclose(f);
    c = conf_new();
    assert_int_equal(corio_conf_load_file(c, path, err, sizeof err), CORIO_OK);
    snprintf(want, sizeof want, "%s/../state.db", dir);
    assert_string_equal(corio_conf_str(c, "db"), want);
    corio_conf_free(c);
    remove(path);
    remove(dir);
    free(dir);
}

/* Runs corio_cli_start with the given arguments, capturing what it prints. */
static int run_cli(const char *default_conf, char **out, char **err, int argc, char **argv,
                   struct corio_conf **conf)
{
    size_t ol, el;
    FILE *fo = open_memstream(out, &ol), *fe = open_memstream(err, &el);
    struct corio_cli cli = {.prog = "corio-test",
                            .version = "1.2.3",
                            .summary = "A test daemon.",
                            .default_conf = default_conf,
                            .keys = keys,
                            .out = fo,
                            .err = fe};
    int rc = corio_cli_start(&cli, argc, argv, conf);
    fclose(fo);
    fclose(fe);
    return rc;
}

static void cli_help_version_and_errors(void **state)
{
    (void)state;
    char *out, *err;
    struct corio_conf *conf;

    char *help[] = {"corio-test", "--help"};
    assert_int_equal(run_cli(NULL, &out, &err, 2, help, &conf), 0);
    assert_null(conf);
    assert_non_null(strstr(out, "Usage: corio-test [-c FILE]"));
    assert_non_null(strstr(out, "A test daemon."));
    assert_non_null(strstr(out, "  port <integer> 1..65535, default 8080\n      TCP port.\n"));
    assert_non_null(strstr(out, "  listen <string>, required\n"));
    assert_non_null(strstr(out, "  peer <string>, may repeat\n"));
    assert_non_null(strstr(out, "  flush_interval <duration> 10ms..1d, default 1s\n"));
    assert_non_null(strstr(out, "  log_level <string> one of debug, info, warn, error"));
    free(out);
    free(err);

    char *version[] = {"corio-test", "-V"};
    assert_int_equal(run_cli(NULL, &out, &err, 2, version, &conf), 0);
    assert_string_equal(out, "corio-test 1.2.3\n");
    free(out);
    free(err);

    char *unknown[] = {"corio-test", "--frob"};
    assert_int_equal(run_cli(NULL, &out, &err, 2, unknown, &conf), 2);
    assert_non_null(strstr(err, "corio-test: unknown argument '--frob'"));
    free(out);
    free(err);

    char *missing[] = {"corio-test", "-c"};
    assert_int_equal(run_cli(NULL, &out, &err, 2, missing, &conf), 2);
    assert_non_null(strstr(err, "-c needs a file name"));
    free(out);
    free(err);

    /* no -c and no default file: defaults only, and listen is required */
    char *bare[] = {"corio-test"};
    assert_int_equal(run_cli(NULL, &out, &err, 1, bare, &conf), 1);
    assert_string_equal(err, "corio-test: (defaults): missing required key 'listen'\n");
    free(out);
    free(err);
}

static void cli_loads_the_file(void **state)
{
    (void)state;
    char *dir = h_tmpdir("cli");
    char path[512], arg[600];
    snprintf(path, sizeof path, "%s/t.conf", dir);
    FILE *f = fopen(path, "w");
    fputs("listen 127.0.0.1:1\nport 99\n", f);
    fclose(f);
    char *out, *err;
    struct corio_conf *conf;

    char *argv1[] = {"corio-test", "-c", path};
    assert_int_equal(run_cli(NULL, &out, &err, 3, argv1, &conf), CORIO_CLI_RUN);
    assert_int_equal(corio_conf_int(conf, "port"), 99);
    corio_conf_free(conf);
    free(out);
    free(err);

    snprintf(arg, sizeof arg, "--config=%s", path);
    char *argv2[] = {"corio-test", arg};
    assert_int_equal(run_cli(NULL, &out, &err, 2, argv2, &conf), CORIO_CLI_RUN);
    corio_conf_free(conf);
    free(out);
    free(err);

    char *argv3[] = {"corio-test"}; /* the default file */
    assert_int_equal(run_cli(path, &out, &err, 1, argv3, &conf), CORIO_CLI_RUN);
    assert_string_equal(corio_conf_str(conf, "listen"), "127.0.0.1:1");
    corio_conf_free(conf);
    free(out);
    free(err);

    f = fopen(path, "w");
    fputs("listen 127.0.0.1:1\nlisten_port 99\n", f);
    fclose(f);
    assert_int_equal(run_cli(NULL, &out, &err, 3, argv1, &conf), 1);
    char want[700];
    /* 'listen_port' is 5 edits from 'listen': too far for a suggestion */
    snprintf(want, sizeof want, "corio-test: %s:2: unknown key 'listen_port'\n", path);
    assert_string_equal(err, want);
    assert_null(conf);
    free(out);
    free(err);
    remove(path);
    remove(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_every_type),
        cmocka_unit_test(defaults_apply),
        cmocka_unit_test(units),
        cmocka_unit_test(errors_name_file_and_line),
        cmocka_unit_test(hostile_bytes_are_refused_with_line),
        cmocka_unit_test(failed_load_keeps_defaults_only),
        cmocka_unit_test(bad_schemas_are_refused),
        cmocka_unit_test(load_file_names_the_path),
        cmocka_unit_test(cli_help_version_and_errors),
        cmocka_unit_test(cli_loads_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
