/*
 * broker.c - the gateway's Mosquitto, supervised by corio-gateway (broker.h).
 *
 * The broker is a child process. A death is noticed by waitpid() in the daemon's loop
 * and followed by a restart after a backoff that doubles from 500 ms to 30 s and resets
 * once the broker has stayed up for a minute. While the broker is down devices cannot
 * publish, but nothing is lost: the plugin commits before each PUBACK, and a device
 * keeps every message until then.
 */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corio/error.h"
#include "corio_log.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 60000

struct corio_broker {
    char *bin;
    char *conf;
    char **env; /* NULL-terminated: the daemon's environment plus the options' */
    pid_t pid;
    int64_t started_ms;
    int64_t restart_at_ms;
    int64_t backoff_ms;
    struct corio_broker_stats st;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_conf(const struct corio_broker_options *o, const char *path, char *err,
                      size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return CORIO_ERR_IO;
    }
    fprintf(f, "# Written by corio-gateway at every start; edit corio-gateway's configuration "
               "instead.\n");
    if (geteuid() == 0)
        fprintf(f, "user root\n"); /* else Mosquitto drops to a user that cannot write the outbox */
    fprintf(f, "per_listener_settings false\n"
               "allow_anonymous false\n"
               "max_queued_messages 0\n"
               "persistence false\n"
               "log_dest stderr\n"
               "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
               "connection_messages true\n");
    fprintf(f, "plugin %s\n", o->plugin);
    fprintf(f, "plugin_opt_gateway %s\nplugin_opt_outbox %s\nplugin_opt_registry %s\n",
            o->gateway, o->outbox, o->registry);
    if (o->outbox_max_bytes > 0)
        fprintf(f, "plugin_opt_max_bytes %lld\n", (long long)o->outbox_max_bytes);
    if (o->sync_ms > 0)
        fprintf(f, "plugin_opt_sync_ms %lld\n", (long long)o->sync_ms);
    if (o->vfs)
        fprintf(f, "plugin_opt_vfs %s\n", o->vfs);
    if (o->stats)
        fprintf(f, "plugin_opt_stats %s\n", o->stats);
    if (o->loopback_port)
        fprintf(f, "listener %d 127.0.0.1\n", o->loopback_port);
    if (o->mqtt_port)
        fprintf(f, "listener %d %s\n", o->mqtt_port, o->mqtt_address ? o->mqtt_address : "");
    if (o->mqtts_port) {
        fprintf(f, "listener %d %s\ncertfile %s\nkeyfile %s\n", o->mqtts_port,
                o->mqtt_address ? o->mqtt_address : "", o->tls_cert, o->tls_key);
        if (o->tls_ca)
            fprintf(f, "cafile %s\n", o->tls_ca);
    }
    if (o->ws_port)
        fprintf(f, "listener %d %s\nprotocol websockets\n", o->ws_port,
                o->mqtt_address ? o->mqtt_address : "");
    for (size_t i = 0; i < o->nextra; i++)
        fprintf(f, "%s\n", o->extra[i]);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

static char **make_env(const struct corio_broker_options *o)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + o->nenv + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* An option overrides the daemon's variable of the same name. */
        const char *eq = strchr(environ[i], '=');
        size_t name = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        bool overridden = false;
        for (size_t j = 0; j < o->nenv; j++)
            if (!strncmp(o->env[j], environ[i], name))
                overridden = true;
        if (!overridden && !(env[k++] = strdup(environ[i])))
            goto nomem;
    }
    for (size_t j = 0; j < o->nenv; j++)
        if (!(env[k++] = strdup(o->env[j])))
            goto nomem;
    return env;
nomem:
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
    return NULL;
}

