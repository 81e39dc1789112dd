/*
 * harness.h - the shared test harness: real servers on free ports in temporary
 * directories, waiting by polling with a deadline, stopping by PID, a TCP fault
 * proxy, and small MQTT and HTTP clients. docs/testing.md shows how to use it.
 *
 * Conventions of the whole header:
 * - Every object the harness returns (processes, servers, proxies, clients,
 *   strings, paths) belongs to the current scope: the running H_TEST test, or the
 *   run when no test is running. The harness stops and frees it when that scope
 *   ends, so tests never free harness objects themselves and a failed test leaves
 *   nothing running for the next one.
 * - Functions returning int return CORIO_OK (0) or a negative corio_err code;
 *   functions returning a pointer return NULL on failure. Every failure also prints
 *   one "harness: ..." line to stderr that says why, so a test may just assert.
 * - Every timeout_ms argument is a base value: the harness multiplies it by
 *   h_timeout_scale() (CORIO_TEST_TIMEOUT_SCALE) because sanitizer builds are slow.
 * - The API is for the test's own thread; MQTT callbacks and the proxy run on
 *   threads of their own and are synchronised inside the harness.
 * - Out-of-memory inside the harness aborts the test (through the crash handler,
 *   which still stops every started process).
 */
#ifndef CORIO_HARNESS_H
#define CORIO_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "corio/error.h"

/* ------------------------------------------------------------------------- */
/* Ports and directories                                                      */
/* ------------------------------------------------------------------------- */

/* A TCP port on 127.0.0.1 that was free when asked, never the same twice in one
 * run; -1 if none could be found. */
int h_free_port(void);

/* A fresh directory under $TMPDIR (or /tmp), named after prefix; the caller frees
 * the path and removes the directory. Prefer h_dir(), which the harness manages. */
char *h_tmpdir(const char *prefix);

/* The current scope's directory: <run dir>/<test name> inside an H_TEST test, the
 * run directory otherwise. Logs and server data go there. It is removed when the
 * run passes and kept (and named on stderr) when it fails. Never NULL. */
const char *h_dir(void);

/* A new, empty subdirectory of h_dir() named name, name-2, name-3, ...; scope-owned. */
const char *h_mkdir(const char *name);

/* printf into a scope-owned string. */
char *h_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes text to path (created or truncated). */
int h_write_file(const char *path, const char *text);

/* The whole file, NUL-terminated, scope-owned; its length in *len when len is not
 * NULL. NULL if it cannot be read. */
char *h_read_file(const char *path, size_t *len);

/* Runs fn(arg) when the current scope ends (last registered, first run). */
void h_defer(void (*fn)(void *), void *arg);

/* $CORIO_BIN_DIR/name and $CORIO_LIB_DIR/name (set by ctest); scope-owned. */
const char *h_bin(const char *name);
const char *h_lib(const char *name);

/* ------------------------------------------------------------------------- */
/* Tests, failure and the end of the run                                      */
/* ------------------------------------------------------------------------- */

/*
 * How a failure is known (cmocka has no failure hook):
 * - Write each test as H_TEST(fn) in the cmocka table and end main with
 *   `return h_done(cmocka_run_group_tests(tests, NULL, NULL));`.
 * - H_TEST gives each test its own scope: a directory named after the test, and a
 *   teardown that stops whatever the test started, even when an assertion failed
 *   half-way. The teardown also fails the test when one of its processes printed
 *   a sanitizer report, died without the test asking, or did not exit cleanly
 *   when stopped (see h_proc_expect_failure()).
 * - h_done(failures) is the only way to declare success: with 0 failures it
 *   removes the run directory; otherwise it prints the tail of every log of every
 *   process the run started, grouped by test, and keeps the directory.
 * - Any other end of the process (abort, assert(), a sanitizer report in the test
 *   itself, a fatal signal, exit() without h_done) is a failure: a handler kills
 *   every started process, prints the logs and keeps the directory. If the test
 *   process is SIGKILLed (a ctest timeout), a watchdog process kills what it
 *   started.
 */
int h_test_setup(void **state);
int h_test_teardown(void **state);
#define H_TEST(fn)                                                                                 \
    {                                                                                              \
#fn, fn, h_test_setup, h_test_teardown, (void *)#fn                                        \
    }

