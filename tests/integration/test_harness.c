/*
 * test_harness.c - the harness's core: processes (start, stop, escalation to
 * SIGKILL, kill, restart, environment, nothing left behind), waiting, our-daemon
 * readiness, HTTP, and how a run's end is judged. For the last, this binary runs
 * itself again as a child ("child-<mode>") that passes, fails, aborts, is killed
 * or misbehaves, and the parent checks what it left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* A shell loop that exits 0 on SIGTERM, as a well-behaved daemon does. */
#define LOOP "trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done"

static struct h_proc *start_sh(const char *name, const char *script)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    return h_proc_start(name, argv, NULL);
}

/* The integer after key in the log of p, or -1. */
static long log_number(struct h_proc *p, const char *key)
{
    char *s = h_read_file(h_proc_log(p), NULL);
    const char *k = s ? strstr(s, key) : NULL;
    return k ? strtol(k + strlen(key), NULL, 10) : -1;
}

/* ------------------------------------------------------------------------- */

static void stop_is_clean_and_leaves_nothing(void **state)
{
    (void)state;
    struct h_proc *p = start_sh("loop", "echo ready; " LOOP);
    assert_non_null(p);
    assert_int_equal(h_proc_wait_log(p, "ready", 5000), CORIO_OK);
    pid_t pid = h_proc_pid(p);
    assert_true(pid > 0);
    assert_true(h_proc_alive(p));
    assert_false(h_pid_gone(pid));

    assert_int_equal(h_proc_stop(p), 0);
    assert_true(h_pid_gone(pid));
    assert_false(h_proc_alive(p));
    assert_int_equal(h_proc_pid(p), 0);
    assert_true(h_proc_log_contains(p, "bye"));
    /* Stopping again reports the same exit. */
    assert_int_equal(h_proc_stop(p), 0);
}

static void stop_escalates_to_sigkill_of_the_group(void **state)
{
    (void)state;
    struct h_proc *p =
        start_sh("stubborn", "trap '' TERM; sleep 1000 & echo child $!; echo ready; wait");
    assert_non_null(p);
    assert_int_equal(h_proc_wait_log(p, "ready", 5000), CORIO_OK);
    pid_t pid = h_proc_pid(p);
    long child = log_number(p, "child ");
    assert_true(child > 0);

    assert_int_equal(h_proc_stop_timeout(p, 300), 128 + SIGKILL);
    assert_true(h_pid_gone(pid));
    bool gone;
    H_POLL(gone, h_pid_gone((pid_t)child), 5000);
    assert_true(gone);
}

static void frozen_process_still_stops(void **state)
{
    (void)state;
    struct h_proc *p = start_sh("frozen", "echo ready; " LOOP);
    assert_non_null(p);
    assert_int_equal(h_proc_wait_log(p, "ready", 5000), CORIO_OK);
    assert_int_equal(h_proc_signal(p, SIGSTOP), CORIO_OK);
    assert_int_equal(h_proc_stop(p), 0);
}

static void kill_then_restart_with_the_same_arguments(void **state)
{
    (void)state;
    struct h_proc *p = start_sh("phoenix", "echo started $$; " LOOP);
    assert_non_null(p);
    assert_int_equal(h_proc_wait_log(p, "started", 5000), CORIO_OK);
    pid_t first = h_proc_pid(p);

    assert_int_equal(h_proc_kill(p), 128 + SIGKILL);
    assert_true(h_pid_gone(first));
    assert_false(h_proc_alive(p));

    assert_int_equal(h_proc_restart(p), CORIO_OK);
    assert_int_equal(h_proc_wait_log(p, "started", 5000), CORIO_OK);
    pid_t second = h_proc_pid(p);
    assert_true(second > 0);
    assert_int_not_equal(second, first);
    char *log = h_read_file(h_proc_log(p), NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, h_strf("started %d", (int)first)));
    assert_non_null(strstr(log, "harness: restart"));
    assert_non_null(strstr(log, h_strf("started %d", (int)second)));

    /* A restart of a running process stops it first. */
    assert_int_equal(h_proc_restart(p), CORIO_OK);
    assert_int_equal(h_proc_wait_log(p, "started", 5000), CORIO_OK);
    assert_true(h_pid_gone(second));
    assert_int_equal(h_proc_stop(p), 0);
}

