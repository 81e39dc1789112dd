/*
 * pg.c - a PostgreSQL 15 server for a test (harness.h, "PostgreSQL 15"): initdb
 * into the test's directory, pg_ctl start on a free port, a database, and stop,
 * crash and start again on the same data directory.
 *
 * PostgreSQL refuses to run as root, so when we are root its programs run as the
 * user postgres through runuser and its directory is chowned to that user.
 * pg_ctl's postmaster detaches; because the harness is a subreaper, it becomes
 * our child, which lets us reap it and see it gone.
 */
#include "harness_int.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_BIN "/usr/lib/postgresql/15/bin"

struct pg_int {
    struct h_pg pub;
    const char *dir;
    char sockdir[32];
};

/* argv for a PostgreSQL program, prefixed by runuser when we are root. */
static const char **pg_argv(const char *prog, const char *const *args)
{
    size_t n = 0;
    while (args[n])
        n++;
    const char **v = h__scoped(h__xcalloc(n + 6, sizeof *v));
    size_t k = 0;
    if (h__is_root()) {
        v[k++] = "runuser";
        v[k++] = "-u";
        v[k++] = "postgres";
        v[k++] = "--";
    }
    v[k++] = h_strf("%s/%s", PG_BIN, prog);
    for (size_t i = 0; i < n; i++)
        v[k++] = args[i];
    return v;
}

static int read_postmaster_pid(struct pg_int *pg)
{
    char *s = h__read_from(h_strf("%s/postmaster.pid", pg->pub.datadir), 0, NULL);
    int pid = s ? atoi(s) : 0;
    free(s);
    return pid;
}

static void forget_postmaster(struct pg_int *pg)
{
    if (pg->pub.pid) {
        h__live_del(pg->pub.pid);
        /* It became our child when pg_ctl exited (we are a subreaper). */
        waitpid(pg->pub.pid, NULL, WNOHANG);
        pg->pub.pid = 0;
    }
}

/* Waits for the postmaster to be gone after a stop. */
static int wait_gone(struct pg_int *pg)
{
    pid_t pid = pg->pub.pid;
    bool gone;
    H_POLL(gone, h_pid_gone(pid), 30000);
    forget_postmaster(pg);
    if (!gone) {
        h__msg("postgres: postmaster %d still runs after stop: SIGKILL", (int)pid);
        kill(pid, SIGKILL);
        H_POLL(gone, h_pid_gone(pid), 10000);
        return CORIO_ERR_TIMEOUT;
    }
    return CORIO_OK;
}

static int pg_ctl_start(struct pg_int *pg)
{
    int secs = h_ms(60000) / 1000;
    const char *o =
        h_strf("-p %d -k %s -c listen_addresses=127.0.0.1", pg->pub.port, pg->pub.sockdir);
    const char *args[] = {
        "start", "-w", "-t", h_strf("%d", secs), "-D", pg->pub.datadir, "-l", pg->pub.log,
        "-o",    o,    NULL};
    int st = h_run("pg_ctl-start", pg_argv("pg_ctl", args), NULL, 70000, NULL);
    int pid = read_postmaster_pid(pg);
    if (st != 0) {
        h__msg("postgres: pg_ctl start failed (status %d); server log %s ends:", st, pg->pub.log);
        h__tail_to_stderr(pg->pub.log, 15);
        if (pid > 0 && !h_pid_gone(pid)) {
            kill(pid, SIGQUIT);
            bool gone;
            H_POLL(gone, h_pid_gone(pid), 10000);
        }
        return CORIO_ERR_IO;
    }
    if (pid <= 0) {
        h__msg("postgres: started but no postmaster.pid");
        return CORIO_ERR_STATE;
    }
    pg->pub.pid = pid;
    /* The crash paths send SIGQUIT: an immediate shutdown that ends the backends. */
    h__live_add(pid, SIGQUIT);
    return CORIO_OK;
}

static int pg_ctl_stop(struct pg_int *pg, const char *mode)
{
    if (!pg->pub.pid)
        return CORIO_OK;
    int secs = h_ms(60000) / 1000;
    const char *args[] = {"stop",          "-w", "-t", h_strf("%d", secs), "-m", mode, "-D",
                          pg->pub.datadir, NULL};
    int st = h_run("pg_ctl-stop", pg_argv("pg_ctl", args), NULL, 70000, NULL);
    if (st != 0)
        h__msg("postgres: pg_ctl stop -m %s gave status %d", mode, st);
    int rc = wait_gone(pg);
    return st == 0 ? rc : CORIO_ERR_IO;
}

static void pg_cleanup(void *arg)
{
    struct pg_int *pg = arg;
    if (pg->pub.pid && !h_pid_gone(pg->pub.pid))
        pg_ctl_stop(pg, "fast");
    forget_postmaster(pg);
    size_t len;
    char *log = h__read_from(pg->pub.log, 0, &len);
    if (log && (h__contains(log, len, "PANIC:") || h__contains(log, len, "TRAP:")))
        h_fail("postgres: PANIC or TRAP in %s", pg->pub.log);
    free(log);
    /* The socket directory lives outside the run directory: remove it always. */
    if (pg->sockdir[0]) {
        char *files[] = {h__xasprintf("%s/.s.PGSQL.%d", pg->sockdir, pg->pub.port),
                         h__xasprintf("%s/.s.PGSQL.%d.lock", pg->sockdir, pg->pub.port)};
        for (size_t i = 0; i < 2; i++) {
            unlink(files[i]);
            free(files[i]);
        }
        if (rmdir(pg->sockdir) != 0)
            h__msg("postgres: cannot remove %s: %s", pg->sockdir, strerror(errno));
    }
}

