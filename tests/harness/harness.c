/*
 * harness.c - the harness's core (harness.h): the run and test scopes and their
 * directories, deciding and reporting failure, the crash handlers and the watchdog
 * that stop started processes however the test ends, free ports, time and polling.
 *
 * What the crash paths touch (g_logs, g_live) lives in fixed arrays so a signal
 * handler can read it without allocating: it only calls kill, open, read, write.
 */
#include "harness_int.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- scopes ---- */

struct cleanup {
    void (*fn)(void *);
    void *arg;
    struct cleanup *next;
};

struct scope {
    char name[64];
    char dir[512];
    struct cleanup *top;
    bool failed;
};

static struct scope g_run = {.name = "run"};
static struct scope g_test;
static struct scope *g_cur = &g_run;
static bool g_inited;
static bool g_done_called;
static bool g_any_test_failed;
static bool g_keep;
static int g_log_lines = 60;
static unsigned g_test_count;

/* ---- what the crash paths read ---- */

#define H_MAX_LOGS 512
#define H_MAX_LIVE 256

static struct {
    char label[128];
    char path[512];
} g_logs[H_MAX_LOGS];
static volatile sig_atomic_t g_nlogs;

static struct {
    volatile pid_t pid;
    volatile int sig;
} g_live[H_MAX_LIVE];

static volatile sig_atomic_t g_emergency;

/* ---- the watchdog ---- */

enum { WD_ADD = 1, WD_DEL = 2, WD_DONE = 3 };
struct wd_msg {
    int32_t op, pid, sig;
};
static int g_wd_fd = -1;
static pid_t g_wd_pid;

/* ------------------------------------------------------------------------- */

void h__msg(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "harness: %s\n", buf);
    fflush(stderr);
}

static void oom(void)
{
    static const char m[] = "harness: out of memory\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
    abort();
}

void *h__xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *h__xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        oom();
    return q;
}

char *h__xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        oom();
    return d;
}

char *h__xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        oom();
    return s;
}

char *h__xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = h__xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

static void defer_in(struct scope *s, void (*fn)(void *), void *arg)
{
    struct cleanup *c = h__xcalloc(1, sizeof *c);
    c->fn = fn;
    c->arg = arg;
    c->next = s->top;
    s->top = c;
}

void h_defer(void (*fn)(void *), void *arg)
{
    h__init();
    defer_in(g_cur, fn, arg);
}

void h__defer_run(void (*fn)(void *), void *arg)
{
    h__init();
    defer_in(&g_run, fn, arg);
}

void *h__scoped(void *p)
{
    h_defer(free, p);
    return p;
}

char *h__sstrdup(const char *s)
{
    return h__scoped(h__xstrdup(s));
}

char *h_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = h__xvasprintf(fmt, ap);
    va_end(ap);
    return h__scoped(s);
}

const char *h__scope_name(void)
{
    return g_cur->name;
}

void h_fail(const char *fmt, ...)
{
    h__init();
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "harness: FAIL [%s]: %s\n", g_cur->name, buf);
    fflush(stderr);
    g_cur->failed = true;
}

/* Runs a scope's deferred work, newest first, with that scope current so that
 * h_fail() inside a cleanup marks it. */
static void end_scope(struct scope *s)
{
    struct scope *prev = g_cur;
    g_cur = s;
    while (s->top) {
        struct cleanup *c = s->top;
        s->top = c->next;
        c->fn(c->arg);
        free(c);
    }
    g_cur = prev == s ? &g_run : prev;
}

/* ------------------------------------------------------------------------- */
/* Registries read by the crash paths                                         */

void h__log_register(const char *label, const char *path)
{
    int i = g_nlogs;
    for (int j = 0; j < i; j++)
        if (strcmp(g_logs[j].path, path) == 0)
            return;
    if (i >= H_MAX_LOGS) {
        h__msg("too many logs; %s is not in the failure report", path);
        return;
    }
    snprintf(g_logs[i].label, sizeof g_logs[i].label, "%s", label);
    snprintf(g_logs[i].path, sizeof g_logs[i].path, "%s", path);
    g_nlogs = i + 1;
}

