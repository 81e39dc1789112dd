/*
 * harness_int.h - declarations shared by the harness's own files: allocation that
 * aborts on exhaustion, scopes, the registries the crash handler and the watchdog
 * read, and small string helpers.
 */
#ifndef CORIO_HARNESS_INT_H
#define CORIO_HARNESS_INT_H

#include "harness.h"

#include <stdarg.h>

/* Starts the harness once: run directory, handlers, watchdog. Idempotent. */
void h__init(void);

/* "harness: <message>" on stderr. */
void h__msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that aborts the test on exhaustion (see harness.h). */
void *h__xcalloc(size_t n, size_t size);
void *h__xrealloc(void *p, size_t size);
char *h__xstrdup(const char *s);
char *h__xvasprintf(const char *fmt, va_list ap);
char *h__xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Scope-owned copies (freed when the current scope ends). */
void *h__scoped(void *p);
char *h__sstrdup(const char *s);

/* Registers fn(arg) with the run scope instead of the current one. */
void h__defer_run(void (*fn)(void *), void *arg);

/* Removes the most recent deferral of fn(arg) from whichever scope holds it and
 * runs it now; false when none is registered. */
bool h__undefer(void (*fn)(void *), void *arg);

/* The name of the current scope ("run" outside a test). */
const char *h__scope_name(void);

/* Records a log file for the failure report. */
void h__log_register(const char *label, const char *path);

/* Processes the crash handler and the watchdog must kill. sig is what to send:
 * SIGKILL to the process group of pid, or another signal to pid alone (SIGQUIT for
 * a postmaster, which is not in a group of ours). */
void h__live_add(pid_t pid, int sig);
void h__live_del(pid_t pid);

/* A NULL-terminated environment: environ with the changes applied ("N=v" sets,
 * "N" unsets); free with h__strv_free. */
char **h__env_build(const char *const *changes1, const char *const *changes2);
char **h__strv_dup(const char *const *v);
void h__strv_free(char **v);

/* The exit status as documented at h_proc_stop(). */
int h__decode_status(int wstatus);

/* Whether haystack contains needle. */
bool h__contains(const char *haystack, size_t len, const char *needle);

/* The part of the file after offset, NUL-terminated, malloc'd; NULL if unreadable. */
char *h__read_from(const char *path, off_t offset, size_t *len);

/* The last lines of a file on stderr (async-signal-safe apart from the flush). */
void h__tail_to_stderr(const char *path, int lines);

/* Size of a file, 0 if missing. */
off_t h__file_size(const char *path);

/* The ports the harness handed out or holds, so one run never uses a port twice. */
bool h__port_seen(int port);
void h__port_claim(int port);

/* h_http() with a body the caller frees (for polling loops). */
int h__http(const struct h_http_req *req, struct h_http_resp *resp);

/* Whether we run as root (then PostgreSQL runs as postgres and Mosquitto as root). */
bool h__is_root(void);

#endif