/* Ends the run: see above. Returns failures, plus one if the run scope itself
 * failed (a server started outside any test misbehaved). */
int h_done(int failures);

/* Fails the current test (or the run) from harness-level code, with a reason that
 * is printed at once; the test's teardown then reports failure. */
void h_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------------- */
/* Time and waiting                                                          */
/* ------------------------------------------------------------------------- */

/* CORIO_TEST_TIMEOUT_SCALE if set (a positive number), else 3 when CORIO_SANITIZE=1,
 * else 1. */
double h_timeout_scale(void);

/* base_ms scaled by h_timeout_scale(). */
int h_ms(int base_ms);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t h_now_ms(void);

/* A polling loop with a deadline: a short sleep that grows from 2 ms to 50 ms.
 * h_poll_next() sleeps and returns true while the deadline has not passed, so the
 * condition is always checked once more after the deadline. */
struct h_poll {
    int64_t deadline_ms;
    int interval_ms;
};
void h_poll_init(struct h_poll *p, int timeout_ms);
bool h_poll_next(struct h_poll *p);

/* Sets ok to whether cond became true before the (scaled) deadline. */
#define H_POLL(ok, cond, timeout_ms)                                                               \
    do {                                                                                           \
        struct h_poll h_poll_;                                                                     \
        h_poll_init(&h_poll_, (timeout_ms));                                                       \
        while (!((ok) = !!(cond)) && h_poll_next(&h_poll_)) {                                      \
        }                                                                                          \
    } while (0)

/* Polls pred(arg) until it returns true: CORIO_OK, or CORIO_ERR_TIMEOUT. */
int h_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms);

/* Whether something accepts TCP connections on 127.0.0.1:port right now. */
bool h_port_open(int port);

/* Waits until 127.0.0.1:port accepts: CORIO_OK or CORIO_ERR_TIMEOUT. */
int h_wait_port(int port, int timeout_ms);

/* Waits until path exists and contains needle: CORIO_OK or CORIO_ERR_TIMEOUT. */
int h_wait_file(const char *path, const char *needle, int timeout_ms);

/* Waits until GET url answers 200: CORIO_OK or CORIO_ERR_TIMEOUT. */
int h_wait_http_ok(const char *url, int timeout_ms);

/* ------------------------------------------------------------------------- */
/* Processes                                                                  */
/* ------------------------------------------------------------------------- */

struct h_proc;

struct h_proc_opts {
    /* Changes to the inherited environment: "NAME=value" sets, "NAME" unsets. */
    const char *const *env;
    /* Working directory; NULL: h_dir(). */
    const char *cwd;
    /* For a foreign (uninstrumented) program that will load our instrumented
     * code, in a sanitizer build: preload the sanitizer runtime and use options
     * suited to a foreign binary (see h_sanitizer_env()). No effect otherwise. */
    bool sanitizer_preload;
    /* Extra libraries for LD_PRELOAD, ':'-separated, after the runtime (only with
     * sanitizer_preload; keeps a plugin mapped so leak reports name its lines). */
    const char *preload;
    /* The signal that asks the program to shut down; 0: SIGTERM. */
    int stop_signal;
    /* The exit status of a clean shutdown (nats-server 2.9 exits 1); default 0. */
    int clean_status;
};

/*
 * Starts argv[0] (a path, or a name looked up in PATH) with argv, stdin from
 * /dev/null and stdout and stderr appended to <h_dir()>/<name>.log (<name>-2.log,
 * ... when a process of that name already has one), in a process
 * group of its own, and tracks it. The process is stopped when the scope ends.
 * opts may be NULL. Returns NULL if the program cannot be started.
 */
struct h_proc *h_proc_start(const char *name, const char *const argv[],
                            const struct h_proc_opts *opts);

/* Runs a program to completion: its exit status (see h_proc_stop()), or a negative
 * error (CORIO_ERR_TIMEOUT: it was killed at the deadline). Every run of a name
 * appends to <h_dir()>/<name>.log, which joins the failure report only when a run
 * fails; this run's output is also in *output (scope-owned) when not NULL. */
int h_run(const char *name, const char *const argv[], const struct h_proc_opts *opts,
          int timeout_ms, char **output);