static void wd_send(int op, pid_t pid, int sig)
{
    if (g_wd_fd < 0)
        return;
    struct wd_msg m = {op, pid, sig};
    ssize_t r;
    do
        r = write(g_wd_fd, &m, sizeof m);
    while (r < 0 && errno == EINTR);
}

void h__live_add(pid_t pid, int sig)
{
    for (int i = 0; i < H_MAX_LIVE; i++) {
        if (g_live[i].pid == 0) {
            g_live[i].sig = sig;
            g_live[i].pid = pid;
            wd_send(WD_ADD, pid, sig);
            return;
        }
    }
    h__msg("more than %d live processes; pid %d is not guarded", H_MAX_LIVE, (int)pid);
}

void h__live_del(pid_t pid)
{
    for (int i = 0; i < H_MAX_LIVE; i++) {
        if (g_live[i].pid == pid) {
            g_live[i].pid = 0;
            wd_send(WD_DEL, pid, 0);
            return;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Async-signal-safe reporting                                               */

static void put(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_int(long v)
{
    char b[24];
    int i = (int)sizeof b - 1;
    bool neg = v < 0;
    unsigned long u = neg ? (unsigned long)-v : (unsigned long)v;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u && i > 1);
    if (neg)
        b[--i] = '-';
    put(b + i);
}

/* The last `lines` lines (at most 16 KiB) of path to stderr. */
static void tail_file(const char *path, int lines)
{
    static char buf[16384];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        put("(no log)\n");
        return;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    off_t start = size > (off_t)sizeof buf ? size - (off_t)sizeof buf : 0;
    size_t n = 0;
    if (size > 0 && lseek(fd, start, SEEK_SET) == start) {
        while (n < sizeof buf) {
            ssize_t r = read(fd, buf + n, sizeof buf - n);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
    }
    close(fd);
    if (n == 0) {
        put("(empty)\n");
        return;
    }
    size_t pos = n;
    int seen = 0;
    if (buf[pos - 1] == '\n')
        pos--;
    while (pos > 0) {
        if (buf[pos - 1] == '\n' && ++seen >= lines)
            break;
        pos--;
    }
    if (pos > 0 || start > 0)
        put("[...]\n");
    ssize_t w = write(2, buf + pos, n - pos);
    (void)w;
    if (buf[n - 1] != '\n')
        put("\n");
}

void h__tail_to_stderr(const char *path, int lines)
{
    fflush(stderr);
    tail_file(path, lines);
}

static void report_logs(void)
{
    int n = g_nlogs;
    for (int i = 0; i < n; i++) {
        put("harness: ----- ");
        put(g_logs[i].label);
        put(" (");
        put(g_logs[i].path);
        put("), last lines -----\n");
        tail_file(g_logs[i].path, g_log_lines);
    }
    put("harness: ----- end of logs; kept in ");
    put(g_run.dir);
    put(" -----\n");
}

static void kill_live(void)
{
    for (int i = 0; i < H_MAX_LIVE; i++) {
        pid_t pid = g_live[i].pid;
        if (pid <= 0)
            continue;
        if (g_live[i].sig == SIGKILL) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        } else {
            kill(pid, g_live[i].sig);
        }
    }
}

/* The last act of a dying test process: stop what it started, show the logs. */
static void emergency(const char *why, int sig)
{
    if (g_emergency)
        return;
    g_emergency = 1;
    put("harness: ");
    put(why);
    if (sig) {
        put(" ");
        put_int(sig);
    }
    put(": stopping every started process (pid ");
    put_int(getpid());
    put(")\n");
    kill_live();
    report_logs();
}

static void on_fatal_signal(int sig)
{
    emergency("the test process caught signal", sig);
    /* SA_RESETHAND restored the default action; SA_NODEFER lets it act now. */
    raise(sig);
}

static void on_sanitizer_death(void)
{
    emergency("a sanitizer report ended the test process", 0);
}

static void on_exit_without_done(void)
{
    if (g_done_called || g_emergency || !g_inited)
        return;
    h__msg("the test process exits without h_done(): counted as a failure");
    g_any_test_failed = true;
    h_done(1);
}

/* Sanitizer runtimes end a process through their Die(), which skips atexit and
 * may skip signals; each runtime loaded here gets our death callback. */
static void install_sanitizer_callback(bool *found)
{
    static const char *const libs[] = {"libasan.so.8", "libasan.so.6", "libubsan.so.1", NULL};
    typedef void (*setcb_fn)(void (*)(void));
    *found = false;
    setcb_fn f = (setcb_fn)dlsym(RTLD_DEFAULT, "__sanitizer_set_death_callback");
    if (f) {
        f(on_sanitizer_death);
        *found = true;
    }
    for (int i = 0; libs[i]; i++) {
        void *h = dlopen(libs[i], RTLD_NOW | RTLD_NOLOAD);
        if (!h)
            continue;
        setcb_fn g = (setcb_fn)dlsym(h, "__sanitizer_set_death_callback");
        if (g && g != f) {
            g(on_sanitizer_death);
            *found = true;
        }
        dlclose(h);
    }
}

static void install_handlers(void)
{
    bool sanitizer = false;
    install_sanitizer_callback(&sanitizer);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    static const int always[] = {SIGABRT, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        sigaction(always[i], &sa, NULL);
    /* With a sanitizer runtime, faults are its to report; it then calls us. */
    if (!sanitizer) {
        static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
            sigaction(faults[i], &sa, NULL);
    }
    atexit(on_exit_without_done);
}

/* A child that outlives a SIGKILLed test process: it learns every started PID
 * through a pipe and, when the pipe closes without WD_DONE, kills them all. It
 * only uses async-signal-safe calls because it is forked from a process that may
 * have threads. */
static void watchdog_main(int rfd)
{
    static struct {
        pid_t pid;
        int sig;
    } t[1024];
    bool done = false;
    struct wd_msg m;
    for (;;) {
        ssize_t r = read(rfd, &m, sizeof m);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof m)
            break;
        if (m.op == WD_ADD) {
            for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
                if (t[i].pid == 0) {
                    t[i].pid = m.pid;
                    t[i].sig = m.sig;
                    break;
                }
        } else if (m.op == WD_DEL) {
            for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
                if (t[i].pid == m.pid)
                    t[i].pid = 0;
        } else if (m.op == WD_DONE) {
            done = true;
        }
    }
    if (!done) {
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            if (t[i].pid <= 0)
                continue;
            if (t[i].sig == SIGKILL) {
                kill(-t[i].pid, SIGKILL);
                kill(t[i].pid, SIGKILL);
            } else {
                kill(t[i].pid, t[i].sig);
            }
        }
    }
    _exit(0);
}

static void start_watchdog(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        h__msg("no watchdog: pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        h__msg("no watchdog: fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            sigaction(sigs[i], &ign, NULL);
        /* Keep nothing of the test's open: a listening socket held here would
         * stay open after the test closed it. */
        int rfd = dup2(p[0], 3) == 3 ? 3 : p[0];
        close_range((unsigned)rfd + 1, ~0U, 0);
        watchdog_main(rfd);
    }
    close(p[0]);
    g_wd_fd = p[1];
    g_wd_pid = pid;
}

/* ------------------------------------------------------------------------- */
/* Initialisation and directories                                            */

bool h__is_root(void)
{
    return geteuid() == 0;
}

static void mkdir_in(struct scope *s, const char *parent, const char *name)
{
    for (int i = 1;; i++) {
        if (i == 1)
            snprintf(s->dir, sizeof s->dir, "%s/%s", parent, name);
        else
            snprintf(s->dir, sizeof s->dir, "%s/%s-%d", parent, name, i);
        if (mkdir(s->dir, 0755) == 0)
            return;
        if (errno != EEXIST || i > 1000) {
            h__msg("cannot create %s: %s", s->dir, strerror(errno));
            abort();
        }
    }
}

void h__init(void)
{
    if (g_inited)
        return;
    g_inited = true;

    const char *keep = getenv("CORIO_TEST_KEEP");
    g_keep = keep && *keep && strcmp(keep, "0") != 0;
    const char *lines = getenv("CORIO_TEST_LOG_LINES");
    if (lines && atoi(lines) > 0)
        g_log_lines = atoi(lines);

    const char *base = getenv("TMPDIR");
    snprintf(g_run.dir, sizeof g_run.dir, "%s/corio-%.40s-XXXXXX", base && *base ? base : "/tmp",
             program_invocation_short_name);
    if (!mkdtemp(g_run.dir)) {
        h__msg("cannot create the run directory %s: %s", g_run.dir, strerror(errno));
        abort();
    }
    /* PostgreSQL runs as another user when we are root; it must pass through. */
    chmod(g_run.dir, 0711);

    /* Daemons that detach (pg_ctl's postmaster) are re-parented to us, so we can
     * reap them and see them gone; the init of a container may never reap. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    /* A write to a closed socket must be an EPIPE error in tests, not death; the
     * mask is inherited by threads created later and reset in started programs. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);

    start_watchdog();
    install_handlers();
}

const char *h_dir(void)
{
    h__init();
    return g_cur->dir;
}

const char *h_mkdir(const char *name)
{
    h__init();
    struct scope tmp;
    mkdir_in(&tmp, g_cur->dir, name);
    return h__sstrdup(tmp.dir);
}

int h_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f) {
        h__msg("cannot write %s: %s", path, strerror(errno));
        return CORIO_ERR_IO;
    }
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        h__msg("cannot write %s", path);
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

char *h__read_from(const char *path, off_t offset, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (offset > 0 && lseek(fd, offset, SEEK_SET) != offset) {
        close(fd);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = h__xcalloc(1, cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = h__xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

char *h_read_file(const char *path, size_t *len)
{
    char *s = h__read_from(path, 0, len);
    return s ? h__scoped(s) : NULL;
}

off_t h__file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

bool h__contains(const char *haystack, size_t len, const char *needle)
{
    return memmem(haystack, len, needle, strlen(needle)) != NULL;
}

const char *h_bin(const char *name)
{
    const char *d = getenv("CORIO_BIN_DIR");
    return h_strf("%s/%s", d && *d ? d : "bin", name);
}

const char *h_lib(const char *name)
{
    const char *d = getenv("CORIO_LIB_DIR");
    return h_strf("%s/%s", d && *d ? d : "lib", name);
}

/* ------------------------------------------------------------------------- */
/* Tests and the end of the run                                               */

int h_test_setup(void **state)
{
    h__init();
    if (g_cur == &g_test)
        end_scope(&g_test);
    const char *name = state && *state ? (const char *)*state : NULL;
    char clean[48];
    size_t n = 0;
    g_test_count++;
    if (name) {
        for (; name[n] && n < sizeof clean - 1; n++) {
            char c = name[n];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
            clean[n] = ok ? c : '_';
        }
    }
    clean[n] = 0;
    if (n == 0)
        snprintf(clean, sizeof clean, "test%u", g_test_count);
    memset(&g_test, 0, sizeof g_test);
    snprintf(g_test.name, sizeof g_test.name, "%s", clean);
    mkdir_in(&g_test, g_run.dir, clean);
    g_cur = &g_test;
    return 0;
}

int h_test_teardown(void **state)
{
    (void)state;
    if (g_cur != &g_test)
        return 0;
    end_scope(&g_test);
    g_cur = &g_run;
    if (g_test.failed) {
        g_any_test_failed = true;
        return -1;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        h__msg("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int h_done(int failures)
{
    h__init();
    if (g_done_called)
        return failures;
    if (g_cur == &g_test) {
        end_scope(&g_test);
        if (g_test.failed)
            g_any_test_failed = true;
    }
    g_cur = &g_run;
    end_scope(&g_run);
    g_done_called = true;

    int total = failures + (g_run.failed ? 1 : 0);
    if (total == 0 && g_any_test_failed)
        total = 1;
    if (total == 0) {
        if (g_keep)
            h__msg("the run passed; CORIO_TEST_KEEP keeps %s", g_run.dir);
        else
            nftw(g_run.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        fflush(stdout);
        fflush(stderr);
        put("harness: ===== the run failed; the logs of every started process follow =====\n");
        report_logs();
    }

    /* Descendants re-parented to us (we are a subreaper) and already dead. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (g_wd_fd >= 0) {
        wd_send(WD_DONE, 0, 0);
        close(g_wd_fd);
        g_wd_fd = -1;
        waitpid(g_wd_pid, NULL, 0);
    }
    return total;
}

/* ------------------------------------------------------------------------- */
/* Ports                                                                      */

static int g_ports[4096];
static int g_nports;

bool h__port_seen(int port)
{
    for (int i = 0; i < g_nports; i++)
        if (g_ports[i] == port)
            return true;
    return false;
}

void h__port_claim(int port)
{
    if (!h__port_seen(port) && g_nports < (int)(sizeof g_ports / sizeof g_ports[0]))
        g_ports[g_nports++] = port;
}

static int kernel_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int h_free_port(void)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        int port = kernel_port();
        if (port < 0)
            return -1;
        if (h__port_seen(port))
            continue;
        h__port_claim(port);
        return port;
    }
    return -1;
}

char *h_tmpdir(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/corio-%s-XXXXXX", base && *base ? base : "/tmp", prefix);
    if (!mkdtemp(path))
        return NULL;
    return strdup(path);
}

/* ------------------------------------------------------------------------- */
/* Time                                                                       */

double h_timeout_scale(void)
{
    const char *s = getenv("CORIO_TEST_TIMEOUT_SCALE");
    if (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (*end == 0 && v > 0 && v < 1000)
            return v;
    }
    return h_sanitized() ? 3.0 : 1.0;
}

int h_ms(int base_ms)
{
    double v = base_ms * h_timeout_scale();
    return v > INT_MAX ? INT_MAX : (int)v;
}

int64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_poll_init(struct h_poll *p, int timeout_ms)
{
    p->deadline_ms = h_now_ms() + h_ms(timeout_ms);
    p->interval_ms = 2;
}

bool h_poll_next(struct h_poll *p)
{
    int64_t now = h_now_ms();
    if (now >= p->deadline_ms)
        return false;
    int64_t left = p->deadline_ms - now;
    int ms = p->interval_ms < left ? p->interval_ms : (int)left;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    if (p->interval_ms < 50)
        p->interval_ms *= 2;
    return true;
}

int h_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms)
{
    bool ok;
    H_POLL(ok, pred(arg), timeout_ms);
    return ok ? CORIO_OK : CORIO_ERR_TIMEOUT;
}

bool h_sanitized(void)
{
    const char *s = getenv("CORIO_SANITIZE");
    return s && (strcmp(s, "1") == 0 || strcasecmp(s, "on") == 0 || strcasecmp(s, "true") == 0);
}

/* ------------------------------------------------------------------------- */
/* Environments                                                               */

static size_t strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **h__strv_dup(const char *const *v)
{
    size_t n = strv_len(v);
    char **d = h__xcalloc(n + 1, sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = h__xstrdup(v[i]);
    return d;
}

void h__strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void env_apply(char ***envp, size_t *n, const char *change)
{
    const char *eq = strchr(change, '=');
    size_t klen = eq ? (size_t)(eq - change) : strlen(change);
    for (size_t i = 0; i < *n; i++) {
        if (strncmp((*envp)[i], change, klen) == 0 && (*envp)[i][klen] == '=') {
            free((*envp)[i]);
            (*envp)[i] = (*envp)[*n - 1];
            (*envp)[*n - 1] = NULL;
            (*n)--;
            break;
        }
    }
    if (eq) {
        *envp = h__xrealloc(*envp, (*n + 2) * sizeof **envp);
        (*envp)[(*n)++] = h__xstrdup(change);
        (*envp)[*n] = NULL;
    }
}

char **h__env_build(const char *const *changes1, const char *const *changes2)
{
    char **envp = h__strv_dup((const char *const *)environ);
    size_t n = strv_len((const char *const *)envp);
    for (size_t i = 0; changes1 && changes1[i]; i++)
        env_apply(&envp, &n, changes1[i]);
    for (size_t i = 0; changes2 && changes2[i]; i++)
        env_apply(&envp, &n, changes2[i]);
    return envp;
}

int h__decode_status(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return CORIO_ERR_STATE;
}