struct h_pg *h_pg_start(const struct h_pg_opts *opts)
{
    static const struct h_pg_opts none;
    if (!opts)
        opts = &none;
    struct pg_int *pg = h__scoped(h__xcalloc(1, sizeof *pg));
    pg->dir = h_mkdir("postgres");
    pg->pub.datadir = h_strf("%s/data", pg->dir);
    pg->pub.log = h_strf("%s/postgres.log", pg->dir);
    pg->pub.dbname = h__sstrdup(opts->dbname ? opts->dbname : "corio");
    /* A Unix socket path has at most 107 bytes; the test's directory may be longer. */
    snprintf(pg->sockdir, sizeof pg->sockdir, "/tmp/corio-pg-XXXXXX");
    if (!mkdtemp(pg->sockdir)) {
        h__msg("postgres: cannot create a socket directory: %s", strerror(errno));
        pg->sockdir[0] = 0;
        return NULL;
    }
    pg->pub.sockdir = pg->sockdir;
    h_defer(pg_cleanup, pg);
    if (h__is_root()) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0 ||
            chown(pg->sockdir, pw->pw_uid, pw->pw_gid) != 0) {
            h__msg("postgres: cannot give %s to the user postgres: %s", pg->dir,
                   pw ? strerror(errno) : "no such user");
            return NULL;
        }
    }
    const char *init[] = {"-D", pg->pub.datadir, "-U",         "postgres", "--auth=trust", "-N",
                          "-E", "UTF8",          "--locale=C", NULL};
    int st = h_run("initdb", pg_argv("initdb", init), NULL, 60000, NULL);
    if (st != 0) {
        h__msg("postgres: initdb failed with status %d", st);
        return NULL;
    }
    if (opts->conf) {
        FILE *f = fopen(h_strf("%s/postgresql.conf", pg->pub.datadir), "ae");
        if (!f) {
            h__msg("postgres: cannot append to postgresql.conf: %s", strerror(errno));
            return NULL;
        }
        fprintf(f, "\n# Added by the Corio test harness.\n");
        for (int i = 0; opts->conf[i]; i++)
            fprintf(f, "%s\n", opts->conf[i]);
        fclose(f);
    }
    char *label = h__xasprintf("%s/postgres", h__scope_name());
    h__log_register(label, pg->pub.log);
    free(label);

    int rc = CORIO_ERR_IO;
    for (int attempt = 0; attempt < 3 && rc != CORIO_OK; attempt++) {
        pg->pub.port = h_free_port();
        off_t before = h__file_size(pg->pub.log);
        rc = pg_ctl_start(pg);
        if (rc == CORIO_OK)
            break;
        char *tail = h__read_from(pg->pub.log, before, NULL);
        bool busy = tail && strstr(tail, "could not bind");
        free(tail);
        if (!busy)
            return NULL;
        h__msg("postgres: port %d was taken meanwhile; trying another", pg->pub.port);
    }
    if (rc != CORIO_OK)
        return NULL;
    pg->pub.conninfo =
        h_strf("host=127.0.0.1 port=%d dbname=%s user=postgres", pg->pub.port, pg->pub.dbname);
    const char *cdb[] = {"-h", "127.0.0.1", "-p",           h_strf("%d", pg->pub.port),
                         "-U", "postgres",  pg->pub.dbname, NULL};
    const char **argv = h__scoped(h__xcalloc(9, sizeof *argv));
    argv[0] = PG_BIN "/createdb";
    for (int i = 0; cdb[i]; i++)
        argv[i + 1] = cdb[i];
    st = h_run("createdb", argv, NULL, 30000, NULL);
    if (st != 0) {
        h__msg("postgres: createdb %s failed with status %d", pg->pub.dbname, st);
        return NULL;
    }
    return &pg->pub;
}

int h_pg_stop(struct h_pg *pg)
{
    return pg ? pg_ctl_stop((struct pg_int *)pg, "fast") : CORIO_ERR_INVAL;
}

int h_pg_crash(struct h_pg *pg)
{
    return pg ? pg_ctl_stop((struct pg_int *)pg, "immediate") : CORIO_ERR_INVAL;
}

int h_pg_restart(struct h_pg *pg)
{
    if (!pg)
        return CORIO_ERR_INVAL;
    struct pg_int *p = (struct pg_int *)pg;
    if (pg->pid) {
        int rc = pg_ctl_stop(p, "fast");
        if (rc != CORIO_OK)
            return rc;
    }
    return pg_ctl_start(p);
}

int h_pg_sql(struct h_pg *pg, const char *sql, char **output)
{
    if (!pg || !sql)
        return CORIO_ERR_INVAL;
    const char *argv[] = {PG_BIN "/psql",
                          "-X",
                          "-q",
                          "-A",
                          "-t",
                          "-v",
                          "ON_ERROR_STOP=1",
                          "-h",
                          "127.0.0.1",
                          "-p",
                          h_strf("%d", pg->port),
                          "-U",
                          "postgres",
                          "-d",
                          pg->dbname,
                          "-c",
                          sql,
                          NULL};
    return h_run("psql", argv, NULL, 30000, output);
}
