/*
 * proc.c - starting, watching, stopping and restarting programs for tests
 * (harness.h, "Processes"), and our own daemons on top of that.
 *
 * Every program runs in a process group of its own so that stopping it also
 * stops whatever it started; every exit is reaped; the scope's cleanup judges
 * how each process ended.
 */
#include "harness_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct h_proc {
    char *name;
    char *log;
    char **argv;
    char **envp;
    char *cwd;
    int stop_signal;
    int clean_status;
    pid_t pid;       /* 0 when not running */
    int status;      /* of the latest exit; -1 before any */
    off_t log_start; /* log size at the latest (re)start */
    bool seen;       /* the latest exit was observed by the test or the harness */
    bool expect_failure;
    bool is_run; /* started by h_run: its status is the caller's business */
};

static const char *const sanitizer_reports[] = {
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    ": runtime error: ",
    "WARNING: ThreadSanitizer",
    NULL,
};

/* A log path in dir not used yet in this run: name.log, name-2.log, ... */
static char *unique_log(const char *dir, const char *name)
{
    for (int i = 1;; i++) {
        char *p = i == 1 ? h__xasprintf("%s/%s.log", dir, name)
                         : h__xasprintf("%s/%s-%d.log", dir, name, i);
        struct stat st;
        if (stat(p, &st) != 0)
            return p;
        free(p);
    }
}

static bool reap(struct h_proc *p, bool block)
{
    if (p->pid == 0)
        return true;
    int ws;
    pid_t r;
    do
        r = waitpid(p->pid, &ws, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        p->status = h__decode_status(ws);
        h__live_del(p->pid);
        /* Whatever it started dies with it: nothing is left behind. */
        kill(-p->pid, SIGKILL);
        p->pid = 0;
        return true;
    }
    if (r < 0) {
        h__msg("%s: waitpid(%d): %s", p->name, (int)p->pid, strerror(errno));
        h__live_del(p->pid);
        p->pid = 0;
        p->status = CORIO_ERR_STATE;
        return true;
    }
    return false;
}

static int spawn(struct h_proc *p)
{
    int logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        h__msg("%s: cannot open %s: %s", p->name, p->log, strerror(errno));
        return CORIO_ERR_IO;
    }
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int ep[2];
    if (nullfd < 0 || pipe2(ep, O_CLOEXEC) != 0) {
        h__msg("%s: %s", p->name, strerror(errno));
        close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return CORIO_ERR_IO;
    }
    p->log_start = lseek(logfd, 0, SEEK_END);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        h__msg("%s: fork: %s", p->name, strerror(errno));
        close(logfd);
        close(nullfd);
        close(ep[0]);
        close(ep[1]);
        return CORIO_ERR_IO;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until exec: the test may have threads. */
        setpgid(0, 0);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP)
                sigaction(s, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int err = 0;
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            err = errno;
        if (!err && p->cwd && chdir(p->cwd) != 0)
            err = errno;
        if (!err) {
            /* Only the error pipe stays open, and it closes on exec. */
            if (ep[1] > 3)
                close_range(3, (unsigned)ep[1] - 1, 0);
            close_range((unsigned)ep[1] + 1, ~0U, 0);
            execvpe(p->argv[0], p->argv, p->envp);
            err = errno;
        }
        ssize_t w = write(ep[1], &err, sizeof err);
        (void)w;
        _exit(127);
    }
    setpgid(pid, pid);
    close(ep[1]);
    close(logfd);
    close(nullfd);
    int err = 0;
    ssize_t r;
    do
        r = read(ep[0], &err, sizeof err);
    while (r < 0 && errno == EINTR);
    close(ep[0]);
    if (r == (ssize_t)sizeof err) {
        waitpid(pid, NULL, 0);
        h__msg("%s: cannot run %s: %s", p->name, p->argv[0], strerror(err));
        return CORIO_ERR_IO;
    }
    p->pid = pid;
    p->seen = false;
    h__live_add(pid, SIGKILL);
    return CORIO_OK;
}

