/*
 * corio_log.h - structured logs to stderr in logfmt, one line per event.
 *
 *     ts=2026-11-30T13:00:00.123Z level=info comp=gateway msg="batch sent" epoch=3 rows=512
 *
 * Every value is quoted and escaped when it needs to be (spaces, '=', quotes, control
 * characters, non-ASCII), so a hostile string (a device id, a topic, a peer's error text)
 * can never start a new line or forge a key. Invalid UTF-8 becomes \ufffd. A line is at
 * most CORIO_LOG_LINE_MAX bytes; a longer one is cut and ends with truncated=true.
 * Lines from many threads never interleave (one write(2) per line under a lock).
 *
 * Two forms:
 *     corio_log(CORIO_LOG_WARN, "cannot open %s: %m", path);          msg is printf-style
 *     corio_logkv(CORIO_LOG_INFO, "client connected", "id=%s port=%d", id, port);
 * In corio_logkv the message is fixed text and the second string is a printf format of
 * space-separated key=value pairs; each value is what its conversions print (a value may
 * hold several, as in "addr=%s:%u"). Both formats are checked by the compiler. %m prints
 * strerror(errno) as errno was when the call began; %n writes nothing.
 *
 * Format details for operators: docs/operations.md.
 */
#ifndef CORIO_LOG_H
#define CORIO_LOG_H

#include <stdbool.h>

#define CORIO_LOG_LINE_MAX 8192

enum corio_log_level {
    CORIO_LOG_DEBUG = 0,
    CORIO_LOG_INFO = 1,
    CORIO_LOG_WARN = 2,
    CORIO_LOG_ERROR = 3,
};

/* "debug", "info", "warn", "error", NULL: the choices for a config key. */
extern const char *const corio_log_level_names[];

/*
 * The log_level key every daemon's config schema carries (struct corio_conf_key, from
 * corio_conf.h), so the key reads the same in every daemon:
 *     static const struct corio_conf_key keys[] = {CORIO_LOG_CONF_KEY, ..., {0}};
 *     corio_log_set_level(corio_log_level_parse(corio_conf_str(conf, "log_level")));
 */
#define CORIO_LOG_CONF_KEY                                                                         \
    {                                                                                              \
        .name = "log_level", .type = CORIO_CONF_STRING, .def = "info",                             \
        .choices = corio_log_level_names,                                                          \
        .help = "Least severe level logged: debug, info, warn or error."                           \
    }

/* Level named s (as in corio_log_level_names), or CORIO_ERR_INVAL. */
int corio_log_level_parse(const char *s);

/* Events below level are dropped (before any formatting). Default: info. Thread-safe. */
void corio_log_set_level(enum corio_log_level level);
enum corio_log_level corio_log_get_level(void);
bool corio_log_enabled(enum corio_log_level level);

/* The comp= of every line (copied, at most 63 bytes); default: the program's name.
 * Call before starting threads. */
void corio_log_set_comp(const char *comp);

/* Where lines go (default 2, stderr); for tests and for daemons that log to a file.
 * The descriptor is not closed. Thread-safe. */
void corio_log_set_fd(int fd);

/* Logs msg="<printf of fmt>". */
void corio_log(enum corio_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Logs msg="<msg>" followed by the key=value pairs of kvfmt. kvfmt may be NULL or "". */
void corio_logkv(enum corio_log_level level, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* CORIO_LOG_H */