/* The current PID, or 0 when the process is not running. */
pid_t h_proc_pid(const struct h_proc *p);
const char *h_proc_name(const struct h_proc *p);
const char *h_proc_log(const struct h_proc *p);

/* Whether it runs; reaps it if it exited (the exit then counts as seen). */
bool h_proc_alive(struct h_proc *p);

/*
 * Stops it: the stop signal, a wait up to a deadline (10 s scaled), then SIGKILL
 * of its whole process group; always reaped. Returns its exit status: the exit
 * code, or 128 + the signal number if a signal ended it (the shell's convention);
 * if it had already exited, that status. A negative value is a harness error.
 */
int h_proc_stop(struct h_proc *p);
int h_proc_stop_timeout(struct h_proc *p, int timeout_ms);

/* SIGKILL of its process group at once (a crash, for chaos tests); reaped. Returns
 * its status as h_proc_stop(). */
int h_proc_kill(struct h_proc *p);

/* Sends sig without waiting (SIGSTOP/SIGCONT to freeze it, SIGHUP to reload). */
int h_proc_signal(struct h_proc *p, int sig);

/* Stops it if it runs, then starts it again with the same argv and environment;
 * its log continues after a "harness: restart" line. */
int h_proc_restart(struct h_proc *p);

/* Waits for it to exit on its own: its status (>= 0), or CORIO_ERR_TIMEOUT. */
int h_proc_wait_exit(struct h_proc *p, int timeout_ms);

/* Waits until 127.0.0.1:port accepts; fails at once (CORIO_ERR_CLOSED) when the
 * process exits first. */
int h_proc_wait_port(struct h_proc *p, int port, int timeout_ms);

/* Waits until its log, since its latest (re)start, contains needle; fails at once
 * (CORIO_ERR_CLOSED) when the process exits first. */
int h_proc_wait_log(struct h_proc *p, const char *needle, int timeout_ms);

/* Whether its log since its latest (re)start contains needle. */
bool h_proc_log_contains(struct h_proc *p, const char *needle);

/* This process is expected to fail (a deliberate crash or sanitizer report): its
 * exit status and log are not held against the test. */
void h_proc_expect_failure(struct h_proc *p);

/* Whether no process with this PID runs: it does not exist or is a zombie. It
 * never reaps, so a tracked process keeps its status for its h_proc. */
bool h_pid_gone(pid_t pid);

/* Our own daemons ($CORIO_BIN_DIR/<name>). */
struct h_daemon_opts {
    /* Written to <h_dir()>/<name>.conf when not NULL. */
    const char *config;
    /* Arguments after the program; "@CONFIG@" is replaced by the config path.
     * NULL: {"-c", "@CONFIG@"} with a config, none without. */
    const char *const *args;
    /* Readiness, checked in this order when set: a TCP port that accepts, a URL
     * that answers 200 (e.g. /healthz), a log line. None: started is ready. */
    int ready_port;
    const char *ready_url;
    const char *ready_log;
    const char *const *env; /* as in h_proc_opts */
    int timeout_ms;         /* readiness deadline; 0: 10 s */
};
/* Starts the daemon and waits until it is ready; NULL (and the process stopped) if
 * it exits or is not ready by the deadline. */
struct h_proc *h_daemon_start(const char *name, const struct h_daemon_opts *opts);

/* ------------------------------------------------------------------------- */
/* Sanitizers                                                                 */
/* ------------------------------------------------------------------------- */

/* Whether this is a sanitizer build (CORIO_SANITIZE=1 in the environment). */
bool h_sanitized(void);

/*
 * The environment a foreign binary needs to load our instrumented code, as
 * "NAME=value" entries ending with NULL; an empty list when not sanitizing.
 * LD_PRELOAD carries the ASan and UBSan runtimes of $CORIO_CC (libasan/libubsan
 * for gcc, libclang_rt.asan for clang). ASAN_OPTIONS keep leak detection on: the
 * broker frees all it allocates on a clean shutdown, so what LSan reports is ours.
 */
const char *const *h_sanitizer_env(void);

/* h_sanitizer_env() as corio-gateway configuration lines ("broker_env NAME=value\n"
 * each), for the broker it runs; "" when not sanitizing. Freed with the test's other
 * h_strf() strings. */