static bool log_has_sanitizer_report(const struct h_proc *p)
{
    size_t len;
    char *s = h__read_from(p->log, 0, &len);
    bool found = false;
    for (int i = 0; s && sanitizer_reports[i] && !found; i++)
        found = h__contains(s, len, sanitizer_reports[i]);
    free(s);
    return found;
}

static void register_log(const struct h_proc *p)
{
    char *label = h__xasprintf("%s/%s", h__scope_name(), p->name);
    h__log_register(label, p->log);
    free(label);
}

/* "harness: run <argv>" before a run's output, so a shared log reads well. */
static void write_header(const struct h_proc *p)
{
    FILE *f = fopen(p->log, "ae");
    if (!f)
        return;
    fprintf(f, "harness: run");
    for (int i = 0; p->argv[i]; i++)
        fprintf(f, " %s", p->argv[i]);
    fprintf(f, "\n");
    fclose(f);
}

/* The end of the scope: stop it and judge how it ended. */
static void proc_cleanup(void *arg)
{
    struct h_proc *p = arg;
    pid_t pid = p->pid;
    if (pid && !reap(p, false)) {
        int st = h_proc_stop(p);
        if (!p->expect_failure && !p->is_run && st != p->clean_status)
            h_fail("%s (pid %d) exited with status %d when stopped (a clean stop gives %d); "
                   "log %s",
                   p->name, (int)pid, st, p->clean_status, p->log);
    } else if (p->status >= 0 && !p->seen && !p->expect_failure && !p->is_run) {
        h_fail("%s died with status %d before the test ended and the test did not look; log %s",
               p->name, p->status, p->log);
    }
    if (!p->expect_failure && log_has_sanitizer_report(p))
        h_fail("%s: a sanitizer report is in %s", p->name, p->log);
    free(p->name);
    free(p->log);
    free(p->cwd);
    h__strv_free(p->argv);
    h__strv_free(p->envp);
    free(p);
}

/* A run (h_run) appends to one log per name and enters the failure report only
 * when it fails: a test may run psql a hundred times. */
static struct h_proc *start(const char *name, const char *const argv[],
                            const struct h_proc_opts *opts, bool run)
{
    h__init();
    static const struct h_proc_opts none;
    if (!opts)
        opts = &none;
    if (!name || !argv || !argv[0]) {
        h__msg("h_proc_start: a name and argv[0] are required");
        return NULL;
    }
    struct h_proc *p = h__xcalloc(1, sizeof *p);
    p->name = h__xstrdup(name);
    p->is_run = run;
    p->log = run ? h__xasprintf("%s/%s.log", h_dir(), name) : unique_log(h_dir(), name);
    p->argv = h__strv_dup(argv);
    p->cwd = h__xstrdup(opts->cwd ? opts->cwd : h_dir());
    p->stop_signal = opts->stop_signal ? opts->stop_signal : SIGTERM;
    p->clean_status = opts->clean_status;
    p->status = -1;

    char **san = NULL;
    if (opts->sanitizer_preload && h_sanitized()) {
        san = h__strv_dup(h_sanitizer_env());
        for (int i = 0; san[i] && opts->preload && *opts->preload; i++) {
            if (strncmp(san[i], "LD_PRELOAD=", 11) == 0) {
                char *e = h__xasprintf("%s:%s", san[i], opts->preload);
                free(san[i]);
                san[i] = e;
            }
        }
    }
    p->envp = h__env_build((const char *const *)san, opts->env);
    h__strv_free(san);

    if (!run)
        register_log(p);
    else
        write_header(p);
    h_defer(proc_cleanup, p);
    if (spawn(p) != CORIO_OK) {
        p->seen = true;
        if (run)
            register_log(p);
        return NULL;
    }
    return p;
}

struct h_proc *h_proc_start(const char *name, const char *const argv[],
                            const struct h_proc_opts *opts)
{
    return start(name, argv, opts, false);
}

pid_t h_proc_pid(const struct h_proc *p)
{
    return p ? p->pid : 0;
}

const char *h_proc_name(const struct h_proc *p)
{
    return p ? p->name : "";
}

const char *h_proc_log(const struct h_proc *p)
{
    return p ? p->log : "";
}

bool h_proc_alive(struct h_proc *p)
{
    if (!p)
        return false;
    reap(p, false);
    if (p->pid == 0)
        p->seen = true;
    return p->pid != 0;
}