static void environment_cwd_and_exit_status(void **state)
{
    (void)state;
    setenv("HARNESS_UNSET_ME", "still here", 1);
    const char *env[] = {"HARNESS_A=1", "HARNESS_UNSET_ME", NULL};
    struct h_proc_opts o = {.env = env};
    char *out = NULL;
    const char *argv[] = {"/bin/sh", "-c", "echo A=$HARNESS_A U=${HARNESS_UNSET_ME-unset} D=$(pwd)",
                          NULL};
    assert_int_equal(h_run("env", argv, &o, 5000, &out), 0);
    unsetenv("HARNESS_UNSET_ME");
    assert_non_null(strstr(out, h_strf("A=1 U=unset D=%s", h_dir())));

    const char *seven[] = {"/bin/sh", "-c", "exit 7", NULL};
    assert_int_equal(h_run("seven", seven, NULL, 5000, NULL), 7);
    const char *usr1[] = {"/bin/sh", "-c", "kill -USR1 $$", NULL};
    assert_int_equal(h_run("usr1", usr1, NULL, 5000, NULL), 128 + SIGUSR1);
    const char *missing[] = {"/nonexistent/program", NULL};
    assert_null(h_proc_start("missing", missing, NULL));
}

static void run_kills_at_its_deadline(void **state)
{
    (void)state;
    char *out = NULL;
    const char *argv[] = {"/bin/sh", "-c", "echo pid $$; exec sleep 1000", NULL};
    assert_int_equal(h_run("sleeper", argv, NULL, 300, &out), CORIO_ERR_TIMEOUT);
    const char *k = strstr(out, "pid ");
    assert_non_null(k);
    assert_true(h_pid_gone((pid_t)atoi(k + 4)));
}

static void waits_fail_fast_when_the_process_exits(void **state)
{
    (void)state;
    struct h_proc *p = start_sh("quitter", "echo last words; exit 3");
    assert_non_null(p);
    int port = h_free_port();
    /* A minute of deadline: only failing fast returns CORIO_ERR_CLOSED. */
    assert_int_equal(h_proc_wait_port(p, port, 60000), CORIO_ERR_CLOSED);
    assert_int_equal(h_proc_wait_log(p, "never printed", 60000), CORIO_ERR_CLOSED);
    assert_int_equal(h_proc_wait_log(p, "last words", 60000), CORIO_OK);
    assert_int_equal(h_proc_wait_exit(p, 1000), 3);
    assert_int_equal(h_proc_stop(p), 3);
}

static int counter_calls;
static bool third_call(void *arg)
{
    (void)arg;
    return ++counter_calls >= 3;
}

static void waiting_for_ports_files_and_predicates(void **state)
{
    (void)state;
    int port = h_free_port();
    assert_false(h_port_open(port));
    assert_int_equal(h_wait_port(port, 100), CORIO_ERR_TIMEOUT);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(h_wait_port(port, 1000), CORIO_OK);
    close(fd);

    const char *f = h_strf("%s/file.txt", h_dir());
    assert_int_equal(h_wait_file(f, "x", 50), CORIO_ERR_TIMEOUT);
    assert_int_equal(h_write_file(f, "a\nneedle here\n"), CORIO_OK);
    assert_int_equal(h_wait_file(f, "needle", 1000), CORIO_OK);
    size_t len;
    assert_string_equal(h_read_file(f, &len), "a\nneedle here\n");
    assert_int_equal(len, 14);

    counter_calls = 0;
    assert_int_equal(h_wait_until(third_call, NULL, 5000), CORIO_OK);
    assert_int_equal(counter_calls, 3);
}

