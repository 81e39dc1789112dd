/* test_common_sig.c - SIGTERM and SIGINT wake a poll loop through the eventfd; SIGPIPE is
 * ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <cmocka.h>

#include "corio/error.h"
#include "corio_sig.h"

static int setup(void **state)
{
    (void)state;
    return corio_sig_init() != CORIO_OK;
}

/* Polls the wake-up descriptor as a daemon loop would. */
static int readable_within(int ms)
{
    struct pollfd p = {.fd = corio_sig_fd(), .events = POLLIN};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void sigterm_wakes_the_loop(void **state)
{
    (void)state;
    corio_sig_reset();
    assert_true(corio_sig_fd() >= 0);
    assert_false(corio_sig_stop_requested());
    assert_false(readable_within(0));
    assert_false(corio_sig_wait(0));
    assert_int_equal(raise(SIGTERM), 0); /* the process survives: a handler is installed */
    assert_true(corio_sig_stop_requested());
    assert_int_equal(corio_sig_last(), SIGTERM);
    assert_true(readable_within(5000));
    assert_true(corio_sig_wait(-1));
}

static void sigint_too(void **state)
{
    (void)state;
    corio_sig_reset();
    assert_false(readable_within(0));
    assert_int_equal(raise(SIGINT), 0);
    assert_true(corio_sig_stop_requested());
    assert_int_equal(corio_sig_last(), SIGINT);
    assert_true(readable_within(5000));
}

static void programmatic_stop(void **state)
{
    (void)state;
    corio_sig_reset();
    corio_sig_request_stop();
    assert_true(corio_sig_stop_requested());
    assert_int_equal(corio_sig_last(), 0);
    assert_true(readable_within(5000));
    assert_int_equal(corio_sig_init(), CORIO_OK); /* a second init changes nothing */
    assert_true(readable_within(0));
}

static void sigpipe_is_ignored(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    errno = 0;
    assert_int_equal(write(p[1], "x", 1), -1); /* would kill the process if not ignored */
    assert_int_equal(errno, EPIPE);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigterm_wakes_the_loop),
        cmocka_unit_test(sigint_too),
        cmocka_unit_test(programmatic_stop),
        cmocka_unit_test(sigpipe_is_ignored),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