int h_proc_stop_timeout(struct h_proc *p, int timeout_ms)
{
    if (!p)
        return CORIO_ERR_INVAL;
    if (p->pid == 0 || reap(p, false)) {
        p->seen = true;
        return p->status;
    }
    pid_t pid = p->pid;
    kill(pid, p->stop_signal);
    kill(pid, SIGCONT); /* a frozen (SIGSTOPped) process must see the signal */
    bool gone;
    H_POLL(gone, reap(p, false), timeout_ms);
    if (!gone) {
        h__msg("%s (pid %d) did not exit within %d ms of signal %d: SIGKILL", p->name, (int)pid,
               h_ms(timeout_ms), p->stop_signal);
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        reap(p, true);
    }
    p->seen = true;
    return p->status;
}

int h_proc_stop(struct h_proc *p)
{
    return h_proc_stop_timeout(p, 10000);
}

int h_proc_kill(struct h_proc *p)
{
    if (!p)
        return CORIO_ERR_INVAL;
    if (p->pid && !reap(p, false)) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        reap(p, true);
    }
    p->seen = true;
    return p->status;
}

int h_proc_signal(struct h_proc *p, int sig)
{
    if (!p || p->pid == 0)
        return CORIO_ERR_STATE;
    return kill(p->pid, sig) == 0 ? CORIO_OK : CORIO_ERR_IO;
}

int h_proc_restart(struct h_proc *p)
{
    if (!p)
        return CORIO_ERR_INVAL;
    if (p->pid)
        h_proc_stop(p);
    p->seen = true;
    int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        static const char mark[] = "\nharness: restart\n";
        ssize_t w = write(fd, mark, sizeof mark - 1);
        (void)w;
        close(fd);
    }
    return spawn(p);
}

int h_proc_wait_exit(struct h_proc *p, int timeout_ms)
{
    if (!p)
        return CORIO_ERR_INVAL;
    bool gone;
    H_POLL(gone, reap(p, false), timeout_ms);
    if (!gone)
        return CORIO_ERR_TIMEOUT;
    p->seen = true;
    return p->status;
}

/* Reports that p exited while the harness was waiting for something else. */
static int died_waiting(struct h_proc *p, const char *what)
{
    p->seen = true;
    h__msg("%s exited (status %d) while waiting for %s; its log %s ends:", p->name, p->status, what,
           p->log);
    h__tail_to_stderr(p->log, 15);
    return CORIO_ERR_CLOSED;
}

int h_proc_wait_port(struct h_proc *p, int port, int timeout_ms)
{
    if (!p)
        return CORIO_ERR_INVAL;
    struct h_poll poll;
    h_poll_init(&poll, timeout_ms);
    do {
        if (h_port_open(port))
            return CORIO_OK;
        if (reap(p, false)) {
            char what[32];
            snprintf(what, sizeof what, "port %d", port);
            return died_waiting(p, what);
        }
    } while (h_poll_next(&poll));
    h__msg("%s: port %d not open after %d ms", p->name, port, h_ms(timeout_ms));
    return CORIO_ERR_TIMEOUT;
}

bool h_proc_log_contains(struct h_proc *p, const char *needle)
{
    size_t len;
    char *s = h__read_from(p->log, p->log_start, &len);
    bool found = s && h__contains(s, len, needle);
    free(s);
    return found;
}

int h_proc_wait_log(struct h_proc *p, const char *needle, int timeout_ms)
{
    if (!p || !needle)
        return CORIO_ERR_INVAL;
    struct h_poll poll;
    h_poll_init(&poll, timeout_ms);
    off_t from = p->log_start;
    size_t nlen = strlen(needle);
    do {
        size_t len;
        char *s = h__read_from(p->log, from, &len);
        bool found = s && h__contains(s, len, needle);
        free(s);
        if (found)
            return CORIO_OK;
        /* Read only what is new next time, keeping an overlap for a split line. */
        if (s && len > nlen)
            from += (off_t)(len - nlen);
        if (reap(p, false)) {
            /* Its last words may hold the line. */
            if (h_proc_log_contains(p, needle)) {
                p->seen = true;
                return CORIO_OK;
            }
            return died_waiting(p, needle);
        }
    } while (h_poll_next(&poll));
    h__msg("%s: \"%s\" not in %s after %d ms", p->name, needle, p->log, h_ms(timeout_ms));
    return CORIO_ERR_TIMEOUT;
}