static int spawn(corio_broker *b)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        corio_logkv(CORIO_LOG_ERROR, "cannot fork the broker", "error=%s", strerror(errno));
        return CORIO_ERR_IO;
    }
    if (pid == 0) {
        /* The child must not inherit the daemon's signal handling. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        /* The broker goes when corio-gateway goes, so that a restarted corio-gateway
         * never meets an orphan holding the listeners. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1); /* corio-gateway died before prctl took effect */
        char *argv[] = {b->bin, "-c", b->conf, NULL};
        execve(b->bin, argv, b->env);
        fprintf(stderr, "corio-gateway: cannot run %s: %s\n", b->bin, strerror(errno));
        _exit(127);
    }
    b->pid = pid;
    b->started_ms = mono_ms();
    b->st.starts++;
    corio_logkv(CORIO_LOG_INFO, "broker started", "pid=%d conf=%s", (int)pid, b->conf);
    return CORIO_OK;
}

static void free_broker(corio_broker *b)
{
    if (b->env) {
        for (size_t i = 0; b->env[i]; i++)
            free(b->env[i]);
        free(b->env);
    }
    free(b->bin);
    free(b->conf);
    free(b);
}

int corio_broker_start(const struct corio_broker_options *o, corio_broker **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (access(o->bin, X_OK) != 0) {
        snprintf(err, errlen, "broker %s: %s", o->bin, strerror(errno));
        return CORIO_ERR_NOTFOUND;
    }
    if (access(o->plugin, R_OK) != 0) {
        snprintf(err, errlen, "plugin %s: %s", o->plugin, strerror(errno));
        return CORIO_ERR_NOTFOUND;
    }
    if (o->mqtts_port && (!o->tls_cert || !o->tls_key)) {
        snprintf(err, errlen, "mqtts_port needs tls_cert and tls_key");
        return CORIO_ERR_INVAL;
    }
    corio_broker *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    b->backoff_ms = BACKOFF_MIN_MS;
    b->bin = strdup(o->bin);
    if (asprintf(&b->conf, "%s/mosquitto.conf", o->dir) < 0)
        b->conf = NULL;
    b->env = make_env(o);
    if (!b->bin || !b->conf || !b->env) {
        free_broker(b);
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    mkdir(o->dir, 0755);
    int rc = write_conf(o, b->conf, err, errlen);
    if (rc == CORIO_OK && (rc = spawn(b)) != CORIO_OK)
        snprintf(err, errlen, "cannot start %s", o->bin);
    if (rc != CORIO_OK) {
        free_broker(b);
        return rc;
    }
    *out = b;
    return CORIO_OK;
}

void corio_broker_check(corio_broker *b, int64_t now_ms)
{
    if (b->pid > 0) {
        int status;
        pid_t r = waitpid(b->pid, &status, WNOHANG);
        if (r != b->pid)
            return;
        b->st.deaths++;
        b->pid = 0;
        if (now_ms - b->started_ms >= STABLE_MS)
            b->backoff_ms = BACKOFF_MIN_MS;
        b->restart_at_ms = now_ms + b->backoff_ms;
        corio_logkv(CORIO_LOG_ERROR, "broker died; restarting", "status=%d signal=%d in_ms=%lld",
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0, (long long)b->backoff_ms);
        if (b->backoff_ms < BACKOFF_MAX_MS)
            b->backoff_ms *= 2;
        return;
    }
    if (now_ms >= b->restart_at_ms)
        spawn(b);
}

void corio_broker_stop(corio_broker *b, int timeout_ms)
{
    if (!b)
        return;
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        int64_t deadline = mono_ms() + timeout_ms;
        int status;
        while (waitpid(b->pid, &status, WNOHANG) == 0) {
            if (mono_ms() >= deadline) {
                corio_logkv(CORIO_LOG_WARN, "broker did not stop; killing it", "pid=%d",
                            (int)b->pid);
                kill(b->pid, SIGKILL);
                waitpid(b->pid, &status, 0);
                break;
            }
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        b->pid = 0;
    }
    free_broker(b);
}

void corio_broker_stats(const corio_broker *b, struct corio_broker_stats *st)
{
    *st = b->st;
    st->pid = b->pid;
}