static void timeouts_scale_with_the_environment(void **state)
{
    (void)state;
    const char *old = getenv("CORIO_TEST_TIMEOUT_SCALE");
    char *saved = old ? strdup(old) : NULL;
    setenv("CORIO_TEST_TIMEOUT_SCALE", "2.5", 1);
    assert_true(h_timeout_scale() == 2.5);
    assert_int_equal(h_ms(100), 250);
    setenv("CORIO_TEST_TIMEOUT_SCALE", "nonsense", 1);
    assert_true(h_timeout_scale() == (h_sanitized() ? 3.0 : 1.0));
    if (saved)
        setenv("CORIO_TEST_TIMEOUT_SCALE", saved, 1);
    else
        unsetenv("CORIO_TEST_TIMEOUT_SCALE");
    free(saved);
}

static void free_ports_are_distinct_and_bindable(void **state)
{
    (void)state;
    int ports[64];
    for (int i = 0; i < 64; i++) {
        ports[i] = h_free_port();
        assert_true(ports[i] > 0);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(ports[i], ports[j]);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)ports[63]),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    char *t = h_tmpdir("legacy");
    assert_non_null(t);
    struct stat st;
    assert_int_equal(stat(t, &st), 0);
    assert_int_equal(rmdir(t), 0);
    free(t);
}

/* ------------------------------------------------------------------------- */
/* A minimal HTTP server on a thread, for the HTTP client                      */

struct web {
    int fd, port;
    volatile bool stop;
    pthread_t thread;
};