const char *h_broker_env_conf(void);

/* ------------------------------------------------------------------------- */
/* Certificates                                                               */
/* ------------------------------------------------------------------------- */

/* A throw-away PKI (EC P-256, made with the openssl command): a CA, a server
 * certificate for localhost and 127.0.0.1, and a client certificate. */
struct h_pki {
    const char *dir;
    const char *ca_cert, *ca_key;
    const char *server_cert, *server_key;
    const char *client_cert, *client_key;
};
struct h_pki *h_pki_create(const char *client_cn);

/* Issues another client certificate with the common name cn; paths scope-owned. */
int h_pki_issue(struct h_pki *pki, const char *cn, const char **cert, const char **key);

/* ------------------------------------------------------------------------- */
/* Mosquitto (/usr/sbin/mosquitto)                                            */
/* ------------------------------------------------------------------------- */

#define H_MOSQ_MAX_LISTENERS 4

struct h_mosq_listener {
    int port;             /* 0: a free port */
    const char *certfile; /* with keyfile: a TLS listener */
    const char *keyfile;
    const char *cafile; /* CA that client certificates must chain to */
    bool require_certificate;
    const char *extra; /* lines for this listener ("use_identity_as_username true") */
};

struct h_mosq_opts {
    struct h_mosq_listener listener[H_MOSQ_MAX_LISTENERS];
    int listeners;                  /* 0: one plain TCP listener */
    const char *plugin;             /* path of a plugin to load */
    const char *const *plugin_opts; /* "name value" entries -> plugin_opt_name value */
    bool persistence;               /* persistence in the broker's directory */
    bool deny_anonymous;            /* allow_anonymous false */
    bool verbose;                   /* log_type all */
    const char *extra;              /* lines appended to the configuration */
};

struct h_mosq {
    struct h_proc *proc;
    int port;                        /* the first listener's port */
    int ports[H_MOSQ_MAX_LISTENERS]; /* every listener's port, in order */
    int nports;
    const char *dir;  /* the broker's directory */
    const char *conf; /* its generated configuration file */
};

/*
 * Writes a configuration (user root when run as root, max_queued_messages 0, logs
 * to stderr, listeners on 127.0.0.1) and starts the broker; ready when every
 * listener accepts. With a plugin in a sanitizer build, the broker runs with the
 * sanitizer runtime preloaded (h_sanitizer_env()). opts may be NULL. Ports the
 * harness chose are chosen again if one was taken meanwhile.
 */
struct h_mosq *h_mosq_start(const struct h_mosq_opts *opts);

/* h_proc_stop() of the broker. */
int h_mosq_stop(struct h_mosq *m);

/* Starts it again (stopping it first if it runs) with the same configuration and
 * ports; waits until ready. */
int h_mosq_restart(struct h_mosq *m);

/* ------------------------------------------------------------------------- */
/* PostgreSQL 15                                                              */
/* ------------------------------------------------------------------------- */

struct h_pg_opts {
    const char *dbname;      /* NULL: "corio" */
    const char *const *conf; /* lines for postgresql.conf ("fsync off") */
};

struct h_pg {
    int port;
    const char *dbname;
    const char *conninfo; /* "host=127.0.0.1 port=P dbname=D user=postgres" */
    const char *datadir;
    const char *sockdir;
    const char *log; /* the server's log file */
    pid_t pid;       /* the postmaster, 0 when stopped */
};

/* initdb (as user postgres through runuser when run as root), pg_ctl start on a
 * free port listening on 127.0.0.1 and a socket in sockdir, and createdb. */
struct h_pg *h_pg_start(const struct h_pg_opts *opts);

/* pg_ctl stop -m fast, then waits until the postmaster is gone. */
int h_pg_stop(struct h_pg *pg);

/* pg_ctl stop -m immediate: like a crash; the next start runs recovery. */
int h_pg_crash(struct h_pg *pg);

/* Starts it again on the same data directory and port (stopping it first if it
 * runs); waits until it accepts connections. */
int h_pg_restart(struct h_pg *pg);

/* Runs sql with psql in the database: psql's exit status (0 on success), with its
 * unaligned, tuples-only output in *output (scope-owned) when not NULL. */