void h_proc_expect_failure(struct h_proc *p)
{
    if (p)
        p->expect_failure = true;
}

bool h_pid_gone(pid_t pid)
{
    if (pid <= 0)
        return true;
    /* Look without reaping: a tracked child's status belongs to its h_proc. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
        return true;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *s = h__read_from(path, 0, NULL);
    if (!s)
        return true;
    /* "pid (comm) S ...": the state follows the last ')'. */
    char *rp = strrchr(s, ')');
    bool zombie = rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
    free(s);
    return zombie;
}

int h_run(const char *name, const char *const argv[], const struct h_proc_opts *opts,
          int timeout_ms, char **output)
{
    if (output)
        *output = NULL;
    struct h_proc *p = start(name, argv, opts, true);
    if (!p)
        return CORIO_ERR_IO;
    int st = h_proc_wait_exit(p, timeout_ms);
    if (st == CORIO_ERR_TIMEOUT) {
        h__msg("%s: still running after %d ms: killed", name, h_ms(timeout_ms));
        h_proc_kill(p);
    }
    if (st != 0)
        register_log(p);
    if (output) {
        char *s = h__read_from(p->log, p->log_start, NULL);
        *output = s ? h__scoped(s) : h__sstrdup("");
    }
    return st;
}

/* ------------------------------------------------------------------------- */
/* Our daemons                                                                */

struct h_proc *h_daemon_start(const char *name, const struct h_daemon_opts *opts)
{
    static const struct h_daemon_opts none;
    if (!opts)
        opts = &none;
    const char *conf = NULL;
    if (opts->config) {
        for (int i = 1; !conf; i++) {
            const char *c = i == 1 ? h_strf("%s/%s.conf", h_dir(), name)
                                   : h_strf("%s/%s-%d.conf", h_dir(), name, i);
            struct stat st;
            if (stat(c, &st) != 0)
                conf = c;
        }
        if (h_write_file(conf, opts->config) != CORIO_OK)
            return NULL;
    }
    static const char *const default_args[] = {"-c", "@CONFIG@", NULL};
    const char *const *args = opts->args ? opts->args : conf ? default_args : NULL;
    size_t n = 0;
    while (args && args[n])
        n++;
    const char **argv = h__xcalloc(n + 2, sizeof *argv);
    argv[0] = h_bin(name);
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = strcmp(args[i], "@CONFIG@") == 0 && conf ? conf : args[i];
    struct h_proc_opts po = {.env = opts->env};
    struct h_proc *p = h_proc_start(name, argv, &po);
    free(argv);
    if (!p)
        return NULL;
    int timeout = opts->timeout_ms ? opts->timeout_ms : 10000;
    int rc = CORIO_OK;
    if (opts->ready_port > 0)
        rc = h_proc_wait_port(p, opts->ready_port, timeout);
    if (rc == CORIO_OK && opts->ready_url) {
        struct h_poll poll;
        h_poll_init(&poll, timeout);
        rc = CORIO_ERR_TIMEOUT;
        do {
            struct h_http_resp r;
            struct h_http_req q = {.url = opts->ready_url, .timeout_ms = 2000};
            bool ok = h__http(&q, &r) == CORIO_OK && r.status == 200;
            free(r.body);
            if (ok) {
                rc = CORIO_OK;
                break;
            }
            if (reap(p, false)) {
                rc = died_waiting(p, opts->ready_url);
                break;
            }
        } while (h_poll_next(&poll));
        if (rc == CORIO_ERR_TIMEOUT)
            h__msg("%s: %s did not answer 200 within %d ms", name, opts->ready_url, h_ms(timeout));
    }
    if (rc == CORIO_OK && opts->ready_log)
        rc = h_proc_wait_log(p, opts->ready_log, timeout);
    if (rc != CORIO_OK) {
        h_proc_stop(p);
        return NULL;
    }
    return p;
}