static void web_answer(int c)
{
    char req[8192];
    size_t n = 0;
    char *hdr_end = NULL;
    while (n < sizeof req - 1 && !hdr_end) {
        ssize_t r = recv(c, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = 0;
        hdr_end = strstr(req, "\r\n\r\n");
    }
    if (!hdr_end)
        return;
    size_t body_at = (size_t)(hdr_end + 4 - req);
    const char *cl = strcasestr(req, "Content-Length:");
    size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
    while (n - body_at < want && n < sizeof req - 1) {
        ssize_t r = recv(c, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
    }
    const char *status = "404 Not Found";
    const char *body = "missing";
    size_t blen = strlen(body);
    if (strncmp(req, "GET /ok ", 8) == 0) {
        status = "200 OK";
        body = "hello";
        blen = 5;
    } else if (strncmp(req, "POST /echo ", 11) == 0) {
        status = "200 OK";
        body = req + body_at;
        blen = want;
    }
    char head[256];
    int hl =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status, blen);
    send(c, head, (size_t)hl, MSG_NOSIGNAL);
    send(c, body, blen, MSG_NOSIGNAL);
}

static void *web_main(void *arg)
{
    struct web *w = arg;
    while (!w->stop) {
        struct pollfd pf = {.fd = w->fd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        int c = accept(w->fd, NULL, NULL);
        if (c < 0)
            continue;
        web_answer(c);
        close(c);
    }
    return NULL;
}

static void web_stop(void *arg)
{
    struct web *w = arg;
    w->stop = true;
    pthread_join(w->thread, NULL);
    close(w->fd);
    free(w);
}

static struct web *web_start(void)
{
    struct web *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->port = h_free_port();
    w->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)w->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(w->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(w->fd, 16), 0);
    assert_int_equal(pthread_create(&w->thread, NULL, web_main, w), 0);
    h_defer(web_stop, w);
    return w;
}

static void http_get_post_and_errors(void **state)
{
    (void)state;
    struct web *w = web_start();
    const char *ok = h_strf("http://127.0.0.1:%d/ok", w->port);
    assert_int_equal(h_wait_http_ok(ok, 5000), CORIO_OK);

    struct h_http_resp r;
    assert_int_equal(h_http_get(ok, &r), CORIO_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_int_equal(r.len, 5);

    assert_int_equal(h_http_get(h_strf("http://127.0.0.1:%d/nope", w->port), &r), CORIO_OK);
    assert_int_equal(r.status, 404);
    assert_int_equal(h_wait_http_ok(h_strf("http://127.0.0.1:%d/nope", w->port), 100),
                     CORIO_ERR_TIMEOUT);

    const char body[] = "{\"a\":1}";
    assert_int_equal(h_http_post(h_strf("http://127.0.0.1:%d/echo", w->port), "application/json",
                                 body, sizeof body - 1, &r),
                     CORIO_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, body);

    int closed = h_free_port();
    assert_int_equal(h_http_get(h_strf("http://127.0.0.1:%d/", closed), &r), CORIO_ERR_REFUSED);
    assert_int_equal(r.status, 0);
}

/* ------------------------------------------------------------------------- */
/* Our daemons, played by Mosquitto and nats-server: both take "-c file".       */

static void daemon_start_waits_for_readiness(void **state)
{
    (void)state;
    const char *bin = h_mkdir("bin");
    assert_int_equal(symlink("/usr/sbin/mosquitto", h_strf("%s/corio-fake", bin)), 0);
    assert_int_equal(symlink("/usr/sbin/nats-server", h_strf("%s/corio-fakehttp", bin)), 0);
    const char *old = getenv("CORIO_BIN_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("CORIO_BIN_DIR", bin, 1);

    int port = h_free_port();
    struct h_daemon_opts o = {
        .config = h_strf("%slistener %d 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n",
                         geteuid() == 0 ? "user root\n" : "", port),
        .ready_port = port,
    };
    struct h_proc *d = h_daemon_start("corio-fake", &o);
    assert_non_null(d);
    assert_true(h_port_open(port));

    int http = h_free_port();
    struct h_daemon_opts n = {
        .config = h_strf("listen: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", h_free_port(), http),
        .ready_url = h_strf("http://127.0.0.1:%d/healthz", http),
        .ready_log = "Server is ready",
    };
    struct h_proc *d2 = h_daemon_start("corio-fakehttp", &n);
    assert_non_null(d2);

    /* A daemon that rejects its configuration: NULL at once, not at the deadline. */
    struct h_daemon_opts bad = {
        .config = "no_such_option 1\n", .ready_port = h_free_port(), .timeout_ms = 60000};
    assert_null(h_daemon_start("corio-fake", &bad));

    assert_int_equal(h_proc_stop(d), 0);
    assert_int_equal(h_proc_stop(d2), 1); /* nats-server's clean exit */
    if (saved)
        setenv("CORIO_BIN_DIR", saved, 1);
    else
        unsetenv("CORIO_BIN_DIR");
    free(saved);
}

/* ------------------------------------------------------------------------- */
/* How a run ends: this binary run again as a child in one of these modes.     */

#define GRANDCHILD "trap 'exit 0' TERM; echo grandchild-says-hello; while :; do sleep 0.05; done"

static void announce(pid_t pid)
{
    printf("CHILD pid=%d dir=%s\n", (int)pid, h_dir());
    fflush(stdout);
}

static pid_t start_grandchild(void)
{
    struct h_proc *p = start_sh("grandchild", GRANDCHILD);
    assert_non_null(p);
    assert_int_equal(h_proc_wait_log(p, "grandchild-says-hello", 5000), CORIO_OK);
    announce(h_proc_pid(p));
    return h_proc_pid(p);
}

static void child_pass(void **state)
{
    (void)state;
    start_grandchild();
}

static void child_fail(void **state)
{
    (void)state;
    start_grandchild();
    fail_msg("a deliberate failure");
}

static void child_abort(void **state)
{
    (void)state;
    start_grandchild();
    abort();
}

static void child_sigkill(void **state)
{
    (void)state;
    start_grandchild();
    raise(SIGKILL);
}

static void child_exit(void **state)
{
    (void)state;
    start_grandchild();
    exit(0);
}

static void child_asan(void **state)
{
    (void)state;
    start_grandchild();
    char *block = malloc(8);
    assert_non_null(block);
    volatile size_t past = 8;
    block[past] = 1; /* a heap overflow in the test process itself */
    free(block);
}

static void child_ubsan(void **state)
{
    (void)state;
    start_grandchild();
    volatile int big = 0x7fffffff;
    volatile int one = 1;
    int sum = big + one; /* signed overflow: UBSan stops the process */
    printf("%d\n", sum);
}

static void child_dies(void **state)
{
    (void)state;
    struct h_proc *p = start_sh("dies", "echo grandchild-says-hello; exit 5");
    assert_non_null(p);
    announce(h_proc_pid(p));
    /* Wait for the death without looking through the harness. */
    bool gone;
    H_POLL(gone, h_pid_gone(h_proc_pid(p)), 5000);
    assert_true(gone);
}

static void child_report(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/sh", "-c",
                          "echo grandchild-says-hello; echo '==1==ERROR: AddressSanitizer: fake'",
                          NULL};
    assert_int_equal(h_run("reporter", argv, NULL, 5000, NULL), 0);
    announce(0);
}

static int child_main(const char *mode)
{
    static const struct {
        const char *mode;
        struct CMUnitTest test;
    } modes[] = {
        {"child-pass", H_TEST(child_pass)},     {"child-fail", H_TEST(child_fail)},
        {"child-abort", H_TEST(child_abort)},   {"child-sigkill", H_TEST(child_sigkill)},
        {"child-exit", H_TEST(child_exit)},     {"child-dies", H_TEST(child_dies)},
        {"child-report", H_TEST(child_report)}, {"child-asan", H_TEST(child_asan)},
        {"child-ubsan", H_TEST(child_ubsan)},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(modes[i].mode, mode) == 0) {
            const struct CMUnitTest tests[] = {modes[i].test};
            return h_done(cmocka_run_group_tests_name(mode, tests, NULL, NULL));
        }
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}

struct child_result {
    int status;
    char *out;
    pid_t pid;    /* the grandchild it started */
    char *rundir; /* its run directory */
};

static struct child_result run_child(const char *mode)
{
    struct child_result r = {0};
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = 0;
    const char *env[] = {h_strf("TMPDIR=%s", h_dir()), "CORIO_TEST_KEEP", NULL};
    struct h_proc_opts o = {.env = env};
    const char *argv[] = {self, mode, NULL};
    struct h_proc *p = h_proc_start(mode, argv, &o);
    assert_non_null(p);
    h_proc_expect_failure(p);
    r.status = h_proc_wait_exit(p, 60000);
    r.out = h_read_file(h_proc_log(p), NULL);
    assert_non_null(r.out);
    const char *c = strstr(r.out, "CHILD pid=");
    assert_non_null(c);
    r.pid = (pid_t)atoi(c + 10);
    const char *d = strstr(c, "dir=");
    assert_non_null(d);
    r.rundir = h_strf("%.*s", (int)strcspn(d + 4, "\n"), d + 4);
    r.rundir = dirname(r.rundir);
    return r;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void a_passing_run_removes_its_directory(void **state)
{
    (void)state;
    struct child_result r = run_child("child-pass");
    assert_int_equal(r.status, 0);
    assert_true(h_pid_gone(r.pid));
    assert_false(exists(r.rundir));
    assert_null(strstr(r.out, "grandchild-says-hello"));
}

static void a_failing_run_prints_logs_and_keeps_them(void **state)
{
    (void)state;
    struct child_result r = run_child("child-fail");
    assert_int_not_equal(r.status, 0);
    assert_true(h_pid_gone(r.pid));
    assert_true(exists(r.rundir));
    assert_non_null(strstr(r.out, "the run failed"));
    assert_non_null(strstr(r.out, "grandchild-says-hello"));
    assert_non_null(strstr(r.out, h_strf("kept in %s", r.rundir)));
}

static void an_aborted_run_kills_what_it_started(void **state)
{
    (void)state;
    struct child_result r = run_child("child-abort");
    assert_int_equal(r.status, 128 + SIGABRT);
    assert_true(h_pid_gone(r.pid));
    assert_true(exists(r.rundir));
    assert_non_null(strstr(r.out, "caught signal"));
    assert_non_null(strstr(r.out, "grandchild-says-hello"));
}

static void a_sanitizer_report_in_the_test_kills_what_it_started(void **state)
{
    (void)state;
    if (!h_sanitized())
        skip();
    static const char *const modes[] = {"child-asan", "child-ubsan"};
    static const char *const reports[] = {"heap-buffer-overflow", "runtime error: signed integer"};
    for (int i = 0; i < 2; i++) {
        struct child_result r = run_child(modes[i]);
        assert_int_not_equal(r.status, 0);
        assert_non_null(strstr(r.out, reports[i]));
        assert_non_null(strstr(r.out, "a sanitizer report ended the test process"));
        assert_non_null(strstr(r.out, "grandchild-says-hello"));
        bool gone;
        H_POLL(gone, h_pid_gone(r.pid), 5000);
        assert_true(gone);
        assert_true(exists(r.rundir));
    }
}

static void a_sigkilled_run_is_cleaned_by_the_watchdog(void **state)
{
    (void)state;
    struct child_result r = run_child("child-sigkill");
    assert_int_equal(r.status, 128 + SIGKILL);
    bool gone;
    H_POLL(gone, h_pid_gone(r.pid), 5000);
    assert_true(gone);
}

static void exit_without_h_done_is_a_failure(void **state)
{
    (void)state;
    struct child_result r = run_child("child-exit");
    assert_true(h_pid_gone(r.pid));
    assert_true(exists(r.rundir));
    assert_non_null(strstr(r.out, "without h_done"));
    assert_non_null(strstr(r.out, "grandchild-says-hello"));
}

static void an_unexpected_death_fails_the_test(void **state)
{
    (void)state;
    struct child_result r = run_child("child-dies");
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.out, "died with status 5"));
    assert_true(exists(r.rundir));
}

static void a_sanitizer_report_fails_the_test(void **state)
{
    (void)state;
    struct child_result r = run_child("child-report");
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.out, "a sanitizer report is in"));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return child_main(argv[1]);
    const struct CMUnitTest tests[] = {
        H_TEST(stop_is_clean_and_leaves_nothing),
        H_TEST(stop_escalates_to_sigkill_of_the_group),
        H_TEST(frozen_process_still_stops),
        H_TEST(kill_then_restart_with_the_same_arguments),
        H_TEST(environment_cwd_and_exit_status),
        H_TEST(run_kills_at_its_deadline),
        H_TEST(waits_fail_fast_when_the_process_exits),
        H_TEST(waiting_for_ports_files_and_predicates),
        H_TEST(timeouts_scale_with_the_environment),
        H_TEST(free_ports_are_distinct_and_bindable),
        H_TEST(http_get_post_and_errors),
        H_TEST(daemon_start_waits_for_readiness),
        H_TEST(a_passing_run_removes_its_directory),
        H_TEST(a_failing_run_prints_logs_and_keeps_them),
        H_TEST(an_aborted_run_kills_what_it_started),
        H_TEST(a_sanitizer_report_in_the_test_kills_what_it_started),
        H_TEST(a_sigkilled_run_is_cleaned_by_the_watchdog),
        H_TEST(exit_without_h_done_is_a_failure),
        H_TEST(an_unexpected_death_fails_the_test),
        H_TEST(a_sanitizer_report_fails_the_test),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