int h_pg_sql(struct h_pg *pg, const char *sql, char **output);

/* ------------------------------------------------------------------------- */
/* nats-server 2.9 with JetStream                                             */
/* ------------------------------------------------------------------------- */

#define H_NATS_MAX_NODES 5

struct h_nats_opts {
    int nodes;            /* 0 or 1: one server; 2..H_NATS_MAX_NODES: a cluster */
    bool mqtt;            /* an MQTT listener on every node */
    const char *certfile; /* with keyfile: TLS on the client port */
    const char *keyfile;
    const char *cafile;
    bool verify;   /* require client certificates */
    bool mqtt_tls; /* with mqtt: the MQTT listener has the client port's TLS too */
    /* nats-server configuration text naming users and their permissions (an
     * authorization block, as `corio nats auth` writes it), written beside each node's
     * configuration as auth.conf and included. With verify, the client certificate
     * names the user (verify_and_map) on the client port and the MQTT listener. */
    const char *auth;
    const char *extra; /* lines appended to every node's configuration */
};

struct h_nats_node {
    struct h_proc *proc;
    const char *name; /* server_name: n0, n1, ... */
    int port;         /* client port */
    int cluster_port; /* 0 for one server */
    int http_port;    /* monitoring: /healthz, /routez, /jsz */
    int mqtt_port;    /* 0 without mqtt */
    const char *dir;  /* JetStream store and configuration */
    const char *conf;
};

struct h_nats {
    int nodes;
    struct h_nats_node node[H_NATS_MAX_NODES];
    const char *url; /* every node's client URL, comma-separated */
};

/* Starts the node(s) on loopback with JetStream and waits until every node is
 * routed to all the others and /healthz answers 200. */
struct h_nats *h_nats_start(const struct h_nats_opts *opts);

/* Waits until every running node routes to every other running node and is
 * healthy (JetStream current). */
int h_nats_wait_ready(struct h_nats *n, int timeout_ms);

/* SIGKILL one node (chaos), stop it cleanly, or start it again with the same store
 * and ports; h_nats_restart_node waits until the cluster is whole again. */
int h_nats_kill_node(struct h_nats *n, int i);
int h_nats_stop_node(struct h_nats *n, int i);
int h_nats_restart_node(struct h_nats *n, int i);

/* Stops every node. */
int h_nats_stop(struct h_nats *n);

/* ------------------------------------------------------------------------- */
/* TCP fault proxy                                                            */
/* ------------------------------------------------------------------------- */

/*
 * A proxy on its own thread between two parts: it listens on a free port of
 * 127.0.0.1 and forwards each connection to an upstream host:port. Killing a
 * process is not a network partition; this is.
 */
enum h_fault {
    H_PASS,  /* forward */
    H_CUT,   /* close current connections (FIN), refuse new ones until restored */
    H_STALL, /* a black hole: keep connections open but move no byte in either
              * direction and accept none; queued bytes flow after restore */
    H_DELAY, /* forward each chunk no earlier than delay_ms after it was read */
    H_RESET, /* RST both sides of current connections (SO_LINGER 0); new ones
              * are reset as they are accepted */
};

struct h_proxy_stats {
    uint64_t accepted;          /* connections accepted */
    uint64_t active;            /* connections open now */
    uint64_t bytes_up;          /* client -> upstream, delivered */
    uint64_t bytes_down;        /* upstream -> client, delivered */
    uint64_t faulted;           /* connections closed or reset by a fault */
    uint64_t upstream_failures; /* connections whose upstream refused or failed */
};

struct h_proxy;

/* Starts a proxy to host:port (a name or address); mode H_PASS. */
struct h_proxy *h_proxy_start(const char *host, int port);

/* The port clients connect to. */
int h_proxy_port(const struct h_proxy *p);

/* Switches the mode; delay_ms is used by H_DELAY. The change has taken effect when
 * this returns (connections cut or reset, the listener closed or reopened). */
int h_proxy_set(struct h_proxy *p, enum h_fault mode, int delay_ms);

void h_proxy_stats(struct h_proxy *p, struct h_proxy_stats *out);

/* Closes every connection and ends the thread (also done when the scope ends). */
void h_proxy_stop(struct h_proxy *p);

/* ------------------------------------------------------------------------- */
/* MQTT clients (libmosquitto)                                                */
/* ------------------------------------------------------------------------- */

struct h_mqtt_opts {
    const char *client_id; /* NULL: a generated one */
    const char *username;
    const char *password;
    const char *cafile;   /* TLS when set */
    const char *certfile; /* client certificate, with keyfile */
    const char *keyfile;
    bool persistent; /* clean session false */
    bool mqtt5;      /* MQTT 5 instead of 3.1.1 */
    int keepalive;   /* seconds; 0: 30 */
    int timeout_ms;  /* for the CONNACK; 0: 10 s (scaled) */
};

struct h_mqtt_msg {
    char *topic;
    unsigned char *payload; /* NUL-terminated for convenience */
    int len;
    int qos;
    bool retain;
};

struct h_mqtt;

/* Connects to 127.0.0.1:port and waits for a successful CONNACK: NULL if refused
 * or not connected by the deadline. After an unexpected disconnect
 * libmosquitto reconnects on its own (after about a second). */
struct h_mqtt *h_mqtt_connect(int port, const struct h_mqtt_opts *opts);

/* Subscribes and waits for the SUBACK; CORIO_ERR_REFUSED if the broker refused. */
int h_mqtt_subscribe(struct h_mqtt *c, const char *filter, int qos);

/* Publishes; with QoS 1 waits for the PUBACK (10 s scaled, CORIO_ERR_TIMEOUT). */
int h_mqtt_publish(struct h_mqtt *c, const char *topic, const void *payload, int len, int qos);

/* Publishes without waiting for the PUBACK, retained if asked; the message id in
 * *mid (may be NULL). Without a connection, libmosquitto keeps a QoS > 0 message
 * for the next one (CORIO_OK) and refuses a QoS 0 one (CORIO_ERR_CLOSED). */
int h_mqtt_publish_nowait(struct h_mqtt *c, const char *topic, const void *payload, int len,
                          int qos, bool retain, int *mid);

/* Waits for the PUBACK of mid. */
int h_mqtt_wait_published(struct h_mqtt *c, int mid, int timeout_ms);

/* Messages received so far whose topic matches filter (NULL: all). */
int h_mqtt_count(struct h_mqtt *c, const char *filter);

/* Waits until at least n messages matching filter arrived: how many arrived (may
 * be fewer than n at the deadline). */
int h_mqtt_wait_count(struct h_mqtt *c, const char *filter, int n, int timeout_ms);

/* The i-th message received (0-based), valid until the client's scope ends; NULL
 * when fewer arrived. */
const struct h_mqtt_msg *h_mqtt_msg(struct h_mqtt *c, int i);

bool h_mqtt_connected(struct h_mqtt *c);
/* How many times the connection was lost (not counting h_mqtt_close()). */
int h_mqtt_disconnects(struct h_mqtt *c);
int h_mqtt_wait_connected(struct h_mqtt *c, int timeout_ms);
int h_mqtt_wait_disconnected(struct h_mqtt *c, int timeout_ms);

/* Disconnects and destroys the client now (else done when the scope ends). */
void h_mqtt_close(struct h_mqtt *c);

/* ------------------------------------------------------------------------- */
/* HTTP (libcurl)                                                             */
/* ------------------------------------------------------------------------- */

struct h_http_req {
    const char *method; /* NULL: GET, or POST with a body */
    const char *url;
    const char *const *headers; /* "Name: value" entries ending with NULL */
    const void *body;
    size_t len;
    const char *cafile; /* for https */
    const char *certfile, *keyfile;
    int timeout_ms; /* 0: 10 s (scaled) */
};

struct h_http_resp {
    long status; /* 0 when no response came */
    char *body;  /* NUL-terminated, scope-owned */
    size_t len;
};

/* Sends the request: CORIO_OK when a response came (any status), CORIO_ERR_REFUSED
 * when nothing listens, CORIO_ERR_TIMEOUT, or CORIO_ERR_IO. */
int h_http(const struct h_http_req *req, struct h_http_resp *resp);
int h_http_get(const char *url, struct h_http_resp *resp);
int h_http_post(const char *url, const char *content_type, const void *body, size_t len,
                struct h_http_resp *resp);

#endif
